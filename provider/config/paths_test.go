package config

import (
	"strings"
	"testing"
)

func TestCheckPath(t *testing.T) {
	good := []string{"a", "a.txt", "dir/file", "a/b/c/d", ".hidden", "a/.b", "tls.crt", "x-y_z", "with space", "ünïcode",
		strings.Repeat("x", 255), strings.Repeat("d/", 2047) + "a"}
	for _, p := range good {
		if len(p) > maxPathLength {
			t.Fatalf("test path too long: %d", len(p))
		}
		if err := checkPath("objectAlias", p); err != nil {
			t.Errorf("checkPath(%q) = %v", p, err)
		}
	}
	bad := map[string]string{
		"/a":                             "file name must be a relative path",
		`\a`:                             "file name must be a relative path",
		"c:x":                            "file name must be a relative path",
		"Z:/x":                           "file name must be a relative path",
		"..":                             "file name must not contain '..'",
		"../a":                           "file name must not contain '..'",
		"a/..":                           "file name must not contain '..'",
		"a/../b":                         "file name must not contain '..'",
		"...":                            "file name must not contain '..'",
		"a..":                            "file name must not contain '..'",
		`a\b`:                            `file name must not contain '\'`,
		"a\x00b":                         "file name must not contain a NUL byte",
		"a/":                             "file name must not end with '/'",
		"a//b":                           "file name must not contain empty path elements",
		".":                              "file name must not contain '.' path elements",
		"./a":                            "file name must not contain '.' path elements",
		"a/.":                            "file name must not contain '.' path elements",
		strings.Repeat("x", 256):         "file name element is longer than 255 bytes",
		strings.Repeat("d/", 2049):       "file name must not end with '/'",
		strings.Repeat("d/", 2048) + "x": "file name is longer than 4096 bytes",
	}
	for p, want := range bad {
		err := checkPath("objectAlias", p)
		if err == nil {
			t.Errorf("checkPath(%.40q) = nil, want %q", p, want)
			continue
		}
		if err.Msg != want || err.Fix == "" || err.Param != "objectAlias" {
			t.Errorf("checkPath(%.40q) = %+v, want %q with a fix", p, err, want)
		}
	}
	if checkPath("objectAlias", "") != nil {
		t.Error("empty path is the caller's to report")
	}
}
