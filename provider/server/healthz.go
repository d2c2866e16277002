package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"k8s.io/klog/v2"
)

// Healthz answers the liveness probe by making a real gRPC health call over the
// provider's own socket, so a wedged or vanished socket fails the probe.
type Healthz struct {
	Endpoint Endpoint
	Timeout  time.Duration
}

func (h *Healthz) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.Timeout)
	defer cancel()
	if err := h.check(ctx); err != nil {
		klog.V(2).InfoS("health check failed", "err", err)
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok"))
}

func (h *Healthz) check(ctx context.Context) error {
	conn, err := grpc.NewClient(h.Endpoint.DialTarget(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, h.Endpoint.Network, h.Endpoint.Address)
		}))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", h.Endpoint, err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health check over %s: %w", h.Endpoint, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health check over %s: status %s", h.Endpoint, resp.GetStatus())
	}
	return nil
}
