// Package e2e runs kvcsi behind the unmodified Secrets Store CSI Driver and
// a real kube-apiserver, with a kubelet simulator, on one machine.
//
// TestMain builds (or takes from the cache) etcd, kube-apiserver, kubectl,
// helm and the driver versions, starts etcd and kube-apiserver once, and
// applies the CRDs and the CSIDriver object. Each test starts the driver
// version(s) it needs, the emulator and kvcsi.
//
// Run as root: cd test/e2e && go test -count=1 -timeout 60m ./...
// See docs/e2e.md.
package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kvcsi/kvcsi/test/e2e/internal/mounts"
	"github.com/kvcsi/kvcsi/test/e2e/internal/proc"
	"github.com/kvcsi/kvcsi/test/e2e/internal/tools"
)

// issuerURL is the API server's service-account issuer; the emulator trusts
// it as an OIDC issuer for workload identity.
const issuerURL = "https://oidc.kvcsi-e2e.test"

// suite is the infrastructure shared by all tests.
type suite struct {
	repoRoot string // the main module
	e2eDir   string // test/e2e
	work     string // everything of this run: logs, pids, kubelet dirs
	logs     string
	pids     string
	cache    *tools.Cache

	etcdBin, apiserverBin, kubectlBin string
	drivers                           map[string]tools.Driver

	etcd, apiserver *proc.Process
	kubeconfig      string
	restConfig      *rest.Config
	client          kubernetes.Interface
	dyn             dynamic.Interface
	saPublicKeyPEM  []byte

	mu        sync.Mutex
	built     map[string]*lazyBuild
	teardowns []func()
}

// onTeardown registers fn to run at the end of the run (before the API
// server and etcd stop), last registered first.
func (st *suite) onTeardown(fn func()) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.teardowns = append(st.teardowns, fn)
}

type lazyBuild struct {
	once sync.Once
	path string
	err  error
}

var (
	s        *suite
	runLock  *os.File
	keepWork = flag.Bool("e2e.keep", false, "keep the work directory (logs) after a successful run")
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	code := 1
	var err error
	s, err = setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: setup failed: %v\n", err)
		if s != nil {
			s.dumpInfraLogs()
		}
	} else {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			<-stop
			fmt.Fprintln(os.Stderr, "e2e: interrupted, tearing down")
			s.teardown()
			os.Exit(2)
		}()
		code = m.Run()
		if code != 0 {
			s.dumpInfraLogs()
		}
	}
	if s != nil {
		s.teardown()
		if code == 0 && !*keepWork {
			_ = os.RemoveAll(s.work)
		} else {
			fmt.Printf("e2e: logs kept in %s\n", s.logs)
		}
	}
	os.Exit(code)
}

