package config

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestParseFilePermission(t *testing.T) {
	good := map[string]fs.FileMode{
		"0644": 0o644, "644": 0o644, "0755": 0o755, "0600": 0o600, "0400": 0o400,
		"0": 0, "000": 0, "777": 0o777, "0777": 0o777, " 0440 ": 0o440, "00644": 0o644,
	}
	for in, want := range good {
		got, err := ParseFilePermission(in)
		if err != nil || got != want {
			t.Errorf("ParseFilePermission(%q) = %o, %v; want %o", in, got, err, want)
		}
	}
	bad := []string{"", " ", "8", "0855", "rw-r--r--", "0o644", "0x1a4", "-1", "+644", "1000", "4755", "01777", "0644 ", "6 44", "99999999999999999999"}
	for _, in := range bad {
		if in == "0644 " {
			continue // trimmed: valid
		}
		_, err := ParseFilePermission(in)
		if err == nil {
			t.Errorf("ParseFilePermission(%q) succeeded", in)
			continue
		}
		want := `invalid filePermission "` + strings.TrimSpace(in) + `": must be an octal mode such as 0644; fix: `
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParseFilePermission(%q) error %q, want prefix %q", in, err, want)
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: not ErrInvalid", in)
		}
	}
}
