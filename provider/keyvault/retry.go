package keyvault

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	kvbackoff "github.com/kvcsi/kvcsi/provider/backoff"
	"github.com/kvcsi/kvcsi/provider/diag"
)

// Retry policy. The SDK's own retries are off (MaxRetries -1): they know neither the
// mount's deadline nor the per-vault limiter.
//
//   - 429 and 503 are throttling: the vault's limiter halves (once per window) and the
//     request waits the Retry-After the vault asked for (retry-after-ms,
//     x-ms-retry-after-ms or Retry-After in seconds or as an HTTP date), plus up to 25%
//     jitter so pods throttled together do not come back together.
//   - 408, 500, 502, 504 and transport failures wait an exponential backoff.
//   - A wait is taken only when it leaves time for the next attempt before the caller's
//     deadline (reserve: twice the last attempt, 100 ms to 2 s). Otherwise, and after
//     MaxRetries retries, the request fails at once; a throttled one fails with
//     diag.KindThrottled (gRPC ResourceExhausted) carrying the wait the vault asked for,
//     so the driver and the user see "throttled, come back in N s" instead of a deadline
//     that expired while sleeping.
const (
	minReserve    = 100 * time.Millisecond
	maxReserve    = 2 * time.Second
	noDeadlineMax = 60 * time.Second
)

// call runs op (one SDK call; its HTTP requests take the vault's slots in slotPolicy),
// retrying as described above.
func (v *Vault) call(ctx context.Context, objectType string, op func(context.Context) error) error {
	p := v.pool
	marks := &callMarks{}
	ctx = context.WithValue(ctx, marksKey{}, marks)
	staleRetried := false
	for attempt := 0; ; attempt++ {
		*marks = callMarks{}
		start := time.Now()
		err := p.workers.do(func() error { return op(ctx) })
		elapsed := time.Since(start)
		if err != nil && marks.noSlot != "" {
			err = slotError(marks.noSlot, err)
		}
		status := statusOf(err)
		if o := p.opts.Observer; o != nil {
			o.KeyVaultRequest(objectType, diag.OutcomeOf(err), elapsed)
		}
		if status == http.StatusUnauthorized && marks.stale && !staleRetried && ctx.Err() == nil {
			// The remembered challenge was out of date (challenge.go): once more,
			// now that the SDK client will follow Key Vault's own challenge.
			staleRetried = true
			attempt--
			continue
		}
		if err == nil || !retryable(err, status) || ctx.Err() != nil {
			return err
		}
		throttled := status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
		if throttled {
			p.stats.throttled.Add(1)
		}
		asked, hasAsked := retryAfter(err, p.opts.Now())
		wait := backoff(attempt)
		if hasAsked {
			wait = asked
		}
		reserve := min(max(2*elapsed, minReserve), maxReserve)
		room, fit := fits(ctx, wait, reserve, p.opts.Now())
		if attempt >= p.opts.MaxRetries || !fit {
			if status == http.StatusTooManyRequests || (throttled && hasAsked) {
				p.stats.failedFast.Add(1)
				return throttledError(err, status, wait, hasAsked, attempt, fit)
			}
			return err
		}
		if hasAsked {
			wait += jitter(wait, room-wait)
		}
		p.stats.retries.Add(1)
		if o := p.opts.Observer; o != nil {
			o.ThrottleWait(wait)
		}
		tm := time.NewTimer(wait)
		select {
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			return err
		}
	}
}

