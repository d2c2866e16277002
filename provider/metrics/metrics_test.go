package metrics

import (
	"io"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"

	"github.com/kvcsi/kvcsi/provider/diag"
)

func families(t *testing.T, r *Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func labelNames(m *dto.Metric) []string {
	var out []string
	for _, l := range m.GetLabel() {
		out = append(out, l.GetName())
	}
	sort.Strings(out)
	return out
}

// TestAzureProviderNames: keyvault_request and grpc_request keep the Azure provider's
// metric names, histogram buckets and label names (docs/compatibility.md, "Metrics").
func TestAzureProviderNames(t *testing.T) {
	r := New()
	r.KeyVaultRequest("secret", diag.Success(), 150*time.Millisecond)
	r.RPCDone("/v1alpha1.CSIDriverProvider/Mount", codes.OK, 20*time.Millisecond)
	fams := families(t, r)
	for name, want := range map[string][]string{
		"keyvault_request": {"error", "object_name", "object_type", "os_type", "provider", "service_name"},
		"grpc_request":     {"grpc_code", "grpc_message", "grpc_method", "os_type", "provider", "service_name"},
	} {
		mf := fams[name]
		if mf == nil {
			t.Fatalf("no %s", name)
		}
		if mf.GetType() != dto.MetricType_HISTOGRAM {
			t.Errorf("%s is %s, want a histogram", name, mf.GetType())
		}
		m := mf.GetMetric()[0]
		if got := labelNames(m); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s labels %v, want %v", name, got, want)
		}
		l := labels(m)
		if l["service_name"] != "csi-secrets-store-provider-azure" || l["provider"] != "azure" || l["os_type"] != runtime.GOOS {
			t.Errorf("%s constant labels %v", name, l)
		}
		var bounds []float64
		for _, b := range m.GetHistogram().GetBucket() {
			bounds = append(bounds, b.GetUpperBound())
		}
		if len(bounds) != len(buckets) || bounds[0] != 0.1 || bounds[len(bounds)-1] != 30 {
			t.Errorf("%s buckets %v, want the Azure provider's %v", name, bounds, buckets)
		}
	}
}

// TestBoundedLabels: whatever the errors and objects, label values come from small fixed
// sets: no object name, no error text.
func TestBoundedLabels(t *testing.T) {
	r := New()
	outcomes := []diag.Outcome{diag.Success(), diag.Failed(diag.KindInvalid), diag.Failed(diag.KindUnauthenticated), diag.Failed(diag.KindPermissionDenied),
		diag.Failed(diag.KindNotFound), diag.Failed(diag.KindThrottled), diag.Failed(diag.KindUnavailable), diag.Failed(diag.KindDeadline), diag.Failed(diag.KindInternal)}
	for i := 0; i < 1000; i++ {
		for _, k := range outcomes {
			r.KeyVaultRequest([]string{"secret", "key", "cert", "secret_versions"}[i%4], k, time.Duration(i)*time.Millisecond)
			r.MountStarted()
			r.MountDone(k, i, time.Millisecond)
		}
		r.RPCDone("/v1alpha1.CSIDriverProvider/Mount", codes.Code(i%17), time.Millisecond)
	}
	fams := families(t, r)
	if n := len(fams["keyvault_request"].GetMetric()); n > 4*len(outcomes) {
		t.Errorf("keyvault_request has %d series", n)
	}
	if n := len(fams["grpc_request"].GetMetric()); n != 17 {
		t.Errorf("grpc_request has %d series, want one per code", n)
	}
	if n := len(fams["kvcsi_mount_duration_seconds"].GetMetric()); n != len(outcomes) {
		t.Errorf("kvcsi_mount_duration_seconds has %d series, want %d", n, len(outcomes))
	}
	allowedErr := map[string]bool{}
	for _, k := range outcomes[1:] {
		allowedErr[k.String()] = true
	}
	for _, m := range fams["keyvault_request"].GetMetric() {
		l := labels(m)
		if l["object_name"] != "" {
			t.Errorf("object_name = %q", l["object_name"])
		}
		if l["error"] != "" && !allowedErr[l["error"]] {
			t.Errorf("error = %q", l["error"])
		}
	}
	for _, m := range fams["grpc_request"].GetMetric() {
		l := labels(m)
		want := ""
		if l["grpc_code"] != "OK" {
			want = l["grpc_code"]
		}
		if l["grpc_message"] != want {
			t.Errorf("grpc_message %q for code %s", l["grpc_message"], l["grpc_code"])
		}
	}
	for _, m := range fams["kvcsi_mount_duration_seconds"].GetMetric() {
		if o := labels(m)["outcome"]; o != "ok" && !allowedErr[o] {
			t.Errorf("outcome %q", o)
		}
	}
	if g := fams["kvcsi_inflight_mounts"].GetMetric()[0].GetGauge().GetValue(); g != 0 {
		t.Errorf("in-flight mounts %v after every mount finished", g)
	}
}

