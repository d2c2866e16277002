// Package keyvault fetches secrets, keys and certificates from Key Vault.
//
//   - SDK clients are reused per (vault, credential key) on the one shared HTTP client,
//     so TLS connections and the client's token are reused across mounts; a client is
//     only ever shared by requests with the same credential material.
//   - Each vault's 401 challenge (its tenant and resource, nothing about the caller) is
//     remembered per vault host, so a new client (a new pod's credential) does not pay
//     an extra round trip for it (challenge.go).
//   - Requests to one vault are bounded across all mounts by an adaptive limiter that
//     halves on throttling and grows back on success (limiter.go). A slot is held only
//     for the HTTP exchange with Key Vault, never while a token is fetched from Entra ID.
//   - 429/503 are retried after the Retry-After the vault asked for, only while that
//     fits in the caller's deadline; otherwise the call fails at once as throttled,
//     with the wait (retry.go).
//
// Client sets and per-vault state live in LRUs bounded by size and idle time.
package keyvault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/kvcsi/kvcsi/provider/cache"
	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// Options configure a Pool. Zero values get the documented defaults.
type Options struct {
	HTTPClient       *http.Client  // shared by every client; required
	ApplicationID    string        // sent in the User-Agent (at most 24 characters)
	CacheSize        int           // SDK client sets kept (default cache.DefaultSize)
	IdleTTL          time.Duration // drop client sets unused this long (default cache.DefaultIdleTTL)
	VaultConcurrency int           // concurrent requests per vault across mounts (default DefaultVaultConcurrency)
	MaxRetries       int           // retries of 429/5xx/transport failures (default DefaultMaxRetries; < 0 means none)
	Observer         Observer      // optional request metrics
	Now              func() time.Time
}

// Defaults for zero Options fields (--vault-concurrency, --max-retries).
const (
	DefaultVaultConcurrency = 32
	DefaultMaxRetries       = 3
)

// Observer is told about every Key Vault operation (for metrics).
type Observer interface {
	KeyVaultRequest(objectType string, outcome diag.Outcome, elapsed time.Duration)
	ThrottleWait(wait time.Duration)
}

// Pool hands out Vaults, reusing SDK clients per (vault URL, credential key).
type Pool struct {
	opts    Options
	clients *cache.LRU[string, *clientSet]
	vaults  *cache.LRU[string, *vaultState] // per vault host: limiter and challenge
	workers *workers
	stats   poolCounters
}

