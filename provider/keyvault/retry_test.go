package keyvault

import (
	"context"
	"testing"
	"time"
)

func TestFits(t *testing.T) {
	now := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(10*time.Second))
	defer cancel()
	for _, tc := range []struct {
		wait, reserve time.Duration
		want          bool
	}{
		{time.Second, 100 * time.Millisecond, true},
		{9 * time.Second, 500 * time.Millisecond, true},
		{9800 * time.Millisecond, 100 * time.Millisecond, true},
		{9950 * time.Millisecond, 100 * time.Millisecond, false},
		{9 * time.Second, 2 * time.Second, false},
		{30 * time.Second, 100 * time.Millisecond, false},
	} {
		room, ok := fits(ctx, tc.wait, tc.reserve, now)
		if ok != tc.want || room != 10*time.Second-tc.reserve {
			t.Errorf("fits(%v, reserve %v) = %v %v, want %v", tc.wait, tc.reserve, room, ok, tc.want)
		}
	}
	if _, ok := fits(context.Background(), time.Minute, 0, now); !ok {
		t.Error("no deadline: a minute should fit")
	}
	if _, ok := fits(context.Background(), 61*time.Second, 0, now); ok {
		t.Error("no deadline: over a minute should not fit")
	}
}

func TestBackoffAndJitter(t *testing.T) {
	for attempt, base := range []time.Duration{200, 400, 800, 1600, 3200, 5000, 5000, 5000} {
		base *= time.Millisecond
		for i := 0; i < 50; i++ {
			d := backoff(attempt)
			if d < base*3/4 || d > base*5/4 {
				t.Fatalf("backoff(%d) = %v, want %v ±25%%", attempt, d, base)
			}
		}
	}
	if d := backoff(1000); d > 5*time.Second*5/4 {
		t.Fatalf("backoff(1000) = %v: overflowed the cap", d)
	}
	for i := 0; i < 100; i++ {
		if j := jitter(time.Second, time.Hour); j < 0 || j > 250*time.Millisecond {
			t.Fatalf("jitter(1s) = %v, want within 25%%", j)
		}
		if j := jitter(time.Second, 10*time.Millisecond); j > 10*time.Millisecond {
			t.Fatalf("jitter beyond the spare time: %v", j)
		}
	}
	if j := jitter(time.Second, -time.Second); j != 0 {
		t.Fatalf("jitter with no spare time = %v", j)
	}
}
