//go:build !windows

package server

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestListenOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	// A permissive process umask must not leak into the socket's mode.
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	ep := Endpoint{Network: "unix", Address: filepath.Join(dir, "azure.sock")}
	l, err := Listen(ep)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, err := os.Lstat(ep.Address)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("socket mode %v, want owner-only", fi.Mode())
	}
	// The umask is restored: files created afterwards get the caller's umask.
	f := filepath.Join(dir, "after")
	if err := os.WriteFile(f, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o666 {
		t.Fatalf("file after Listen has mode %v: the umask leaked", fi.Mode())
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	ep := Endpoint{Network: "unix", Address: filepath.Join(t.TempDir(), "azure.sock")}
	stale, err := net.Listen("unix", ep.Address)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Lstat(ep.Address); err != nil {
		t.Fatalf("stale socket missing: %v", err)
	}
	l, err := Listen(ep)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer l.Close()
	c, err := net.Dial("unix", ep.Address)
	if err != nil {
		t.Fatalf("dial the new socket: %v", err)
	}
	c.Close()
}

func TestListenRefusesNonSocket(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.sock")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.sock")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, sub, link} {
		l, err := Listen(Endpoint{Network: "unix", Address: p})
		if err == nil {
			l.Close()
			t.Fatalf("Listen(%s) replaced a non-socket", p)
		}
		if !strings.Contains(err.Error(), "is not a socket") {
			t.Errorf("Listen(%s): %v", p, err)
		}
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Fatal("the file was touched")
	}
	if _, err := Listen(Endpoint{Network: "unix", Address: filepath.Join(dir, "missing", "azure.sock")}); err == nil {
		t.Fatal("Listen in a missing directory succeeded")
	}
}

func TestListenTCP(t *testing.T) {
	l, err := Listen(Endpoint{Network: "tcp", Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}
