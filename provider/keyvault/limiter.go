package keyvault

import (
	"container/list"
	"context"
	"sync"
)

// outcome is what a finished request tells the limiter.
type outcome int

const (
	// outcomeOK: the vault answered (success, or a client error such as 403/404).
	outcomeOK outcome = iota
	// outcomeThrottled: the vault answered 429 or 503.
	outcomeThrottled
	// outcomeOther: no verdict on the vault's load (transport failure, other 5xx,
	// cancellation); the limit is left as it is.
	outcomeOther
)

// limiter bounds concurrent requests to one vault across all mounts. Its limit adapts
// with additive increase and multiplicative decrease: a throttled answer halves it
// (never below 1), and each success adds 1/limit, so a full window of successes adds
// one slot back (never above max).
//
// Only a request sent after the latest decrease can decrease the limit again: when
// sixteen requests in flight are all throttled by the same overload, the limit halves
// once, not sixteen times (TCP's one cut per window).
//
// Waiters are served first come, first served; a freed slot is handed directly to the
// longest waiter, so a release wakes exactly one goroutine, however many wait.
type limiter struct {
	mu       sync.Mutex
	max      int
	limit    float64
	inFlight int
	epoch    uint64     // incremented at every decrease
	waiters  *list.List // of *waiter, oldest first
}

type waiter struct {
	ready   chan struct{} // closed when granted
	granted bool          // guarded by limiter.mu
	epoch   uint64        // the epoch at grant time
}

// ticket is a held slot; it remembers the epoch it was granted in.
type ticket struct{ epoch uint64 }

func newLimiter(max int) *limiter {
	if max < 1 {
		max = 1
	}
	return &limiter{max: max, limit: float64(max), waiters: list.New()}
}

// allowedLocked is the number of concurrent requests the current limit allows.
func (l *limiter) allowedLocked() int {
	n := int(l.limit)
	if n < 1 {
		n = 1
	}
	return n
}

// acquire waits for a slot or for ctx to end.
func (l *limiter) acquire(ctx context.Context) (ticket, error) {
	l.mu.Lock()
	if l.waiters.Len() == 0 && l.inFlight < l.allowedLocked() {
		l.inFlight++
		t := ticket{epoch: l.epoch}
		l.mu.Unlock()
		return t, nil
	}
	if err := ctx.Err(); err != nil {
		l.mu.Unlock()
		return ticket{}, err
	}
	w := &waiter{ready: make(chan struct{})}
	el := l.waiters.PushBack(w)
	l.mu.Unlock()

	select {
	case <-w.ready:
		return ticket{epoch: w.epoch}, nil
	case <-ctx.Done():
		l.mu.Lock()
		if w.granted {
			// Granted while ctx ended: hand the slot on without judging the vault.
			l.inFlight--
			l.grantLocked()
		} else {
			l.waiters.Remove(el)
		}
		l.mu.Unlock()
		return ticket{}, ctx.Err()
	}
}

// release frees a slot and adapts the limit to the request's outcome.
func (l *limiter) release(t ticket, o outcome) {
	l.mu.Lock()
	l.inFlight--
	switch o {
	case outcomeThrottled:
		if t.epoch == l.epoch {
			l.limit /= 2
			if l.limit < 1 {
				l.limit = 1
			}
			l.epoch++
		}
	case outcomeOK:
		if l.limit < float64(l.max) {
			l.limit += 1 / l.limit
			if l.limit > float64(l.max) {
				l.limit = float64(l.max)
			}
		}
	}
	l.grantLocked()
	l.mu.Unlock()
}

// grantLocked hands free slots to the oldest waiters.
func (l *limiter) grantLocked() {
	for l.waiters.Len() > 0 && l.inFlight < l.allowedLocked() {
		w := l.waiters.Remove(l.waiters.Front()).(*waiter)
		l.inFlight++
		w.granted = true
		w.epoch = l.epoch
		close(w.ready)
	}
}

// limiterStats is a snapshot for tests and metrics.
type limiterStats struct {
	Limit    float64
	InFlight int
	Waiting  int
}

func (l *limiter) stats() limiterStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return limiterStats{Limit: l.limit, InFlight: l.inFlight, Waiting: l.waiters.Len()}
}
