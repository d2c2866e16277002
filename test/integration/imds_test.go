package integration

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
	"github.com/kvcsi/kvcsi/test/netns"
)

// Identities of the IMDS tests, distinct from the other tests' (MSAL caches managed
// identity tokens process-wide; each scenario here is its own kvcsi process anyway).
const (
	uamiA = "0a1b2c3d-aaaa-4e5f-8a9b-00000000000a"
	uamiB = "0a1b2c3d-bbbb-4e5f-8a9b-00000000000b"
)

// startInNetNS runs the kvcsi binary inside a network namespace of its own, where the
// emulator's IMDS answers at 169.254.169.254:80 and its proxy at the address
// HTTPS_PROXY/HTTP_PROXY name (NO_PROXY empty): Entra ID and Key Vault are reached
// through the proxy, and IMDS only directly, the way a node reaches it. The emulator's
// proxy forwards what it gets for 169.254.169.254, and IMDS refuses it.
func startInNetNS(t *testing.T, seed func(e *emulator.Emulator)) *harness.Harness {
	t.Helper()
	ns := netns.Require(t)
	h := start(t, harness.Options{Binary: kvcsiBinary(t), NetNS: ns})
	h.Emu.RemoveManagedIdentity(harness.MIClientID)
	h.Emu.RemoveManagedIdentity(harness.SysMIClient)
	seed(h.Emu)
	return h
}

// TestManagedIdentityThroughIMDS mounts with the node's managed identity through
// 169.254.169.254 inside a network namespace, with a proxy configured that must be
// ignored for it, and checks real IMDS's answers for "one user-assigned identity, used
// by default" and "several user-assigned identities, none chosen".
func TestManagedIdentityThroughIMDS(t *testing.T) {
	// Its own emulator and kvcsi process, mostly waiting: runs beside the others.
	t.Parallel()
	obj := "objectName: node-secret\nobjectType: secret"
	grant := func(h *harness.Harness, ids ...string) {
		for _, id := range ids {
			h.Vault.Grant(id, emulator.SecretGet)
		}
		h.Vault.SetSecret("node-secret", "from-imds", emulator.SecretOptions{})
	}
	check := func(t *testing.T, h *harness.Harness, in harness.MountInput, client string) {
		t.Helper()
		resp, err := h.Mount(ctx(t), in)
		if err != nil {
			t.Fatalf("mount: %v", err)
		}
		if string(resp.Files[0].Contents) != "from-imds" {
			t.Fatalf("got %q", resp.Files[0].Contents)
		}
		c := h.Emu.Counts()
		if c.IMDSProxied != 0 {
			t.Errorf("%d IMDS request(s) went through the proxy", c.IMDSProxied)
		}
		if c.TokensIssued[client] != 1 || c.TokensByHost["169.254.169.254"] != 1 {
			t.Errorf("tokens issued %v by host %v, want one from IMDS for %s", c.TokensIssued, c.TokensByHost, client)
		}
		if c.Tunnels[harness.VaultName+".vault.azure.net"] == 0 {
			t.Errorf("Key Vault was not reached through the proxy: tunnels %v", c.Tunnels)
		}
	}

	t.Run("system-assigned and user-assigned", func(t *testing.T) {
		h := startInNetNS(t, func(e *emulator.Emulator) {
			e.AddManagedIdentity(uamiA, true, harness.Tenant)
			e.AddManagedIdentity(uamiB, false, harness.Tenant)
		})
		grant(h, uamiA, uamiB)
		check(t, h, harness.MountInput{Params: miParams("", obj)}, uamiA)
	})
	t.Run("user-assigned by client ID", func(t *testing.T) {
		h := startInNetNS(t, func(e *emulator.Emulator) {
			e.AddManagedIdentity(uamiA, false, harness.Tenant)
			e.AddManagedIdentity(uamiB, false, harness.Tenant)
		})
		grant(h, uamiA, uamiB)
		check(t, h, harness.MountInput{Params: miParams(uamiB, obj)}, uamiB)
	})
	t.Run("one user-assigned identity, used by default", func(t *testing.T) {
		h := startInNetNS(t, func(e *emulator.Emulator) { e.AddManagedIdentity(uamiA, false, harness.Tenant) })
		grant(h, uamiA)
		check(t, h, harness.MountInput{Params: miParams("", obj)}, uamiA)
	})
	t.Run("several user-assigned identities, none chosen", func(t *testing.T) {
		h := startInNetNS(t, func(e *emulator.Emulator) {
			e.AddManagedIdentity(uamiA, false, harness.Tenant)
			e.AddManagedIdentity(uamiB, false, harness.Tenant)
		})
		grant(h, uamiA, uamiB)
		_, err := h.Mount(ctx(t), harness.MountInput{Params: miParams("", obj)})
		wantStatus(t, err, codes.Unauthenticated, "Multiple user assigned identities exist", "set userAssignedIdentityID")
		if n := h.Emu.Counts().IMDSProxied; n != 0 {
			t.Errorf("%d IMDS request(s) went through the proxy", n)
		}
	})
	t.Run("user-assigned identity not on the node", func(t *testing.T) {
		h := startInNetNS(t, func(e *emulator.Emulator) { e.AddManagedIdentity(uamiA, true, harness.Tenant) })
		_, err := h.Mount(ctx(t), harness.MountInput{Params: miParams(uamiB, obj)})
		wantStatus(t, err, codes.Unauthenticated, "400 invalid_request: Identity not found", "assign the user-assigned managed identity with client ID "+uamiB)
	})
	t.Run("no identity on the node", func(t *testing.T) {
		h := startInNetNS(t, func(*emulator.Emulator) {})
		_, err := h.Mount(ctx(t), harness.MountInput{Params: miParams("", obj)})
		wantStatus(t, err, codes.Unauthenticated, "instance metadata service", "system-assigned")
	})
}

