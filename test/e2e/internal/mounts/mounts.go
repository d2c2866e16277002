// Package mounts reads the mount table of the current process and unmounts
// what the suite's driver left behind.
package mounts

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// List returns the mount points from /proc/self/mountinfo.
func List() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		out = append(out, unescape(fields[4]))
	}
	return out, sc.Err()
}

// unescape decodes the octal escapes (\040 etc.) used in mountinfo.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			o := s[i+1 : i+4]
			if v, ok := octal(o); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	var v int
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	return byte(v), true
}

// IsMountPoint reports whether path is listed as a mount point.
func IsMountPoint(path string) (bool, error) {
	all, err := List()
	if err != nil {
		return false, err
	}
	clean := filepath.Clean(path)
	for _, m := range all {
		if m == clean {
			return true, nil
		}
	}
	return false, nil
}

// Under returns the mount points at or below dir, deepest first.
func Under(dir string) ([]string, error) {
	all, err := List()
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	var out []string
	for _, m := range all {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

// UnmountUnder unmounts everything at or below dir (lazily if busy) and
// returns the mount points it unmounted.
func UnmountUnder(dir string) ([]string, error) {
	ms, err := Under(dir)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, m := range ms {
		if err := syscall.Unmount(m, 0); err != nil {
			if err2 := syscall.Unmount(m, syscall.MNT_DETACH); err2 != nil && firstErr == nil {
				firstErr = err2
			}
		}
	}
	return ms, firstErr
}
