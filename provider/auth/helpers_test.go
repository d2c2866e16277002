package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// fakeClock is a settable clock for the cache.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeCredential is an underlying credential whose tokens live `lifetime` on
// the clock. Set gate to block requests until it is closed, and fail to make
// the next requests fail.
type fakeCredential struct {
	name     string
	clock    *fakeClock
	lifetime time.Duration
	gate     chan struct{}
	calls    atomic.Int64
	fail     atomic.Int64 // number of upcoming calls that fail
	lastOpts atomic.Pointer[policy.TokenRequestOptions]
	canceled atomic.Int64 // calls that ended because their ctx was cancelled
}

var errFake = errors.New("fake token request failed")

func (f *fakeCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	n := f.calls.Add(1)
	f.lastOpts.Store(&opts)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			f.canceled.Add(1)
			return azcore.AccessToken{}, ctx.Err()
		}
	}
	if f.fail.Load() > 0 {
		f.fail.Add(-1)
		return azcore.AccessToken{}, errFake
	}
	return azcore.AccessToken{
		Token:     fmt.Sprintf("%s|%v|%s|%s|%d", f.name, opts.Scopes, opts.TenantID, opts.Claims, n),
		ExpiresOn: f.clock.Now().Add(f.lifetime),
	}, nil
}

func mustToken(t *testing.T, c azcore.TokenCredential, opts policy.TokenRequestOptions) azcore.AccessToken {
	t.Helper()
	tok, err := c.GetToken(context.Background(), opts)
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	return tok
}

// waitFor polls cond until it holds or the test times out after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var kvScope = policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}, EnableCAE: true}

// imdsHandler answers IMDS token requests with "mi-token-<client_id>".
// MSAL keeps managed identity tokens in a process-wide cache, so tests in
// this package may see each other's MI tokens: they all use this handler so
// the tokens agree.
func imdsHandler(record func(*http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if record != nil {
			record(r)
		}
		if r.Header.Get("Metadata") != "true" {
			http.Error(w, "no Metadata header", http.StatusBadRequest)
			return
		}
		writeTestJSON(w, map[string]any{
			"access_token": "mi-token-" + r.URL.Query().Get("client_id"),
			"expires_in":   "3600",
			"expires_on":   fmt.Sprint(time.Now().Add(time.Hour).Unix()),
			"resource":     r.URL.Query().Get("resource"),
			"token_type":   "Bearer",
		})
	}
}
