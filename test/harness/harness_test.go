package harness

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// A provider binary that cannot start makes New fail with an error, not a panic, and
// leaves nothing running or on disk.
func TestNewBinaryThatFailsToStart(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in binary is a shell script")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "exits-at-once")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho 'flag provided but not defined' >&2\nexit 2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := New(ctx, Options{Binary: bin, Dir: work})
	if err == nil {
		h.Close()
		t.Fatal("New succeeded with a provider binary that exits at once")
	}
	if h != nil {
		t.Errorf("New returned a harness with its error %v", err)
	}
}
