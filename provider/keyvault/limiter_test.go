package keyvault

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustAcquire(t *testing.T, l *limiter) ticket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	tk, err := l.acquire(ctx)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	return tk
}

func TestLimiterAIMD(t *testing.T) {
	l := newLimiter(16)
	// Sixteen requests in flight, all throttled by the same overload: one cut, not sixteen.
	var ts []ticket
	for i := 0; i < 16; i++ {
		ts = append(ts, mustAcquire(t, l))
	}
	for _, tk := range ts {
		l.release(tk, outcomeThrottled)
	}
	if got := l.stats().Limit; got != 8 {
		t.Fatalf("limit after one throttled window = %v, want 8", got)
	}
	// A request sent after the cut can cut again.
	l.release(mustAcquire(t, l), outcomeThrottled)
	if got := l.stats().Limit; got != 4 {
		t.Fatalf("limit = %v, want 4", got)
	}
	for i := 0; i < 10; i++ {
		l.release(mustAcquire(t, l), outcomeThrottled)
	}
	if got := l.stats().Limit; got != 1 {
		t.Fatalf("limit = %v, want the floor 1", got)
	}
	// Neutral outcomes leave it alone.
	l.release(mustAcquire(t, l), outcomeOther)
	if got := l.stats().Limit; got != 1 {
		t.Fatalf("limit after a transport failure = %v, want 1", got)
	}
	// Additive increase: one slot per window of successes, capped at max.
	successes := 0
	for l.stats().Limit < 16 {
		l.release(mustAcquire(t, l), outcomeOK)
		successes++
		if successes > 1000 {
			t.Fatal("limit never recovered")
		}
	}
	// 1→2 takes 1 success, 2→3 takes 2, … 15→16 about 15: ~120 in all.
	if successes < 100 || successes > 140 {
		t.Fatalf("recovered after %d successes, want about 120", successes)
	}
	for i := 0; i < 50; i++ {
		l.release(mustAcquire(t, l), outcomeOK)
	}
	if got := l.stats().Limit; got != 16 {
		t.Fatalf("limit = %v, want capped at 16", got)
	}
}

func TestLimiterServesInOrder(t *testing.T) {
	l := newLimiter(1)
	held := mustAcquire(t, l)
	order := make(chan int, 5)
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tk := mustAcquire(t, l)
			order <- i
			l.release(tk, outcomeOK)
		}(i)
		// Queue them in a known order.
		waitFor(t, fmt.Sprintf("%d waiters", i+1), func() bool { return l.stats().Waiting == i+1 })
	}
	if st := l.stats(); st.InFlight != 1 || st.Waiting != 5 {
		t.Fatalf("stats %+v, want 1 in flight and 5 waiting", st)
	}
	l.release(held, outcomeOK)
	wg.Wait()
	close(order)
	want := 0
	for i := range order {
		if i != want {
			t.Fatalf("waiter %d served before %d: not first come, first served", i, want)
		}
		want++
	}
}

func TestLimiterHammer(t *testing.T) {
	l := newLimiter(8)
	var cur, peak atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx := context.Background()
			if i%7 == 0 { // some callers give up while queued
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Duration(i%3)*time.Millisecond)
				defer cancel()
			}
			tk, err := l.acquire(ctx)
			if err != nil {
				return
			}
			n := cur.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(100 * time.Microsecond) // holds the slot a while: the point of the hammer
			cur.Add(-1)
			o := outcomeOK
			if i%10 == 0 {
				o = outcomeThrottled
			}
			l.release(tk, o)
		}(i)
	}
	wg.Wait()
	if p := peak.Load(); p > 8 {
		t.Fatalf("peak concurrency %d over the limit 8", p)
	}
	if st := l.stats(); st.InFlight != 0 || st.Waiting != 0 {
		t.Fatalf("slots leaked: %+v", st)
	}
}

// A waiter whose context ends is removed; a slot granted to it at the same moment is
// handed on, never lost.
func TestLimiterCancelledWaiter(t *testing.T) {
	l := newLimiter(1)
	tk := mustAcquire(t, l)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := l.acquire(ctx)
		done <- err
	}()
	waitFor(t, "one waiter", func() bool { return l.stats().Waiting == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("cancelled waiter got a slot")
	}
	if st := l.stats(); st.Waiting != 0 || st.InFlight != 1 {
		t.Fatalf("stats %+v", st)
	}
	l.release(tk, outcomeOK)
	if st := l.stats(); st.InFlight != 0 {
		t.Fatalf("stats %+v", st)
	}
	// An already-ended context never queues.
	mustAcquire(t, l)
	if _, err := l.acquire(ctx); err == nil {
		t.Fatal("acquire with an ended context waited or succeeded")
	}

	// Grant racing with cancellation, many times.
	l2 := newLimiter(1)
	for i := 0; i < 500; i++ {
		hold := mustAcquire(t, l2)
		c, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() {
			tk, err := l2.acquire(c)
			if err == nil {
				l2.release(tk, outcomeOK)
			}
			res <- err
		}()
		go cancel()
		l2.release(hold, outcomeOK)
		<-res
	}
	if st := l2.stats(); st.InFlight != 0 || st.Waiting != 0 {
		t.Fatalf("slots leaked: %+v", st)
	}
}
