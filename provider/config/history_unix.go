//go:build !windows

package config

// HistorySeparator joins an objectVersionHistory base path and index on the node
// ("name/0").
const HistorySeparator = "/"
