package server

import (
	"context"
	"fmt"
	"net"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// RPCObserver records every unary RPC (the grpc_request metric); may be nil.
type RPCObserver interface {
	RPCDone(method string, code codes.Code, elapsed time.Duration)
}

// NewGRPCServer registers the provider and the standard health service, with panic
// recovery (a panic fails that request with Internal, never the daemon) and logging.
func NewGRPCServer(s *Server, obs RPCObserver) *grpc.Server {
	g := grpc.NewServer(grpc.ChainUnaryInterceptor(logInterceptor(obs), recoverInterceptor))
	v1alpha1.RegisterCSIDriverProviderServer(g, s)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, hs)
	return g
}

func recoverInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			// The stack helps find the bug; the request (which may hold tokens) is not logged.
			klog.ErrorS(fmt.Errorf("panic: %v", r), "recovered from panic in request", "method", info.FullMethod, "stack", string(debug.Stack()))
			resp, err = nil, status.Errorf(codes.Internal, "internal error while handling %s: the request failed, the provider keeps running; please report this with the provider logs", info.FullMethod)
		}
	}()
	return handler(ctx, req)
}

func logInterceptor(obs RPCObserver) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		if klog.V(5).Enabled() {
			deadline, ok := ctx.Deadline()
			klog.V(5).InfoS("request", "method", info.FullMethod, "deadline", deadline, "hasDeadline", ok)
		}
		resp, err := handler(ctx, req)
		elapsed := time.Since(start)
		if obs != nil {
			obs.RPCDone(info.FullMethod, status.Code(err), elapsed)
		}
		klog.V(5).InfoS("response", "method", info.FullMethod, "code", status.Code(err).String(), "duration", elapsed)
		return resp, err
	}
}

// Serve runs g on l until ctx is done, then stops gracefully (bounded by grace).
func Serve(ctx context.Context, g *grpc.Server, l net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(grace):
		g.Stop()
	}
	return nil
}
