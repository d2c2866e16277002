package daemon_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/provider/daemon"
	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

// The --no-reuse baseline through the real socket, SDK and emulator: the Azure
// provider's way of mounting, counted by the emulator (these assertions were the
// NoReuse tests of auth and keyvault, before the baseline moved into the wiring).

func startHarness(t *testing.T, noReuse bool) *harness.Harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := harness.New(ctx, harness.Options{Daemon: func(o *daemon.Options) { o.NoReuse = noReuse }})
	if err != nil {
		t.Fatalf("start harness: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func params(objects ...string) map[string]string {
	return map[string]string{"keyvaultName": harness.VaultName, "tenantId": harness.Tenant, "clientID": harness.WIClientID, "objects": harness.Objects(objects...)}
}

func mount(t *testing.T, h *harness.Harness, pod harness.Pod, objects ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := h.Mount(ctx, harness.MountInput{Params: params(objects...), Pod: pod, Tokens: h.WorkloadToken(pod, harness.WIAudience, time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range resp.Files {
		out = append(out, string(f.Contents))
	}
	return out
}

func pod(i int) harness.Pod {
	return harness.Pod{Name: fmt.Sprintf("app-%d", i), Namespace: harness.Namespace, UID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), ServiceAccount: harness.SAName}
}

// Every baseline mount pays a new credential (a token request and MSAL's two authority
// metadata requests) and a 401 challenge, even for the same pod and token; nothing is
// cached across mounts. The provider's defaults pay them once.
func TestBaselinePaysEveryMount(t *testing.T) {
	for _, tc := range []struct {
		name                                string
		noReuse                             bool
		tokens, discovery, challenges, gets int
	}{
		{"baseline", true, 3, 6, 3, 3},
		{"kvcsi", false, 1, 2, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHarness(t, tc.noReuse)
			h.Vault.SetSecret("db", "v-db", emulator.SecretOptions{})
			h.Emu.ResetCounts()
			for i := 0; i < 3; i++ {
				if got := mount(t, h, pod(0), "objectName: db\nobjectType: secret"); len(got) != 1 || got[0] != "v-db" {
					t.Fatalf("mount %d: %q", i, got)
				}
			}
			c := h.Emu.Counts()
			if c.TokenRequests != tc.tokens || c.DiscoveryRequests != tc.discovery || c.KeyVaultChallenges != tc.challenges || c.KeyVaultByOp["GetSecret"] != tc.gets {
				t.Fatalf("counts %+v: want %d token, %d discovery, %d challenges, %d GetSecret", c, tc.tokens, tc.discovery, tc.challenges, tc.gets)
			}
		})
	}
}

// Five new pods of one tenant: the baseline fetches the authority metadata for each
// (two requests per credential); the provider shares it.
func TestBaselineFetchesAuthorityMetadataPerCredential(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noReuse   bool
		discovery int
	}{
		{"baseline", true, 10},
		{"kvcsi", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHarness(t, tc.noReuse)
			h.Vault.SetSecret("db", "v-db", emulator.SecretOptions{})
			h.Emu.ResetCounts()
			for i := 0; i < 5; i++ {
				mount(t, h, pod(i), "objectName: db\nobjectType: secret")
			}
			if c := h.Emu.Counts(); c.DiscoveryRequests != tc.discovery || c.TokenRequests != 5 {
				t.Fatalf("counts %+v: want %d discovery and 5 token requests", c, tc.discovery)
			}
		})
	}
}

// The baseline shares no request among aliases of one secret; the provider does.
func TestBaselineDoesNotDedup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		noReuse bool
		gets    int
	}{
		{"baseline", true, 2},
		{"kvcsi", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHarness(t, tc.noReuse)
			h.Vault.SetSecret("db", "v-db", emulator.SecretOptions{})
			h.Emu.ResetCounts()
			got := mount(t, h, pod(0), "objectName: db\nobjectType: secret\nobjectAlias: a", "objectName: db\nobjectType: secret\nobjectAlias: b")
			if len(got) != 2 || got[0] != "v-db" || got[1] != "v-db" {
				t.Fatalf("files %q", got)
			}
			if n := h.Emu.Counts().KeyVaultByOp["GetSecret"]; n != tc.gets {
				t.Fatalf("%d GetSecret, want %d", n, tc.gets)
			}
		})
	}
}
