package diag_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/provider/diag"
)

// The one Retry-After parser, used by keyvault's retries and by diag's messages.
func TestRetryAfter(t *testing.T) {
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
		{"huge is clamped", map[string]string{"Retry-After": "99999999999999"}, diag.MaxRetryAfter, true},
		{"huge milliseconds are clamped", map[string]string{"retry-after-ms": "99999999999999"}, diag.MaxRetryAfter, true},
		{"spaces", map[string]string{"Retry-After": " 3 "}, 3 * time.Second, true},
	}
	for _, tc := range tests {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		got, ok := diag.RetryAfter(h, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
