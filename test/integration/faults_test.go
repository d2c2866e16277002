package integration

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

// Fault tests: every fault is injected into the emulator and every mount goes through
// the real socket with the driver's client. In every case the outcome must be a clear
// error or a success, never a response with part of the files, never a crash, and the
// provider must stop working on the mount by the caller's deadline.

// faultSlack is how late after the caller's deadline the provider may still be working
// on a mount (race detector, 2 cores).
const faultSlack = 1500 * time.Millisecond

// faultResult is one timed mount.
type faultResult struct {
	resp    *v1alpha1.MountResponse
	err     error
	elapsed time.Duration
}

func (r faultResult) code() codes.Code { return status.Code(r.err) }
func (r faultResult) msg() string      { return status.Convert(r.err).Message() }

// faultMount mounts with a caller deadline and reports how long it took.
func faultMount(t *testing.T, h *harness.Harness, in harness.MountInput, deadline time.Duration) faultResult {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	resp, err := h.Mount(c, in)
	return faultResult{resp: resp, err: err, elapsed: time.Since(start)}
}

// scrapeValue sums the samples of one metric on the provider's /metrics whose line
// contains every given substring (label filters such as `outcome="ok"`).
func scrapeValue(t *testing.T, addr, name string, contains ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		for _, c := range contains {
			if !strings.Contains(line, c) {
				continue next
			}
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q", line)
		}
		sum += v
		found = true
	}
	if !found && len(contains) == 0 {
		t.Fatalf("/metrics has no %s", name)
	}
	return sum
}

