package diag

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter is the longest wait RetryAfter returns; longer ones are clamped (and
// never fit a mount's deadline).
const MaxRetryAfter = 24 * time.Hour

// RetryAfter reads the wait a throttling service asked for from its answer's headers: retry-after-ms, x-ms-retry-after-ms (milliseconds) and then
// Retry-After (delta seconds or an HTTP date), the order azcore uses. Malformed or
// negative values are ignored; waits are clamped to MaxRetryAfter.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	for _, name := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			continue
		}
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms >= 0 {
			if ms > MaxRetryAfter.Milliseconds() {
				return MaxRetryAfter, true
			}
			return time.Duration(ms) * time.Millisecond, true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		if s > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return min(d, MaxRetryAfter), true
	}
	return 0, false
}

// RoundWait prints short waits in milliseconds and longer ones in whole seconds.
func RoundWait(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}
