package integration

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/kvcsi/kvcsi/provider/daemon"
	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

// These tests check reuse through the emulator's counters and isolation through
// Key Vault's and Entra ID's own decisions: whatever the provider caches, a request
// must authenticate with its own material and Key Vault must see its own identity.

// identity is one workload-identity app federated with one service account, granted
// one secret of its own.
type identity struct {
	clientID, sa, secret, value string
}

func addIdentity(h *harness.Harness, i int, grant bool) identity {
	id := identity{
		clientID: fmt.Sprintf("0a1b2c3d-7777-4e5f-8a9b-%012d", i),
		sa:       fmt.Sprintf("sa-%d", i),
		secret:   fmt.Sprintf("own-%d", i),
		value:    fmt.Sprintf("value-of-identity-%d", i),
	}
	h.Emu.AddApp(harness.Tenant, id.clientID)
	h.Emu.AddFederatedCredential(harness.Tenant, id.clientID, emulator.FederatedCredential{
		Issuer: harness.IssuerURL, Subject: "system:serviceaccount:" + harness.Namespace + ":" + id.sa, Audiences: []string{harness.WIAudience},
	})
	h.Vault.SetSecret(id.secret, id.value, emulator.SecretOptions{})
	if grant {
		h.Vault.GrantObject(id.clientID, emulator.ObjectSecret, id.secret, emulator.SecretGet)
	}
	return id
}

func (id identity) pod(n int) harness.Pod {
	return harness.Pod{Name: fmt.Sprintf("%s-pod-%d", id.sa, n), Namespace: harness.Namespace,
		UID: fmt.Sprintf("00000000-0000-4000-8000-%012d", n), ServiceAccount: id.sa}
}

func secretObjects(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "objectName: " + n + "\nobjectType: secret"
	}
	return out
}

func wiParamsFor(clientID string, objects ...string) map[string]string {
	p := wiParams(objects...)
	p["clientID"] = clientID
	return p
}

func wantCode(t *testing.T, what string, err error, code codes.Code) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("%s: code %s, want %s (%v)", what, got, code, err)
	}
}

func wantFiles(t *testing.T, what string, resp *v1alpha1.MountResponse, err error, contents ...string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(resp.Files) != len(contents) {
		t.Fatalf("%s: %d files, want %d", what, len(resp.Files), len(contents))
	}
	for i, c := range contents {
		if string(resp.Files[i].Contents) != c {
			t.Fatalf("%s: file %s = %q, want %q", what, resp.Files[i].Path, resp.Files[i].Contents, c)
		}
	}
}

// Fifty rotation mounts of one pod presenting the same token: one token request, one
// challenge, and then exactly one Key Vault GET per object per mount.
func TestReuseAcrossRotationMounts(t *testing.T) {
	h := start(t, harness.Options{})
	var names, values []string
	for i := 0; i < 10; i++ {
		n := "rot-" + strconv.Itoa(i)
		h.Vault.SetSecret(n, "v-"+n, emulator.SecretOptions{})
		names, values = append(names, n), append(values, "v-"+n)
	}
	tok := h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)
	h.Emu.ResetCounts()
	for i := 0; i < 50; i++ {
		resp, err := h.Mount(ctx(t), harness.MountInput{Params: wiParams(secretObjects(names...)...), Tokens: tok})
		wantFiles(t, "rotation mount "+strconv.Itoa(i), resp, err, values...)
	}
	c := h.Emu.Counts()
	if c.TokenRequests != 1 || c.KeyVaultChallenges != 1 || c.KeyVaultByOp["GetSecret"] != 500 || c.KeyVaultRequests != 501 {
		t.Fatalf("counts %+v: want 1 token request, 1 challenge, 500 GetSecret, 501 Key Vault requests", c)
	}

	// Pods of one service account: each pod's own token is exchanged (the cache is keyed
	// by the token), but no pod pays another challenge.
	h.Emu.ResetCounts()
	for i := 0; i < 20; i++ {
		pod := harness.Pod{Name: "app-" + strconv.Itoa(i), Namespace: harness.Namespace, UID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), ServiceAccount: harness.SAName}
		resp, err := h.Mount(ctx(t), harness.MountInput{Params: wiParams(secretObjects(names...)...), Pod: pod, Tokens: h.WorkloadToken(pod, harness.WIAudience, time.Hour)})
		wantFiles(t, "pod "+strconv.Itoa(i), resp, err, values...)
	}
	c = h.Emu.Counts()
	if c.TokenRequests != 20 || c.KeyVaultChallenges != 0 || c.KeyVaultRequests != 200 {
		t.Fatalf("counts %+v: want 20 token requests, no challenge, 200 Key Vault requests", c)
	}
}

