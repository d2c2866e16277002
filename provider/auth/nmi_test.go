package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

type nmiServer struct {
	*httptest.Server
	hits    atomic.Int64
	handler atomic.Pointer[http.HandlerFunc]
}

func newNMIServer(t *testing.T, h http.HandlerFunc) *nmiServer {
	s := &nmiServer{}
	s.handler.Store(&h)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		(*s.handler.Load())(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *nmiServer) endpoint() string { return s.URL + "/host/token/" }

// nmiOK answers like NMI, with a token naming the pod and resource it was asked for.
func nmiOK(expiresOn string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token":{"access_token":"at-%s-%s-%s","refresh_token":"","expires_in":"3599","expires_on":%s,"not_before":"1","resource":%q,"token_type":"Bearer"},"clientid":"pod-id-client"}`,
			r.Header.Get("podns"), r.Header.Get("podname"), r.URL.Query().Get("resource"), expiresOn, r.URL.Query().Get("resource"))
	}
}

func nmiManager(s *nmiServer, o Options) *Manager {
	o.NMIEndpoint = s.endpoint()
	if o.NMIRetryDelay == 0 {
		o.NMIRetryDelay = time.Millisecond
	}
	return NewManager(o)
}

var podIdentity = config.Identity{Mode: vocab.PodIdentity, TenantID: tenantA}

func TestNMIProtocol(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	var got *http.Request
	var mu sync.Mutex
	s := newNMIServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Clone(context.Background())
		mu.Unlock()
		nmiOK(fmt.Sprintf("%q", fmt.Sprint(exp)))(w, r)
	})
	m := nmiManager(s, Options{})
	cred, _, err := m.Credential(podIdentity, testPod, authority, "https://vault.azure.net/")
	if err != nil {
		t.Fatal(err)
	}
	tok := mustToken(t, cred, kvScope)
	if tok.Token != "at-shop-web-0-https://vault.azure.net" {
		t.Fatalf("token %q", tok.Token)
	}
	if tok.ExpiresOn.Unix() != exp {
		t.Fatalf("expires %v, want %v", tok.ExpiresOn.Unix(), exp)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.Method != http.MethodGet || got.URL.Path != "/host/token/" {
		t.Fatalf("request %s %s", got.Method, got.URL.Path)
	}
	if got.URL.RawQuery != "resource=https%3A%2F%2Fvault.azure.net" {
		t.Fatalf("query %q: want the resource URL-encoded, without the trailing slash", got.URL.RawQuery)
	}
	if got.Header.Get("podns") != "shop" || got.Header.Get("podname") != "web-0" {
		t.Fatalf("headers %v", got.Header)
	}
	// Cached: a second GetToken makes no request.
	mustToken(t, cred, kvScope)
	if s.hits.Load() != 1 {
		t.Fatalf("NMI hits = %d, want 1", s.hits.Load())
	}
}

