package integration

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// kvcsiBinary builds ./cmd/kvcsi once per test run.
func kvcsiBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kvcsi-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath, binErr = harness.BuildBinary(dir)
	})
	if binErr != nil {
		t.Fatalf("build kvcsi: %v", binErr)
	}
	return binPath
}

// TestBinaryDropIn runs the real kvcsi binary with the Azure provider DaemonSet's
// container args (paths adjusted) and -v=10, reaching the emulator only through
// HTTPS_PROXY/HTTP_PROXY and SSL_CERT_FILE, and checks the mount and that no secret
// value, token or client secret appears anywhere in its output.
func TestBinaryDropIn(t *testing.T) {
	out := &harness.SyncBuffer{}
	h := start(t, harness.Options{
		Binary: kvcsiBinary(t),
		Args:   []string{"--construct-pem-chain=true", "--healthz-path=/healthz", "--healthz-timeout=5s", "-v=10"},
		Output: out,
	})
	secretValue := "binary-mode-secret-Zq81"
	ver := h.Vault.SetSecret("app-secret", secretValue, emulator.SecretOptions{})
	tokens := h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)
	for i := 0; i < 3; i++ {
		resp, err := h.Mount(ctx(t), harness.MountInput{Params: wiParams("objectName: app-secret\nobjectType: secret"), Tokens: tokens})
		if err != nil {
			t.Fatalf("mount %d: %v\nlog:\n%s", i, err, out.String())
		}
		if string(resp.Files[0].Contents) != secretValue || resp.ObjectVersion[0].Version != ver {
			t.Fatalf("mount %d: got %q@%s", i, resp.Files[0].Contents, resp.ObjectVersion[0].Version)
		}
	}
	if _, err := h.Mount(ctx(t), harness.MountInput{Params: spParams("objectName: app-secret\nobjectType: secret"), Secrets: spSecrets()}); err != nil {
		t.Fatalf("service principal mount: %v", err)
	}
	// A failing mount also goes through the logs.
	_, _ = h.Mount(ctx(t), harness.MountInput{Params: spParams("objectName: app-secret\nobjectType: secret"),
		Secrets: map[string]string{"clientid": harness.SPClientID, "clientsecret": "wrong-secret-Kx9"}})

	// The liveness endpoint makes a real gRPC health call over the socket.
	resp, err := http.Get("http://" + h.Healthz + "/healthz")
	if err != nil {
		t.Fatalf("healthz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("healthz = %d %q", resp.StatusCode, body)
	}
	// Token and client reuse: three rotation mounts with the same service-account token
	// made one token exchange, one challenge and one GET each.
	c := h.Emu.Counts()
	if n := c.TokensIssued[harness.WIClientID]; n != 1 {
		t.Errorf("workload identity tokens issued = %d, want 1 for 3 mounts with the same token", n)
	}
	if n := c.TokensIssued[harness.SPClientID]; n != 1 {
		t.Errorf("service principal tokens issued = %d, want 1", n)
	}
	if err := h.Stop(); err != nil {
		t.Logf("stop: %v", err)
	}
	if _, err := os.Stat(h.Socket); !os.IsNotExist(err) {
		t.Errorf("socket %s not removed on exit: %v", h.Socket, err)
	}
	log := out.String()
	if !strings.Contains(log, "Listening for connections") {
		t.Fatalf("unexpected log:\n%s", log)
	}
	for _, leak := range []string{secretValue, harness.SPSecret, "wrong-secret-Kx9", tokens[harness.WIAudience].Token, "eyJ"} {
		if strings.Contains(log, leak) {
			t.Errorf("log at -v=10 contains a secret (%.12s…)", leak)
		}
	}
}

