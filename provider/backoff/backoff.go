// Package backoff is the one exponential backoff kvcsi's own retry loops wait between
// attempts (Key Vault requests, aad-pod-identity NMI token requests): both loops also
// decide on deadlines and Retry-After, which is why they are not a library's retry loop.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay is the wait before retry number attempt+1: base·2^attempt, capped at max,
// randomised by ±jitter (a fraction: 0.25 is ±25%) so that callers that failed together
// do not retry together. A base or cap of zero or less gives max.
func Delay(base, max time.Duration, jitter float64, attempt int) time.Duration {
	d := max
	if base > 0 && attempt >= 0 && attempt < 62 && base <= max>>attempt {
		d = base << attempt
	}
	if d <= 0 {
		return 0
	}
	return d + time.Duration((2*rand.Float64()-1)*jitter*float64(d))
}