func TestNMIExpiresOnAsNumberOrExpiresIn(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	s := newNMIServer(t, nmiOK(fmt.Sprint(exp)))
	m := nmiManager(s, Options{})
	cred, _, _ := m.Credential(podIdentity, testPod, authority, kvRes)
	if tok := mustToken(t, cred, kvScope); tok.ExpiresOn.Unix() != exp {
		t.Fatalf("numeric expires_on: %v", tok.ExpiresOn)
	}
	clock := newFakeClock()
	s2 := newNMIServer(t, func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"token":{"access_token":"at","expires_in":"600"},"clientid":"c"}`)
	})
	m2 := nmiManager(s2, Options{Now: clock.Now})
	cred2, _, _ := m2.Credential(podIdentity, testPod, authority, kvRes)
	if tok := mustToken(t, cred2, kvScope); !tok.ExpiresOn.Equal(clock.Now().Add(10 * time.Minute)) {
		t.Fatalf("expires_in fallback: %v", tok.ExpiresOn)
	}
}

func TestNMIRetriesServerErrors(t *testing.T) {
	var n atomic.Int64
	s := newNMIServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			http.Error(w, "nmi busy", http.StatusInternalServerError)
			return
		}
		nmiOK(fmt.Sprint(time.Now().Add(time.Hour).Unix()))(w, r)
	})
	m := nmiManager(s, Options{NMIRetries: 3})
	cred, _, _ := m.Credential(podIdentity, testPod, authority, kvRes)
	mustToken(t, cred, kvScope)
	if s.hits.Load() != 3 || m.Stats().NMIRequests != 3 {
		t.Fatalf("attempts = %d, want 3", s.hits.Load())
	}
	if m.Stats().TokenRequests != 1 {
		t.Fatalf("retries must stay inside one token request: %+v", m.Stats())
	}
}

func TestNMIErrorsKeepUpstreamTextAndRedactBody(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	s := newNMIServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"error":"no identity","access_token":"opaque-secret-token","debug":"%s %s"}`, jwt, strings.Repeat("x", 1000))
	})
	m := nmiManager(s, Options{NMIRetries: 3})
	cred, _, _ := m.Credential(podIdentity, testPod, authority, kvRes)
	_, err := cred.GetToken(context.Background(), kvScope)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "nmi response failed with status code: 403, response body: ") {
		t.Fatalf("error text changed: %s", msg)
	}
	if strings.Contains(msg, "opaque-secret-token") || strings.Contains(msg, jwt) {
		t.Fatalf("error leaks a token: %s", msg)
	}
	if !strings.Contains(msg, "no identity") || len(msg) > 400 {
		t.Fatalf("body not kept or not truncated (%d bytes): %s", len(msg), msg)
	}
	if s.hits.Load() != 1 {
		t.Fatalf("a 403 was retried %d times", s.hits.Load()-1)
	}
	// The failure is not cached.
	cred.GetToken(context.Background(), kvScope)
	if s.hits.Load() != 2 {
		t.Fatal("error was cached")
	}
}

func TestNMIMissingValues(t *testing.T) {
	for _, body := range []string{
		`{"token":{"access_token":"","expires_on":"1"},"clientid":"c"}`,
		`{"token":{"access_token":"at","expires_on":"1"},"clientid":""}`,
		`{"clientid":"c"}`,
		`{}`,
	} {
		s := newNMIServer(t, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) })
		m := nmiManager(s, Options{})
		cred, _, _ := m.Credential(podIdentity, testPod, authority, kvRes)
		_, err := cred.GetToken(context.Background(), kvScope)
		if err == nil || err.Error() != "nmi did not return expected values in response: token and clientid" {
			t.Errorf("%s: err = %v", body, err)
		}
	}
}

