package integration

import (
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

func TestWorkloadIdentitySecretMount(t *testing.T) {
	h := start(t, harness.Options{})
	v1 := h.Vault.SetSecret("db-password", "s3cr3t-v1", emulator.SecretOptions{})
	resp, err := h.Mount(ctx(t), harness.MountInput{
		Params: map[string]string{
			"keyvaultName": harness.VaultName,
			"tenantId":     harness.Tenant,
			"clientID":     harness.WIClientID,
			"objects":      harness.Objects("objectName: db-password\nobjectType: secret"),
		},
		Tokens: h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour),
	})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	if len(resp.Files) != 1 || resp.Files[0].Path != "db-password" || string(resp.Files[0].Contents) != "s3cr3t-v1" || resp.Files[0].Mode != 0o644 {
		t.Fatalf("files = %v", resp.Files)
	}
	if len(resp.ObjectVersion) != 1 || resp.ObjectVersion[0].Id != "secret/db-password" || resp.ObjectVersion[0].Version != v1 {
		t.Fatalf("versions = %v, want secret/db-password %s", resp.ObjectVersion, v1)
	}
}