// settled waits until the provider has no mount in flight and Key Vault sees no more
// requests, at most faultSlack after the caller's deadline, and fails otherwise.
func settled(t *testing.T, h *harness.Harness, deadlineAt time.Time) {
	t.Helper()
	limit := deadlineAt.Add(faultSlack)
	for {
		if scrapeValue(t, h.Metrics, "kvcsi_inflight_mounts") == 0 {
			break
		}
		if time.Now().After(limit) {
			t.Fatalf("the provider still works on a mount %v after the caller's deadline", time.Since(deadlineAt).Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := h.Emu.Counts().KeyVaultRequests
	time.Sleep(300 * time.Millisecond)
	if after := h.Emu.Counts().KeyVaultRequests; after != before {
		t.Fatalf("Key Vault got %d more requests after the mount ended", after-before)
	}
}

// failedCleanly checks a failed mount: a gRPC error with the code and text wanted, no
// response at all (so no file), no secret in the message.
func failedCleanly(t *testing.T, r faultResult, code codes.Code, contains ...string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("mount succeeded with %d files, want %s", len(r.resp.GetFiles()), code)
	}
	if r.resp != nil {
		t.Fatalf("a failed mount returned %d files", len(r.resp.GetFiles()))
	}
	if r.code() != code {
		t.Errorf("code %s, want %s: %s", r.code(), code, r.msg())
	}
	for _, s := range contains {
		if !strings.Contains(r.msg(), s) {
			t.Errorf("message lacks %q: %s", s, r.msg())
		}
	}
	if strings.Contains(r.msg(), "eyJ") || strings.Contains(r.msg(), harness.SPSecret) {
		t.Errorf("message carries a token or client secret: %s", r.msg())
	}
}

// allFiles checks a successful mount returned exactly the wanted contents, in order.
func allFiles(t *testing.T, r faultResult, contents ...string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("mount failed after %v: %v", r.elapsed, r.err)
	}
	if len(r.resp.Files) != len(contents) {
		t.Fatalf("%d files, want %d", len(r.resp.Files), len(contents))
	}
	for i, c := range contents {
		if string(r.resp.Files[i].Contents) != c {
			t.Fatalf("file %s = %q, want %q", r.resp.Files[i].Path, r.resp.Files[i].Contents, c)
		}
	}
}

// clearAfter removes a service's faults after d (a burst that ends).
func clearAfter(h *harness.Harness, s emulator.Service, d time.Duration) *time.Timer {
	return time.AfterFunc(d, func() { h.Emu.SetFaults(s, emulator.Faults{}) })
}

// TestKeyVaultFaults: throttling with Retry-After, 500 and 503 bursts, latency beyond
// the caller's deadline and TCP resets, each as a burst that ends (the mount succeeds
// within its deadline) and as an outage (a clear error by the deadline).
func TestKeyVaultFaults(t *testing.T) {
	h := start(t, harness.Options{})
	h.Vault.SetSecret("fault-a", "value-fault-a", emulator.SecretOptions{})
	h.Vault.SetSecret("fault-b", "value-fault-b", emulator.SecretOptions{})
	in := harness.MountInput{Params: spParams("objectName: fault-a\nobjectType: secret", "objectName: fault-b\nobjectType: secret"), Secrets: spSecrets()}
	// Warm up: token and clients cached, so each case exercises Key Vault alone.
	allFiles(t, faultMount(t, h, in, 30*time.Second), "value-fault-a", "value-fault-b")
	kv := emulator.ServiceKeyVault

	cases := []struct {
		name     string
		faults   emulator.Faults
		clearIn  time.Duration // 0 = outage for the whole mount
		deadline time.Duration
		code     codes.Code // for outages
		contains []string
		quick    bool // the provider must give up well before the deadline
	}{
		{name: "429 burst with Retry-After", faults: emulator.Faults{ThrottleRate: 1, RetryAfter: 200 * time.Millisecond}, clearIn: 500 * time.Millisecond, deadline: 10 * time.Second},
		{name: "429 outage", faults: emulator.Faults{ThrottleRate: 1, RetryAfter: 100 * time.Millisecond}, deadline: 10 * time.Second,
			code: codes.ResourceExhausted, contains: []string{"objectName:fault-a", "objectName:fault-b", "429", "throttling"}},
		{name: "429 asking for longer than the deadline", faults: emulator.Faults{ThrottleRate: 1, RetryAfter: 30 * time.Second}, deadline: 5 * time.Second,
			code: codes.ResourceExhausted, contains: []string{"objectName:fault-a", "429"}, quick: true},
		{name: "500 burst", faults: emulator.Faults{ErrorRate: 1, ErrorStatus: 500}, clearIn: 300 * time.Millisecond, deadline: 10 * time.Second},
		{name: "503 burst", faults: emulator.Faults{ErrorRate: 1, ErrorStatus: 503}, clearIn: 300 * time.Millisecond, deadline: 10 * time.Second},
		{name: "503 outage", faults: emulator.Faults{ErrorRate: 1, ErrorStatus: 503}, deadline: 15 * time.Second,
			code: codes.Unavailable, contains: []string{"objectName:fault-b", "503"}},
		{name: "latency beyond the deadline", faults: emulator.Faults{Latency: 20 * time.Second}, deadline: 2 * time.Second,
			code: codes.DeadlineExceeded},
		{name: "slow but within the deadline", faults: emulator.Faults{Latency: 300 * time.Millisecond}, deadline: 10 * time.Second},
		{name: "TCP reset burst", faults: emulator.Faults{ResetRate: 1}, clearIn: 300 * time.Millisecond, deadline: 10 * time.Second},
		{name: "TCP reset outage", faults: emulator.Faults{ResetRate: 1}, deadline: 15 * time.Second,
			code: codes.Unavailable, contains: []string{"objectName:fault-a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer h.Emu.SetFaults(kv, emulator.Faults{})
			h.Emu.SetFaults(kv, tc.faults)
			if tc.clearIn > 0 {
				defer clearAfter(h, kv, tc.clearIn).Stop()
			}
			deadlineAt := time.Now().Add(tc.deadline)
			r := faultMount(t, h, in, tc.deadline)
			t.Logf("%s after %v: %v", tc.name, r.elapsed.Round(time.Millisecond), r.err)
			if tc.clearIn > 0 || tc.code == codes.OK {
				allFiles(t, r, "value-fault-a", "value-fault-b")
			} else {
				failedCleanly(t, r, tc.code, tc.contains...)
			}
			if tc.quick && r.elapsed > tc.deadline/2 {
				t.Errorf("took %v: a wait that cannot fit the deadline must fail at once", r.elapsed)
			}
			settled(t, h, deadlineAt)
		})
	}
	// After all of it the provider is healthy and serves.
	allFiles(t, faultMount(t, h, in, 30*time.Second), "value-fault-a", "value-fault-b")
	if got := scrapeValue(t, h.Metrics, "kvcsi_throttle_waits_total"); got == 0 {
		t.Error("no throttle waits recorded")
	}
}

// freshWI is a workload-identity mount with a service-account token minted for a new
// pod of the federated service account, so no cached token can answer it and the
// provider must reach Entra ID.
func freshWI(h *harness.Harness, objects ...string) harness.MountInput {
	n := freshPods.Add(1)
	pod := harness.Pod{Name: fmt.Sprintf("fresh-%d", n), Namespace: harness.Namespace,
		UID: fmt.Sprintf("00000000-0000-4000-9000-%012d", n), ServiceAccount: harness.SAName}
	return harness.MountInput{Params: wiParams(objects...), Pod: pod, Tokens: h.WorkloadToken(pod, harness.WIAudience, time.Hour)}
}

var freshPods atomic.Int64

// directClient reaches the provider without the driver's service config, which retries
// UNAVAILABLE on the provider: it shows what the provider itself answers.
func directClient(t *testing.T, h *harness.Harness) v1alpha1.CSIDriverProviderClient {
	t.Helper()
	conn, err := grpc.NewClient("unix:"+h.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("localhost"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return v1alpha1.NewCSIDriverProviderClient(conn)
}

func directMount(t *testing.T, c v1alpha1.CSIDriverProviderClient, in harness.MountInput, deadline time.Duration) faultResult {
	t.Helper()
	req, err := harness.Request(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	resp, err := c.Mount(ctx, req)
	return faultResult{resp: resp, err: err, elapsed: time.Since(start)}
}

// TestEntraIDFaults: Entra ID down (503 on every request) or hanging. A mount with a
// cached token keeps working; a mount that needs a token fails with a diagnosis by its
// deadline.
//
// Observed: the SDK's own retries make an Entra ID outage cost about 16 s per mount;
// the provider then answers Unavailable, which the driver's client retries (3 attempts),
// so a caller with less than about 3×16 s left sees its own DeadlineExceeded instead of
// the diagnosis (which is in the provider's log and metrics).
func TestEntraIDFaults(t *testing.T) {
	h := start(t, harness.Options{})
	h.Vault.SetSecret("entra-a", "value-entra-a", emulator.SecretOptions{})
	obj := "objectName: entra-a\nobjectType: secret"
	cached := harness.MountInput{Params: spParams(obj), Secrets: spSecrets()}
	allFiles(t, faultMount(t, h, cached, 30*time.Second), "value-entra-a")
	direct := directClient(t, h)

	t.Run("down", func(t *testing.T) {
		h.Emu.SetFaults(emulator.ServiceEntraID, emulator.Faults{ErrorRate: 1, ErrorStatus: 503})
		defer h.Emu.SetFaults(emulator.ServiceEntraID, emulator.Faults{})
		allFiles(t, faultMount(t, h, cached, 10*time.Second), "value-entra-a") // cached token: no Entra ID needed
		const deadline = 60 * time.Second
		deadlineAt := time.Now().Add(deadline)
		r := directMount(t, direct, freshWI(h, obj), deadline)
		t.Logf("after %v: %v", r.elapsed.Round(time.Millisecond), r.err)
		failedCleanly(t, r, codes.Unavailable, "objectName:entra-a", "workload identity", harness.WIClientID, "Entra ID", "503")
		if r.elapsed > deadline/2 {
			t.Errorf("took %v", r.elapsed)
		}
		settled(t, h, deadlineAt)
	})
	t.Run("hangs", func(t *testing.T) {
		h.Emu.SetFaults(emulator.ServiceEntraID, emulator.Faults{Latency: time.Minute})
		defer h.Emu.SetFaults(emulator.ServiceEntraID, emulator.Faults{})
		allFiles(t, faultMount(t, h, cached, 10*time.Second), "value-entra-a")
		deadlineAt := time.Now().Add(3 * time.Second)
		r := faultMount(t, h, freshWI(h, obj), 3*time.Second)
		t.Logf("after %v: %v", r.elapsed.Round(time.Millisecond), r.err)
		failedCleanly(t, r, codes.DeadlineExceeded)
		settled(t, h, deadlineAt)
	})
	allFiles(t, faultMount(t, h, freshWI(h, obj), 30*time.Second), "value-entra-a")
}

// TestIMDSSlow: the instance metadata service slow to answer the first request, hanging
// beyond the deadline, and failing, for a node managed identity.
//
// Observed: with IMDS answering 500 the SDK retries for about 97 s, so within a short
// deadline the outcome is the caller's DeadlineExceeded (the provider stops by then).
func TestIMDSSlow(t *testing.T) {
	h := start(t, harness.Options{})
	h.Vault.SetSecret("imds-a", "value-imds-a", emulator.SecretOptions{})
	// MSAL caches managed identity tokens process-wide: identities unique to this test.
	newMI := func(n int) map[string]string {
		id := fmt.Sprintf("0a1b2c3d-6666-4e5f-8a9b-%012d", time.Now().UnixNano()%1e11*10+int64(n))
		h.Emu.AddManagedIdentity(id, false, harness.Tenant)
		h.Vault.Grant(id, emulator.AllPermissions...)
		return map[string]string{"keyvaultName": harness.VaultName, "tenantID": harness.Tenant, "useVMManagedIdentity": "true",
			"userAssignedIdentityID": id, "objects": harness.Objects("objectName: imds-a\nobjectType: secret")}
	}
	t.Run("slow first answer", func(t *testing.T) {
		h.Emu.SetFaults(emulator.ServiceIMDS, emulator.Faults{FirstLatency: 2 * time.Second})
		defer h.Emu.SetFaults(emulator.ServiceIMDS, emulator.Faults{})
		r := faultMount(t, h, harness.MountInput{Params: newMI(1)}, 20*time.Second)
		t.Logf("after %v: %v", r.elapsed.Round(time.Millisecond), r.err)
		allFiles(t, r, "value-imds-a")
		if r.elapsed < 2*time.Second {
			t.Errorf("IMDS latency not seen (%v)", r.elapsed)
		}
	})
	for i, tc := range []struct {
		name   string
		faults emulator.Faults
	}{
		{"hangs beyond the deadline", emulator.Faults{Latency: time.Minute}},
		{"failing", emulator.Faults{ErrorRate: 1, ErrorStatus: 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.Emu.SetFaults(emulator.ServiceIMDS, tc.faults)
			defer h.Emu.SetFaults(emulator.ServiceIMDS, emulator.Faults{})
			deadlineAt := time.Now().Add(3 * time.Second)
			r := faultMount(t, h, harness.MountInput{Params: newMI(2 + i)}, 3*time.Second)
			t.Logf("after %v: %v", r.elapsed.Round(time.Millisecond), r.err)
			failedCleanly(t, r, codes.DeadlineExceeded)
			settled(t, h, deadlineAt)
		})
	}
	allFiles(t, faultMount(t, h, harness.MountInput{Params: newMI(9)}, 30*time.Second), "value-imds-a")
}

// TestMalformedKeyVaultResponses: Key Vault answers 200 with fields missing (the nil
// pointers that crash the Azure provider) or with a body that is not JSON. Each is
// mounted next to a good object: the whole mount fails naming the bad object, the
// provider stays up, and the good object mounts on its own afterwards.
func TestMalformedKeyVaultResponses(t *testing.T) {
	h := start(t, harness.Options{})
	v := h.Vault
	v.SetSecret("good", "value-good", emulator.SecretOptions{})
	base := strings.TrimSuffix(v.URL(), "/")
	const ver = "0123456789abcdef0123456789abcdef"
	cases := []struct {
		name, objType, objName, version string
		status                          int
		body                            string
		object                          string
		contains                        []string
	}{
		{"secret without value", "secret", "no-value", "", 200, `{"id":"` + base + `/secrets/no-value/` + ver + `","attributes":{"enabled":true}}`,
			"objectName: no-value\nobjectType: secret", []string{"objectName:no-value", "value"}},
		{"secret without id", "secret", "no-id", "", 200, `{"value":"value-of-no-id","attributes":{"enabled":true}}`,
			"objectName: no-id\nobjectType: secret", []string{"objectName:no-id", "id"}},
		{"certificate secret without content type", "secret", "cert-no-ct", "", 200,
			`{"value":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n","id":"` + base + `/secrets/cert-no-ct/` + ver + `","kid":"` + base + `/keys/cert-no-ct/` + ver + `","managed":true}`,
			"objectName: cert-no-ct\nobjectType: secret", []string{"objectName:cert-no-ct", "content type"}},
		{"certificate secret with unknown content type", "secret", "cert-odd-ct", "", 200,
			`{"value":"x","contentType":"application/x-nonsense","id":"` + base + `/secrets/cert-odd-ct/` + ver + `","kid":"` + base + `/keys/cert-odd-ct/` + ver + `"}`,
			"objectName: cert-odd-ct\nobjectType: secret", []string{"objectName:cert-odd-ct", "application/x-nonsense"}},
		{"PFX secret that is not base64", "secret", "pfx-bad", "", 200,
			`{"value":"%%%not-base64%%%","contentType":"application/x-pkcs12","id":"` + base + `/secrets/pfx-bad/` + ver + `","kid":"` + base + `/keys/pfx-bad/` + ver + `"}`,
			"objectName: pfx-bad\nobjectType: secret", []string{"objectName:pfx-bad", "base64"}},
		{"key without kty", "key", "no-kty", "", 200, `{"key":{"kid":"` + base + `/keys/no-kty/` + ver + `","n":"AQAB","e":"AQAB"}}`,
			"objectName: no-kty\nobjectType: key", []string{"objectName:no-kty"}},
		{"EC key without crv", "key", "no-crv", "", 200, `{"key":{"kid":"` + base + `/keys/no-crv/` + ver + `","kty":"EC","x":"AQAB","y":"AQAB"}}`,
			"objectName: no-crv\nobjectType: key", []string{"objectName:no-crv"}},
		{"key without key", "key", "no-key", "", 200, `{"attributes":{"enabled":true}}`,
			"objectName: no-key\nobjectType: key", []string{"objectName:no-key"}},
		{"key without kid", "key", "no-kid", "", 200, `{"key":{"kty":"RSA","n":"AQAB","e":"AQAB"}}`,
			"objectName: no-kid\nobjectType: key", []string{"objectName:no-kid"}},
		{"certificate without cer", "cert", "no-cer", "", 200, `{"id":"` + base + `/certificates/no-cer/` + ver + `"}`,
			"objectName: no-cer\nobjectType: cert", []string{"objectName:no-cer"}},
		{"certificate without id", "cert", "cert-no-id", "", 200, `{"cer":"MIIB"}`,
			"objectName: cert-no-id\nobjectType: cert", []string{"objectName:cert-no-id"}},
		{"truncated JSON", "secret", "truncated", "", 200, `{"value":"value-trunc`,
			"objectName: truncated\nobjectType: secret", []string{"objectName:truncated"}},
		{"HTML instead of JSON", "secret", "html", "", 200, `<html><body>gateway</body></html>`,
			"objectName: html\nobjectType: secret", []string{"objectName:html"}},
		{"JSON of the wrong shape", "secret", "wrong-shape", "", 200, `{"value":42,"id":["x"]}`,
			"objectName: wrong-shape\nobjectType: secret", []string{"objectName:wrong-shape"}},
		{"empty body", "secret", "empty", "", 200, ``,
			"objectName: empty\nobjectType: secret", []string{"objectName:empty"}},
		{"error body that is not JSON", "secret", "err-html", "", 502, `<html>bad gateway</html>`,
			"objectName: err-html\nobjectType: secret", []string{"objectName:err-html", "502"}},
		{"version list items without id", "secret", "hist", "versions", 200, `{"value":[{"attributes":{"enabled":true,"created":1700000000}},null],"nextLink":null}`,
			"objectName: hist\nobjectType: secret\nobjectVersionHistory: 2", []string{"objectName:hist"}},
		{"version list not JSON", "secret", "hist-bad", "versions", 200, `[[[`,
			"objectName: hist-bad\nobjectType: secret\nobjectVersionHistory: 2", []string{"objectName:hist-bad"}},
		{"version list with a nextLink loop", "secret", "hist-loop", "versions", 200,
			`{"value":[],"nextLink":"` + base + `/secrets/hist-loop/versions?api-version=7.5&$skiptoken=x"}`,
			"objectName: hist-loop\nobjectType: secret\nobjectVersionHistory: 2", []string{"objectName:hist-loop"}},
	}
	for _, tc := range cases {
		v.SetRawResponse(tc.objType, tc.objName, tc.version, tc.status, []byte(tc.body))
		if tc.version == "versions" {
			v.SetSecret(tc.objName, "value-"+tc.objName, emulator.SecretOptions{})
		}
	}
	okBefore := scrapeValue(t, h.Metrics, "kvcsi_mount_duration_seconds_count", `outcome="ok"`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := harness.MountInput{Params: spParams("objectName: good\nobjectType: secret", tc.object), Secrets: spSecrets()}
			r := faultMount(t, h, in, 10*time.Second)
			t.Logf("%v: %.300s", r.code(), r.msg())
			if r.err == nil {
				t.Fatalf("mounted %d files from a malformed response", len(r.resp.Files))
			}
			failedCleanly(t, r, r.code(), tc.contains...)
			if r.code() == codes.Internal && strings.Contains(r.msg(), "panic") {
				t.Fatalf("the request panicked: %s", r.msg())
			}
			if r.code() == codes.DeadlineExceeded {
				t.Fatalf("a malformed answer ran the mount into its deadline")
			}
			if strings.Contains(r.msg(), "value-good") || strings.Contains(r.msg(), "value-trunc") || strings.Contains(r.msg(), "value-of-no-id") {
				t.Fatalf("message carries a secret value: %s", r.msg())
			}
		})
	}
	// The failed mounts count as failures in the metrics, never as "ok"; only the good
	// object's requests count as successful Key Vault requests.
	if ok := scrapeValue(t, h.Metrics, "kvcsi_mount_duration_seconds_count", `outcome="ok"`); ok != okBefore {
		t.Errorf("%v failed mounts were counted as ok", ok-okBefore)
	}
	// Answers the SDK cannot decode or that lack an id are failed requests, never
	// successes: 11 of the cases fail at the Key Vault layer.
	if n := scrapeValue(t, h.Metrics, "keyvault_request_count", `error="internal"`); n < 11 {
		t.Errorf("keyvault_request{error=\"internal\"} = %v, want at least 11", n)
	}
	allFiles(t, faultMount(t, h, harness.MountInput{Params: spParams("objectName: good\nobjectType: secret"), Secrets: spSecrets()}, 10*time.Second), "value-good")
}

// TestKilledMidMount: the provider binary is SIGKILLed while a mount waits on Key
// Vault. The driver's call fails (no files), the socket file stays behind, a new
// provider started on the same path replaces it, and the driver's same connection
// mounts again.
func TestKilledMidMount(t *testing.T) {
	bin := kvcsiBinary(t)
	h := start(t, harness.Options{}) // emulator (and an in-process provider we do not use)
	h.Vault.SetSecret("killed", "value-killed", emulator.SecretOptions{})
	sock := filepath.Join(h.Dir, "kill.sock")
	var logs harness.SyncBuffer
	startProvider := func() *exec.Cmd {
		cmd := exec.Command(bin, "--endpoint=unix://"+sock, "--healthz-port=0", "--healthz-bind-address=127.0.0.1",
			"--prometheus-port=0", "--metrics-bind-address=127.0.0.1")
		cmd.Env = append(os.Environ(), h.Emu.Env()...)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
		return cmd
	}
	first := startProvider()
	conn, err := harness.DialProvider(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := v1alpha1.NewCSIDriverProviderClient(conn)
	req, err := harness.Request(harness.MountInput{Params: spParams("objectName: killed\nobjectType: secret"), Secrets: spSecrets()})
	if err != nil {
		t.Fatal(err)
	}
	h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{Latency: 30 * time.Second})
	type result struct {
		resp *v1alpha1.MountResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		resp, err := client.Mount(c, req)
		done <- result{resp, err}
	}()
	// Wait until the mount is inside the provider, waiting on Key Vault.
	deadline := time.Now().Add(30 * time.Second)
	for h.Emu.Counts().KeyVaultRequests == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the mount never reached Key Vault:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = first.Process.Wait()
	h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{})
	select {
	case r := <-done:
		// The connection broke before any answer: the driver's client may report it...
		if r.err == nil || r.resp != nil {
			t.Fatalf("the mount in flight when the provider was killed returned %v, %v", r.resp, r.err)
		}
		t.Logf("in-flight mount: %v", r.err)
		done <- r
	case <-time.After(500 * time.Millisecond):
		// ...or, as the driver's service config retries UNAVAILABLE and waits for a
		// ready provider, keep waiting for the restarted one.
	}
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("SIGKILL should leave the socket file behind: %v", err)
	}

	startProvider() // kubelet restarts the container over the stale socket
	select {
	case r := <-done:
		switch {
		case r.err == nil:
			// Retried on the new provider: the whole volume, never a part.
			if len(r.resp.Files) != 1 || string(r.resp.Files[0].Contents) != "value-killed" {
				t.Fatalf("the retried in-flight mount returned %v", r.resp.Files)
			}
			t.Log("in-flight mount retried by the driver's client on the restarted provider: full file set")
		case r.resp != nil:
			t.Fatal("a failed mount returned files")
		}
	case <-time.After(45 * time.Second):
		t.Fatal("the in-flight mount neither failed nor completed after the restart")
	}

	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := client.Mount(c, req) // waitForReady: the driver's connection reconnects
	if err != nil {
		t.Fatalf("mount after restart: %v\n%s", err, logs.String())
	}
	if len(resp.Files) != 1 || string(resp.Files[0].Contents) != "value-killed" {
		t.Fatalf("mount after restart: %v", resp.Files)
	}
	fi, err = os.Stat(sock)
	if err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("recovered socket: %v %v", fi.Mode(), err)
	}
	if strings.Contains(logs.String(), "value-killed") {
		t.Fatal("the log holds the secret value")
	}
}

