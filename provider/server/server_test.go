package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/provider/mount"
	"github.com/kvcsi/kvcsi/provider/vocab"
	"github.com/kvcsi/kvcsi/test/spctest"
)

// fakeMounter answers from a function of the parsed mount.
type fakeMounter struct {
	fn func(ctx context.Context, m *config.Mount) (*mount.Result, error)
}

func (f fakeMounter) Mount(ctx context.Context, m *config.Mount) (*mount.Result, error) {
	return f.fn(ctx, m)
}

// recorder is an Observer and RPCObserver.
type recorder struct {
	mu       sync.Mutex
	started  int
	outcomes []diag.Outcome
	rpcs     []string
	inflight int
}

func (r *recorder) MountStarted() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started++
	r.inflight++
}

func (r *recorder) MountDone(outcome diag.Outcome, _ int, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight--
	r.outcomes = append(r.outcomes, outcome)
}

func (r *recorder) RPCDone(method string, code codes.Code, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rpcs = append(r.rpcs, method+" "+code.String())
}

const (
	testToken  = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXRlc3Q"
	testSecret = "client-secret-value-Zz9"
)

// request builds a valid service-principal MountRequest for pod ns/pod with objects.
func request(t testing.TB, pod string, objects ...string) *v1alpha1.MountRequest {
	t.Helper()
	attrib := map[string]string{
		"keyvaultName":                 "kv1",
		"tenantID":                     "tenant",
		"objects":                      spctest.Objects(objects...),
		config.AttrPodName:             pod,
		config.AttrPodNamespace:        "ns",
		config.AttrPodUID:              "uid",
		config.AttrServiceAccountName:  "sa",
		config.AttrServiceAccountToken: `{"api://AzureADTokenExchange":{"token":"` + testToken + `","expirationTimestamp":"2030-01-01T00:00:00Z"}}`,
		"csi.storage.k8s.io/ephemeral": "true",
		"secretProviderClass":          "spc",
	}
	a, _ := json.Marshal(attrib)
	s, _ := json.Marshal(map[string]string{"clientid": "cid", "clientsecret": testSecret})
	return &v1alpha1.MountRequest{Attributes: string(a), Secrets: string(s), Permission: "420", TargetPath: "/t"}
}

func okResult(m *config.Mount) *mount.Result {
	res := &mount.Result{}
	for _, o := range m.Objects {
		res.Files = append(res.Files, vocab.File{Path: o.FileName(), Mode: o.Mode, Contents: []byte("v-" + o.Name)})
		res.Versions = append(res.Versions, mount.ObjectVersion{ID: string(o.Type) + "/" + o.Name, Version: "1"})
	}
	return res
}

func TestDecodeErrors(t *testing.T) {
	good := request(t, "p", "objectName: a\nobjectType: secret")
	tests := []struct {
		name     string
		mutate   func(r *v1alpha1.MountRequest)
		contains string
	}{
		{"attributes not JSON", func(r *v1alpha1.MountRequest) { r.Attributes = "{" }, "failed to unmarshal attributes"},
		{"attributes empty", func(r *v1alpha1.MountRequest) { r.Attributes = "" }, "failed to unmarshal attributes"},
		{"attributes not strings", func(r *v1alpha1.MountRequest) { r.Attributes = `{"a":1}` }, "failed to unmarshal attributes"},
		{"secrets not JSON", func(r *v1alpha1.MountRequest) { r.Secrets = `{"clientsecret":"` + testSecret }, "failed to unmarshal secrets"},
		{"secrets not strings", func(r *v1alpha1.MountRequest) { r.Secrets = `{"clientsecret":["` + testSecret + `"]}` }, "failed to unmarshal secrets"},
		{"permission not a number", func(r *v1alpha1.MountRequest) { r.Permission = `"0644"` }, "failed to unmarshal file permission"},
		{"permission empty", func(r *v1alpha1.MountRequest) { r.Permission = "" }, "failed to unmarshal file permission"},
		{"no pod name", func(r *v1alpha1.MountRequest) {
			var a map[string]string
			_ = json.Unmarshal([]byte(r.Attributes), &a)
			delete(a, config.AttrPodName)
			b, _ := json.Marshal(a)
			r.Attributes = string(b)
		}, "failed to mount objects, error: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &v1alpha1.MountRequest{Attributes: good.Attributes, Secrets: good.Secrets, Permission: good.Permission}
			tc.mutate(r)
			m, err := decode(nil, r)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", m)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q lacks %q", err, tc.contains)
			}
			for _, leak := range []string{testSecret, testToken} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error leaks %.8s…: %s", leak, err)
				}
			}
		})
	}
	m, err := decode(nil, good)
	if err != nil {
		t.Fatal(err)
	}
	if m.Pod.Name != "p" || m.DefaultMode != 0o644 || len(m.Objects) != 1 {
		t.Fatalf("decoded %+v", m)
	}
}

