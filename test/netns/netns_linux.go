//go:build linux

package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// NS is a network namespace made by New.
type NS struct {
	Name string
	ip   string
}

// New makes the namespace name (unique to the caller: include the PID), brings
// up its loopback interface and binds MetadataAddress/32 to it.
func New(name string) (*NS, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("not running as root")
	}
	ip, err := ipCommand()
	if err != nil {
		return nil, err
	}
	ns := &NS{Name: name, ip: ip}
	if out, err := exec.Command(ip, "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	for _, args := range [][]string{
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "addr", "add", MetadataAddress + "/32", "dev", "lo"},
	} {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			ns.Close()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return ns, nil
}

// Close removes the namespace (sockets bound in it keep working until closed).
func (ns *NS) Close() error {
	out, err := exec.Command(ns.ip, "netns", "del", ns.Name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", ns.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Listen opens a listener inside the namespace: a locked OS thread enters it,
// listens and goes back. The socket stays in the namespace.
func (ns *NS) Listen(network, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is only unlocked if it made it back to its own namespace;
		// otherwise the runtime ends it with the goroutine.
		back, err := ns.enter()
		if err != nil {
			ch <- result{err: err}
			return
		}
		ln, lerr := net.Listen(network, addr)
		if err := back(); err != nil {
			if ln != nil {
				ln.Close()
			}
			ch <- result{err: fmt.Errorf("leave network namespace %s: %w", ns.Name, err)}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{ln, lerr}
	}()
	r := <-ch
	if r.err != nil {
		return nil, fmt.Errorf("listen on %s in network namespace %s: %w", addr, ns.Name, r.err)
	}
	return r.ln, nil
}

// enter switches the calling (locked) thread into the namespace and returns the
// function that switches it back.
func (ns *NS) enter() (func() error, error) {
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return nil, err
	}
	target, err := os.Open(filepath.Join("/run/netns", ns.Name))
	if err != nil {
		self.Close()
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		self.Close()
		return nil, fmt.Errorf("setns: %w", err)
	}
	return func() error {
		defer self.Close()
		return unix.Setns(int(self.Fd()), unix.CLONE_NEWNET)
	}, nil
}

// Command runs a program inside the namespace (ip netns exec).
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command(ns.ip, append([]string{"netns", "exec", ns.Name, name}, args...)...)
}
