package auth

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

const (
	// refreshMargin is how long before expiry a cached token is replaced.
	refreshMargin = 5 * time.Minute
	// staleGrace is the least remaining lifetime for which a cached token is
	// still returned when its refresh fails.
	staleGrace = time.Minute
	// maxTokensPerCredential bounds the (scope, tenant) pairs kept per credential.
	maxTokensPerCredential = 32
)

// counters are the Manager's statistics, shared by all its credentials.
type counters struct {
	tokenRequests  atomic.Uint64 // GetToken calls passed to an underlying credential
	tokenHits      atomic.Uint64
	tokenMisses    atomic.Uint64
	tokenShared    atomic.Uint64 // misses that joined a request already in flight
	tokenErrors    atomic.Uint64
	staleServed    atomic.Uint64
	credHits       atomic.Uint64
	credMisses     atomic.Uint64
	credEvictions  atomic.Uint64
	credsCreated   atomic.Uint64
	nmiRequests    atomic.Uint64
	ibSNIDiscovery atomic.Uint64
}

// cachingCredential wraps a credential with a token cache keyed by the request's
// scopes, tenant and CAE flag, and shares one underlying request among
// concurrent callers asking for the same token.
type cachingCredential struct {
	inner azcore.TokenCredential
	now   func() time.Time
	stats *counters

	mu      sync.Mutex
	tokens  map[string]cachedToken
	flights map[string]*flight
}

type cachedToken struct {
	token     azcore.AccessToken
	refreshAt time.Time
}

// flight is one underlying GetToken call. It runs on a context detached from
// any single caller and is cancelled once every caller waiting for it has gone.
type flight struct {
	done    chan struct{}
	token   azcore.AccessToken
	err     error
	waiters int // guarded by cachingCredential.mu
	cancel  context.CancelFunc
}

func newCachingCredential(inner azcore.TokenCredential, now func() time.Time, stats *counters) *cachingCredential {
	return &cachingCredential{
		inner:   inner,
		now:     now,
		stats:   stats,
		tokens:  make(map[string]cachedToken),
		flights: make(map[string]*flight),
	}
}

// tokenKey encodes the request fields that select a token. Fields are length
// prefixed so that no two different requests share a key.
func tokenKey(opts policy.TokenRequestOptions, withClaims bool) string {
	var b []byte
	add := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(opts.Scopes)))
	for _, s := range opts.Scopes {
		add(s)
	}
	add(opts.TenantID)
	if opts.EnableCAE {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	if withClaims {
		add(opts.Claims)
	}
	return string(b)
}

// GetToken implements azcore.TokenCredential.
//
// A request carrying Claims (a claims challenge) never reads the cache, since
// the service has just rejected the cached token; its result replaces the
// cached token for the same scopes and tenant.
func (c *cachingCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	cacheKey := tokenKey(opts, false)
	flightKey := cacheKey
	if opts.Claims != "" {
		flightKey = tokenKey(opts, true)
	}

	c.mu.Lock()
	var stale *azcore.AccessToken
	if opts.Claims == "" {
		if ct, ok := c.tokens[cacheKey]; ok {
			now := c.now()
			if now.Before(ct.refreshAt) {
				c.mu.Unlock()
				c.stats.tokenHits.Add(1)
				return ct.token, nil
			}
			if ct.token.ExpiresOn.Sub(now) > staleGrace {
				t := ct.token
				stale = &t
			}
		}
	}
	c.stats.tokenMisses.Add(1)
	f, joined := c.flights[flightKey]
	if joined {
		c.stats.tokenShared.Add(1)
	} else {
		// Detached from the caller's cancellation (other callers may join), but with its
		// deadline: a credential that waits on a slow service (NMI holds requests while it
		// assigns an identity) needs it to give up in time with that service's answer.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		if dl, ok := ctx.Deadline(); ok {
			fctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), dl)
		}
		f = &flight{done: make(chan struct{}), cancel: cancel}
		c.flights[flightKey] = f
		o := opts
		o.Scopes = append([]string(nil), opts.Scopes...)
		go c.run(fctx, f, flightKey, cacheKey, o)
	}
	f.waiters++
	c.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			if stale != nil && c.now().Before(stale.ExpiresOn.Add(-staleGrace)) {
				c.stats.staleServed.Add(1)
				return *stale, nil
			}
			return azcore.AccessToken{}, f.err
		}
		return f.token, nil
	case <-ctx.Done():
		c.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			// Nobody wants the result any more: stop the request, and let the
			// next caller start a fresh one rather than join a cancelled one.
			f.cancel()
			if c.flights[flightKey] == f {
				delete(c.flights, flightKey)
			}
		}
		c.mu.Unlock()
		return azcore.AccessToken{}, ctx.Err()
	}
}

func (c *cachingCredential) run(ctx context.Context, f *flight, flightKey, cacheKey string, opts policy.TokenRequestOptions) {
	defer f.cancel()
	c.stats.tokenRequests.Add(1)
	tok, err := c.inner.GetToken(ctx, opts)

	c.mu.Lock()
	if c.flights[flightKey] == f {
		delete(c.flights, flightKey)
	}
	if err != nil {
		c.stats.tokenErrors.Add(1)
	} else {
		c.store(cacheKey, tok)
	}
	f.token, f.err = tok, err
	c.mu.Unlock()
	close(f.done)
}

// store caches tok until refreshMargin before it expires, or half its remaining
// lifetime for short tokens, or its RefreshOn hint if that is earlier.
// Callers hold c.mu.
func (c *cachingCredential) store(key string, tok azcore.AccessToken) {
	now := c.now()
	lifetime := tok.ExpiresOn.Sub(now)
	if lifetime <= 0 {
		delete(c.tokens, key)
		return
	}
	margin := min(refreshMargin, lifetime/2)
	refreshAt := tok.ExpiresOn.Add(-margin)
	if !tok.RefreshOn.IsZero() && tok.RefreshOn.After(now) && tok.RefreshOn.Before(refreshAt) {
		refreshAt = tok.RefreshOn
	}
	if _, ok := c.tokens[key]; !ok && len(c.tokens) >= maxTokensPerCredential {
		for k, ct := range c.tokens {
			if !now.Before(ct.token.ExpiresOn) {
				delete(c.tokens, k)
			}
		}
		for k := range c.tokens {
			if len(c.tokens) < maxTokensPerCredential {
				break
			}
			delete(c.tokens, k)
		}
	}
	c.tokens[key] = cachedToken{token: tok, refreshAt: refreshAt}
}