// A request with a different service-account token, client ID or client secret never
// receives the cached token or client of another.
func TestReuseNeverCrossesIdentities(t *testing.T) {
	h := start(t, harness.Options{})
	a := addIdentity(h, 1, true)
	h.Vault.SetSecret("shared", "shared-value", emulator.SecretOptions{})
	h.Vault.GrantObject(a.clientID, emulator.ObjectSecret, "shared", emulator.SecretGet)
	// b is federated with a's service account too, but Key Vault grants it nothing.
	b := addIdentity(h, 2, false)
	h.Emu.AddFederatedCredential(harness.Tenant, b.clientID, emulator.FederatedCredential{
		Issuer: harness.IssuerURL, Subject: "system:serviceaccount:" + harness.Namespace + ":" + a.sa, Audiences: []string{harness.WIAudience},
	})
	shared := secretObjects("shared")
	podA := a.pod(1)
	tokA := h.WorkloadToken(podA, harness.WIAudience, time.Hour)

	resp, err := h.Mount(ctx(t), harness.MountInput{Params: wiParamsFor(a.clientID, shared...), Pod: podA, Tokens: tokA})
	wantFiles(t, "identity a", resp, err, "shared-value")

	t.Run("different service-account token", func(t *testing.T) {
		// Same pod name, same client ID, same SecretProviderClass; the token names a
		// service account without a federated credential.
		intruder := podA
		intruder.ServiceAccount = "intruder"
		for i := 0; i < 3; i++ {
			h.Emu.ResetCounts()
			_, err := h.Mount(ctx(t), harness.MountInput{Params: wiParamsFor(a.clientID, shared...), Pod: intruder, Tokens: h.WorkloadToken(intruder, harness.WIAudience, time.Hour)})
			wantCode(t, "intruder token", err, codes.Unauthenticated)
			if c := h.Emu.Counts(); c.TokenRequests != 1 || c.KeyVaultByOp["GetSecret"] != 0 {
				t.Fatalf("counts %+v: the intruder's token must be exchanged (and refused), never served from a cache", c)
			}
		}
	})

	t.Run("different client ID", func(t *testing.T) {
		// The very same service-account token with another client ID: Entra ID issues b
		// a token, and Key Vault refuses b, right after a read the same object.
		for i := 0; i < 3; i++ {
			resp, err := h.Mount(ctx(t), harness.MountInput{Params: wiParamsFor(a.clientID, shared...), Pod: podA, Tokens: tokA})
			wantFiles(t, "identity a", resp, err, "shared-value")
			h.Emu.ResetCounts()
			_, err = h.Mount(ctx(t), harness.MountInput{Params: wiParamsFor(b.clientID, shared...), Pod: podA, Tokens: tokA})
			wantCode(t, "identity b", err, codes.PermissionDenied)
			c := h.Emu.Counts()
			if i == 0 && (c.TokensIssued[b.clientID] != 1 || c.TokensIssued[a.clientID] != 0) {
				t.Fatalf("tokens issued %v: b must get its own token", c.TokensIssued)
			}
			if i > 0 && c.TokenRequests != 0 {
				t.Fatalf("counts %+v: b's own token should be reused", c)
			}
		}
	})

	t.Run("different client secret", func(t *testing.T) {
		good := spSecrets()
		bad := map[string]string{"clientid": harness.SPClientID, "clientsecret": "not-" + harness.SPSecret}
		for i := 0; i < 3; i++ {
			resp, err := h.Mount(ctx(t), harness.MountInput{Params: spParams(shared...), Secrets: good})
			wantFiles(t, "right secret", resp, err, "shared-value")
			_, err = h.Mount(ctx(t), harness.MountInput{Params: spParams(shared...), Secrets: bad})
			wantCode(t, "wrong secret", err, codes.Unauthenticated)
		}
	})

	t.Run("denied identity stays denied", func(t *testing.T) {
		// b's token is valid (it reads nothing, but Entra ID issues it); interleave a and
		// b concurrently on the same object: b is refused every time.
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				id := a
				if i%2 == 1 {
					id = b
				}
				resp, err := h.Mount(ctx(t), harness.MountInput{Params: wiParamsFor(id.clientID, shared...), Pod: podA, Tokens: tokA})
				switch {
				case id == a && (err != nil || string(resp.Files[0].Contents) != "shared-value"):
					errs <- fmt.Errorf("a: %v", err)
				case id == b && status.Code(err) != codes.PermissionDenied:
					errs <- fmt.Errorf("b: code %s, want PermissionDenied (%v)", status.Code(err), err)
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// Concurrent mounts of several identities with tiny caches, a short idle TTL and
// short-lived tokens: eviction, expiry and refresh race with use, under -race. Each
// identity may read only its own secret; a mount that ever read another identity's
// secret, or failed to read its own, would mean a crossed or broken cache entry.
func TestReuseCachesUnderConcurrencyEvictionAndExpiry(t *testing.T) {
	h := start(t, harness.Options{Daemon: func(o *daemon.Options) {
		o.CacheSize = 3
		o.CacheIdleTTL = 150 * time.Millisecond
		o.Parallelism = 4
	}})
	h.Emu.SetTokenLifetime(3 * time.Second) // refreshed after half its life
	ids := make([]identity, 5)
	for i := range ids {
		ids[i] = addIdentity(h, 10+i, true)
	}
	// Tokens are minted up front: three pods per identity, so three tokens each.
	type podTok struct {
		pod harness.Pod
		tok map[string]harness.Token
	}
	toks := make([][]podTok, len(ids))
	for i, id := range ids {
		for n := 0; n < 3; n++ {
			p := id.pod(i*10 + n)
			toks[i] = append(toks[i], podTok{p, h.WorkloadToken(p, harness.WIAudience, time.Hour)})
		}
	}
	h.Emu.ResetCounts()

	var mounts, denied atomic.Int64
	stop := time.Now().Add(6 * time.Second)
	var wg sync.WaitGroup
	for g := 0; g < 12; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 42))
			for time.Now().Before(stop) && !t.Failed() {
				i := r.IntN(len(ids))
				pt := toks[i][r.IntN(3)]
				id := ids[i]
				if r.IntN(4) == 0 {
					// Someone else's secret: must be refused.
					other := ids[(i+1+r.IntN(len(ids)-1))%len(ids)]
					_, err := h.Mount(ctx(t), harness.MountInput{Params: wiParamsFor(id.clientID, secretObjects(other.secret)...), Pod: pt.pod, Tokens: pt.tok})
					if status.Code(err) != codes.PermissionDenied {
						t.Errorf("identity %d read identity %s's secret: code %s (%v)", i, other.sa, status.Code(err), err)
					}
					denied.Add(1)
				} else {
					resp, err := h.Mount(ctx(t), harness.MountInput{Params: wiParamsFor(id.clientID, secretObjects(id.secret)...), Pod: pt.pod, Tokens: pt.tok})
					if err != nil || string(resp.Files[0].Contents) != id.value {
						t.Errorf("identity %d: %v", i, err)
					}
				}
				mounts.Add(1)
				if r.IntN(8) == 0 {
					time.Sleep(200 * time.Millisecond) // let idle entries expire
				}
			}
		}(g)
	}
	wg.Wait()
	c := h.Emu.Counts()
	t.Logf("%d mounts (%d refused as they should be); token requests %d, Key Vault requests %d, challenges %d",
		mounts.Load(), denied.Load(), c.TokenRequests, c.KeyVaultRequests, c.KeyVaultChallenges)
	if mounts.Load() < 100 {
		t.Fatalf("only %d mounts ran", mounts.Load())
	}
	// Eviction and refresh happened (more token requests than the 15 distinct tokens).
	if c.TokenRequests <= 15 {
		t.Errorf("%d token requests: the caches were never evicted or refreshed", c.TokenRequests)
	}
	if got := metric(t, h, "kvcsi_credentials_cached"); got > 3 {
		t.Errorf("kvcsi_credentials_cached = %v over the cache size 3", got)
	}
}

