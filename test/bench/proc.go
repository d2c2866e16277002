package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Process accounting from Linux's /proc: the provider runs as the real kvcsi binary
// in its own process, so its CPU time and memory are its own, not the emulator's or
// this program's.

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100 on every
// Linux architecture (it is ABI, independent of the kernel's CONFIG_HZ).
const userHZ = 100

// procSample is one reading of a process.
type procSample struct {
	CPU time.Duration // user + system time since the process started
	RSS int64         // VmRSS, bytes
	HWM int64         // VmHWM (peak RSS), bytes
}

// findProvider returns the pid of the kvcsi process serving socket: the harness starts
// it with --endpoint=unix://<socket>, which is unique per harness.
func findProvider(socket string) (int, error) {
	want := []byte("--endpoint=unix://" + socket + "\x00")
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, err
	}
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !bytes.Contains(b, want) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(d))
		if err == nil {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process serves %s (is /proc mounted? the benchmark needs Linux)", socket)
}

func readProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) is in parentheses and may contain spaces: fields
	// after the last ')' start at field 3 (state); utime and stime are fields 14, 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, errors.New("malformed /proc/<pid>/stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, errors.New("short /proc/<pid>/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, errors.New("malformed utime/stime in /proc/<pid>/stat")
	}
	s.CPU = time.Duration(utime+stime) * time.Second / userHZ
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &s.RSS
		case "VmHWM":
			dst = &s.HWM
		default:
			continue
		}
		fs := strings.Fields(v) // "12345 kB"
		if len(fs) == 2 && fs[1] == "kB" {
			if n, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
				*dst = n << 10
			}
		}
	}
	if s.RSS == 0 || s.HWM == 0 {
		return s, errors.New("no VmRSS/VmHWM in /proc/<pid>/status")
	}
	return s, nil
}
