// Package metrics exposes Prometheus metrics with the Azure provider's names and label
// names, but only bounded label values: an error kind, never an object name or error text.
package metrics

import (
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"

	"github.com/kvcsi/kvcsi/provider/diag"
)

// Buckets of the Azure provider's histograms, in seconds.
var buckets = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 1, 1.5, 2, 2.5, 3, 5, 10, 15, 30}

const (
	serviceName = "csi-secrets-store-provider-azure"
	providerVal = "azure"
)

// Registry owns every collector; one per process, built in cmd.
type Registry struct {
	reg            *prometheus.Registry
	keyvault       *prometheus.HistogramVec
	grpc           *prometheus.HistogramVec
	mounts         *prometheus.HistogramVec
	inflight       prometheus.Gauge
	throttleWaits  prometheus.Counter
	throttleWaited prometheus.Counter
	expiry         *expiryCollectors
}

// New registers the collectors.
func New() *Registry {
	constLabels := prometheus.Labels{"service_name": serviceName, "provider": providerVal, "os_type": runtime.GOOS}
	r := &Registry{
		reg: prometheus.NewRegistry(),
		keyvault: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keyvault_request", Help: "Duration of Key Vault requests in seconds, by object type and error kind (\"\" on success).",
			Buckets: buckets, ConstLabels: constLabels,
		}, []string{"object_type", "object_name", "error"}),
		grpc: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grpc_request", Help: "Duration of gRPC requests in seconds, by method and code.",
			Buckets: buckets, ConstLabels: constLabels,
		}, []string{"grpc_method", "grpc_code", "grpc_message"}),
		mounts: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kvcsi_mount_duration_seconds", Help: "Duration of mounts in seconds, by outcome (ok or an error kind).",
			Buckets: buckets,
		}, []string{"outcome"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvcsi_inflight_mounts", Help: "Mounts being processed now.",
		}),
		throttleWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kvcsi_throttle_waits_total", Help: "Waits before retrying a throttled or failed Key Vault request.",
		}),
		throttleWaited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kvcsi_throttle_wait_seconds_total", Help: "Seconds spent waiting before retrying Key Vault requests.",
		}),
		expiry: newExpiryCollectors(time.Now),
	}
	r.reg.MustRegister(r.expiry.skipped, r.expiry.mounted, r.expiry.gauge)
	r.reg.MustRegister(r.keyvault, r.grpc, r.mounts, r.inflight, r.throttleWaits, r.throttleWaited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves /metrics.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// KeyVaultRequest records one Key Vault operation.
func (r *Registry) KeyVaultRequest(objectType string, outcome diag.Outcome, elapsed time.Duration) {
	r.keyvault.WithLabelValues(objectType, "", errorLabel(outcome)).Observe(elapsed.Seconds())
}

// ThrottleWait records a wait before a retry.
func (r *Registry) ThrottleWait(wait time.Duration) {
	r.throttleWaits.Inc()
	r.throttleWaited.Add(wait.Seconds())
}

// RPCDone records one unary RPC. grpc_message carries the code's name, not the text.
func (r *Registry) RPCDone(method string, code codes.Code, elapsed time.Duration) {
	msg := ""
	if code != codes.OK {
		msg = code.String()
	}
	r.grpc.WithLabelValues(method, code.String(), msg).Observe(elapsed.Seconds())
}

// MountStarted and MountDone track in-flight mounts and their outcomes.
func (r *Registry) MountStarted() { r.inflight.Inc() }

// MountDone records a finished mount: outcome "ok" or the failure's kind.
func (r *Registry) MountDone(outcome diag.Outcome, _ int, elapsed time.Duration) {
	r.inflight.Dec()
	r.mounts.WithLabelValues(outcome.String()).Observe(elapsed.Seconds())
}

// errorLabel is the Azure provider's error label: "" on success, else the kind.
func errorLabel(outcome diag.Outcome) string {
	if outcome.Succeeded() {
		return ""
	}
	return outcome.String()
}
