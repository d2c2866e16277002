//go:build !windows

package mount

// historySeparator joins an objectVersionHistory base path and index ("name/0").
const historySeparator = "/"
