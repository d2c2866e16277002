// Package keyvault fetches secrets, keys and certificates. SDK clients are reused per
// (vault, credential key) on one shared transport, so the Key Vault 401 challenge and
// TLS handshakes are paid once rather than per mount; requests to one vault are bounded
// across mounts, and throttling is honoured only while it fits in the caller's deadline.
package keyvault

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/kvcsi/kvcsi/provider/cache"
	"github.com/kvcsi/kvcsi/provider/diag"
)

// Options configure a Pool. Zero values get the documented defaults.
type Options struct {
	HTTPClient       *http.Client  // shared by every client; required
	ApplicationID    string        // sent in the User-Agent (at most 24 characters)
	CacheSize        int           // SDK client sets kept (default 1024)
	IdleTTL          time.Duration // drop client sets unused this long (default 30m)
	VaultConcurrency int           // concurrent requests per vault across mounts (default 16)
	MaxRetries       int           // retries of 429/5xx/transport failures (default 3)
	NoReuse          bool          // benchmark baseline: new SDK clients for every call
	Observer         Observer      // optional request metrics
}

// Observer is told about every Key Vault operation (for metrics); kind is KindUnknown on success.
type Observer interface {
	KeyVaultRequest(objectType string, kind diag.Kind, elapsed time.Duration)
	ThrottleWait(wait time.Duration)
}

// Pool hands out Vaults, reusing SDK clients per (vault URL, credential key).
type Pool struct {
	opts    Options
	clients *cache.LRU[string, *clientSet]

	mu       sync.Mutex
	limiters map[string]*limiter // per vault host; one small struct per vault, never evicted
}

// NewPool builds a Pool.
func NewPool(opts Options) *Pool {
	if opts.CacheSize <= 0 {
		opts.CacheSize = 1024
	}
	if opts.IdleTTL <= 0 {
		opts.IdleTTL = 30 * time.Minute
	}
	if opts.VaultConcurrency <= 0 {
		opts.VaultConcurrency = 16
	}
	if opts.MaxRetries < 0 {
		opts.MaxRetries = 0
	} else if opts.MaxRetries == 0 {
		opts.MaxRetries = 3
	}
	if len(opts.ApplicationID) > 24 {
		opts.ApplicationID = opts.ApplicationID[:24]
	}
	return &Pool{
		opts:     opts,
		clients:  cache.New[string, *clientSet](opts.CacheSize, opts.IdleTTL, nil, nil),
		limiters: map[string]*limiter{},
	}
}

// clientSet is the three SDK clients of one (vault, credential); each keeps its own
// challenge state, so each pays one 401 round trip in its lifetime.
type clientSet struct {
	secrets *azsecrets.Client
	keys    *azkeys.Client
	certs   *azcertificates.Client
}

// Vault returns a handle for vaultURL authenticated with cred. credKey must identify the
// credential material (never the material itself): clients are shared only within it.
func (p *Pool) Vault(vaultURL, credKey string, cred azcore.TokenCredential) (*Vault, error) {
	build := func() (*clientSet, error) { return p.newClientSet(vaultURL, cred) }
	var cs *clientSet
	var err error
	if p.opts.NoReuse {
		cs, err = build()
	} else {
		cs, _, err = p.clients.GetOrCreate(vaultURL+"\x00"+credKey, build)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to get keyvault client: %w", err)
	}
	return &Vault{url: vaultURL, clients: cs, limit: p.limiter(vaultURL), opts: &p.opts}, nil
}

func (p *Pool) limiter(vaultURL string) *limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.limiters[vaultURL]
	if !ok {
		l = newLimiter(p.opts.VaultConcurrency)
		p.limiters[vaultURL] = l
	}
	return l
}

func (p *Pool) newClientSet(vaultURL string, cred azcore.TokenCredential) (*clientSet, error) {
	co := azcore.ClientOptions{
		Transport: p.opts.HTTPClient,
		// Retries are ours (retry.go): they respect the caller's deadline and the
		// per-vault limiter, which the SDK's policy cannot.
		Retry:     policy.RetryOptions{MaxRetries: -1},
		Telemetry: policy.TelemetryOptions{ApplicationID: p.opts.ApplicationID},
	}
	s, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{ClientOptions: co})
	if err != nil {
		return nil, err
	}
	k, err := azkeys.NewClient(vaultURL, cred, &azkeys.ClientOptions{ClientOptions: co})
	if err != nil {
		return nil, err
	}
	c, err := azcertificates.NewClient(vaultURL, cred, &azcertificates.ClientOptions{ClientOptions: co})
	if err != nil {
		return nil, err
	}
	return &clientSet{secrets: s, keys: k, certs: c}, nil
}

