package emulator

import (
	"maps"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Service names one emulated service for fault injection.
type Service string

// The emulated services.
const (
	ServiceEntraID  Service = "entra"
	ServiceKeyVault Service = "keyvault"
	ServiceIMDS     Service = "imds"
	ServiceNMI      Service = "nmi"
)

// Faults are injected into every request to one service. Rates are
// probabilities in [0,1]; 1 means every request.
type Faults struct {
	// Latency delays every answer.
	Latency time.Duration `json:"latency,omitempty"`
	// FirstLatency delays only the first request after SetFaults (e.g. a
	// slow first IMDS answer).
	FirstLatency time.Duration `json:"firstLatency,omitempty"`
	// ThrottleRate answers 429 with a Retry-After header and the service's
	// throttling body.
	ThrottleRate float64 `json:"throttleRate,omitempty"`
	// RetryAfter is the Retry-After of throttled answers. The header carries
	// whole seconds (rounded up); when RetryAfter is not a whole number of
	// seconds an x-ms-retry-after-ms header (which azcore honours first) is
	// added so tests can throttle without waiting whole seconds.
	RetryAfter time.Duration `json:"retryAfter,omitempty"`
	// NoRetryAfter sends throttled answers without any Retry-After header:
	// Key Vault's guidance promises exponential back-off, not always a header.
	NoRetryAfter bool `json:"noRetryAfter,omitempty"`
	// ThrottleStatus is the status of throttled answers: 429 (default) or 503.
	ThrottleStatus int `json:"throttleStatus,omitempty"`
	// ThrottleFirst throttles the first n requests after SetFaults, then none
	// (on top of ThrottleRate).
	ThrottleFirst int `json:"throttleFirst,omitempty"`
	// ErrorRate answers ErrorStatus (default 500) with the service's error body.
	ErrorRate   float64 `json:"errorRate,omitempty"`
	ErrorStatus int     `json:"errorStatus,omitempty"`
	// ResetRate closes the connection without answering.
	ResetRate float64 `json:"resetRate,omitempty"`
}

type faultState struct {
	f         Faults
	firstDone bool
	throttled int // requests answered by ThrottleFirst so far
}

// SetFaults replaces the faults of one service; the zero Faults clears them.
func (e *Emulator) SetFaults(service Service, f Faults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults[service] = &faultState{f: f}
}

// GetFaults returns the faults currently set for one service.
func (e *Emulator) GetFaults(service Service) Faults {
	e.mu.Lock()
	defer e.mu.Unlock()
	if fs := e.faults[service]; fs != nil {
		return fs.f
	}
	return Faults{}
}

type faultAction int

const (
	faultNone faultAction = iota
	faultReset
	faultThrottle
	faultError
)

// applyFaults sleeps for the configured latency and says what to do instead
// of answering normally. The caller writes the service-specific body.
func (e *Emulator) applyFaults(r *http.Request, s Service) (faultAction, Faults) {
	e.mu.Lock()
	fs := e.faults[s]
	var f Faults
	delay := time.Duration(0)
	throttleNow := false
	if fs != nil {
		f = fs.f
		delay = f.Latency
		if !fs.firstDone {
			fs.firstDone = true
			delay += f.FirstLatency
		}
		if fs.throttled < f.ThrottleFirst {
			fs.throttled++
			throttleNow = true
		}
	}
	e.mu.Unlock()
	if fs == nil {
		return faultNone, f
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return faultReset, f
		}
	}
	switch {
	case f.ResetRate > 0 && e.ids.float() < f.ResetRate:
		return faultReset, f
	case throttleNow || (f.ThrottleRate > 0 && e.ids.float() < f.ThrottleRate):
		return faultThrottle, f
	case f.ErrorRate > 0 && e.ids.float() < f.ErrorRate:
		return faultError, f
	}
	return faultNone, f
}

func (f Faults) errorStatus() int {
	if f.ErrorStatus >= 400 {
		return f.ErrorStatus
	}
	return http.StatusInternalServerError
}

func (f Faults) throttleStatus() int {
	if f.ThrottleStatus == http.StatusServiceUnavailable {
		return f.ThrottleStatus
	}
	return http.StatusTooManyRequests
}

// setThrottleHeaders sets the Retry-After of a throttled answer, unless the
// faults say to send none.
func (f Faults) setThrottleHeaders(h http.Header) {
	if !f.NoRetryAfter {
		setRetryAfter(h, f.RetryAfter)
	}
}