// NewPool builds a Pool.
func NewPool(opts Options) *Pool {
	if opts.CacheSize <= 0 {
		opts.CacheSize = cache.DefaultSize
	}
	if opts.IdleTTL <= 0 {
		opts.IdleTTL = cache.DefaultIdleTTL
	}
	if opts.VaultConcurrency <= 0 {
		opts.VaultConcurrency = DefaultVaultConcurrency
	}
	if opts.MaxRetries < 0 {
		opts.MaxRetries = 0
	} else if opts.MaxRetries == 0 {
		opts.MaxRetries = DefaultMaxRetries
	}
	if len(opts.ApplicationID) > 24 {
		opts.ApplicationID = opts.ApplicationID[:24]
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Pool{
		opts:    opts,
		workers: newWorkers(max(256, 4*opts.VaultConcurrency), time.Minute),
		clients: cache.New[string, *clientSet](opts.CacheSize, opts.IdleTTL, opts.Now, nil),
		// A node talks to a handful of vaults; the bound only stops a flood of
		// distinct (mistyped) vault names from growing the map forever.
		vaults: cache.New[string, *vaultState](opts.CacheSize, opts.IdleTTL, opts.Now, nil),
	}
}

// Stats are the pool's counters and cache sizes.
type Stats struct {
	ClientSets        int    // (vault, credential) client sets cached now
	Vaults            int    // vault hosts with a limiter (and maybe a challenge) now
	ClientsCreated    uint64 // SDK clients built (each would pay a challenge without the cache)
	ChallengesLearned uint64 // 401 challenges received from Key Vault and remembered
	ChallengesReused  uint64 // challenge probes answered from memory instead of Key Vault
	Throttled         uint64 // answers 429 or 503
	Retries           uint64 // attempts after the first
	FailedFast        uint64 // throttled requests given up because the wait did not fit the deadline
}

// Close stops the pool's worker goroutines (the daemon calls it on shutdown). Calls made
// afterwards still work, on the caller's goroutine.
func (p *Pool) Close() {
	p.workers.close()
}

// Stats returns the counters and cache sizes.
func (p *Pool) Stats() Stats {
	return Stats{
		ClientSets:        p.clients.Len(),
		Vaults:            p.vaults.Len(),
		ClientsCreated:    p.stats.clientsCreated.Load(),
		ChallengesLearned: p.stats.challengesLearned.Load(),
		ChallengesReused:  p.stats.challengesReused.Load(),
		Throttled:         p.stats.throttled.Load(),
		Retries:           p.stats.retries.Load(),
		FailedFast:        p.stats.failedFast.Load(),
	}
}

// VaultOptions are per-mount settings of a Vault handle.
type VaultOptions struct {
	// APIVersion is the Key Vault data-plane api-version to send instead of the SDK's
	// (the SecretProviderClass's keyvaultAPIVersion): Azure Stack Hub's vaults serve
	// only older versions. "" keeps the SDK's.
	APIVersion string
}

// Vault returns a handle for vaultURL authenticated with cred. credKey must identify the
// credential material (never the material itself): clients are shared only within it.
func (p *Pool) Vault(vaultURL, credKey string, cred azcore.TokenCredential) (*Vault, error) {
	return p.VaultWith(vaultURL, credKey, cred, VaultOptions{})
}

// VaultWith is Vault with per-mount options; clients are shared only among handles with
// the same options.
func (p *Pool) VaultWith(vaultURL, credKey string, cred azcore.TokenCredential, vo VaultOptions) (*Vault, error) {
	u, err := url.Parse(vaultURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("failed to get keyvault client: invalid vault URL %q", vaultURL)
	}
	state, _, _ := p.vaults.GetOrCreate(strings.ToLower(u.Host), func() (*vaultState, error) {
		return &vaultState{limit: newLimiter(p.opts.VaultConcurrency)}, nil
	})
	cs, _, _ := p.clients.GetOrCreate(vaultURL+"\x00"+credKey+"\x00"+vo.APIVersion, func() (*clientSet, error) {
		return p.newClientSet(vaultURL, cred, state, vo.APIVersion), nil
	})
	return &Vault{url: vaultURL, clients: cs, pool: p}, nil
}

// BuildClients builds the vault's secrets, keys and certificates clients now rather than
// on first use, as the Azure provider does for every mount (the --no-reuse baseline).
func (v *Vault) BuildClients() error {
	_, serr := v.clients.secretsClient()
	_, kerr := v.clients.keysClient()
	_, cerr := v.clients.certsClient()
	return errors.Join(serr, kerr, cerr)
}

// clientSet is the SDK clients of one (vault, credential), each built on first use:
// most mounts read secrets only, and an unused client costs memory in every cached set.
type clientSet struct {
	newOptions func() azcore.ClientOptions
	url        string
	cred       azcore.TokenCredential
	created    *atomic.Uint64

	secretsOnce, keysOnce, certsOnce sync.Once
	secrets                          *azsecrets.Client
	keys                             *azkeys.Client
	certs                            *azcertificates.Client
	secretsErr, keysErr, certsErr    error
}

func (p *Pool) newClientSet(vaultURL string, cred azcore.TokenCredential, state *vaultState, apiVersion string) *clientSet {
	return &clientSet{
		url:     vaultURL,
		cred:    cred,
		created: &p.stats.clientsCreated,
		newOptions: func() azcore.ClientOptions {
			co := azcore.ClientOptions{
				Transport: p.opts.HTTPClient,
				// Retries are ours (retry.go): they respect the caller's deadline and
				// the per-vault limiter, which the SDK's policy cannot.
				Retry:     policy.RetryOptions{MaxRetries: -1},
				Telemetry: policy.TelemetryOptions{ApplicationID: p.opts.ApplicationID},
				// azcore replaces the api-version query parameter the SDK sets.
				APIVersion: apiVersion,
			}
			// Both run after the SDK's authentication policy, so neither a remembered
			// challenge nor a token request occupies a vault slot.
			co.PerRetryPolicies = append(co.PerRetryPolicies,
				&challengePolicy{state: state, now: p.opts.Now, stats: &p.stats},
				&slotPolicy{limit: state.limit})
			return co
		},
	}
}

func (cs *clientSet) secretsClient() (*azsecrets.Client, error) {
	cs.secretsOnce.Do(func() {
		cs.created.Add(1)
		cs.secrets, cs.secretsErr = azsecrets.NewClient(cs.url, cs.cred, &azsecrets.ClientOptions{ClientOptions: cs.newOptions()})
	})
	return cs.secrets, cs.secretsErr
}

func (cs *clientSet) keysClient() (*azkeys.Client, error) {
	cs.keysOnce.Do(func() {
		cs.created.Add(1)
		cs.keys, cs.keysErr = azkeys.NewClient(cs.url, cs.cred, &azkeys.ClientOptions{ClientOptions: cs.newOptions()})
	})
	return cs.keys, cs.keysErr
}

func (cs *clientSet) certsClient() (*azcertificates.Client, error) {
	cs.certsOnce.Do(func() {
		cs.created.Add(1)
		cs.certs, cs.certsErr = azcertificates.NewClient(cs.url, cs.cred, &azcertificates.ClientOptions{ClientOptions: cs.newOptions()})
	})
	return cs.certs, cs.certsErr
}

// Vault fetches objects from one vault with one credential.
type Vault struct {
	url     string
	clients *clientSet
	pool    *Pool
}

// Attributes are an object version's validity attributes, as Key Vault returns them
// with every secret, key and certificate; nil when the response lacked them. Key Vault
// serves a secret or key outside its nbf–exp window: they are for the caller to judge.
type Attributes struct {
	Enabled   *bool
	NotBefore *time.Time
	Expires   *time.Time
}

// Secret is a secret bundle; nil pointers are fields the response lacked.
type Secret struct {
	Value       *string
	ContentType *string
	KID         *string
	Version     string
	Attributes  Attributes
}

// Key is the public part of a key bundle as JWK fields.
type Key struct {
	Kty, Crv   *string
	N, E, X, Y []byte
	Version    string
	Attributes Attributes
}

// Certificate is a certificate bundle's DER (leaf only).
type Certificate struct {
	CER        []byte
	Version    string
	Attributes Attributes // exp is the leaf's NotAfter, nbf its NotBefore
}

// SecretProperties is one entry of a vault's secrets listing (no value).
type SecretProperties struct {
	Name        string
	ContentType string
	Tags        map[string]string
	Managed     bool // the secret of a certificate
	Attributes  Attributes
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
	err := v.call(ctx, string(vocab.Secret), func(ctx context.Context) error {
		c, err := v.clients.secretsClient()
		if err != nil {
			return err
		}
		resp, err := c.GetSecret(ctx, name, version, nil)
		if err != nil {
			return err
		}
		if resp.ID == nil {
			return errors.New("key vault returned a secret without an id")
		}
		out = Secret{Value: resp.Value, ContentType: resp.ContentType, Version: resp.ID.Version()}
		if a := resp.Attributes; a != nil {
			out.Attributes = Attributes{Enabled: a.Enabled, NotBefore: a.NotBefore, Expires: a.Expires}
		}
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
	err := v.call(ctx, string(vocab.Key), func(ctx context.Context) error {
		c, err := v.clients.keysClient()
		if err != nil {
			return err
		}
		resp, err := c.GetKey(ctx, name, version, nil)
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
		out = Key{N: k.N, E: k.E, X: k.X, Y: k.Y, Version: k.KID.Version()}
		if a := resp.Attributes; a != nil {
			out.Attributes = Attributes{Enabled: a.Enabled, NotBefore: a.NotBefore, Expires: a.Expires}
		}
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
	err := v.call(ctx, string(vocab.Cert), func(ctx context.Context) error {
		c, err := v.clients.certsClient()
		if err != nil {
			return err
		}
		resp, err := c.GetCertificate(ctx, name, version, nil)
		if err != nil {
			return err
		}
		if resp.ID == nil {
			return errors.New("certificate id is nil")
		}
		if resp.CER == nil {
			return errors.New("certificate value is nil")
		}
		out = Certificate{CER: resp.CER, Version: resp.ID.Version()}
		if a := resp.Attributes; a != nil {
			out.Attributes = Attributes{Enabled: a.Enabled, NotBefore: a.NotBefore, Expires: a.Expires}
		}
		return nil
	})
	return out, err
}

// Versions lists every version of an object, all pages.
func (v *Vault) Versions(ctx context.Context, objectType vocab.ObjectType, name string) ([]VersionInfo, error) {
	var out []VersionInfo
	err := v.call(ctx, string(objectType)+"_versions", func(ctx context.Context) error {
		var err error
		switch objectType {
		case vocab.Secret:
			c, cerr := v.clients.secretsClient()
			if cerr != nil {
				return cerr
			}
			out, err = drain(ctx, c.NewListSecretPropertiesVersionsPager(name, nil),
				func(p azsecrets.ListSecretPropertiesVersionsResponse) []*azsecrets.SecretProperties { return p.Value },
				func(it *azsecrets.SecretProperties) (*azsecrets.ID, *bool, *time.Time) {
					if it.Attributes == nil {
						return it.ID, nil, nil
					}
					return it.ID, it.Attributes.Enabled, it.Attributes.Created
				})
		case vocab.Key:
			c, cerr := v.clients.keysClient()
			if cerr != nil {
				return cerr
			}
			out, err = drain(ctx, c.NewListKeyPropertiesVersionsPager(name, nil),
				func(p azkeys.ListKeyPropertiesVersionsResponse) []*azkeys.KeyProperties { return p.Value },
				func(it *azkeys.KeyProperties) (*azkeys.ID, *bool, *time.Time) {
					if it.Attributes == nil {
						return it.KID, nil, nil
					}
					return it.KID, it.Attributes.Enabled, it.Attributes.Created
				})
		case vocab.Cert:
			c, cerr := v.clients.certsClient()
			if cerr != nil {
				return cerr
			}
			out, err = drain(ctx, c.NewListCertificatePropertiesVersionsPager(name, nil),
				func(p azcertificates.ListCertificatePropertiesVersionsResponse) []*azcertificates.CertificateProperties {
					return p.Value
				},
				func(it *azcertificates.CertificateProperties) (*azcertificates.ID, *bool, *time.Time) {
					if it.Attributes == nil {
						return it.ID, nil, nil
					}
					return it.ID, it.Attributes.Enabled, it.Attributes.Created
				})
		default:
			return fmt.Errorf("unknown object type %q", objectType)
		}
		return err
	})
	return out, err
}

// MaxListedSecrets bounds a vault's secrets listing: a selector reads at most this many
// entries (about 400 pages of 25), so a vault with a huge number of secrets cannot make
// one mount page without end.
const MaxListedSecrets = 10000

// ErrTooManySecrets is returned when a listing passes MaxListedSecrets.
var ErrTooManySecrets = fmt.Errorf("the vault lists more than %d secrets", MaxListedSecrets)

// ListSecrets lists the properties of every secret of the vault (its latest version),
// following the service's nextLink pages (the list operation, permission secrets/list).
func (v *Vault) ListSecrets(ctx context.Context) ([]SecretProperties, error) {
	var out []SecretProperties
	err := v.call(ctx, "secret_list", func(ctx context.Context) error {
		out = out[:0]
		c, err := v.clients.secretsClient()
		if err != nil {
			return err
		}
		pager := c.NewListSecretPropertiesPager(nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, it := range page.Value {
				if it == nil || it.ID == nil {
					continue
				}
				if len(out) == MaxListedSecrets {
					return ErrTooManySecrets
				}
				p := SecretProperties{Name: it.ID.Name(), Managed: it.Managed != nil && *it.Managed}
				if it.ContentType != nil {
					p.ContentType = *it.ContentType
				}
				if len(it.Tags) > 0 {
					p.Tags = make(map[string]string, len(it.Tags))
					for k, val := range it.Tags {
						if val != nil {
							p.Tags[k] = *val
						}
					}
				}
				if a := it.Attributes; a != nil {
					p.Attributes = Attributes{Enabled: a.Enabled, NotBefore: a.NotBefore, Expires: a.Expires}
				}
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}

// objectID is one of the SDKs' object IDs (*azsecrets.ID, *azkeys.ID,
// *azcertificates.ID), which parse their own version.
type objectID interface {
	comparable
	Version() string
}

// drain reads every page of a versions pager; fields picks an item's id, enabled flag
// and creation time (nil when the response lacked them).
func drain[R, T any, ID objectID](ctx context.Context, pager *runtime.Pager[R], items func(R) []*T, fields func(*T) (ID, *bool, *time.Time)) ([]VersionInfo, error) {
	var none ID // a nil ID
	var out []VersionInfo
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, it := range items(page) {
			if it == nil {
				continue
			}
			id, enabled, created := fields(it)
			if id == none {
				return nil, errors.New("key vault returned a version without an id")
			}
			vi := VersionInfo{Version: id.Version(), Enabled: enabled != nil && *enabled}
			if created != nil {
				vi.Created = *created
			}
			out = append(out, vi)
		}
	}
	return out, nil
}
