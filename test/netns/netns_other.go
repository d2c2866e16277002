//go:build !linux

package netns

import (
	"errors"
	"net"
	"os/exec"
)

// NS is a network namespace; there are none on this OS.
type NS struct{ Name string }

// New fails: network namespaces are Linux's.
func New(string) (*NS, error) { return nil, errors.New("network namespaces need Linux") }

// Close does nothing.
func (*NS) Close() error { return nil }

// Listen fails.
func (*NS) Listen(string, string) (net.Listener, error) {
	return nil, errors.New("network namespaces need Linux")
}

// Command runs the program as is.
func (*NS) Command(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
