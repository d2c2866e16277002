package keyvault

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"google.golang.org/grpc/codes"

	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

const (
	hostA = "vault-a.vault.azure.net"
	hostB = "vault-b.vault.azure.net"
	urlA  = "https://" + hostA + "/"
	urlB  = "https://" + hostB + "/"
)

func testPool(f *fakeVault, mod func(*Options)) *Pool {
	o := Options{HTTPClient: f.client(), ApplicationID: "kvcsi-test"}
	if mod != nil {
		mod(&o)
	}
	return NewPool(o)
}

func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestFetchEveryObjectType(t *testing.T) {
	f := newFakeVault()
	p := testPool(f, nil)
	v, err := p.Vault(urlA, "cred-1", &fakeCred{name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := deadline(t, 10*time.Second)
	s, err := v.Secret(ctx, "db", "")
	if err != nil || s.Value == nil || *s.Value != "value-of-db" || s.Version != "latest0" {
		t.Fatalf("secret = %+v, %v", s, err)
	}
	k, err := v.Key(ctx, "k", "ver9")
	if err != nil || k.Kty == nil || *k.Kty != "EC" || k.Version != "ver9" || string(k.X) != "\x01\x02\x03" {
		t.Fatalf("key = %+v, %v", k, err)
	}
	c, err := v.Certificate(ctx, "tls", "")
	if err != nil || len(c.CER) == 0 || c.Version != "latest0" {
		t.Fatalf("cert = %+v, %v", c, err)
	}
	for _, typ := range vocab.ObjectTypes() {
		vs, err := v.Versions(ctx, typ, "x")
		if err != nil || len(vs) != 2 || vs[0].Version != "v1" || !vs[0].Enabled || vs[1].Enabled {
			t.Fatalf("%s versions = %+v, %v", typ, vs, err)
		}
	}
	if _, err := v.Versions(ctx, "blob", "x"); err == nil {
		t.Fatal("unknown object type: no error")
	}
	// Three SDK clients (one per object type), one challenge from the vault: the other
	// two clients' probes were answered from memory.
	probes, authorized := f.counts(hostA)
	st := p.Stats()
	if probes != 1 || authorized != 6 || st.ClientsCreated != 3 || st.ChallengesLearned != 1 || st.ChallengesReused != 2 {
		t.Fatalf("probes %d authorized %d stats %+v; want 1 probe, 6 authorized, 3 clients, 1 learned, 2 reused", probes, authorized, st)
	}
}

// Attributes come back with every object, and ListSecrets follows the pages.
func TestAttributesAndListSecrets(t *testing.T) {
	f := newFakeVault()
	v, err := testPool(f, nil).Vault(urlA, "cred-1", &fakeCred{name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := deadline(t, 10*time.Second)
	s, err := v.Secret(ctx, "db", "")
	if err != nil || s.Attributes.Expires == nil || s.Attributes.Expires.Unix() != 1900000000 || s.Attributes.NotBefore.Unix() != 1700000000 || !*s.Attributes.Enabled {
		t.Fatalf("secret attributes %+v, %v", s.Attributes, err)
	}
	c, err := v.Certificate(ctx, "tls", "")
	if err != nil || c.Attributes.Expires == nil || c.Attributes.Expires.Unix() != 1800000000 {
		t.Fatalf("certificate attributes %+v, %v", c.Attributes, err)
	}
	list, err := v.ListSecrets(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("list %+v, %v", list, err)
	}
	if l := list[0]; l.Name != "app-db" || l.ContentType != "text/plain" || l.Tags["app"] != "shop" || l.Attributes.Expires.Unix() != 1900000000 || l.Managed {
		t.Errorf("first %+v", l)
	}
	if l := list[1]; l.Name != "app-off" || *l.Attributes.Enabled {
		t.Errorf("second %+v", l)
	}
	if l := list[2]; l.Name != "web-tls" || !l.Managed {
		t.Errorf("third (second page) %+v", l)
	}
}

// The first requests to a new vault go out in parallel (a mount's objects); one probe
// asks Key Vault for the challenge and the others wait for its answer.
func TestOneChallengeProbePerVault(t *testing.T) {
	f := newFakeVault()
	f.delay = 20 * time.Millisecond
	p := testPool(f, nil)
	ctx := deadline(t, 10*time.Second)
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v, _ := p.Vault(urlA, "key-"+string(rune('a'+i%3)), &fakeCred{name: "c" + string(rune('a'+i%3))})
			if _, err := v.Secret(ctx, "s", ""); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if probes, authorized := f.counts(hostA); probes != 1 || authorized != 12 {
		t.Fatalf("probes %d, authorized %d; want 1 and 12", probes, authorized)
	}
	// A probe that fails (throttled) lets the next waiter probe.
	f2 := newFakeVault()
	p2 := testPool(f2, nil)
	f2.probeFail = 1
	v, _ := p2.Vault(urlB, "k", &fakeCred{name: "one"})
	if _, err := v.Secret(ctx, "s", ""); err != nil {
		t.Fatal(err)
	}
	if probes, _ := f2.counts(hostB); probes != 2 {
		t.Fatalf("probes %d, want 2 (one throttled, one answered)", probes)
	}
}

func TestInvalidVaultURL(t *testing.T) {
	p := testPool(newFakeVault(), nil)
	for _, u := range []string{"http://x.vault.azure.net/", "https:///", "::"} {
		if _, err := p.Vault(u, "k", &fakeCred{}); err == nil {
			t.Errorf("%q: no error", u)
		}
	}
}

// Clients are shared only within one credential key, and each request carries the
// token of the credential it was made with.
func TestClientsReusedPerVaultAndCredentialKey(t *testing.T) {
	f := newFakeVault()
	p := testPool(f, nil)
	ctx := deadline(t, 10*time.Second)
	one, two := &fakeCred{name: "one"}, &fakeCred{name: "two"}
	get := func(url, key string, c *fakeCred) {
		t.Helper()
		v, err := p.Vault(url, key, c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Secret(ctx, "s", ""); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		get(urlA, "key-one", one)
	}
	get(urlA, "key-two", two)
	get(urlB, "key-one", one)
	st := p.Stats()
	if st.ClientSets != 3 || st.ClientsCreated != 3 {
		t.Fatalf("stats %+v: want 3 client sets (A/one, A/two, B/one), 3 clients", st)
	}
	// The SDK client caches its token: five reads with one credential, one token.
	if n := one.calls.Load(); n != 2 {
		t.Fatalf("credential one asked for %d tokens, want 2 (vault A and B clients)", n)
	}
	// Key Vault saw exactly one challenge per vault.
	pa, _ := f.counts(hostA)
	pb, _ := f.counts(hostB)
	if pa != 1 || pb != 1 {
		t.Fatalf("challenges: A %d, B %d; want 1 each", pa, pb)
	}
	seen := f.seen(hostA)
	want := append(strings.Split(strings.Repeat("Bearer one|tenant-a,", 5), ",")[:5], "Bearer two|tenant-a")
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("tokens seen by vault A: %v, want %v", seen, want)
	}
}

// BuildClients builds the three SDK clients at once (the baseline's Azure-provider way).
func TestBuildClients(t *testing.T) {
	f := newFakeVault()
	p := testPool(f, nil)
	v, err := p.Vault(urlA, "k", &fakeCred{name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.BuildClients(); err != nil {
		t.Fatal(err)
	}
	if err := v.BuildClients(); err != nil || p.Stats().ClientsCreated != 3 {
		t.Fatalf("clients created %d, want 3 once: %v", p.Stats().ClientsCreated, err)
	}
	if probes, authorized := f.counts(hostA); probes != 0 || authorized != 0 {
		t.Fatalf("building clients sent requests: %d probes, %d authorized", probes, authorized)
	}
}

func TestClientCacheIsBounded(t *testing.T) {
	f := newFakeVault()
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := testPool(f, func(o *Options) { o.CacheSize = 4; o.IdleTTL = time.Minute; o.Now = clock })
	for i := 0; i < 50; i++ {
		if _, err := p.Vault(urlA, "key-"+string(rune('a'+i%26))+string(rune('a'+i/26)), &fakeCred{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.Stats().ClientSets; n != 4 {
		t.Fatalf("client sets = %d, want the size limit 4", n)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if st := p.Stats(); st.ClientSets != 0 || st.Vaults != 0 {
		t.Fatalf("after the idle TTL: %+v, want nothing cached", st)
	}
}

// A remembered challenge that Key Vault no longer accepts (the vault moved tenant) costs
// one extra round trip, is then forgotten, and new clients learn the new one.
func TestStaleChallengeIsReplaced(t *testing.T) {
	f := newFakeVault()
	p := testPool(f, nil)
	ctx := deadline(t, 10*time.Second)
	read := func(key, name string) {
		t.Helper()
		v, err := p.Vault(urlA, key, &fakeCred{name: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Secret(ctx, "s", ""); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	read("k1", "one")
	f.setTenant(hostA, "tenant-b")
	// Probe answered from memory (tenant-a), token rejected with Key Vault's new
	// challenge, which replaces ours; the call is retried at once, and the SDK client
	// follows the new challenge.
	read("k2", "two")
	read("k3", "three") // a new client: the new challenge from memory
	read("k1", "one")   // an existing client follows the challenge by itself
	seen := f.seen(hostA)
	want := []string{"Bearer one|tenant-a", "Bearer two|tenant-a", "Bearer two|tenant-a", "Bearer two|tenant-b",
		"Bearer three|tenant-b", "Bearer one|tenant-a", "Bearer one|tenant-b"}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("tokens seen: %v, want %v", seen, want)
	}
	if probes, _ := f.counts(hostA); probes != 1 {
		t.Fatalf("probes = %d, want 1", probes)
	}

	// A token Key Vault rejects under an unchanged challenge is not retried.
	before := len(f.seen(hostA))
	v, _ := p.Vault(urlA, "k4", &fakeCred{name: "bad"})
	if _, err := v.Secret(ctx, "s", ""); statusOf(err) != 401 {
		t.Fatalf("err = %v, want 401", err)
	}
	if n := len(f.seen(hostA)) - before; n != 1 {
		t.Fatalf("%d authorized requests for a rejected token, want 1", n)
	}
}

func TestIsVaultChallenge(t *testing.T) {
	for h, want := range map[string]bool{
		`Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net"`:       true,
		`Bearer authorization="https://login.microsoftonline.com/t", scope="https://vault.azure.net/.default"`: true,
		`Bearer authorization_uri="https://login/t" resource="https://vault.azure.net"`:                        true,
		`Bearer realm="", authorization_uri="https://login/t", error="insufficient_claims", claims="eyJ..."`:   false,
		`Bearer authorization="https://login.microsoftonline.com/t"`:                                           false,
		`Basic realm="x"`: false,
		``:                false,
	} {
		if got := isVaultChallenge(h); got != want {
			t.Errorf("isVaultChallenge(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestRetriesThrottlingWithRetryAfter(t *testing.T) {
	f := newFakeVault()
	p := testPool(f, nil)
	f.push(hostA,
		reply{status: 429, header: map[string]string{"Retry-After": "1", "x-ms-retry-after-ms": "20"}},
		reply{status: 503, header: map[string]string{"retry-after-ms": "10"}},
	)
	v, _ := p.Vault(urlA, "k", &fakeCred{name: "one"})
	start := time.Now()
	if _, err := v.Secret(deadline(t, 10*time.Second), "s", ""); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 30*time.Millisecond || el > 900*time.Millisecond {
		t.Fatalf("took %v: want the 20 ms and 10 ms the vault asked for (plus jitter), not the 1 s header", el)
	}
	st := p.Stats()
	if st.Retries != 2 || st.Throttled != 2 || st.FailedFast != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A Retry-After longer than the time left fails at once with ResourceExhausted and the
// wait the vault asked for, instead of sleeping into the deadline.
func TestThrottlingThatDoesNotFitFailsFast(t *testing.T) {
	for _, status := range []int{429, 503} {
		f := newFakeVault()
		p := testPool(f, nil)
		f.push(hostA, reply{status: status, header: map[string]string{"Retry-After": "30"}})
		v, _ := p.Vault(urlA, "k", &fakeCred{name: "one"})
		start := time.Now()
		_, err := v.Secret(deadline(t, 5*time.Second), "s", "")
		if el := time.Since(start); el > time.Second {
			t.Fatalf("%d: took %v, want an immediate failure", status, el)
		}
		var de *diag.Error
		if !errors.As(err, &de) || de.Kind != diag.KindThrottled || de.RetryAfter != 30*time.Second || de.Kind.Code() != codes.ResourceExhausted {
			t.Fatalf("%d: err = %#v, want KindThrottled with RetryAfter 30s", status, err)
		}
		if !strings.Contains(err.Error(), "asked to wait 30s") || !strings.Contains(err.Error(), "does not fit") {
			t.Fatalf("%d: message %q", status, err)
		}
		if _, authorized := f.counts(hostA); authorized != 1 {
			t.Fatalf("%d: %d attempts, want 1", status, authorized)
		}
		if p.Stats().FailedFast != 1 {
			t.Fatalf("%d: stats %+v", status, p.Stats())
		}
	}
}

func TestThrottledAfterMaxRetries(t *testing.T) {
	f := newFakeVault()
	p := testPool(f, func(o *Options) { o.MaxRetries = 2 })
	for i := 0; i < 10; i++ {
		f.push(hostA, reply{status: 429, header: map[string]string{"retry-after-ms": "5"}})
	}
	v, _ := p.Vault(urlA, "k", &fakeCred{name: "one"})
	_, err := v.Secret(deadline(t, 10*time.Second), "s", "")
	var de *diag.Error
	if !errors.As(err, &de) || de.Kind != diag.KindThrottled || de.RetryAfter != 5*time.Millisecond {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "after 2 retries") {
		t.Fatalf("message %q", err)
	}
	if _, authorized := f.counts(hostA); authorized != 3 {
		t.Fatalf("%d attempts, want 3", authorized)
	}
}

func TestServerErrorsAndResetsBackOff(t *testing.T) {
	f := newFakeVault()
	p := testPool(f, nil)
	f.push(hostA, reply{status: 500}, reply{reset: true})
	v, _ := p.Vault(urlA, "k", &fakeCred{name: "one"})
	start := time.Now()
	if _, err := v.Secret(deadline(t, 10*time.Second), "s", ""); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("took %v, want the exponential backoff (150ms + 300ms at least)", el)
	}
	// A 503 without Retry-After that never clears is Unavailable, not throttling.
	f2 := newFakeVault()
	p2 := testPool(f2, func(o *Options) { o.MaxRetries = -1 })
	f2.push(hostA, reply{status: 503})
	v2, _ := p2.Vault(urlA, "k", &fakeCred{name: "one"})
	_, err := v2.Secret(deadline(t, 10*time.Second), "s", "")
	if k := diag.Classify(err); k != diag.KindUnavailable {
		t.Fatalf("503 without Retry-After, no retries: kind %v (%v)", k, err)
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	for _, status := range []int{400, 403, 404} {
		f := newFakeVault()
		p := testPool(f, nil)
		f.push(hostA, reply{status: status})
		v, _ := p.Vault(urlA, "k", &fakeCred{name: "one"})
		if _, err := v.Secret(deadline(t, 10*time.Second), "s", ""); statusOf(err) != status {
			t.Fatalf("%d: err = %v", status, err)
		}
		if _, authorized := f.counts(hostA); authorized != 1 {
			t.Fatalf("%d: %d attempts, want 1", status, authorized)
		}
	}
}

// Throttling shrinks the per-vault concurrency across every user of the vault.
func TestThrottlingShrinksVaultConcurrency(t *testing.T) {
	f := newFakeVault()
	f.delay = 5 * time.Millisecond
	p := testPool(f, func(o *Options) { o.VaultConcurrency = 16; o.MaxRetries = 20 })
	for i := 0; i < 16; i++ {
		f.push(hostA, reply{status: 429, header: map[string]string{"retry-after-ms": "1"}})
	}
	ctx := deadline(t, 20*time.Second)
	run := func(n int) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				v, _ := p.Vault(urlA, "k", &fakeCred{name: "one"})
				if _, err := v.Secret(ctx, "s", ""); err != nil {
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
	}
	// Warm up the client (its challenge) so all 16 requests go out together.
	run(1)
	run(16)
	st, _, _ := p.vaults.GetOrCreate(hostA, func() (*vaultState, error) { return nil, errors.New("vault state missing") })
	lim := st.limit.stats().Limit
	if lim >= 16 {
		t.Fatalf("limit %v after a burst of throttling, want below 16", lim)
	}
	// Recovery: successes grow it back to the maximum.
	for i := 0; i < 20 && st.limit.stats().Limit < 16; i++ {
		run(32)
	}
	if got := st.limit.stats().Limit; got != 16 {
		t.Fatalf("limit %v after many successes, want back at 16", got)
	}
	f.mu.Lock()
	peak := f.maxInFlight
	f.mu.Unlock()
	if peak > 16 {
		t.Fatalf("%d requests in flight to one vault, limit 16", peak)
	}
}

// blockingCred waits for release before issuing its token.
type blockingCred struct {
	fakeCred
	entered chan struct{}
	release chan struct{}
}

func (c *blockingCred) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	close(c.entered)
	<-c.release
	return c.fakeCred.GetToken(ctx, o)
}

// A vault slot is held for the HTTP exchange only: a credential slow to get its token
// from Entra ID does not hold up other mounts' requests to the vault.
func TestSlotNotHeldWhileFetchingToken(t *testing.T) {
	f := newFakeVault()
	p := testPool(f, func(o *Options) { o.VaultConcurrency = 1 })
	ctx := deadline(t, 10*time.Second)
	fast, _ := p.Vault(urlA, "fast", &fakeCred{name: "fast"})
	if _, err := fast.Secret(ctx, "s", ""); err != nil { // learn the challenge
		t.Fatal(err)
	}
	slow := &blockingCred{fakeCred: fakeCred{name: "slow"}, entered: make(chan struct{}), release: make(chan struct{})}
	sv, _ := p.Vault(urlA, "slow", slow)
	done := make(chan error, 1)
	go func() {
		_, err := sv.Secret(ctx, "s", "")
		done <- err
	}()
	<-slow.entered
	if _, err := fast.Secret(ctx, "s", ""); err != nil {
		t.Fatalf("request while another credential fetches its token: %v", err)
	}
	close(slow.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// observed records what the pool tells its Observer.
type observed struct {
	mu       sync.Mutex
	outcomes []diag.Outcome
}

func (o *observed) KeyVaultRequest(_ string, outcome diag.Outcome, _ time.Duration) {
	o.mu.Lock()
	o.outcomes = append(o.outcomes, outcome)
	o.mu.Unlock()
}

func (o *observed) ThrottleWait(time.Duration) {}

// The Observer hears success only for a call that worked: a Key Vault refusal keeps its
// kind, and a failure nothing classifies (a 200 with a body the SDK cannot read) is
// internal, never success.
func TestObserverOutcomes(t *testing.T) {
	f := newFakeVault()
	obs := &observed{}
	p := testPool(f, func(o *Options) { o.Observer = obs })
	v, err := p.Vault(urlA, "k", &fakeCred{name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := deadline(t, 10*time.Second)
	if _, err := v.Secret(ctx, "db", ""); err != nil {
		t.Fatal(err)
	}
	f.push(hostA, reply{status: http.StatusForbidden})
	if _, err := v.Secret(ctx, "db", ""); diag.Classify(err) != diag.KindPermissionDenied {
		t.Fatalf("403: %v", err)
	}
	f.push(hostA, reply{status: http.StatusOK}) // a Throttled error body with status 200: no secret id
	if _, err := v.Secret(ctx, "db", ""); err == nil || diag.Classify(err) != diag.KindUnknown {
		t.Fatalf("malformed answer: %v (kind %s)", err, diag.Classify(err))
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := []string{"ok", "permission_denied", "internal"}
	if len(obs.outcomes) != len(want) {
		t.Fatalf("outcomes %v, want %v", obs.outcomes, want)
	}
	for i, o := range obs.outcomes {
		if o.String() != want[i] || o.Succeeded() != (i == 0) {
			t.Errorf("outcome %d = %v (succeeded %v), want %s", i, o, o.Succeeded(), want[i])
		}
	}
}

// A request that waits for a slot of a busy vault until the mount's deadline fails as a
// deadline with the fix that names the limit, typed (not text) all the way to diag.
func TestSlotTimeoutIsTyped(t *testing.T) {
	f := newFakeVault()
	p := testPool(f, func(o *Options) { o.VaultConcurrency = 1 })
	v, err := p.Vault(urlA, "k", &fakeCred{name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Secret(deadline(t, 10*time.Second), "warm", ""); err != nil { // learn the challenge
		t.Fatal(err)
	}
	state, _ := p.vaults.Get(hostA)
	held, err := state.limit.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer state.limit.release(held, outcomeOK)
	_, err = v.Secret(deadline(t, 50*time.Millisecond), "db", "")
	var de *diag.Error
	if !errors.As(err, &de) || de.Kind != diag.KindDeadline || !strings.Contains(de.Fix, "--vault-concurrency") {
		t.Fatalf("err = %v, want a KindDeadline *diag.Error naming --vault-concurrency", err)
	}
	x := diag.Explain(err, diag.Context{ObjectType: vocab.Secret, ObjectName: "db", Vault: "vault-a", VaultURL: urlA})
	if msg := x.Error(); !strings.Contains(msg, "waiting for a free request slot to "+hostA) || !strings.HasSuffix(msg, "; fix: "+slotFix) {
		t.Fatalf("explained: %s", msg)
	}
}
