package keyvault

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// The Key Vault SDK clients learn a vault's tenant and token scope from a 401 challenge:
// the first request of every new client goes out without a token and without its body,
// Key Vault answers 401 with WWW-Authenticate, and the client then asks its credential
// for a token and sends the request again. Clients are per (vault, credential), and
// every pod presents its own service-account token, so every new pod would pay that
// extra round trip.
//
// The challenge says nothing about the caller: it names the vault's tenant and
// resource. challengePolicy, installed after the SDK's authentication policy, therefore
// remembers the challenge per vault host and answers the next client's unauthenticated
// probe itself. Nothing about authorization changes: the request is still sent with a
// token of the caller's own credential, and Key Vault still decides. If the remembered
// challenge is wrong (the vault moved tenant), Key Vault answers the authenticated
// request with 401 and its current challenge: the policy keeps that one instead, and
// the call is retried once at once, since the SDK follows only one challenge per
// request and has already spent it on the remembered one.

// challengeTTL bounds how long a remembered challenge is reused.
const challengeTTL = time.Hour

// vaultState is what the pool keeps per vault host: the concurrency limiter and the
// vault's last authentication challenge.
type vaultState struct {
	limit *limiter

	mu        sync.Mutex
	challenge string        // WWW-Authenticate of the last unauthenticated 401
	learned   time.Time     // when challenge was stored
	probing   chan struct{} // non-nil while one probe asks Key Vault; closed when it ends
}

// challengeOrProbe returns the remembered challenge, or a channel to wait on while
// another request probes Key Vault, or neither: then the caller is the one to probe and
// must call endProbe. A new vault's first mount fetches objects in parallel; without
// this each of them would send its own probe.
func (s *vaultState) challengeOrProbe(now time.Time) (string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.challenge != "" && now.Sub(s.learned) >= challengeTTL {
		s.challenge = ""
	}
	if s.challenge != "" {
		return s.challenge, nil
	}
	if s.probing != nil {
		return "", s.probing
	}
	s.probing = make(chan struct{})
	return "", nil
}

// endProbe ends the caller's probe, remembering h if it is a challenge.
func (s *vaultState) endProbe(h string, now time.Time) {
	s.mu.Lock()
	if h != "" {
		s.challenge, s.learned = h, now
	}
	close(s.probing)
	s.probing = nil
	s.mu.Unlock()
}

// replaceChallenge stores h if it differs from the remembered challenge and reports
// whether it did.
func (s *vaultState) replaceChallenge(h string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.challenge == h {
		return false
	}
	s.challenge, s.learned = h, now
	return true
}

// challengePolicy answers the SDK's challenge probe from the vault's remembered
// challenge and learns challenges from Key Vault's answers.
type challengePolicy struct {
	state *vaultState
	now   func() time.Time
	stats *poolCounters
}

func (p *challengePolicy) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	marks, _ := raw.Context().Value(marksKey{}).(*callMarks)
	if raw.Header.Get("Authorization") == "" {
		return p.probe(req, marks)
	}
	resp, err := req.Next()
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	h := resp.Header.Get("WWW-Authenticate")
	if !isVaultChallenge(h) {
		return resp, err
	}
	// Key Vault rejected a token. If it now names another tenant or resource than the
	// challenge we answered this request's probe with, our copy was stale: keep the new
	// one and let call retry once (the SDK follows only one challenge per request). If
	// the challenge is unchanged, the token itself was rejected: nothing to retry.
	if p.state.replaceChallenge(h, p.now()) && marks != nil && marks.served != "" && marks.served != h {
		marks.stale = true
	}
	return resp, err
}

// probe answers the SDK's unauthenticated request with the remembered challenge, or
// sends it to Key Vault (one request per vault at a time) and remembers the answer.
func (p *challengePolicy) probe(req *policy.Request, marks *callMarks) (*http.Response, error) {
	raw := req.Raw()
	for {
		ch, wait := p.state.challengeOrProbe(p.now())
		if ch != "" {
			p.stats.challengesReused.Add(1)
			if marks != nil {
				marks.served = ch
			}
			return challengeResponse(raw, ch), nil
		}
		if wait == nil {
			break
		}
		select {
		case <-wait:
		case <-raw.Context().Done():
			return nil, raw.Context().Err()
		}
	}
	var learned string
	defer func() { p.state.endProbe(learned, p.now()) }()
	resp, err := req.Next()
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		if h := resp.Header.Get("WWW-Authenticate"); isVaultChallenge(h) {
			learned = h
			p.stats.challengesLearned.Add(1)
		}
	}
	return resp, err
}

// callMarks carry what challengePolicy and slotPolicy did during one call's attempt back
// to call.
// One attempt runs one request at a time, so the fields need no lock.
type callMarks struct {
	served string // the remembered challenge answered to this attempt's probe
	stale  bool   // Key Vault then rejected the token with a different challenge
	noSlot string // the vault host whose limiter gave no slot before the context ended
}

type marksKey struct{}

// challengeResponse is the 401 Key Vault would have answered to the probe.
func challengeResponse(req *http.Request, challenge string) *http.Response {
	h := http.Header{}
	h.Set("WWW-Authenticate", challenge)
	h.Set("Content-Length", "0")
	return &http.Response{
		Status:        "401 Unauthorized",
		StatusCode:    http.StatusUnauthorized,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          http.NoBody,
		ContentLength: 0,
		Request:       req,
	}
}

// isVaultChallenge reports whether h is a plain bearer challenge naming an authority and
// a resource or scope. Challenges carrying claims (continuous access evaluation) or an
// error are about one token, not the vault, and are never remembered.
func isVaultChallenge(h string) bool {
	l := strings.ToLower(strings.TrimSpace(h))
	if !strings.HasPrefix(l, "bearer ") || strings.Contains(l, "claims=") || strings.Contains(l, "error=") {
		return false
	}
	hasAuthority := strings.Contains(l, "authorization=") || strings.Contains(l, "authorization_uri=")
	hasResource := strings.Contains(l, "resource=") || strings.Contains(l, "scope=")
	return hasAuthority && hasResource
}

// poolCounters are the pool's cumulative statistics.
type poolCounters struct {
	clientsCreated    atomic.Uint64
	challengesLearned atomic.Uint64
	challengesReused  atomic.Uint64
	throttled         atomic.Uint64
	retries           atomic.Uint64
	failedFast        atomic.Uint64
}
