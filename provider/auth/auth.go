package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"k8s.io/klog/v2"

	"github.com/kvcsi/kvcsi/provider/cache"
	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// Defaults for zero Options fields.
const (
	DefaultNMIPort       = 2579 // aad-pod-identity's NMI on localhost (--nmi-port)
	DefaultNMIRetries    = 3
	DefaultNMIRetryDelay = 250 * time.Millisecond
	DefaultTokenProxyURL = "https://kubernetes.default.svc.cluster.local"
	DefaultClusterCAFile = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
	// DefaultAuthorityHost is used when the caller passes no authority host, so
	// that azidentity never falls back to reading AZURE_AUTHORITY_HOST.
	DefaultAuthorityHost = "https://login.microsoftonline.com/"
)

// Options configure a Manager. Zero values take the defaults above, and the cache's
// cache.DefaultSize and cache.DefaultIdleTTL.
type Options struct {
	// Transport sends every request of every credential except identity-binding
	// token requests (which need their own TLS settings). Build it once: an
	// *http.Client whose transport uses http.ProxyFromEnvironment. Nil means a
	// clone of http.DefaultTransport.
	Transport policy.Transporter

	NMIPort     int    // pod identity: NMI's port on localhost (--nmi-port)
	NMIEndpoint string // pod identity token endpoint; overrides NMIPort (tests)
	// NMITimeout bounds one NMI attempt; 0 (the default) waits as long as the caller's
	// deadline allows: NMI holds a request for a new pod for up to ~100 s while its
	// identity is being assigned.
	NMITimeout    time.Duration
	NMIRetries    int           // retries after the first attempt on 5xx, 429 and transport errors; < 0 means none
	NMIRetryDelay time.Duration // base of the exponential backoff between NMI attempts

	TokenProxyURL string // identity binding: --token-proxy-url
	SNIName       string // identity binding: --sni-name; "" = computed from the API server certificate
	ClusterCAFile string // identity binding: CA of the token proxy, re-read when it changes

	CacheSize int           // most credentials kept
	IdleTTL   time.Duration // credentials unused this long are dropped

	Now    func() time.Time
	Logger klog.Logger
}

// Stats are cumulative counters and the current cache size.
type Stats struct {
	// TokenRequests counts GetToken calls passed to an underlying credential
	// (each is one token request to Entra ID, IMDS, NMI or the token proxy,
	// before SDK retries).
	TokenRequests    uint64
	TokenCacheHits   uint64 // GetToken calls answered from the cache
	TokenCacheMisses uint64 // GetToken calls that needed a request (their own or a shared one)
	TokenShared      uint64 // misses that waited for a request another caller had started
	TokenErrors      uint64 // underlying requests that failed (never cached)
	StaleTokens      uint64 // failed refreshes answered with the still-valid cached token

	Credentials         int    // credentials in the cache now
	CredentialHits      uint64 // Credential calls answered from the cache
	CredentialMisses    uint64 // Credential calls that built a credential
	CredentialEvictions uint64 // credentials dropped for size or idleness
	CredentialsCreated  uint64 // credentials built, cached or not

	NMIRequests    uint64 // HTTP attempts to the NMI endpoint
	SNIDiscoveries uint64 // TLS dials to the token proxy to compute the SNI name
}

// Manager builds credentials and caches them. It is safe for concurrent use.
type Manager struct {
	opts   Options
	now    func() time.Time
	log    klog.Logger
	stats  counters
	keyMAC []byte // per-Manager random key for credential keys

	mu    sync.Mutex
	creds *cache.LRU[string, *credEntry]

	deprecationMu sync.Mutex
	deprecated    *cache.LRU[string, struct{}] // pods already warned about pod identity

	ibOnce sync.Once
	ib     *proxyTransport

	// metadata sends the Entra ID requests of workload identity and service
	// principal credentials, sharing authority metadata among them.
	metadata policy.Transporter
}

type credEntry struct {
	cred     azcore.TokenCredential
	material []byte // the canonical material, compared on every hit
}

