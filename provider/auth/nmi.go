package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/kvcsi/kvcsi/provider/backoff"
)

const (
	maxNMIBody      = 1 << 20 // bytes read from an NMI response
	maxErrorBody    = 256     // bytes of an NMI error body quoted in an error
	maxNMIRetryWait = 5 * time.Second
	// nmiReserve is kept from the caller's deadline so that a request NMI still holds
	// is given up in time to report what NMI said last, rather than a bare deadline.
	nmiReserve = 500 * time.Millisecond
)

// NMIError is a failed token request to aad-pod-identity's NMI. Its text is the Azure
// provider's, which users grep for: "nmi response failed with status code: <n>, response
// body: <body>", "nmi did not return expected values in response: token and clientid",
// or "nmi request failed: <cause>". diag reads the status with NMIStatus, not the text.
type NMIError struct {
	// StatusCode is the HTTP status of NMI's answer: 0 when NMI did not answer (Err says
	// why), 200 when it answered without a token or client ID.
	StatusCode int
	Body       string // NMI's error body, redacted and cut to maxErrorBody bytes
	Err        error  // the transport failure, when StatusCode is 0
}

func (e *NMIError) Error() string {
	switch {
	case e.StatusCode == http.StatusOK:
		return "nmi did not return expected values in response: token and clientid"
	case e.StatusCode != 0:
		return fmt.Sprintf("nmi response failed with status code: %d, response body: %s", e.StatusCode, e.Body)
	case e.Err != nil:
		return "nmi request failed: " + e.Err.Error()
	}
	return "nmi request failed"
}

func (e *NMIError) Unwrap() error { return e.Err }

// NMIStatus is the status of NMI's answer (0: none); diag recognises NMI failures by it.
func (e *NMIError) NMIStatus() int { return e.StatusCode }

// nmiCredential gets tokens from the aad-pod-identity NMI endpoint on the node,
// which decides the identity from the podns and podname headers. Like the
// upstream provider it asks for the Key Vault resource whatever scope is
// requested, and it ignores the requested tenant.
type nmiCredential struct {
	endpoint        string
	resource        string
	namespace, name string
	transport       policy.Transporter
	timeout         time.Duration // per attempt; 0: only the caller's deadline
	retries         int
	delay           time.Duration
	now             func() time.Time
	stats           *counters
}

type nmiResponse struct {
	Token *struct {
		AccessToken string          `json:"access_token"`
		ExpiresOn   json.RawMessage `json:"expires_on"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	} `json:"token"`
	ClientID string `json:"clientid"`
}

// GetToken implements azcore.TokenCredential.
func (c *nmiCredential) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	u, err := url.Parse(c.endpoint)
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("invalid nmi endpoint %q: %w", c.endpoint, err)
	}
	q := u.Query()
	q.Set("resource", c.resource)
	u.RawQuery = q.Encode()
	target := u.String()

	// NMI answers 404 while the pod's identity is being assigned (aad-pod-identity's
	// MIC has created the AzureAssignedIdentity but not assigned it yet): under a
	// deadline that is retried as long as the deadline allows, and does not count as a
	// retry; without one it does, so that it cannot go on forever.
	var last error
	lastStatus, retries := 0, 0
	reserve := nmiReserve
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		reserve = min(nmiReserve, time.Until(dl)/10)
	}
	for attempt := 0; ; attempt++ {
		tok, status, retry, err := c.attempt(ctx, target, reserve)
		if err == nil {
			return tok, nil
		}
		if status == 0 && lastStatus != 0 && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			// The held attempt was given up for the deadline: NMI's last answer says more.
			return azcore.AccessToken{}, fmt.Errorf("%w (NMI then held the next request until the mount's deadline)", last)
		}
		last, lastStatus = err, status
		pending := status == http.StatusNotFound && hasDeadline
		if !pending {
			retries++
		}
		if !(retry || pending || status == http.StatusNotFound) || retries > c.retries || ctx.Err() != nil {
			return azcore.AccessToken{}, err
		}
		wait := c.backoff(min(attempt, 4))
		// Room for the wait and for an attempt that NMI may hold until it is given up
		// reserve before the deadline.
		if hasDeadline && time.Until(dl) < wait+2*reserve {
			return azcore.AccessToken{}, err // no time left for another attempt
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return azcore.AccessToken{}, err
		}
	}
}

// backoff is the wait before another attempt: delay, doubling, at most 5s, with ±20%
// jitter so that pods on a node do not retry in lock step.
func (c *nmiCredential) backoff(attempt int) time.Duration {
	return backoff.Delay(c.delay, maxNMIRetryWait, 0.2, attempt)
}

// attempt makes one request. status is NMI's HTTP status (0 without an answer); retry
// reports whether a failure is worth retrying. An attempt is bounded by the per-attempt
// timeout if one is set, and otherwise only by the caller's deadline less reserve: NMI
// may hold the request for a long time while it assigns the pod's identity.
func (c *nmiCredential) attempt(ctx context.Context, target string, reserve time.Duration) (tok azcore.AccessToken, status int, retry bool, err error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > reserve {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return tok, 0, false, fmt.Errorf("create nmi request: %w", err)
	}
	req.Header.Set("podns", c.namespace)
	req.Header.Set("podname", c.name)
	c.stats.nmiRequests.Add(1)
	resp, err := c.transport.Do(req)
	if err != nil {
		return tok, 0, true, &NMIError{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxNMIBody))
	if err != nil {
		return tok, 0, true, fmt.Errorf("read nmi response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
		return tok, resp.StatusCode, retry, &NMIError{StatusCode: resp.StatusCode, Body: redactBody(body)}
	}
	var r nmiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return tok, resp.StatusCode, false, fmt.Errorf("parse nmi response: %w", err)
	}
	if r.Token == nil || r.Token.AccessToken == "" || r.ClientID == "" {
		return tok, resp.StatusCode, false, &NMIError{StatusCode: http.StatusOK}
	}
	exp, ok := parseEpoch(r.Token.ExpiresOn)
	if !ok {
		in, inOK := parseEpoch(r.Token.ExpiresIn)
		if !inOK {
			return tok, resp.StatusCode, false, errors.New("nmi returned a token without a valid expires_on")
		}
		exp = c.now().Add(time.Duration(in.Unix()) * time.Second)
	}
	return azcore.AccessToken{Token: r.Token.AccessToken, ExpiresOn: exp}, resp.StatusCode, false, nil
}

// parseEpoch reads seconds since the epoch given as a JSON number or a string.
func parseEpoch(raw json.RawMessage) (time.Time, bool) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" {
		return time.Time{}, false
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(n), 0), true
}

var (
	tokenFieldRE = regexp.MustCompile(`"(access_token|refresh_token|id_token|token|client_secret)"\s*:\s*"[^"]*"`)
	jwtRE        = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*`)
)

// redactBody makes an NMI error body safe to put in an error: token-bearing
// JSON fields and anything shaped like a JWT are replaced, and the result is
// cut to maxErrorBody bytes.
func redactBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	s = tokenFieldRE.ReplaceAllString(s, `"$1":"[REDACTED]"`)
	s = jwtRE.ReplaceAllString(s, "[REDACTED]")
	if len(s) > maxErrorBody {
		cut := maxErrorBody
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "...(truncated)"
	}
	return s
}