func TestNMIAttemptTimeoutAndRetries(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s := newNMIServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	m := nmiManager(s, Options{NMITimeout: 50 * time.Millisecond, NMIRetries: 2})
	cred, _, _ := m.Credential(podIdentity, testPod, authority, kvRes)
	start := time.Now()
	_, err := cred.GetToken(context.Background(), kvScope)
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("err = %v", err)
	}
	if s.hits.Load() != 3 {
		t.Fatalf("attempts = %d, want 3 (1 + 2 retries)", s.hits.Load())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestNMIRetriesStopAtCallerDeadline(t *testing.T) {
	s := newNMIServer(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	m := nmiManager(s, Options{NMIRetries: 50, NMIRetryDelay: 40 * time.Millisecond})
	cred, _, _ := m.Credential(podIdentity, testPod, authority, kvRes)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := cred.GetToken(ctx, kvScope)
	if err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("retries ran past the caller's deadline: %v", d)
	}
	if n := s.hits.Load(); n < 2 || n > 10 {
		t.Fatalf("attempts = %d", n)
	}
}

func TestNMITransportErrorsAreRetried(t *testing.T) {
	s := newNMIServer(t, nmiOK("1"))
	endpoint := s.endpoint()
	s.Close() // connection refused from now on
	m := NewManager(Options{NMIEndpoint: endpoint, NMIRetries: 2, NMIRetryDelay: time.Millisecond})
	cred, _, _ := m.Credential(podIdentity, testPod, authority, kvRes)
	if _, err := cred.GetToken(context.Background(), kvScope); err == nil {
		t.Fatal("no error")
	}
	if n := m.Stats().NMIRequests; n != 3 {
		t.Fatalf("attempts = %d, want 3", n)
	}
}

func TestPodIdentityDeprecationLoggedOncePerPod(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		lines = append(lines, args)
		mu.Unlock()
	}, funcr.Options{})
	// Credentials idle out between mounts, so every mount builds a new one: only the
	// deprecation memory keeps the log to once per pod.
	clock := newFakeClock()
	m := NewManager(Options{IdleTTL: time.Minute, Now: clock.Now, Logger: logger})
	other := config.Pod{Name: "web-1", Namespace: "shop"}
	for _, p := range []config.Pod{testPod, testPod, other, testPod, other} {
		clock.Advance(2 * time.Minute)
		if _, _, err := m.Credential(podIdentity, p, authority, kvRes); err != nil {
			t.Fatal(err)
		}
	}
	if s := m.Stats(); s.CredentialsCreated != 5 {
		t.Fatalf("%d credentials built, want one per mount", s.CredentialsCreated)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 2 || !strings.Contains(lines[0], "deprecated") || !strings.Contains(lines[0], "web-0") || !strings.Contains(lines[1], "web-1") {
		t.Fatalf("log lines: %q", lines)
	}
}

func TestRedactBody(t *testing.T) {
	in := `{"token":{"access_token":"abc","refresh_token":"def"},"x":"eyJa.eyJb.c"}`
	out := redactBody([]byte(in))
	for _, s := range []string{"abc", "def", "eyJa.eyJb.c"} {
		if strings.Contains(out, s) {
			t.Fatalf("%q leaks %q", out, s)
		}
	}
	long := redactBody([]byte(strings.Repeat("é", 500)))
	if len(long) > maxErrorBody+len("...(truncated)") || !strings.HasSuffix(long, "...(truncated)") {
		t.Fatalf("truncation: %d bytes", len(long))
	}
}

// NMI answers 404 while it assigns the pod's identity: kvcsi retries until the
// caller's deadline, then reports NMI's answer (not a bare deadline).
func TestNMIRetries404UntilTheDeadline(t *testing.T) {
	s := newNMIServer(t, func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(100 * time.Millisecond)
		http.Error(w, "getting assigned identities for pod shop/web-0 in ASSIGNED state failed after 20 attempts, retry duration [5]s. Error: <nil>", http.StatusNotFound)
	})
	m := nmiManager(s, Options{NMIRetries: 1, NMIRetryDelay: 20 * time.Millisecond})
	cred, _, _ := m.Credential(podIdentity, testPod, authority, kvRes)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := cred.GetToken(ctx, kvScope)
	if err == nil || !strings.Contains(err.Error(), "nmi response failed with status code: 404") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("returned after the deadline: %v", d)
	}
	if n := s.hits.Load(); n < 4 {
		t.Fatalf("attempts = %d: 404 (identity being assigned) must be retried beyond NMIRetries", n)
	}
}

// Without a deadline a 404 counts as a retry, so that it cannot go on forever.
func TestNMI404WithoutDeadlineIsBounded(t *testing.T) {
	s := newNMIServer(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "getting assigned identities for pod shop/web-0 in ASSIGNED state failed", http.StatusNotFound)
	})
	m := nmiManager(s, Options{NMIRetries: 2, NMIRetryDelay: time.Millisecond})
	cred, _, _ := m.Credential(podIdentity, testPod, authority, kvRes)
	if _, err := cred.GetToken(context.Background(), kvScope); err == nil || !strings.Contains(err.Error(), "status code: 404") {
		t.Fatalf("err = %v", err)
	}
	if n := s.hits.Load(); n != 3 {
		t.Fatalf("attempts = %d, want 3 (1 + 2 retries)", n)
	}
}