// TestSlowNMI: aad-pod-identity's NMI holds a request for a new pod while the identity
// is being assigned (up to ~100 s), then answers 404 (still being assigned: retry) or
// 403 (no identity). kvcsi waits as long as the mount's deadline allows and retries 404s.
func TestSlowNMI(t *testing.T) {
	// Its own emulator and kvcsi process, mostly waiting: runs beside the others.
	t.Parallel()
	h := start(t, harness.Options{Binary: kvcsiBinary(t)})
	h.Vault.SetSecret("pod-secret", "assigned-at-last", emulator.SecretOptions{})
	obj := "objectName: pod-secret\nobjectType: secret"
	pod := func(name, uid string) harness.Pod {
		return harness.Pod{Name: name, Namespace: harness.Namespace, UID: uid, ServiceAccount: "default"}
	}

	t.Run("404 while being assigned, then a token", func(t *testing.T) {
		h.Emu.SetNMIHold(time.Second)
		h.Emu.AddPendingPodIdentity(harness.Namespace, "slow-0", harness.PodIDClient, harness.Tenant, 2500*time.Millisecond)
		before := h.Emu.Counts()
		resp, err := h.Mount(ctx(t), harness.MountInput{Params: podIdentityParams(obj), Pod: pod("slow-0", "c1b2c3d4-4d5e-4f60-8a7b-9c0d1e2f3a4b")})
		if err != nil {
			t.Fatalf("mount while NMI answered 404 (identity being assigned): %v", err)
		}
		if string(resp.Files[0].Contents) != "assigned-at-last" {
			t.Fatalf("got %q", resp.Files[0].Contents)
		}
		if n := h.Emu.Counts().NMIPending - before.NMIPending; n < 1 {
			t.Errorf("NMI answered 404 %d times, want at least once", n)
		}
	})
	t.Run("a request held longer than 10 s", func(t *testing.T) {
		h.Emu.SetNMIHold(30 * time.Second)
		h.Emu.AddPendingPodIdentity(harness.Namespace, "slow-1", harness.PodIDClient, harness.Tenant, 11*time.Second)
		before := h.Emu.Counts().NMIRequests
		if _, err := h.Mount(ctx(t), harness.MountInput{Params: podIdentityParams(obj), Pod: pod("slow-1", "d1b2c3d4-4d5e-4f60-8a7b-9c0d1e2f3a4b")}); err != nil {
			t.Fatalf("mount: %v", err)
		}
		if n := h.Emu.Counts().NMIRequests - before; n != 1 {
			t.Errorf("NMI was asked %d times, want 1: the held request must be waited for, not cut and sent again", n)
		}
	})
	t.Run("403: no identity, not retried", func(t *testing.T) {
		h.Emu.SetNMIHold(0)
		before := h.Emu.Counts().NMIRequests
		_, err := h.Mount(ctx(t), harness.MountInput{Params: podIdentityParams(obj), Pod: pod("unbound-9", "e1b2c3d4-4d5e-4f60-8a7b-9c0d1e2f3a4b")})
		wantStatus(t, err, codes.Unauthenticated, "nmi response failed with status code: 403", "aadpodidbinding")
		if n := h.Emu.Counts().NMIRequests - before; n != 1 {
			t.Errorf("NMI was asked %d times for a 403, want 1", n)
		}
	})
	t.Run("404 until the deadline", func(t *testing.T) {
		h.Emu.SetNMIHold(time.Second)
		h.Emu.AddPendingPodIdentity(harness.Namespace, "slow-2", harness.PodIDClient, harness.Tenant, time.Hour)
		c, cancel := contextWithTimeout(t, 6*time.Second)
		defer cancel()
		_, err := h.Mount(c, harness.MountInput{Params: podIdentityParams(obj), Pod: pod("slow-2", "f1b2c3d4-4d5e-4f60-8a7b-9c0d1e2f3a4b")})
		wantStatus(t, err, codes.Unauthenticated, "nmi response failed with status code: 404", "still being assigned")
	})
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(context.Background(), d)
}
