package backoff

import (
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		base, max time.Duration
		jitter    float64
		attempt   int
		want      time.Duration // before jitter
	}{
		{200 * ms, 5 * time.Second, 0.25, 0, 200 * ms},
		{200 * ms, 5 * time.Second, 0.25, 1, 400 * ms},
		{200 * ms, 5 * time.Second, 0.25, 4, 3200 * ms},
		{200 * ms, 5 * time.Second, 0.25, 5, 5 * time.Second},
		{200 * ms, 5 * time.Second, 0.25, 1000, 5 * time.Second}, // no overflow past the cap
		{250 * ms, 5 * time.Second, 0.2, 2, time.Second},
		{0, 5 * time.Second, 0.2, 0, 5 * time.Second},
		{time.Hour, 5 * time.Second, 0.2, 0, 5 * time.Second},
	} {
		lo := time.Duration(float64(tc.want) * (1 - tc.jitter))
		hi := time.Duration(float64(tc.want) * (1 + tc.jitter))
		seen := map[time.Duration]bool{}
		for i := 0; i < 200; i++ {
			d := Delay(tc.base, tc.max, tc.jitter, tc.attempt)
			if d < lo || d > hi {
				t.Fatalf("Delay(%v, %v, %v, %d) = %v, want %v ±%v%%", tc.base, tc.max, tc.jitter, tc.attempt, d, tc.want, tc.jitter*100)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("Delay(%v, …, %d) has no jitter", tc.base, tc.attempt)
		}
	}
}
