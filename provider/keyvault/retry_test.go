package keyvault

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
		ok     bool
	}{
		{"none", nil, 0, false},
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second, true},
		{"zero seconds", map[string]string{"Retry-After": "0"}, 0, true},
		{"retry-after-ms", map[string]string{"retry-after-ms": "1500"}, 1500 * time.Millisecond, true},
		{"x-ms-retry-after-ms", map[string]string{"x-ms-retry-after-ms": "20"}, 20 * time.Millisecond, true},
		{"milliseconds win over seconds", map[string]string{"Retry-After": "1", "x-ms-retry-after-ms": "250"}, 250 * time.Millisecond, true},
		{"retry-after-ms before x-ms-retry-after-ms", map[string]string{"retry-after-ms": "5", "x-ms-retry-after-ms": "9"}, 5 * time.Millisecond, true},
		{"bad milliseconds fall back to seconds", map[string]string{"retry-after-ms": "soon", "Retry-After": "2"}, 2 * time.Second, true},
		{"HTTP date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second, true},
		{"HTTP date in the past", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0, true},
		{"negative", map[string]string{"Retry-After": "-3"}, 0, false},
		{"negative milliseconds", map[string]string{"retry-after-ms": "-3"}, 0, false},
		{"garbage", map[string]string{"Retry-After": "later"}, 0, false},
		{"fractional seconds are not a delta", map[string]string{"Retry-After": "1.5"}, 0, false},
		{"huge is clamped", map[string]string{"Retry-After": "99999999999999"}, maxRetryAfter, true},
		{"huge milliseconds are clamped", map[string]string{"retry-after-ms": "99999999999999"}, maxRetryAfter, true},
		{"spaces", map[string]string{"Retry-After": " 3 "}, 3 * time.Second, true},
	}
	for _, tc := range tests {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		got, ok := parseRetryAfter(h, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

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
