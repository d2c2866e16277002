// Package integration drives the real provider over a real unix socket with the
// driver's generated v1alpha1 client, against the Azure emulator through the real Azure
// SDK, and checks the returned files and versions byte for byte.
package integration

import (
	"context"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/test/harness"
)

// start runs an in-process provider and emulator for one test.
func start(t *testing.T, opts harness.Options) *harness.Harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := harness.New(ctx, opts)
	if err != nil {
		t.Fatalf("start harness: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return c
}