func TestMountMapsOutcomes(t *testing.T) {
	obj := "objectName: a\nobjectType: secret"
	tests := []struct {
		name string
		err  error
		code codes.Code
		kind diag.Kind
	}{
		{"not found", mount.Errors{{Type: "secret", Name: "a", Err: diag.New(diag.KindNotFound, errors.New("404"), "")}}, codes.NotFound, diag.KindNotFound},
		{"throttled", mount.Errors{{Type: "secret", Name: "a", Err: &diag.Error{Kind: diag.KindThrottled, Err: errors.New("429")}}}, codes.ResourceExhausted, diag.KindThrottled},
		{"deadline", fmt.Errorf("fetch: %w", context.DeadlineExceeded), codes.DeadlineExceeded, diag.KindDeadline},
		{"invalid", fmt.Errorf("bad: %w", config.ErrInvalid), codes.InvalidArgument, diag.KindInvalid},
		{"unclassified", errors.New("something odd"), codes.Unknown, diag.KindInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			s := &Server{Observer: rec, Mounter: fakeMounter{func(context.Context, *config.Mount) (*mount.Result, error) { return nil, tc.err }}}
			resp, err := s.Mount(context.Background(), request(t, "p", obj))
			if resp != nil {
				t.Fatalf("a failed mount returned a response with %d files", len(resp.Files))
			}
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.HasPrefix(st.Message(), errorPrefix) {
				t.Errorf("status %s %q, want %s with the upstream prefix", st.Code(), st.Message(), tc.code)
			}
			if rec.started != 1 || rec.inflight != 0 || len(rec.outcomes) != 1 || rec.outcomes[0].Succeeded() || rec.outcomes[0].Kind() != tc.kind {
				t.Errorf("observer saw started=%d inflight=%d outcomes=%v, want one failure %v", rec.started, rec.inflight, rec.outcomes, tc.kind)
			}
		})
	}
}