// Vault fetches objects from one vault with one credential.
type Vault struct {
	url     string
	clients *clientSet
	limit   *limiter
	opts    *Options
}

// Secret is a secret bundle; nil pointers are fields the response lacked.
type Secret struct {
	Value       *string
	ContentType *string
	KID         *string
	Version     string
}

// Key is the public part of a key bundle as JWK fields.
type Key struct {
	Kty, Crv   *string
	N, E, X, Y []byte
	Version    string
}

// Certificate is a certificate bundle's DER (leaf only).
type Certificate struct {
	CER     []byte
	Version string
}

// VersionInfo is one entry of a versions listing.
type VersionInfo struct {
	Version string
	Enabled bool
	Created time.Time
}

// Secret gets a secret version ("" = latest).
func (v *Vault) Secret(ctx context.Context, name, version string) (Secret, error) {
	var out Secret
	err := v.call(ctx, "secret", func(ctx context.Context) error {
		resp, err := v.clients.secrets.GetSecret(ctx, name, version, nil)
		if err != nil {
			return err
		}
		if resp.ID == nil {
			return errors.New("key vault returned a secret without an id")
		}
		out = Secret{Value: resp.Value, ContentType: resp.ContentType, Version: versionOf(string(*resp.ID))}
		if resp.KID != nil {
			kid := string(*resp.KID)
			out.KID = &kid
		}
		return nil
	})
	return out, err
}

// Key gets a key version ("" = latest).
func (v *Vault) Key(ctx context.Context, name, version string) (Key, error) {
	var out Key
	err := v.call(ctx, "key", func(ctx context.Context) error {
		resp, err := v.clients.keys.GetKey(ctx, name, version, nil)
		if err != nil {
			return err
		}
		if resp.Key == nil {
			return errors.New("key value is nil")
		}
		if resp.Key.KID == nil {
			return errors.New("key id is nil")
		}
		k := resp.Key
		out = Key{N: k.N, E: k.E, X: k.X, Y: k.Y, Version: versionOf(string(*k.KID))}
		if k.Kty != nil {
			s := string(*k.Kty)
			out.Kty = &s
		}
		if k.Crv != nil {
			s := string(*k.Crv)
			out.Crv = &s
		}
		return nil
	})
	return out, err
}

// Certificate gets a certificate version ("" = latest).
func (v *Vault) Certificate(ctx context.Context, name, version string) (Certificate, error) {
	var out Certificate
	err := v.call(ctx, "cert", func(ctx context.Context) error {
		resp, err := v.clients.certs.GetCertificate(ctx, name, version, nil)
		if err != nil {
			return err
		}
		if resp.ID == nil {
			return errors.New("certificate id is nil")
		}
		if resp.CER == nil {
			return errors.New("certificate value is nil")
		}
		out = Certificate{CER: resp.CER, Version: versionOf(string(*resp.ID))}
		return nil
	})
	return out, err
}

// Versions lists every version of an object ("secret", "key" or "cert"), all pages.
func (v *Vault) Versions(ctx context.Context, objectType, name string) ([]VersionInfo, error) {
	var out []VersionInfo
	add := func(id *string, enabled *bool, created *time.Time) error {
		if id == nil {
			return errors.New("key vault returned a version without an id")
		}
		vi := VersionInfo{Version: versionOf(*id), Enabled: enabled != nil && *enabled}
		if created != nil {
			vi.Created = *created
		}
		out = append(out, vi)
		return nil
	}
	err := v.call(ctx, objectType+"_versions", func(ctx context.Context) error {
		out = out[:0]
		switch objectType {
		case "secret":
			pager := v.clients.secrets.NewListSecretPropertiesVersionsPager(name, nil)
			for pager.More() {
				page, err := pager.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, it := range page.Value {
					if it == nil {
						continue
					}
					var en *bool
					var cr *time.Time
					if it.Attributes != nil {
						en, cr = it.Attributes.Enabled, it.Attributes.Created
					}
					if err := add((*string)(it.ID), en, cr); err != nil {
						return err
					}
				}
			}
		case "key":
			pager := v.clients.keys.NewListKeyPropertiesVersionsPager(name, nil)
			for pager.More() {
				page, err := pager.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, it := range page.Value {
					if it == nil {
						continue
					}
					var en *bool
					var cr *time.Time
					if it.Attributes != nil {
						en, cr = it.Attributes.Enabled, it.Attributes.Created
					}
					if err := add((*string)(it.KID), en, cr); err != nil {
						return err
					}
				}
			}
		case "cert":
			pager := v.clients.certs.NewListCertificatePropertiesVersionsPager(name, nil)
			for pager.More() {
				page, err := pager.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, it := range page.Value {
					if it == nil {
						continue
					}
					var en *bool
					var cr *time.Time
					if it.Attributes != nil {
						en, cr = it.Attributes.Enabled, it.Attributes.Created
					}
					if err := add((*string)(it.ID), en, cr); err != nil {
						return err
					}
				}
			}
		default:
			return fmt.Errorf("unknown object type %q", objectType)
		}
		return nil
	})
	return out, err
}

