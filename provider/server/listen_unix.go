//go:build !windows

package server

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// Listen opens the endpoint. For a unix socket it removes a stale socket left by a
// previous run (only if the path really is a socket) and creates the new one owner-only.
func Listen(e Endpoint) (net.Listener, error) {
	if e.Network != "unix" {
		return net.Listen(e.Network, e.Address)
	}
	if err := removeStaleSocket(e.Address); err != nil {
		return nil, err
	}
	// The umask is process-wide, but Listen runs once at start-up before any other
	// goroutine creates files, so the window cannot affect anything else.
	old := syscall.Umask(0o077)
	l, err := net.Listen("unix", e.Address)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", e, err)
	}
	return l, nil
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check existing socket %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket (mode %s): refusing to remove it; move it away or choose another --endpoint", path, fi.Mode())
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}