func TestMountResponse(t *testing.T) {
	rec := &recorder{}
	s := &Server{Observer: rec, Mounter: fakeMounter{func(_ context.Context, m *config.Mount) (*mount.Result, error) { return okResult(m), nil }}}
	resp, err := s.Mount(context.Background(), request(t, "p", "objectName: a\nobjectType: secret\nfilePermission: \"0600\"", "objectName: b\nobjectType: key"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Files) != 2 || resp.Files[0].Path != "a" || resp.Files[0].Mode != 0o600 || string(resp.Files[1].Contents) != "v-b" {
		t.Fatalf("files %v", resp.Files)
	}
	if len(resp.ObjectVersion) != 2 || resp.ObjectVersion[1].Id != "key/b" {
		t.Fatalf("versions %v", resp.ObjectVersion)
	}
	if !rec.outcomes[0].Succeeded() || rec.inflight != 0 {
		t.Fatalf("observer %v", rec.outcomes)
	}
	// No objects: the driver needs at least one ObjectVersion.
	resp, err = s.Mount(context.Background(), request(t, "p"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Files) != 0 || len(resp.ObjectVersion) != 1 || resp.ObjectVersion[0].Id != noObjectsID {
		t.Fatalf("empty mount = %v", resp)
	}
}

// TestMountResponseTooLarge: a response over the driver's 4 MiB receive limit is a clear
// error naming the biggest objects, never a truncated mount.
func TestMountResponseTooLarge(t *testing.T) {
	sizes := map[string]int{"small": 10, "big": 3 << 20, "bigger": 1 << 21, "medium": 100 << 10, "tiny": 1}
	s := &Server{Mounter: fakeMounter{func(_ context.Context, m *config.Mount) (*mount.Result, error) {
		res := &mount.Result{}
		for _, o := range m.Objects {
			res.Files = append(res.Files, vocab.File{Path: o.FileName(), Mode: 0o644, Contents: make([]byte, sizes[o.Name])})
			res.Versions = append(res.Versions, mount.ObjectVersion{ID: "secret/" + o.Name, Version: "1"})
		}
		return res, nil
	}}}
	var objs []string
	for _, n := range []string{"small", "big", "tiny", "bigger", "medium"} {
		objs = append(objs, "objectName: "+n+"\nobjectType: secret")
	}
	resp, err := s.Mount(context.Background(), request(t, "p", objs...))
	if err == nil {
		t.Fatalf("a %d-file response over 4 MiB was returned", len(resp.Files))
	}
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Errorf("code %s, want ResourceExhausted", st.Code())
	}
	msg := st.Message()
	for _, want := range []string{errorPrefix, "limit", "secret/big (3145728 bytes)", "secret/bigger (2097152 bytes)", "secret/medium"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if strings.Index(msg, "secret/big ") > strings.Index(msg, "secret/bigger") || strings.Contains(msg, "secret/tiny") {
		t.Errorf("want the three biggest objects, biggest first: %s", msg)
	}
	// Just under the limit passes.
	sizes = map[string]int{"a": DefaultMaxResponseBytes - 1024}
	if _, err := s.Mount(context.Background(), request(t, "p", "objectName: a\nobjectType: secret")); err != nil {
		t.Fatalf("a response under the limit failed: %v", err)
	}
	// A configured limit wins.
	s.MaxResponseBytes = 1000
	if _, err := s.Mount(context.Background(), request(t, "p", "objectName: a\nobjectType: secret")); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("MaxResponseBytes 1000: %v", err)
	}
}

func TestVersion(t *testing.T) {
	resp, err := (&Server{}).Version(context.Background(), &v1alpha1.VersionRequest{Version: "v1alpha1"})
	if err != nil || resp.Version != "v1alpha1" || resp.RuntimeName == "" {
		t.Fatalf("Version = %v, %v", resp, err)
	}
}

// serve runs NewGRPCServer on a unix socket and returns a client connection.
func serve(t *testing.T, s *Server, obs RPCObserver) (*grpc.ClientConn, Endpoint) {
	t.Helper()
	ep := Endpoint{Network: "unix", Address: filepath.Join(t.TempDir(), "p.sock")}
	l, err := Listen(ep)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGRPCServer(s, obs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, g, l, time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(ep.DialTarget(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", ep.Address)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, ep
}

// TestPanicBecomesInternal: a panic inside a request fails that request with Internal;
// the daemon keeps serving the next requests and the health service.
func TestPanicBecomesInternal(t *testing.T) {
	rec := &recorder{}
	s := &Server{Observer: rec, Mounter: fakeMounter{func(_ context.Context, m *config.Mount) (*mount.Result, error) {
		switch m.Pod.Name {
		case "boom":
			var p *mount.Result
			_ = p.Files[3] // nil dereference, like upstream's nil ContentType
		case "boom-value":
			panic(fmt.Sprintf("secret %s", testSecret))
		}
		return okResult(m), nil
	}}}
	conn, _ := serve(t, s, rec)
	c := v1alpha1.NewCSIDriverProviderClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, pod := range []string{"boom", "boom-value"} {
		_, err := c.Mount(ctx, request(t, pod, "objectName: a\nobjectType: secret"))
		st := status.Convert(err)
		if st.Code() != codes.Internal {
			t.Fatalf("panicking mount: %v, want Internal", err)
		}
		if !strings.Contains(st.Message(), "/v1alpha1.CSIDriverProvider/Mount") || strings.Contains(st.Message(), testSecret) || strings.Contains(st.Message(), testToken) {
			t.Fatalf("message %q", st.Message())
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			pod := "ok"
			if i%2 == 0 {
				pod = "boom"
			}
			_, err := c.Mount(ctx, request(t, pod, "objectName: a\nobjectType: secret"))
			if want := map[bool]codes.Code{true: codes.Internal, false: codes.OK}[pod == "boom"]; status.Code(err) != want {
				t.Errorf("pod %s: %v, want %s", pod, err, want)
			}
		}(i)
	}
	wg.Wait()
	resp, err := c.Mount(ctx, request(t, "after", "objectName: a\nobjectType: secret"))
	if err != nil || len(resp.Files) != 1 {
		t.Fatalf("mount after panics: %v", err)
	}
	if _, err := c.Version(ctx, &v1alpha1.VersionRequest{}); err != nil {
		t.Fatal(err)
	}
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after panics: %v %v", h, err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	internal := 0
	for _, r := range rec.rpcs {
		if r == "/v1alpha1.CSIDriverProvider/Mount Internal" {
			internal++
		}
	}
	if internal != 6 {
		t.Errorf("RPC observer saw %d Internal mounts, want 6: %v", internal, rec.rpcs)
	}
}

// TestRecoverInterceptor calls the interceptor directly with handlers that panic with
// different values, including a runtime error and an error value.
func TestRecoverInterceptor(t *testing.T) {
	info := &grpc.UnaryServerInfo{FullMethod: "/x/Y"}
	for _, v := range []any{"string", errors.New("err"), 42, nil} {
		resp, err := recoverInterceptor(context.Background(), nil, info, func(context.Context, any) (any, error) {
			if v == nil {
				var m map[string]int
				//lint:ignore SA5000 the runtime error is the point: a panic that is not a panic(v)
				m["x"] = 1 // assignment to nil map
			}
			panic(v)
		})
		if resp != nil || status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "/x/Y") {
			t.Errorf("panic(%v): %v %v", v, resp, err)
		}
	}
	resp, err := recoverInterceptor(context.Background(), nil, info, func(context.Context, any) (any, error) { return "fine", nil })
	if resp != "fine" || err != nil {
		t.Fatalf("no panic: %v %v", resp, err)
	}
}

// TestDeadlinePropagates: the mounter sees the caller's deadline.
func TestDeadlinePropagates(t *testing.T) {
	s := &Server{Mounter: fakeMounter{func(ctx context.Context, _ *config.Mount) (*mount.Result, error) {
		<-ctx.Done()
		return nil, fmt.Errorf("fetch: %w", ctx.Err())
	}}}
	conn, _ := serve(t, s, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := v1alpha1.NewCSIDriverProviderClient(conn).Mount(ctx, request(t, "p", "objectName: a\nobjectType: secret"))
	if status.Code(err) != codes.DeadlineExceeded || time.Since(start) > 2*time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
}

func TestServeStopsGracefully(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	s := &Server{Mounter: fakeMounter{func(_ context.Context, m *config.Mount) (*mount.Result, error) {
		close(entered)
		<-release
		return okResult(m), nil
	}}}
	ep := Endpoint{Network: "unix", Address: filepath.Join(t.TempDir(), "g.sock")}
	l, err := Listen(ep)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGRPCServer(s, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, g, l, 5*time.Second) }()
	conn, err := grpc.NewClient(ep.DialTarget(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", ep.Address)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	result := make(chan error, 1)
	go func() {
		_, err := v1alpha1.NewCSIDriverProviderClient(conn).Mount(context.Background(), request(t, "p", "objectName: a\nobjectType: secret"))
		result <- err
	}()
	<-entered
	cancel() // SIGTERM: stop accepting, let the running mount finish
	// Graceful stop has begun once the socket refuses new connections.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("unix", ep.Address)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the socket still accepts connections after the context ended")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-result; err != nil {
		t.Fatalf("in-flight mount during graceful stop: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