func setRetryAfter(h http.Header, d time.Duration) {
	secs := int(math.Ceil(d.Seconds()))
	if secs < 0 {
		secs = 0
	}
	h.Set("Retry-After", strconv.Itoa(secs))
	if d > 0 && d%time.Second != 0 {
		h.Set("x-ms-retry-after-ms", strconv.FormatInt(d.Milliseconds(), 10))
	}
}

// Counts are request counters since Start or the last ResetCounts.
type Counts struct {
	// TokenRequests counts requests to the Entra ID token endpoint.
	TokenRequests int `json:"tokenRequests"`
	// TokensByClient counts token endpoint requests per client_id form value.
	TokensByClient map[string]int `json:"tokensByClient"`
	// TokensIssued counts access tokens issued, per client ID, by every
	// service (Entra ID, IMDS, NMI).
	TokensIssued map[string]int `json:"tokensIssued"`
	// DiscoveryRequests counts instance discovery and OpenID configuration
	// requests.
	DiscoveryRequests int `json:"discoveryRequests"`
	IMDSRequests      int `json:"imdsRequests"`
	// IMDSProxied counts IMDS requests refused because they came through a proxy.
	IMDSProxied int `json:"imdsProxied"`
	NMIRequests int `json:"nmiRequests"`
	// NMIPending counts NMI answers 404: the pod's identity not assigned yet.
	NMIPending int `json:"nmiPending"`
	// TokensByHost counts access tokens issued by the host that issued them:
	// a login host ("login.microsoftonline.us"), "169.254.169.254" or "nmi".
	TokensByHost map[string]int `json:"tokensByHost"`
	// KeyVaultClaimsChallenges counts 401 insufficient_claims answers to revoked
	// CAE tokens (RevokeTokens).
	KeyVaultClaimsChallenges int `json:"keyVaultClaimsChallenges"`
	// KeyVaultMaxConcurrent is the highest number of requests one vault was
	// answering at the same time, per vault name.
	KeyVaultMaxConcurrent map[string]int `json:"keyVaultMaxConcurrent"`
	// KeyVaultRequests counts every request to a vault host.
	KeyVaultRequests int `json:"keyVaultRequests"`
	// KeyVaultChallenges counts 401 answers to requests without a token.
	KeyVaultChallenges int `json:"keyVaultChallenges"`
	// KeyVaultByOp counts requests that carried a bearer token, by
	// operation: GetSecret, ListSecrets, ListSecretVersions, GetKey,
	// ListKeys, ListKeyVersions, GetCertificate, ListCertificates,
	// ListCertificateVersions (and Unknown).
	KeyVaultByOp map[string]int `json:"keyVaultByOp"`
	// KeyVaultByVault counts every request per vault name.
	KeyVaultByVault map[string]int `json:"keyVaultByVault"`
	// Tunnels counts CONNECT requests per target host.
	Tunnels map[string]int `json:"tunnels"`
}

func newCounts() Counts {
	return Counts{
		TokensByClient:  map[string]int{},
		TokensIssued:    map[string]int{},
		KeyVaultByOp:    map[string]int{},
		KeyVaultByVault: map[string]int{},
		Tunnels:         map[string]int{},
		TokensByHost:    map[string]int{},

		KeyVaultMaxConcurrent: map[string]int{},
	}
}

// Counts returns a copy of the counters.
func (e *Emulator) Counts() Counts {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.counts
	c.TokensByClient = maps.Clone(c.TokensByClient)
	c.TokensIssued = maps.Clone(c.TokensIssued)
	c.KeyVaultByOp = maps.Clone(c.KeyVaultByOp)
	c.KeyVaultByVault = maps.Clone(c.KeyVaultByVault)
	c.Tunnels = maps.Clone(c.Tunnels)
	c.TokensByHost = maps.Clone(c.TokensByHost)
	c.KeyVaultMaxConcurrent = maps.Clone(c.KeyVaultMaxConcurrent)
	return c
}

// ResetCounts zeroes every counter.
func (e *Emulator) ResetCounts() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counts = newCounts()
}

func (e *Emulator) count(fn func(c *Counts)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fn(&e.counts)
}

func (e *Emulator) countTunnel(host string) {
	e.count(func(c *Counts) { c.Tunnels[host]++ })
}
