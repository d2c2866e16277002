//go:build windows

package config

// HistorySeparator joins an objectVersionHistory base path and index on the node. On
// Windows the Azure provider writes "name\0" (filepath.Join), and the driver requires
// each path to equal filepath.Clean(path), which on Windows turns "/" into "\": so "\"
// it must be.
const HistorySeparator = `\`