func TestBinaryFlags(t *testing.T) {
	bin := kvcsiBinary(t)
	t.Run("version", func(t *testing.T) {
		out, err := exec.Command(bin, "--version").Output()
		if err != nil || !strings.HasPrefix(string(out), `{"version":"`) || !strings.Contains(string(out), `"buildDate":`) {
			t.Fatalf("--version = %q, %v", out, err)
		}
	})
	t.Run("help lists every Azure provider flag", func(t *testing.T) {
		out, _ := exec.Command(bin, "--help").CombinedOutput()
		for _, f := range []string{"endpoint", "construct-pem-chain", "write-cert-and-key-in-separate-files", "healthz-port",
			"healthz-path", "healthz-timeout", "metrics-backend", "prometheus-port", "cloud-name", "log-format-json",
			"enable-pprof", "pprof-port", "version", "custom-user-agent", "token-proxy-url", "sni-name", "v", "vmodule",
			"logtostderr", "alsologtostderr", "log_dir", "log_file", "skip_headers", "stderrthreshold", "add_dir_header"} {
			if !strings.Contains(string(out), "  -"+f+" ") && !strings.Contains(string(out), "  -"+f+"\n") {
				t.Errorf("--help does not list -%s", f)
			}
		}
	})
	t.Run("unsupported metrics backend", func(t *testing.T) {
		out, err := exec.Command(bin, "--metrics-backend=statsd", "--endpoint=unix://"+filepath.Join(t.TempDir(), "a.sock")).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "unsupported metrics backend statsd") {
			t.Fatalf("got %v: %s", err, out)
		}
	})
	t.Run("invalid endpoint", func(t *testing.T) {
		out, err := exec.Command(bin, "--endpoint=/tmp/x.sock").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "invalid endpoint: /tmp/x.sock") {
			t.Fatalf("got %v: %s", err, out)
		}
	})
	t.Run("unknown cloud name", func(t *testing.T) {
		out, err := exec.Command(bin, "--cloud-name=Mars", "--endpoint=unix://"+filepath.Join(t.TempDir(), "a.sock")).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "cloudName Mars is not valid") {
			t.Fatalf("got %v: %s", err, out)
		}
	})
	t.Run("refuses to remove a non-socket at the endpoint", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "azure.sock")
		os.WriteFile(p, []byte("precious"), 0o600)
		out, err := exec.Command(bin, "--endpoint=unix://"+p, "--healthz-port=0", "--prometheus-port=0").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "is not a socket") {
			t.Fatalf("got %v: %s", err, out)
		}
		if b, _ := os.ReadFile(p); string(b) != "precious" {
			t.Fatal("the file was touched")
		}
	})
	t.Run("healthz port conflict is fatal", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := l.Addr().(*net.TCPAddr).Port
		out, err := exec.Command(bin, "--endpoint=unix://"+filepath.Join(t.TempDir(), "a.sock"),
			"--healthz-bind-address=127.0.0.1", "--healthz-port="+itoa(port), "--prometheus-port=0").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "healthz server") {
			t.Fatalf("got %v: %s", err, out)
		}
	})
}

// TestStaleSocketAndOwnerOnly starts the binary over a stale socket left by a killed
// process: it must replace it, listen owner-only, and serve.
func TestStaleSocketAndOwnerOnly(t *testing.T) {
	bin := kvcsiBinary(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "azure.sock")
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // the file stays, nobody listens: like a SIGKILLed provider
	cmd := exec.Command(bin, "--endpoint=unix://"+sock, "--healthz-port=0", "--prometheus-port=0")
	var out harness.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if strings.Contains(out.String(), "Listening for connections") {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("provider did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o700 && fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want an owner-only socket", fi.Mode())
	}
	conn, err := harness.DialProvider(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := (v1alpha1Client(conn)).Version(ctx, versionRequest()); err != nil {
		t.Fatalf("Version over the recovered socket: %v", err)
	}
	// SIGTERM (what the kubelet sends) stops it gracefully and removes the socket.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	exited = true
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind after SIGTERM: %v", err)
	}
}

func itoa(i int) string { return fmtInt(i) }
