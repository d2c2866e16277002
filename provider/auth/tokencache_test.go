package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

func newTestCache(lifetime time.Duration) (*cachingCredential, *fakeCredential, *fakeClock, *counters) {
	clock := newFakeClock()
	inner := &fakeCredential{name: "c", clock: clock, lifetime: lifetime}
	stats := &counters{}
	return newCachingCredential(inner, clock.Now, stats), inner, clock, stats
}

func TestTokenCacheRefreshesFiveMinutesBeforeExpiry(t *testing.T) {
	c, inner, clock, stats := newTestCache(time.Hour)
	first := mustToken(t, c, kvScope)
	for i := 0; i < 10; i++ {
		if got := mustToken(t, c, kvScope); got != first {
			t.Fatalf("call %d: got a new token %q", i, got.Token)
		}
	}
	clock.Advance(55*time.Minute - time.Second)
	if got := mustToken(t, c, kvScope); got != first {
		t.Fatal("token refreshed before 5 minutes to expiry")
	}
	if inner.calls.Load() != 1 {
		t.Fatalf("requests = %d, want 1", inner.calls.Load())
	}
	clock.Advance(time.Second)
	second := mustToken(t, c, kvScope)
	if second == first || inner.calls.Load() != 2 {
		t.Fatalf("token not refreshed at 5 minutes to expiry (requests %d)", inner.calls.Load())
	}
	if s := stats.tokenHits.Load(); s != 11 {
		t.Fatalf("hits = %d, want 11", s)
	}
	if s := stats.tokenRequests.Load(); s != 2 {
		t.Fatalf("requests counter = %d, want 2", s)
	}
}

func TestTokenCacheShortTokensRefreshAtHalfLife(t *testing.T) {
	c, inner, clock, _ := newTestCache(4 * time.Minute)
	first := mustToken(t, c, kvScope)
	clock.Advance(2*time.Minute - time.Second)
	if mustToken(t, c, kvScope) != first {
		t.Fatal("short token refreshed before half its lifetime")
	}
	clock.Advance(time.Second)
	if mustToken(t, c, kvScope) == first || inner.calls.Load() != 2 {
		t.Fatal("short token not refreshed at half its lifetime")
	}
}

func TestTokenCacheHonoursEarlierRefreshOn(t *testing.T) {
	clock := newFakeClock()
	stats := &counters{}
	calls := 0
	inner := credFunc(func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
		calls++
		now := clock.Now()
		return azcore.AccessToken{Token: "t", ExpiresOn: now.Add(24 * time.Hour), RefreshOn: now.Add(12 * time.Hour)}, nil
	})
	c := newCachingCredential(inner, clock.Now, stats)
	mustToken(t, c, kvScope)
	clock.Advance(12*time.Hour - time.Second)
	mustToken(t, c, kvScope)
	clock.Advance(time.Second)
	mustToken(t, c, kvScope)
	if calls != 2 {
		t.Fatalf("requests = %d, want 2 (refresh at RefreshOn)", calls)
	}
}

type credFunc func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error)

func (f credFunc) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return f(ctx, o)
}

func TestTokenCacheKeysScopeTenantAndCAE(t *testing.T) {
	c, inner, _, _ := newTestCache(time.Hour)
	reqs := []policy.TokenRequestOptions{
		{Scopes: []string{"https://vault.azure.net/.default"}},
		{Scopes: []string{"https://vault.azure.net/.default"}, TenantID: "other"},
		{Scopes: []string{"https://vault.azure.net/.default"}, EnableCAE: true},
		{Scopes: []string{"https://management.azure.com/.default"}},
		{Scopes: []string{"a", "b"}},
		{Scopes: []string{"ab"}},
		{Scopes: []string{"a b"}},
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		tok := mustToken(t, c, r)
		if seen[tok.Token] {
			t.Fatalf("request %+v got another request's token", r)
		}
		seen[tok.Token] = true
		if got := mustToken(t, c, r); got != tok {
			t.Fatalf("request %+v not cached", r)
		}
	}
	if n := inner.calls.Load(); n != int64(len(reqs)) {
		t.Fatalf("requests = %d, want %d", n, len(reqs))
	}
}

func TestTokenCacheClaimsChallengeBypassesAndReplaces(t *testing.T) {
	c, inner, _, _ := newTestCache(time.Hour)
	old := mustToken(t, c, kvScope)
	challenge := kvScope
	challenge.Claims = `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`
	fresh := mustToken(t, c, challenge)
	if fresh == old || inner.calls.Load() != 2 {
		t.Fatal("a claims challenge was answered from the cache")
	}
	if got := inner.lastOpts.Load(); got.Claims != challenge.Claims {
		t.Fatalf("claims not passed on: %q", got.Claims)
	}
	if got := mustToken(t, c, kvScope); got != fresh {
		t.Fatal("the token from the claims challenge did not replace the rejected one")
	}
	if inner.calls.Load() != 2 {
		t.Fatalf("requests = %d, want 2", inner.calls.Load())
	}
}

