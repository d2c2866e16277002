package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Expiry buckets of kvcsi_mounted_objects_total: how long a mounted object version had
// left at mount time. Bounded, and never an object name.
var expiryBuckets = []struct {
	label string
	upTo  time.Duration
}{
	{"1d", 24 * time.Hour},
	{"7d", 7 * 24 * time.Hour},
	{"30d", 30 * 24 * time.Hour},
	{"90d", 90 * 24 * time.Hour},
}

// expiryLabel is the bucket of an expiry at now: "none", "expired", "1d" … "90d" (at most
// that long left), "later".
func expiryLabel(exp, now time.Time) string {
	if exp.IsZero() {
		return "none"
	}
	left := exp.Sub(now)
	if left <= 0 {
		return "expired"
	}
	for _, b := range expiryBuckets {
		if left <= b.upTo {
			return b.label
		}
	}
	return "later"
}

// soonestWindow is how long a mount's soonest expiry counts for the gauge: kubelet
// republishes every mounted volume about once a minute, so an hour covers every volume
// still mounted.
const soonestWindow = time.Hour

// soonest remembers the soonest expiry of recent mounts, for a gauge. It keeps one entry
// per distinct expiry time (bounded by maxSoonest, the latest-seen kept), each with the
// last time a mount reported it.
type soonest struct {
	mu   sync.Mutex
	seen map[int64]time.Time // expiry (Unix seconds) → last reported
}

const maxSoonest = 1024

func (s *soonest) report(exp, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[int64]time.Time{}
	}
	s.seen[exp.Unix()] = now
	if len(s.seen) > maxSoonest {
		s.prune(now)
	}
	for len(s.seen) > maxSoonest {
		// Drop the entry reported longest ago.
		var oldest int64
		var at time.Time
		first := true
		for k, t := range s.seen {
			if first || t.Before(at) {
				oldest, at, first = k, t, false
			}
		}
		delete(s.seen, oldest)
	}
}

func (s *soonest) prune(now time.Time) {
	for k, t := range s.seen {
		if now.Sub(t) > soonestWindow {
			delete(s.seen, k)
		}
	}
}

// value is the soonest expiry reported within the window, in Unix seconds; 0 if none.
func (s *soonest) value(now time.Time) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now)
	var min int64
	for k := range s.seen {
		if min == 0 || k < min {
			min = k
		}
	}
	return float64(min)
}

// expiryCollectors are the expiry and optional-object metrics.
type expiryCollectors struct {
	skipped *prometheus.CounterVec
	mounted *prometheus.CounterVec
	soonest *soonest
	gauge   prometheus.GaugeFunc
}

func newExpiryCollectors(now func() time.Time) *expiryCollectors {
	s := &soonest{}
	return &expiryCollectors{
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kvcsi_optional_objects_skipped_total",
			Help: "Optional objects left out of a mount, by reason (not_found or disabled).",
		}, []string{"reason"}),
		mounted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kvcsi_mounted_objects_total",
			Help: "Object versions mounted, by the time they had left before expiring (none, expired, 1d, 7d, 30d, 90d, later).",
		}, []string{"expiry"}),
		soonest: s,
		gauge: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kvcsi_soonest_object_expiry_timestamp_seconds",
			Help: "The soonest expiry (Unix time) among the objects mounted in the last hour; 0 if none expires.",
		}, func() float64 { return s.value(now()) }),
	}
}

// OptionalSkipped records optional objects left out of a mount.
func (r *Registry) OptionalSkipped(reason string, n int) {
	r.expiry.skipped.WithLabelValues(reason).Add(float64(n))
}

// ObjectsMounted records the expiry of each object version a mount wrote.
func (r *Registry) ObjectsMounted(expiries []time.Time, now time.Time) {
	var soonest time.Time
	for _, exp := range expiries {
		r.expiry.mounted.WithLabelValues(expiryLabel(exp, now)).Inc()
		if !exp.IsZero() && (soonest.IsZero() || exp.Before(soonest)) {
			soonest = exp
		}
	}
	if !soonest.IsZero() {
		r.expiry.soonest.report(soonest, now)
	}
}