// TestUnsafePaths: file names that would escape or break the volume are refused before
// any Key Vault call, through the socket, with the object named; and nothing is fetched.
func TestUnsafePaths(t *testing.T) {
	h := start(t, harness.Options{})
	h.Vault.SetSecret("safe", "value-safe", emulator.SecretOptions{})
	long := strings.Repeat("x", 256)
	cases := []struct {
		name, object string
		contains     []string
	}{
		{"alias with ..", "objectName: safe\nobjectType: secret\nobjectAlias: ../../etc/cron.d/evil", []string{"objectName:safe", "'..'"}},
		{"alias with inner ..", "objectName: safe\nobjectType: secret\nobjectAlias: a/../../b", []string{"objectName:safe", "'..'"}},
		{"absolute alias", "objectName: safe\nobjectType: secret\nobjectAlias: /etc/shadow", []string{"objectName:safe", "relative"}},
		{"Windows absolute alias", "objectName: safe\nobjectType: secret\nobjectAlias: 'C:\\Windows\\evil'", []string{"objectName:safe", "relative"}},
		{"backslash", "objectName: safe\nobjectType: secret\nobjectAlias: 'dir\\file'", []string{"objectName:safe", `'\'`}},
		{"empty name", "objectName: ''\nobjectType: secret", []string{"objectName"}},
		{"empty element", "objectName: safe\nobjectType: secret\nobjectAlias: a//b", []string{"objectName:safe", "empty path elements"}},
		{"dot element", "objectName: safe\nobjectType: secret\nobjectAlias: ./a", []string{"objectName:safe", "'.'"}},
		{"trailing slash", "objectName: safe\nobjectType: secret\nobjectAlias: dir/", []string{"objectName:safe", "'/'"}},
		{"name over 255 bytes", "objectName: safe\nobjectType: secret\nobjectAlias: " + long, []string{"objectName:safe", "255"}},
		{"NUL byte", "objectName: safe\nobjectType: secret\nobjectAlias: \"a\\0b\"", []string{"objectName:safe", "NUL"}},
		{"jmesPath alias with ..", "objectName: safe\nobjectType: secret\njmesPath:\n  - path: a\n    objectAlias: ../a", []string{"objectName:safe", "'..'"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.Emu.Counts().KeyVaultRequests
			r := faultMount(t, h, harness.MountInput{Params: spParams("objectName: safe\nobjectType: secret\nobjectAlias: ok", tc.object), Secrets: spSecrets()}, 10*time.Second)
			failedCleanly(t, r, codes.InvalidArgument, tc.contains...)
			if n := h.Emu.Counts().KeyVaultRequests - before; n != 0 {
				t.Errorf("%d Key Vault requests for a refused mount", n)
			}
		})
	}
	t.Run("duplicates", func(t *testing.T) {
		for _, objs := range [][]string{
			{"objectName: safe\nobjectType: secret", "objectName: safe\nobjectType: secret"},
			{"objectName: safe\nobjectType: secret\nobjectAlias: x", "objectName: other\nobjectType: key\nobjectAlias: x"},
			{"objectName: safe\nobjectType: secret\nobjectAlias: h/0", "objectName: other\nobjectType: secret\nobjectAlias: h\nobjectVersionHistory: 2"},
			{"objectName: safe\nobjectType: secret\nobjectAlias: s.crt", "objectName: s\nobjectType: secret\nsplitCertAndKey: true"},
		} {
			r := faultMount(t, h, harness.MountInput{Params: spParams(objs...), Secrets: spSecrets()}, 10*time.Second)
			failedCleanly(t, r, codes.InvalidArgument, "objectName:", "duplicate")
		}
	})
}