func TestTokenCacheErrorsAreNotCached(t *testing.T) {
	c, inner, _, stats := newTestCache(time.Hour)
	inner.fail.Store(2)
	for i := 0; i < 2; i++ {
		if _, err := c.GetToken(context.Background(), kvScope); !errors.Is(err, errFake) {
			t.Fatalf("call %d: err = %v, want the request's error", i, err)
		}
	}
	mustToken(t, c, kvScope)
	mustToken(t, c, kvScope)
	if inner.calls.Load() != 3 {
		t.Fatalf("requests = %d, want 3 (2 failures retried, then cached)", inner.calls.Load())
	}
	if stats.tokenErrors.Load() != 2 {
		t.Fatalf("errors = %d", stats.tokenErrors.Load())
	}
}

func TestTokenCacheServesValidTokenWhenRefreshFails(t *testing.T) {
	c, inner, clock, stats := newTestCache(time.Hour)
	first := mustToken(t, c, kvScope)
	clock.Advance(56 * time.Minute) // in the refresh window, 4 minutes left
	inner.fail.Store(1)
	if got := mustToken(t, c, kvScope); got != first {
		t.Fatal("a failed refresh did not fall back to the still-valid token")
	}
	if stats.staleServed.Load() != 1 {
		t.Fatal("stale token not counted")
	}
	// The failure was not cached: the next call refreshes.
	if got := mustToken(t, c, kvScope); got == first {
		t.Fatal("refresh not retried after a failure")
	}
	// With less than a minute left the error is returned instead.
	clock.Advance(59*time.Minute + 30*time.Second)
	inner.fail.Store(1)
	if _, err := c.GetToken(context.Background(), kvScope); !errors.Is(err, errFake) {
		t.Fatalf("err = %v, want the refresh error for an almost expired token", err)
	}
}

func TestTokenCacheSingleFlight(t *testing.T) {
	c, inner, _, stats := newTestCache(time.Hour)
	inner.gate = make(chan struct{})
	const n = 64
	var wg sync.WaitGroup
	toks := make([]azcore.AccessToken, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], errs[i] = c.GetToken(context.Background(), kvScope)
		}()
	}
	waitFor(t, "all callers to wait", func() bool { return stats.tokenMisses.Load() == n })
	close(inner.gate)
	wg.Wait()
	for i := range toks {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d: %v %q, want the shared token", i, errs[i], toks[i].Token)
		}
	}
	if got := inner.calls.Load(); got != 1 {
		t.Fatalf("%d concurrent GetToken calls made %d requests, want 1", n, got)
	}
	if stats.tokenShared.Load() != n-1 {
		t.Fatalf("shared = %d, want %d", stats.tokenShared.Load(), n-1)
	}
}

func TestTokenCacheSingleFlightSharesErrorsButDoesNotKeepThem(t *testing.T) {
	c, inner, _, stats := newTestCache(time.Hour)
	inner.gate = make(chan struct{})
	inner.fail.Store(1)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.GetToken(context.Background(), kvScope)
		}()
	}
	waitFor(t, "all callers to wait", func() bool { return stats.tokenMisses.Load() == n })
	close(inner.gate)
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, errFake) {
			t.Fatalf("caller %d: err = %v", i, err)
		}
	}
	mustToken(t, c, kvScope)
	if inner.calls.Load() != 2 {
		t.Fatalf("requests = %d, want 2", inner.calls.Load())
	}
}

func TestTokenCacheLeaderCancellationDoesNotFailOthers(t *testing.T) {
	c, inner, _, stats := newTestCache(time.Hour)
	inner.gate = make(chan struct{})
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.GetToken(leaderCtx, kvScope)
		leaderErr <- err
	}()
	waitFor(t, "leader to start the request", func() bool { return inner.calls.Load() == 1 })
	follower := make(chan error, 1)
	go func() {
		_, err := c.GetToken(context.Background(), kvScope)
		follower <- err
	}()
	waitFor(t, "follower to join", func() bool { return stats.tokenShared.Load() == 1 })
	cancelLeader()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader err = %v, want context.Canceled", err)
	}
	close(inner.gate)
	if err := <-follower; err != nil {
		t.Fatalf("follower failed because the leader gave up: %v", err)
	}
	if inner.calls.Load() != 1 || inner.canceled.Load() != 0 {
		t.Fatalf("calls %d, canceled %d: the shared request was restarted or cancelled", inner.calls.Load(), inner.canceled.Load())
	}
}

func TestTokenCacheAbandonedRequestIsCancelled(t *testing.T) {
	c, inner, _, _ := newTestCache(time.Hour)
	inner.gate = make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.GetToken(ctx, kvScope); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	waitFor(t, "the abandoned request to be cancelled", func() bool { return inner.canceled.Load() == 1 })
	close(inner.gate)
	mustToken(t, c, kvScope) // a new caller starts a new request
	if inner.calls.Load() != 2 {
		t.Fatalf("requests = %d, want 2", inner.calls.Load())
	}
}

func TestTokenCacheIsBounded(t *testing.T) {
	c, _, _, _ := newTestCache(time.Hour)
	for i := 0; i < 3*maxTokensPerCredential; i++ {
		mustToken(t, c, policy.TokenRequestOptions{Scopes: []string{"s"}, TenantID: string(rune('a' + i))})
	}
	c.mu.Lock()
	n := len(c.tokens)
	c.mu.Unlock()
	if n > maxTokensPerCredential {
		t.Fatalf("%d tokens cached, limit %d", n, maxTokensPerCredential)
	}
}
