//go:build windows

package server

import (
	"fmt"
	"net"
	"os"
)

// Listen opens the endpoint. Windows has no umask; the socket's directory ACL on the
// host path is what protects it. A leftover socket file is removed (Lstat on Windows
// cannot always tell a unix socket from a file, so any regular leftover at the exact
// socket path of a unix endpoint is treated as stale).
func Listen(e Endpoint) (net.Listener, error) {
	if e.Network != "unix" {
		return net.Listen(e.Network, e.Address)
	}
	if fi, err := os.Lstat(e.Address); err == nil {
		if fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory: choose another --endpoint", e.Address)
		}
		if err := os.Remove(e.Address); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", e.Address, err)
		}
	}
	l, err := net.Listen("unix", e.Address)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", e, err)
	}
	return l, nil
}