func throttledError(err error, status int, wait time.Duration, asked bool, retries int, fit bool) error {
	if !asked {
		// Key Vault may throttle without a Retry-After (its guidance promises exponential
		// back-off, not a header): say what kvcsi did, not a wait nobody asked for.
		return &diag.Error{
			Kind: diag.KindThrottled,
			Err: fmt.Errorf("Key Vault still answered HTTP %d after %d retries with exponential back-off: it answered without Retry-After: %w",
				status, retries, err),
			Fix: "the vault is throttling requests; kubelet retries the mount with back-off; reduce the load on this vault: fewer pods or objects reading it, or a longer rotation poll interval of the driver",
		}
	}
	var why string
	if !fit {
		why = fmt.Sprintf("Key Vault answered HTTP %d and asked to wait %s, which does not fit in the mount's deadline", status, diag.RoundWait(wait))
	} else {
		why = fmt.Sprintf("Key Vault still answered HTTP %d after %d retries and asked to wait %s", status, retries, diag.RoundWait(wait))
	}
	return &diag.Error{
		Kind:       diag.KindThrottled,
		Err:        fmt.Errorf("%s: %w", why, err),
		RetryAfter: wait,
		Fix: fmt.Sprintf("the vault is throttling requests; retry after %s, and reduce the load on this vault: fewer pods or objects reading it, or a longer rotation poll interval of the driver",
			diag.RoundWait(wait)),
	}
}

// slotFix is what to change when requests to a vault waited for a slot until the
// mount's deadline.
const slotFix = "too many requests to this vault are in flight on this node: raise --vault-concurrency, or reduce the objects mounted at once; kubelet retries the mount"

// slotError is the error of a call whose request waited for a free slot of the vault's
// limiter until its context ended.
func slotError(host string, err error) error {
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("waiting for a free request slot to %s: %w", host, err)
	}
	return &diag.Error{Kind: diag.KindDeadline, Fix: slotFix,
		Err: fmt.Errorf("the mount's deadline passed while waiting for a free request slot to %s: %w", host, err)}
}

// slotPolicy holds one of the vault's slots for each HTTP exchange with Key Vault and
// tells the limiter how the vault answered.
type slotPolicy struct {
	limit *limiter
}

func (s *slotPolicy) Do(req *policy.Request) (*http.Response, error) {
	t, err := s.limit.acquire(req.Raw().Context())
	if err != nil {
		// azcore's retry policy returns the bare context error once the context has
		// ended, so call learns from its marks that the request never got a slot.
		if marks, _ := req.Raw().Context().Value(marksKey{}).(*callMarks); marks != nil {
			marks.noSlot = req.Raw().URL.Host
		}
		return nil, fmt.Errorf("waiting for a free request slot to %s: %w", req.Raw().URL.Host, err)
	}
	resp, err := req.Next()
	s.limit.release(t, outcomeOf(resp, err))
	return resp, err
}

func outcomeOf(resp *http.Response, err error) outcome {
	switch {
	case err != nil || resp == nil:
		return outcomeOther
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return outcomeThrottled
	case resp.StatusCode < 500:
		return outcomeOK // the vault answered: a 401, 403 or 404 is no sign of overload
	}
	return outcomeOther
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
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return false
		}
		return diag.Classify(err) == diag.KindUnavailable
	}
	return false
}

// retryAfter reads the wait the service asked for, from the response of err.
func retryAfter(err error, now time.Time) (time.Duration, bool) {
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.RawResponse == nil {
		return 0, false
	}
	return diag.RetryAfter(re.RawResponse.Header, now)
}

// backoff is 200ms, 400ms, 800ms, … with ±25% jitter, capped at 5s.
func backoff(attempt int) time.Duration {
	return kvbackoff.Delay(200*time.Millisecond, 5*time.Second, 0.25, attempt)
}

// jitter is a random extra wait of up to a quarter of wait, never more than spare.
func jitter(wait, spare time.Duration) time.Duration {
	j := min(wait/4, spare)
	if j <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(j) + 1))
}

// fits reports whether waiting d leaves reserve for another attempt before ctx's
// deadline, and how long one may wait at most (deadline minus reserve).
func fits(ctx context.Context, d, reserve time.Duration, now time.Time) (time.Duration, bool) {
	dl, ok := ctx.Deadline()
	if !ok {
		return noDeadlineMax, d <= noDeadlineMax
	}
	room := dl.Sub(now) - reserve
	return room, d <= room
}