// metric reads one unlabelled sample from the provider's /metrics.
func metric(t *testing.T, h *harness.Harness, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + h.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// Throttling within the deadline is waited out; throttling beyond it fails fast with
// ResourceExhausted and the wait the vault asked for.
func TestThrottlingAgainstTheEmulator(t *testing.T) {
	// Enough retries that a 30% throttle rate never exhausts them (0.3^9 per request).
	h := start(t, harness.Options{Daemon: func(o *daemon.Options) { o.MaxRetries = 8 }})
	var names, values []string
	for i := 0; i < 10; i++ {
		n := "thr-" + strconv.Itoa(i)
		h.Vault.SetSecret(n, "v-"+n, emulator.SecretOptions{})
		names, values = append(names, n), append(values, "v-"+n)
	}
	in := harness.MountInput{Params: spParams(secretObjects(names...)...), Secrets: spSecrets()}
	resp, err := h.Mount(ctx(t), in) // warm: token and challenge
	wantFiles(t, "warm-up", resp, err, values...)

	t.Run("Retry-After within the deadline", func(t *testing.T) {
		h.Emu.ResetCounts()
		h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{ThrottleRate: 0.3, RetryAfter: 20 * time.Millisecond})
		defer h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{})
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				resp, err := h.Mount(c, in)
				if err != nil || len(resp.Files) != 10 {
					t.Errorf("throttled mount: %v", err)
				}
			}()
		}
		wg.Wait()
		c := h.Emu.Counts()
		throttled := c.KeyVaultRequests - c.KeyVaultByOp["GetSecret"] - c.KeyVaultChallenges
		if c.KeyVaultByOp["GetSecret"] != 80 || throttled == 0 {
			t.Fatalf("counts %+v: want 80 GetSecret and some 429s", c)
		}
		t.Logf("%d requests throttled and retried", throttled)
	})

	t.Run("Retry-After beyond the deadline", func(t *testing.T) {
		h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{ThrottleRate: 1, RetryAfter: 30 * time.Second})
		defer h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{})
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := h.Mount(c, harness.MountInput{Params: spParams(secretObjects(names[0])...), Secrets: spSecrets()})
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("took %v: should fail fast, not wait into the 5 s deadline", el)
		}
		wantCode(t, "throttled beyond the deadline", err, codes.ResourceExhausted)
		if msg := status.Convert(err).Message(); !strings.Contains(msg, "asked to wait 30s") || !strings.Contains(msg, "objectName:"+names[0]) {
			t.Fatalf("message %q lacks the wait or the object", msg)
		}
	})
}