// NewManager returns a Manager for opts.
func NewManager(opts Options) *Manager {
	if opts.Transport == nil {
		opts.Transport = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if opts.NMIPort <= 0 {
		opts.NMIPort = DefaultNMIPort
	}
	if opts.NMIEndpoint == "" {
		opts.NMIEndpoint = "http://localhost:" + strconv.Itoa(opts.NMIPort) + "/host/token/"
	}
	if opts.NMIRetries == 0 {
		opts.NMIRetries = DefaultNMIRetries
	} else if opts.NMIRetries < 0 {
		opts.NMIRetries = 0
	}
	if opts.NMIRetryDelay <= 0 {
		opts.NMIRetryDelay = DefaultNMIRetryDelay
	}
	if opts.TokenProxyURL == "" {
		opts.TokenProxyURL = DefaultTokenProxyURL
	}
	if opts.ClusterCAFile == "" {
		opts.ClusterCAFile = DefaultClusterCAFile
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = cache.DefaultSize
	}
	if opts.IdleTTL <= 0 {
		opts.IdleTTL = cache.DefaultIdleTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = klog.Background()
	}
	m := &Manager{opts: opts, now: opts.Now, log: opts.Logger.WithName("auth")}
	m.keyMAC = make([]byte, 32)
	if _, err := rand.Read(m.keyMAC); err != nil {
		panic("auth: crypto/rand failed: " + err.Error()) // rand.Read never fails on supported platforms
	}
	m.metadata = newMetadataTransport(opts.Transport, opts.Now)
	m.creds = cache.New(opts.CacheSize, opts.IdleTTL, opts.Now, func(string, *credEntry) { m.stats.credEvictions.Add(1) })
	m.deprecated = cache.New[string, struct{}](opts.CacheSize, 0, opts.Now, nil)
	return m
}

// Stats returns the counters and the cache size.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	n := m.creds.Len()
	m.mu.Unlock()
	s := &m.stats
	return Stats{
		TokenRequests:       s.tokenRequests.Load(),
		TokenCacheHits:      s.tokenHits.Load(),
		TokenCacheMisses:    s.tokenMisses.Load(),
		TokenShared:         s.tokenShared.Load(),
		TokenErrors:         s.tokenErrors.Load(),
		StaleTokens:         s.staleServed.Load(),
		Credentials:         n,
		CredentialHits:      s.credHits.Load(),
		CredentialMisses:    s.credMisses.Load(),
		CredentialEvictions: s.credEvictions.Load(),
		CredentialsCreated:  s.credsCreated.Load(),
		NMIRequests:         s.nmiRequests.Load(),
		SNIDiscoveries:      s.ibSNIDiscovery.Load(),
	}
}

// Credential returns the token credential for the identity and a key naming its
// credential material. The key is an HMAC under a per-Manager random key, so it
// is stable for the Manager's lifetime, reveals nothing about the material, and
// differs whenever the material differs:
//
//   - workload identity: tenant, client ID, authority host, SA token
//   - service principal: tenant, client ID, client secret, authority host
//   - VM managed identity: user-assigned client ID, or system-assigned
//   - pod identity: pod namespace and name, resource
//   - identity binding: tenant, client ID, authority host, SA token
//
// The returned credential caches its tokens and shares concurrent requests.
func (m *Manager) Credential(id config.Identity, pod config.Pod, authorityHost, kvResource string) (azcore.TokenCredential, string, error) {
	if authorityHost == "" {
		authorityHost = DefaultAuthorityHost
	} else if !strings.HasSuffix(authorityHost, "/") {
		authorityHost += "/"
	}
	kvResource = strings.TrimSuffix(kvResource, "/")
	material, err := canonicalMaterial(id, pod, authorityHost, kvResource)
	if err != nil {
		return nil, "", err
	}
	key := m.key(id.Mode, material)

	if c, ok := m.lookup(key, material); ok {
		m.stats.credHits.Add(1)
		return c, key, nil
	}
	m.stats.credMisses.Add(1)
	inner, err := m.build(id, pod, authorityHost, kvResource)
	if err != nil {
		return nil, "", err
	}
	wrapped := newCachingCredential(inner, m.now, &m.stats)

	m.mu.Lock()
	defer m.mu.Unlock()
	// Another caller may have built the same credential meanwhile: keep one.
	if e, ok := m.creds.Get(key); ok && subtle.ConstantTimeCompare(e.material, material) == 1 {
		return e.cred, key, nil
	}
	m.creds.Add(key, &credEntry{cred: wrapped, material: material})
	return wrapped, key, nil
}

func (m *Manager) lookup(key string, material []byte) (azcore.TokenCredential, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.creds.Get(key)
	// The key is a 256-bit MAC, so a collision is not expected; comparing the
	// material makes handing one identity's credential to another impossible.
	if !ok || subtle.ConstantTimeCompare(e.material, material) != 1 {
		return nil, false
	}
	return e.cred, true
}

func (m *Manager) key(mode vocab.IdentityMode, material []byte) string {
	h := hmac.New(sha256.New, m.keyMAC)
	h.Write(material)
	return modePrefix(mode) + hex.EncodeToString(h.Sum(nil))
}

func modePrefix(mode vocab.IdentityMode) string {
	switch mode {
	case vocab.WorkloadIdentity:
		return "wi-"
	case vocab.ServicePrincipal:
		return "sp-"
	case vocab.VMManagedIdentity:
		return "mi-"
	case vocab.PodIdentity:
		return "nmi-"
	case vocab.IdentityBinding:
		return "ib-"
	}
	return "x-"
}

