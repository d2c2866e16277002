package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func get(t *testing.T, h http.Handler) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestHealthzOverTheSocket(t *testing.T) {
	_, ep := serve(t, &Server{}, nil)
	code, body := get(t, &Healthz{Endpoint: ep, Timeout: 5 * time.Second})
	if code != http.StatusOK || body != "ok" {
		t.Fatalf("healthz = %d %q", code, body)
	}
}

func TestHealthzFailures(t *testing.T) {
	t.Run("no socket", func(t *testing.T) {
		ep := Endpoint{Network: "unix", Address: filepath.Join(t.TempDir(), "gone.sock")}
		start := time.Now()
		code, body := get(t, &Healthz{Endpoint: ep, Timeout: 2 * time.Second})
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "gone.sock") {
			t.Fatalf("healthz = %d %q", code, body)
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("took %v, over the timeout", time.Since(start))
		}
	})
	t.Run("not serving", func(t *testing.T) {
		ep := Endpoint{Network: "unix", Address: filepath.Join(t.TempDir(), "ns.sock")}
		l, err := Listen(ep)
		if err != nil {
			t.Fatal(err)
		}
		g := grpc.NewServer()
		hs := health.NewServer()
		hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		healthpb.RegisterHealthServer(g, hs)
		go g.Serve(l)
		defer g.Stop()
		code, body := get(t, &Healthz{Endpoint: ep, Timeout: 2 * time.Second})
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "NOT_SERVING") {
			t.Fatalf("healthz = %d %q", code, body)
		}
	})
	t.Run("wedged socket", func(t *testing.T) {
		// Something accepts connections but never answers: the probe must fail within
		// its timeout instead of hanging.
		ep := Endpoint{Network: "unix", Address: filepath.Join(t.TempDir(), "w.sock")}
		l, err := Listen(ep)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		start := time.Now()
		code, _ := get(t, &Healthz{Endpoint: ep, Timeout: 500 * time.Millisecond})
		if code != http.StatusServiceUnavailable {
			t.Fatalf("healthz = %d", code)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v with a 500ms timeout", d)
		}
	})
	t.Run("request context", func(t *testing.T) {
		ep := Endpoint{Network: "unix", Address: filepath.Join(t.TempDir(), "c.sock")}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		rec := httptest.NewRecorder()
		(&Healthz{Endpoint: ep, Timeout: time.Minute}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil).WithContext(ctx))
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("healthz with a cancelled request = %d", rec.Code)
		}
	})
}
