package config

import (
	"fmt"
	"path"
	"strings"
)

// Limits the driver enforces on every returned file path (fileutil.WritePayloads).
const (
	maxPathElement = 255
	maxPathLength  = 4096
)

// checkPath validates an output file name the way the driver will, so a bad name fails
// before any Key Vault call with a message naming the field, instead of after the fetch
// with the driver's "invalid filepath". The first three messages are the Azure
// provider's. field names the parameter ("objectAlias", "jmesPath[0].objectAlias"...).
func checkPath(field, p string) *Error {
	q := quoteShort(p)
	switch {
	case p == "":
		return nil // callers report emptiness with their own hint
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || hasDriveLetter(p):
		return invalid(field, "file name must be a relative path",
			fmt.Sprintf("%s %s is absolute; use a path relative to the mount, e.g. %q", field, q, path.Base(strings.ReplaceAll(p, `\`, "/"))))
	case strings.Contains(p, ".."):
		return invalid(field, "file name must not contain '..'",
			fmt.Sprintf("%s %s must stay inside the mount; remove every '..'", field, q))
	case strings.Contains(p, `\`):
		return invalid(field, `file name must not contain '\'`,
			fmt.Sprintf("use '/' to separate directories in %s %s", field, q))
	case strings.ContainsRune(p, 0):
		return invalid(field, "file name must not contain a NUL byte", "remove it from "+field)
	case strings.HasSuffix(p, "/"):
		return invalid(field, "file name must not end with '/'",
			fmt.Sprintf("remove the trailing '/' from %s %s", field, q))
	case len(p) > maxPathLength:
		return invalid(field, fmt.Sprintf("file name is longer than %d bytes", maxPathLength),
			"shorten "+field)
	}
	for _, el := range strings.Split(p, "/") {
		switch {
		case el == "":
			return invalid(field, "file name must not contain empty path elements",
				fmt.Sprintf("write %q instead of %s in %s", path.Clean(p), q, field))
		case el == ".":
			fix := fmt.Sprintf("write %q instead of %s in %s", path.Clean(p), q, field)
			if path.Clean(p) == "." {
				fix = "set " + field + " to a file name"
			}
			return invalid(field, "file name must not contain '.' path elements", fix)
		case len(el) > maxPathElement:
			return invalid(field, fmt.Sprintf("file name element is longer than %d bytes", maxPathElement),
				fmt.Sprintf("shorten %s; each directory or file name must be at most %d bytes", field, maxPathElement))
		}
	}
	return nil
}

// hasDriveLetter reports a Windows volume prefix such as "C:".
func hasDriveLetter(p string) bool {
	if len(p) < 2 || p[1] != ':' {
		return false
	}
	c := p[0] | 0x20
	return c >= 'a' && c <= 'z'
}
