package keyvault

import (
	"context"
	"sync"
)

// limiter bounds concurrent requests to one vault across all mounts. Its limit adapts:
// halved when the vault throttles, grown back by one slot per limit successes
// (additive increase, multiplicative decrease), never below 1 or above max.
type limiter struct {
	mu       sync.Mutex
	max      int
	limit    float64
	inFlight int
	wake     chan struct{} // closed and replaced whenever a slot may have freed
}

func newLimiter(max int) *limiter {
	if max < 1 {
		max = 1
	}
	return &limiter{max: max, limit: float64(max), wake: make(chan struct{})}
}

func (l *limiter) acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		if float64(l.inFlight) < l.limit {
			l.inFlight++
			l.mu.Unlock()
			return nil
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release frees a slot; throttled reports whether the vault answered 429/503.
func (l *limiter) release(throttled bool) {
	l.mu.Lock()
	l.inFlight--
	if throttled {
		l.limit /= 2
		if l.limit < 1 {
			l.limit = 1
		}
	} else if l.limit < float64(l.max) {
		l.limit += 1 / l.limit
		if l.limit > float64(l.max) {
			l.limit = float64(l.max)
		}
	}
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

func (l *limiter) current() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}