func TestInflightAndThrottle(t *testing.T) {
	r := New()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.MountStarted()
			r.ThrottleWait(100 * time.Millisecond)
		}()
	}
	wg.Wait()
	fams := families(t, r)
	if g := fams["kvcsi_inflight_mounts"].GetMetric()[0].GetGauge().GetValue(); g != 50 {
		t.Errorf("in-flight %v, want 50", g)
	}
	if c := fams["kvcsi_throttle_waits_total"].GetMetric()[0].GetCounter().GetValue(); c != 50 {
		t.Errorf("throttle waits %v", c)
	}
	if c := fams["kvcsi_throttle_wait_seconds_total"].GetMetric()[0].GetCounter().GetValue(); c < 4.99 || c > 5.01 {
		t.Errorf("throttle wait seconds %v, want 5", c)
	}
	for i := 0; i < 50; i++ {
		r.MountDone(diag.Success(), 1, time.Millisecond)
	}
	if g := families(t, r)["kvcsi_inflight_mounts"].GetMetric()[0].GetGauge().GetValue(); g != 0 {
		t.Errorf("in-flight %v, want 0", g)
	}
}

func TestFuncsAndHandler(t *testing.T) {
	r := New()
	var n uint64
	r.WatchCredentials(func() CredentialStats { n++; return CredentialStats{TokenRequests: n, Credentials: 7} })
	r.KeyVaultRequest("cert", diag.Failed(diag.KindThrottled), time.Second)
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	text := string(body)
	for _, want := range []string{
		"kvcsi_token_requests_total 1",
		"kvcsi_credentials_cached 7",
		`keyvault_request_count{error="throttled",object_name="",object_type="cert",os_type="` + runtime.GOOS + `",provider="azure",service_name="csi-secrets-store-provider-azure"} 1`,
		"go_goroutines ",
		"process_",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, "pprof") {
		t.Error("/metrics mentions pprof")
	}
	// Two registries in one process do not collide (tests run several daemons).
	_ = New()
}

// A failure is never recorded as success: an unclassified one, or a zero Outcome, is
// "internal", in both the Azure provider's error label and kvcsi's mount outcome.
func TestFailureIsNeverRecordedAsSuccess(t *testing.T) {
	r := New()
	for _, o := range []diag.Outcome{diag.Failed(diag.KindUnknown), {}} {
		r.KeyVaultRequest("secret", o, time.Millisecond)
		r.MountStarted()
		r.MountDone(o, 1, time.Millisecond)
	}
	fams := families(t, r)
	for _, m := range fams["keyvault_request"].GetMetric() {
		if l := labels(m)["error"]; l != "internal" {
			t.Errorf("keyvault_request error label %q for a failure, want internal", l)
		}
	}
	for _, m := range fams["kvcsi_mount_duration_seconds"].GetMetric() {
		if o := labels(m)["outcome"]; o != "internal" {
			t.Errorf("mount outcome %q for a failure, want internal", o)
		}
	}
}

// Every number of the stats snapshots reaches its metric.
func TestWatchedStats(t *testing.T) {
	r := New()
	r.WatchCredentials(func() CredentialStats {
		return CredentialStats{TokenRequests: 1, TokenCacheHits: 2, TokenCacheMisses: 3, Credentials: 4}
	})
	r.WatchVaults(func() VaultStats {
		return VaultStats{ClientSets: 5, Challenges: 6, ChallengesReused: 7, Throttled: 8, Retries: 9, FailedFast: 10}
	})
	fams := families(t, r)
	for name, want := range map[string]float64{
		"kvcsi_token_requests_total": 1, "kvcsi_token_cache_hits_total": 2, "kvcsi_token_cache_misses_total": 3, "kvcsi_credentials_cached": 4,
		"kvcsi_keyvault_client_sets_cached": 5, "kvcsi_keyvault_challenges_total": 6, "kvcsi_keyvault_challenges_reused_total": 7,
		"kvcsi_keyvault_throttled_total": 8, "kvcsi_keyvault_retries_total": 9, "kvcsi_keyvault_failed_fast_total": 10,
	} {
		mf := fams[name]
		if mf == nil || len(mf.GetMetric()) != 1 {
			t.Errorf("no %s", name)
			continue
		}
		m := mf.GetMetric()[0]
		got := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