// TestResponseOverDriverLimit: objects that add up to more than the driver's 4 MiB
// receive limit fail with the biggest objects named, never a truncated mount.
func TestResponseOverDriverLimit(t *testing.T) {
	h := start(t, harness.Options{})
	mib := strings.Repeat("s", 1<<20)
	for _, n := range []string{"big-1", "big-2", "big-3"} {
		h.Vault.SetSecret(n, mib, emulator.SecretOptions{})
	}
	h.Vault.SetSecret("huge", mib+mib, emulator.SecretOptions{})
	h.Vault.SetSecret("small", "value-small", emulator.SecretOptions{})
	objs := []string{"objectName: small\nobjectType: secret", "objectName: big-1\nobjectType: secret", "objectName: huge\nobjectType: secret",
		"objectName: big-2\nobjectType: secret", "objectName: big-3\nobjectType: secret"}
	r := faultMount(t, h, harness.MountInput{Params: spParams(objs...), Secrets: spSecrets()}, 30*time.Second)
	failedCleanly(t, r, codes.ResourceExhausted, "secret/huge (2097152 bytes)", "secret/big-", "4194304")
	if strings.Contains(r.msg(), "secret/small") {
		t.Errorf("names a small object: %s", r.msg())
	}
	// Under the limit it mounts, whole.
	r = faultMount(t, h, harness.MountInput{Params: spParams(objs[:3]...), Secrets: spSecrets()}, 30*time.Second)
	allFiles(t, r, "value-small", mib, mib+mib)
}
