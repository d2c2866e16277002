package metrics

import (
	"testing"
	"time"
)

func TestExpiryLabel(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		exp  time.Time
		want string
	}{
		{time.Time{}, "none"},
		{now, "expired"},
		{now.Add(-time.Second), "expired"},
		{now.Add(time.Hour), "1d"},
		{now.Add(24 * time.Hour), "1d"},
		{now.Add(25 * time.Hour), "7d"},
		{now.Add(20 * 24 * time.Hour), "30d"},
		{now.Add(60 * 24 * time.Hour), "90d"},
		{now.Add(365 * 24 * time.Hour), "later"},
	} {
		if got := expiryLabel(tc.exp, now); got != tc.want {
			t.Errorf("expiryLabel(%v) = %q, want %q", tc.exp.Sub(now), got, tc.want)
		}
	}
}

func TestSoonest(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var s soonest
	if s.value(now) != 0 {
		t.Fatal("empty tracker has a value")
	}
	a, b := now.Add(48*time.Hour), now.Add(24*time.Hour)
	s.report(a, now)
	s.report(b, now.Add(time.Minute))
	if got := s.value(now.Add(2 * time.Minute)); got != float64(b.Unix()) {
		t.Fatalf("soonest %v, want %d", got, b.Unix())
	}
	// b is no longer reported by any mount: after the window, a remains.
	s.report(a, now.Add(61*time.Minute+30*time.Second))
	if got := s.value(now.Add(62 * time.Minute)); got != float64(a.Unix()) {
		t.Fatalf("after the window %v, want %d", got, a.Unix())
	}
	// Bounded: many distinct expiries keep at most maxSoonest entries.
	for i := 0; i < 3*maxSoonest; i++ {
		s.report(now.Add(time.Duration(i)*time.Second+time.Hour), now.Add(62*time.Minute))
	}
	if len(s.seen) > maxSoonest {
		t.Fatalf("%d entries kept", len(s.seen))
	}
}