// canonicalMaterial is an unambiguous encoding of everything that selects a
// credential: the mode, then length-prefixed fields. It holds secrets and
// stays in memory only (it is what the credential itself holds anyway).
func canonicalMaterial(id config.Identity, pod config.Pod, authorityHost, kvResource string) ([]byte, error) {
	b := []byte("kvcsi-auth-v1")
	b = binary.AppendUvarint(b, uint64(id.Mode))
	add := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	switch id.Mode {
	case vocab.WorkloadIdentity, vocab.IdentityBinding:
		if err := requireAssertion(id); err != nil {
			return nil, err
		}
		add(id.TenantID)
		add(id.ClientID)
		add(authorityHost)
		add(id.ServiceAccountToken.Reveal())
	case vocab.ServicePrincipal:
		if id.ClientID == "" {
			return nil, errors.New("could not find clientid in secrets")
		}
		if id.ClientSecret.IsEmpty() {
			return nil, errors.New("could not find clientsecret in secrets")
		}
		add(id.TenantID)
		add(id.ClientID)
		add(id.ClientSecret.Reveal())
		add(authorityHost)
	case vocab.VMManagedIdentity:
		if id.UserAssignedIdentityID == "" {
			add("system")
		} else {
			add("user")
			add(id.UserAssignedIdentityID)
		}
	case vocab.PodIdentity:
		if pod.Namespace == "" || pod.Name == "" {
			return nil, errors.New("pod name and namespace are required for pod identity")
		}
		add(pod.Namespace)
		add(pod.Name)
		add(kvResource)
	default:
		return nil, fmt.Errorf("unsupported identity mode %d", int(id.Mode))
	}
	return b, nil
}

func requireAssertion(id config.Identity) error {
	if id.Mode == vocab.IdentityBinding {
		if id.ClientID == "" {
			return errors.New("clientID is required for identity binding")
		}
		if id.ServiceAccountToken.IsEmpty() {
			return errors.New("service account tokens are required for identity binding")
		}
		return nil
	}
	if id.ClientID == "" {
		return errors.New("clientID is required for workload identity")
	}
	if id.ServiceAccountToken.IsEmpty() {
		return fmt.Errorf("service account token for audience %s is required for workload identity", vocab.WorkloadIdentityAudience)
	}
	return nil
}

// build makes a new, unwrapped credential. azidentity constructors contact no
// server, so this is cheap and never blocks.
func (m *Manager) build(id config.Identity, pod config.Pod, authorityHost, kvResource string) (azcore.TokenCredential, error) {
	m.stats.credsCreated.Add(1)
	clientOpts := azcore.ClientOptions{
		Cloud:     azcloud.Configuration{ActiveDirectoryAuthorityHost: authorityHost},
		Transport: m.metadata,
	}
	anyTenant := []string{"*"}
	switch id.Mode {
	case vocab.WorkloadIdentity, vocab.IdentityBinding:
		token := id.ServiceAccountToken
		assertion := func(context.Context) (string, error) { return token.Reveal(), nil }
		o := &azidentity.ClientAssertionCredentialOptions{ClientOptions: clientOpts, AdditionallyAllowedTenants: anyTenant}
		if id.Mode == vocab.IdentityBinding {
			o.DisableInstanceDiscovery = true
			o.Transport = m.identityBindingTransport()
		}
		return azidentity.NewClientAssertionCredential(id.TenantID, id.ClientID, assertion, o)
	case vocab.ServicePrincipal:
		return azidentity.NewClientSecretCredential(id.TenantID, id.ClientID, id.ClientSecret.Reveal(),
			&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOpts, AdditionallyAllowedTenants: anyTenant})
	case vocab.VMManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: m.opts.Transport}}
		if id.UserAssignedIdentityID != "" {
			o.ID = azidentity.ClientID(id.UserAssignedIdentityID)
		}
		return azidentity.NewManagedIdentityCredential(o)
	case vocab.PodIdentity:
		m.warnPodIdentity(pod)
		return &nmiCredential{
			endpoint:  m.opts.NMIEndpoint,
			resource:  kvResource,
			namespace: pod.Namespace,
			name:      pod.Name,
			transport: m.opts.Transport,
			timeout:   m.opts.NMITimeout,
			retries:   m.opts.NMIRetries,
			delay:     m.opts.NMIRetryDelay,
			now:       m.now,
			stats:     &m.stats,
		}, nil
	}
	return nil, fmt.Errorf("unsupported identity mode %d", int(id.Mode))
}

// warnPodIdentity logs the deprecation of pod identity once per pod (as far as
// a bounded memory of pods allows), not once per mount.
func (m *Manager) warnPodIdentity(pod config.Pod) {
	k := pod.Namespace + "/" + pod.Name
	m.deprecationMu.Lock()
	_, seen := m.deprecated.Get(k)
	if !seen {
		m.deprecated.Add(k, struct{}{})
	}
	m.deprecationMu.Unlock()
	if !seen {
		m.log.Info("pod identity (aad-pod-identity) is deprecated; migrate to workload identity", "pod", klog.KRef(pod.Namespace, pod.Name))
	}
}

// identityBindingTransport returns the Manager's one token-proxy transport,
// created on first use. It computes nothing and dials nothing until a request.
func (m *Manager) identityBindingTransport() *proxyTransport {
	m.ibOnce.Do(func() {
		m.ib = newProxyTransport(m.opts.TokenProxyURL, m.opts.SNIName, m.opts.ClusterCAFile, &m.stats, m.log)
	})
	return m.ib
}
