package integration

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvcsi/kvcsi/provider/daemon"
	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

// TestMaxResponseBytes: with --max-response-bytes lowered (to match a driver started with
// a smaller --max-call-recv-msg-size), a mount over it fails with ResourceExhausted naming
// the object instead of being cut off by gRPC on the driver's side.
func TestMaxResponseBytes(t *testing.T) {
	h := start(t, harness.Options{Daemon: func(o *daemon.Options) { o.MaxResponseBytes = 2048 }})
	h.Vault.SetSecret("small", "fits", emulator.SecretOptions{})
	h.Vault.SetSecret("big-blob", strings.Repeat("x", 4096), emulator.SecretOptions{})
	if _, err := h.Mount(ctx(t), harness.MountInput{Params: spParams("objectName: small\nobjectType: secret"), Secrets: spSecrets()}); err != nil {
		t.Fatalf("small mount: %v", err)
	}
	_, err := h.Mount(ctx(t), harness.MountInput{Params: spParams("objectName: small\nobjectType: secret", "objectName: big-blob\nobjectType: secret"), Secrets: spSecrets()})
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "big-blob") {
		t.Fatalf("got %s: %s", st.Code(), st.Message())
	}
}