// versionOf returns the version segment of a Key Vault object id
// (https://<vault>/<collection>/<name>/<version>), "" if it has none.
func versionOf(id string) string {
	id = strings.TrimRight(id, "/")
	parts := strings.Split(id, "/")
	// scheme, "", host, collection, name, version
	if len(parts) >= 6 {
		return parts[5]
	}
	return ""
}

// call runs op under the vault's concurrency limit, retrying throttling, server errors
// and transport failures with jittered backoff while the wait fits in ctx's deadline.
func (v *Vault) call(ctx context.Context, objectType string, op func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		if err := v.limit.acquire(ctx); err != nil {
			return fmt.Errorf("waiting for a free request slot to %s: %w", v.url, err)
		}
		start := time.Now()
		err := op(ctx)
		status := statusOf(err)
		throttled := status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
		v.limit.release(throttled)
		if o := v.opts.Observer; o != nil {
			o.KeyVaultRequest(objectType, kindOf(err), time.Since(start))
		}
		if err == nil || !retryable(err, status) || ctx.Err() != nil {
			return err
		}
		wait, asked := retryAfter(err)
		if !asked {
			wait = backoff(attempt)
		} else {
			wait += time.Duration(rand.Int64N(int64(250 * time.Millisecond))) // spread pods apart
		}
		if attempt >= v.opts.MaxRetries || !fits(ctx, wait) {
			if status == http.StatusTooManyRequests {
				return &diag.Error{Kind: diag.KindThrottled, Err: err, RetryAfter: wait,
					Fix: fmt.Sprintf("the vault throttled this request and asked for a wait of %s; reduce the number of pods or objects reading this vault, raise the driver's rotation poll interval, or retry later", wait.Round(time.Second))}
			}
			return err
		}
		if o := v.opts.Observer; o != nil {
			o.ThrottleWait(wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

func kindOf(err error) diag.Kind {
	if err == nil {
		return diag.KindUnknown
	}
	return diag.Classify(err)
}

func statusOf(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func retryable(err error, status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case 0:
		// No HTTP status: a transport failure (reset, refused) is worth another try;
		// credential and context errors are not.
		k := diag.Classify(err)
		return k == diag.KindUnavailable && !errors.Is(err, context.Canceled)
	}
	return false
}

// retryAfter reads the wait the service asked for.
func retryAfter(err error) (time.Duration, bool) {
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.RawResponse == nil {
		return 0, false
	}
	h := re.RawResponse.Header
	for _, name := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if ms, err := strconv.Atoi(h.Get(name)); err == nil && ms >= 0 {
			return time.Duration(ms) * time.Millisecond, true
		}
	}
	ra := h.Get("Retry-After")
	if ra == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(ra); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(ra); err == nil {
		if d := time.Until(t); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}

// backoff is 200ms, 400ms, 800ms, … with ±25% jitter, capped at 5s.
func backoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << attempt
	if d > 5*time.Second || d <= 0 {
		d = 5 * time.Second
	}
	j := time.Duration(rand.Int64N(int64(d)/2)) - d/4
	return d + j
}

// fits reports whether waiting d still leaves time for another attempt before ctx's deadline.
func fits(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	if !ok {
		return d <= 60*time.Second
	}
	return time.Until(dl) > d+500*time.Millisecond
}