func logf(format string, args ...any) {
	fmt.Printf("e2e: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// workDir is ${KVCSI_E2E_WORKDIR:-/tmp/kvcsi-e2e}: fixed, so that a crashed
// run's processes and mounts can be found and swept by the next run.
func workDir() string {
	if d := os.Getenv("KVCSI_E2E_WORKDIR"); d != "" {
		return d
	}
	return "/tmp/kvcsi-e2e"
}

func setup() (*suite, error) {
	if err := proc.RequireRoot(); err != nil {
		return nil, err
	}
	// A KVCSI_E2E_DRIVERS that names no known driver fails the run before anything
	// is built, instead of running no test.
	if _, err := driverVersionsUnderTest(); err != nil {
		return nil, err
	}
	e2eDir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	repoRoot := filepath.Clean(filepath.Join(e2eDir, "..", ".."))
	if b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod")); err != nil || !strings.Contains(string(b), "module github.com/kvcsi/kvcsi\n") {
		return nil, fmt.Errorf("run from test/e2e of the kvcsi checkout (main module not found at %s)", repoRoot)
	}
	work := workDir()

	// One run at a time per work directory.
	if err := os.MkdirAll(filepath.Dir(work), 0o755); err != nil {
		return nil, err
	}
	runLock, err = os.OpenFile(work+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(runLock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, fmt.Errorf("another e2e run holds %s.lock: %w", work, err)
	}

	// Sweep what a crashed run left: processes first, then mounts, then files.
	if killed := proc.Sweep(filepath.Join(work, "pids")); len(killed) > 0 {
		logf("swept stale processes: %s", strings.Join(killed, ", "))
	}
	if ms, err := mounts.UnmountUnder(work); len(ms) > 0 {
		logf("swept %d stale mounts under %s (err=%v)", len(ms), work, err)
	}
	if err := os.RemoveAll(work); err != nil {
		return nil, fmt.Errorf("clean %s: %w", work, err)
	}
	st := &suite{
		repoRoot: repoRoot,
		e2eDir:   e2eDir,
		work:     work,
		logs:     filepath.Join(work, "logs"),
		pids:     filepath.Join(work, "pids"),
		drivers:  map[string]tools.Driver{},
		built:    map[string]*lazyBuild{},
	}
	for _, d := range []string{st.logs, st.pids} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	buildLog, err := os.Create(filepath.Join(st.logs, "build.log"))
	if err != nil {
		return nil, err
	}
	st.cache = &tools.Cache{
		Dir:      tools.DefaultDir(),
		ToolsDir: filepath.Join(e2eDir, "tools"),
		Logf:     logf,
		BuildLog: buildLog,
	}

	start := time.Now()
	if st.etcdBin, err = st.cache.Etcd(); err != nil {
		return st, err
	}
	if st.apiserverBin, st.kubectlBin, err = st.cache.Kube(); err != nil {
		return st, err
	}
	for _, v := range tools.DriverVersions {
		d, err := st.cache.Driver(v)
		if err != nil {
			return st, err
		}
		st.drivers[v] = d
	}
	logf("tools ready in %s (cache %s)", time.Since(start).Round(time.Second), st.cache.Dir)

	start = time.Now()
	if err := st.startControlPlane(); err != nil {
		return st, err
	}
	logf("etcd + kube-apiserver + CRDs ready in %s", time.Since(start).Round(100*time.Millisecond))
	return st, nil
}

func (st *suite) procOpts(env []string) proc.Options {
	return proc.Options{Dir: st.work, Env: env, LogDir: st.logs, PidDir: st.pids}
}

// baseEnv is a clean environment for child processes: no proxy settings
// (only kvcsi gets the emulator's proxy) and no KUBECONFIG unless asked.
func baseEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "KUBECONFIG":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func (st *suite) startControlPlane() error {
	pki := filepath.Join(st.work, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	// Service-account signing key pair: the API server signs tokens with it.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	st.saPublicKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	if err := os.WriteFile(filepath.Join(pki, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pki, "sa.pub"), st.saPublicKeyPEM, 0o644); err != nil {
		return err
	}
	tokBytes := make([]byte, 16)
	if _, err := rand.Read(tokBytes); err != nil {
		return err
	}
	adminToken := hex.EncodeToString(tokBytes)
	if err := os.WriteFile(filepath.Join(pki, "tokens.csv"), []byte(adminToken+",e2e-admin,e2e-admin-uid,system:masters\n"), 0o600); err != nil {
		return err
	}

	clientPort, err := proc.FreePort()
	if err != nil {
		return err
	}
	peerPort, err := proc.FreePort()
	if err != nil {
		return err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	st.etcd, err = proc.Start("etcd", st.procOpts(baseEnv()), st.etcdBin,
		"--name=e2e", "--data-dir="+filepath.Join(st.work, "etcd-data"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=e2e="+peerURL)
	if err != nil {
		return err
	}
	if err := st.etcd.WaitFor(60*time.Second, 200*time.Millisecond, "etcd health", func() bool {
		resp, err := http.Get(etcdURL + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); err != nil {
		return err
	}

	apiPort, err := proc.FreePort()
	if err != nil {
		return err
	}
	st.apiserver, err = proc.Start("kube-apiserver", st.procOpts(baseEnv()), st.apiserverBin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(pki, "serving"),
		"--token-auth-file="+filepath.Join(pki, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer="+issuerURL,
		"--service-account-key-file="+filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(pki, "sa.key"),
		"--api-audiences="+issuerURL,
		"--service-cluster-ip-range=10.96.0.0/24",
		"--max-requests-inflight=1000", "--max-mutating-requests-inflight=500",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	)
	if err != nil {
		return err
	}
	host := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	st.restConfig = &rest.Config{
		Host:            host,
		BearerToken:     adminToken,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             500,
		Burst:           1000,
		Timeout:         30 * time.Second,
	}
	st.kubeconfig = filepath.Join(st.work, "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: e2e, context: {cluster: e2e, user: admin, namespace: default}}]
current-context: e2e
`, host, adminToken)
	if err := os.WriteFile(st.kubeconfig, []byte(kc), 0o600); err != nil {
		return err
	}
	if st.client, err = kubernetes.NewForConfig(st.restConfig); err != nil {
		return err
	}
	if st.dyn, err = dynamic.NewForConfig(st.restConfig); err != nil {
		return err
	}
	if err := st.apiserver.WaitFor(3*time.Minute, 300*time.Millisecond, "kube-apiserver /readyz", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := st.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil
	}); err != nil {
		return err
	}

	// CRDs of the newest driver (the same API for both lines), then the
	// CSIDriver object exactly as documented in manifest_staging.
	crds := st.drivers[tools.DriverVersions[0]].CRDs
	args := []string{"apply", "--server-side", "--force-conflicts"}
	for _, c := range crds {
		args = append(args, "-f", c)
	}
	if out, err := st.kubectl(args...); err != nil {
		return fmt.Errorf("apply CRDs: %v\n%s", err, out)
	}
	if out, err := st.kubectl("wait", "--for=condition=established", "--timeout=60s",
		"crd/secretproviderclasses.secrets-store.csi.x-k8s.io",
		"crd/secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io"); err != nil {
		return fmt.Errorf("wait for CRDs: %v\n%s", err, out)
	}
	if out, err := st.kubectl("apply", "-f", filepath.Join(st.repoRoot, "manifest_staging", "deployment", "csidriver.yaml")); err != nil {
		return fmt.Errorf("apply CSIDriver: %v\n%s", err, out)
	}
	// No controller-manager: create the default ServiceAccount ourselves.
	return st.ensureNamespace("default")
}

// kubectl runs the cached kubectl against the suite's API server.
func (st *suite) kubectl(args ...string) (string, error) {
	return st.kubectlIn("", args...)
}

func (st *suite) kubectlIn(stdin string, args ...string) (string, error) {
	cmd := exec.Command(st.kubectlBin, append([]string{"--kubeconfig=" + st.kubeconfig}, args...)...)
	cmd.Env = baseEnv()
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ensureNamespace creates the namespace and its default ServiceAccount.
func (st *suite) ensureNamespace(ns string) error {
	ctx := context.Background()
	_, err := st.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return st.ensureServiceAccount(ns, "default")
}

func (st *suite) ensureServiceAccount(ns, name string) error {
	_, err := st.client.CoreV1().ServiceAccounts(ns).Create(context.Background(),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// buildOnce builds a package of the main module (or of the e2e module) once
// per run into the work directory.
func (st *suite) buildOnce(name, dir, pkg string) (string, error) {
	st.mu.Lock()
	b := st.built[name]
	if b == nil {
		b = &lazyBuild{}
		st.built[name] = b
	}
	st.mu.Unlock()
	b.once.Do(func() {
		out := filepath.Join(st.work, "bin", name)
		b.err = st.cache.BuildRepo(dir, pkg, out)
		b.path = out
	})
	return b.path, b.err
}

// kvcsiBin is cmd/kvcsi of the checkout, built for this run.
func (st *suite) kvcsiBin(t testing.TB) string {
	t.Helper()
	p, err := st.buildOnce("kvcsi", st.repoRoot, "./cmd/kvcsi")
	if err != nil {
		t.Fatalf("build kvcsi: %v", err)
	}
	return p
}

// emulatorBin is the Azure emulator of the checkout, built for this run.
func (st *suite) emulatorBin(t testing.TB) string {
	t.Helper()
	p, err := st.buildOnce("azure-emulator", st.repoRoot, "./test/emulator/cmd/azure-emulator")
	if err != nil {
		t.Fatalf("build azure-emulator: %v", err)
	}
	return p
}

func (st *suite) dumpInfraLogs() {
	for _, p := range []*proc.Process{st.etcd, st.apiserver} {
		if p == nil {
			continue
		}
		if exited, err := p.Exited(); exited {
			fmt.Fprintf(os.Stderr, "e2e: %s exited early (%v); log tail:\n%s\n", p.Name, err, p.LogSince(0, 6000))
		}
	}
}

func (st *suite) teardown() {
	st.mu.Lock()
	fns := st.teardowns
	st.teardowns = nil
	st.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
	// The API server before etcd (the other order makes it hang).
	st.apiserver.Stop(10 * time.Second)
	st.etcd.Stop(10 * time.Second)
	if ms, err := mounts.UnmountUnder(st.work); len(ms) > 0 {
		logf("unmounted %d leftover mounts (err=%v)", len(ms), err)
	}
	if killed := proc.Sweep(st.pids); len(killed) > 0 {
		logf("killed leftover processes: %s", strings.Join(killed, ", "))
	}
}

// errContains reports whether err's text contains every part.
func errContains(err error, parts ...string) bool {
	if err == nil {
		return false
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			return false
		}
	}
	return true
}

var errTimeout = errors.New("timed out")

// eventually polls cond until it returns nil or timeout passes, and returns
// the last error.
func eventually(timeout, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %s: %v", errTimeout, timeout, err)
		}
		time.Sleep(interval)
	}
}
