package integration

import (
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

// Two aliases of one secret in a SecretProviderClass make one Key Vault GET through the
// real socket, SDK and emulator; the same name at two versions makes two.
func TestAliasesOfOneSecretMakeOneGet(t *testing.T) {
	h := start(t, harness.Options{})
	first := h.Vault.SetSecret("shared", "v-old", emulator.SecretOptions{})
	h.Vault.SetSecret("shared", "v-new", emulator.SecretOptions{})
	tok := h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)
	h.Mount(ctx(t), harness.MountInput{Params: wiParams(secretObjects("shared")...), Tokens: tok}) // warm: token and challenge
	h.Emu.ResetCounts()
	resp, err := h.Mount(ctx(t), harness.MountInput{Params: wiParams(
		"objectName: shared\nobjectType: secret\nobjectAlias: a",
		"objectName: shared\nobjectType: secret\nobjectAlias: b",
		"objectName: shared\nobjectType: secret\nobjectAlias: pinned\nobjectVersion: "+first,
	), Tokens: tok})
	wantFiles(t, "aliases", resp, err, "v-new", "v-new", "v-old")
	if c := h.Emu.Counts(); c.KeyVaultByOp["GetSecret"] != 2 || c.KeyVaultRequests != 2 {
		t.Fatalf("counts %+v: want 2 GetSecret (latest once for both aliases, the pinned version once)", c)
	}
}
