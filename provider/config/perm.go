package config

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// ParseFilePermission parses an octal permission string such as "0644", "644" or "0755".
// Unlike the Azure provider, which silently turns an unparsable value into mode 0, it
// rejects anything that is not octal and any bit above 0777 (setuid, setgid, sticky).
func ParseFilePermission(s string) (fs.FileMode, error) {
	m, err := parseFilePermission(s)
	if err != nil {
		return 0, err
	}
	return m, nil
}

func parseFilePermission(s string) (fs.FileMode, *Error) {
	s = strings.TrimSpace(s)
	msg := fmt.Sprintf("invalid filePermission %s: must be an octal mode such as 0644", quoteShort(s))
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0, &Error{Param: FieldFilePermission, Msg: msg,
			Fix: `write the mode as octal digits, e.g. filePermission: "0644" or "0600"`, Err: err}
	}
	if v > 0o777 {
		return 0, &Error{Param: FieldFilePermission, Msg: msg,
			Fix: "only permission bits up to 0777 are allowed (no setuid, setgid or sticky bit)"}
	}
	return fs.FileMode(v), nil
}
