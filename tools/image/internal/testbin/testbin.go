// Package testbin builds small real binaries for the image tool's tests: a static Go
// program for a given architecture (what the image must hold) and the host's own
// dynamically linked programs (what it must refuse).
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// StaticGo compiles a hello-world Go program with CGO_ENABLED=0 for linux/arch.
func StaticGo(t testing.TB, arch string) []byte {
	t.Helper()
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/hello\n\ngo 1.26\n")
	write("main.go", "package main\n\nfunc main() { println(\"hello\") }\n")
	out := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// HostDynamic returns a dynamically linked program of this machine (/bin/true, as on
// any Debian system).
func HostDynamic(t testing.TB) []byte {
	t.Helper()
	p, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no `true` program on this machine")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
