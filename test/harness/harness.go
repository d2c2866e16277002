// Package harness starts the Azure emulator and the kvcsi provider on a real unix socket
// and hands back the driver's generated v1alpha1 client, dialled the way the Secrets
// Store CSI Driver dials providers. Integration tests, `make demo` and `make bench` all
// use it. The provider runs either in-process (the same daemon.Run as the binary, with an
// HTTP client that goes through the emulator's proxy) or as the real kvcsi binary with
// HTTPS_PROXY/HTTP_PROXY/SSL_CERT_FILE pointing at the emulator.
package harness

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/kvcsi/kvcsi/provider/daemon"
	"github.com/kvcsi/kvcsi/test/emulator"
)

// Fixture identities and names every harness starts with.
const (
	Tenant      = "8f3c5e1a-2b4d-4c6e-9f0a-1b2c3d4e5f60"
	IssuerURL   = "https://oidc.kvcsi.test/issuer/" // note the trailing slash, as AKS issuers have
	WIClientID  = "0a1b2c3d-1111-4e5f-8a9b-000000000001"
	SPClientID  = "0a1b2c3d-2222-4e5f-8a9b-000000000002"
	SPSecret    = "sp-secret-value-7Qx~"
	VaultName   = "kvcsi-vault"
	Namespace   = "default"
	SAName      = "workload"
	PodName     = "app-0"
	WIAudience  = "api://AzureADTokenExchange"
	IBAudience  = "api://AKSIdentityBinding"
	MIClientID  = "0a1b2c3d-3333-4e5f-8a9b-000000000003" // user-assigned managed identity
	SysMIClient = "0a1b2c3d-4444-4e5f-8a9b-000000000004" // system-assigned managed identity
	PodIDClient = "0a1b2c3d-5555-4e5f-8a9b-000000000005" // aad-pod-identity binding
)

// Options configure a harness. The zero value runs the daemon in-process.
type Options struct {
	// Binary is the kvcsi executable to run; "" runs daemon.Run in-process.
	Binary string
	// Args are extra flags for the provider (binary or in-process: parsed the same way
	// only for the binary; use Daemon for in-process settings).
	Args []string
	// Daemon adjusts the in-process daemon's options.
	Daemon func(*daemon.Options)
	// Emulator options (Dir defaults to the harness dir).
	Emulator emulator.Options
	// Output receives the provider binary's stdout and stderr (log capture).
	Output io.Writer
	// Dir holds the socket and emulator files; a temp dir when empty.
	Dir string
	// NetNS, with Binary, runs the provider inside a network namespace (see
	// test/netns): the emulator's IMDS answers there at 169.254.169.254:80 and its
	// proxy and NMI at the same addresses as outside, so HTTPS_PROXY/HTTP_PROXY are
	// set and IMDS is reachable only directly, as on a node.
	NetNS NetNS
}

// NetNS is a network namespace the provider binary runs in (*netns.NS).
type NetNS interface {
	Listen(network, addr string) (net.Listener, error)
	Command(name string, args ...string) *exec.Cmd
}

// Harness is a running emulator plus provider.
type Harness struct {
	Emu    *emulator.Emulator
	Issuer *emulator.Issuer
	Vault  *emulator.Vault
	Dir    string
	Socket string
	Client v1alpha1.CSIDriverProviderClient
	// Healthz and Metrics are the provider's HTTP addresses (host:port).
	Healthz, Metrics string

	conn    *grpc.ClientConn
	stop    func() error
	tmpDir  bool
	closeMu sync.Once
}

// New starts everything; Close stops it.
func New(ctx context.Context, opts Options) (h *Harness, err error) {
	h = &Harness{Dir: opts.Dir}
	if h.Dir == "" {
		if h.Dir, err = os.MkdirTemp("", "kvcsi-harness-"); err != nil {
			return nil, err
		}
		h.tmpDir = true
	}
	// The error returns below set h to nil; close what was started through a copy.
	started := h
	defer func() {
		if err != nil {
			started.Close()
		}
	}()
	eo := opts.Emulator
	if eo.Dir == "" {
		eo.Dir = filepath.Join(h.Dir, "emulator")
	}
	if h.Emu, err = emulator.Start(eo); err != nil {
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	h.seed()
	h.Socket = filepath.Join(h.Dir, "azure.sock")
	if opts.Binary != "" {
		err = h.startBinary(ctx, opts)
	} else {
		err = h.startInProcess(opts)
	}
	if err != nil {
		return nil, err
	}
	if h.conn, err = DialProvider(h.Socket); err != nil {
		return nil, err
	}
	h.Client = v1alpha1.NewCSIDriverProviderClient(h.conn)
	return h, waitReady(ctx, h.Client)
}

// seed creates the fixture tenant, identities and vault.
func (h *Harness) seed() {
	e := h.Emu
	e.AddTenant(Tenant)
	h.Issuer = e.AddIssuer(IssuerURL)
	e.AddApp(Tenant, WIClientID)
	e.AddFederatedCredential(Tenant, WIClientID, emulator.FederatedCredential{
		Issuer: IssuerURL, Subject: "system:serviceaccount:" + Namespace + ":" + SAName, Audiences: []string{WIAudience},
	})
	e.AddApp(Tenant, SPClientID)
	e.SetClientSecret(Tenant, SPClientID, SPSecret)
	e.AddManagedIdentity(MIClientID, false, Tenant)
	e.AddManagedIdentity(SysMIClient, true, Tenant)
	e.AddPodIdentity(Namespace, PodName, PodIDClient, Tenant)
	h.Vault = e.Vault(VaultName)
	h.Vault.SetTenant(Tenant)
	for _, id := range []string{WIClientID, SPClientID, MIClientID, SysMIClient, PodIDClient} {
		h.Vault.Grant(id, emulator.SecretGet, emulator.SecretList, emulator.KeyGet, emulator.KeyList, emulator.CertGet, emulator.CertList)
	}
}

func (h *Harness) startInProcess(opts Options) error {
	proxy, err := url.Parse(h.Emu.ProxyURL())
	if err != nil {
		return err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// The product's proxy rule over "everything through the emulator's proxy" (what
	// HTTPS_PROXY/HTTP_PROXY with an empty NO_PROXY give the binary): IMDS and NMI on
	// localhost go direct. The emulator's dialer routes 169.254.169.254:80 to its IMDS
	// listener, as a node's network does; a proxied IMDS request would be refused.
	t.Proxy = daemon.ProxyFunc(http.ProxyURL(proxy))
	t.DialContext = h.Emu.DialContext
	t.TLSClientConfig = &tls.Config{RootCAs: h.Emu.CAPool(), MinVersion: tls.VersionTLS12}
	t.MaxIdleConnsPerHost = 64
	o := daemon.Options{
		Endpoint:           "unix://" + h.Socket,
		HealthzPort:        0,
		HealthzPath:        "/healthz",
		HealthzTimeout:     5 * time.Second,
		HealthzBindAddress: "127.0.0.1",
		MetricsBackend:     "Prometheus",
		PrometheusPort:     0,
		MetricsBindAddress: "127.0.0.1",
		ConstructPEMChain:  true,
		CloudName:          "AzurePublicCloud",
		Parallelism:        8,
		VaultConcurrency:   16,
		MaxRetries:         3,
		CacheSize:          1024,
		CacheIdleTTL:       30 * time.Minute,
		NMIPort:            portOf(h.Emu.NMIAddr()),
		HTTPClient:         &http.Client{Transport: t},
	}
	if opts.Daemon != nil {
		opts.Daemon(&o)
	}
	ready := make(chan daemon.Addresses, 1)
	o.Ready = func(a daemon.Addresses) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, o) }()
	select {
	case a := <-ready:
		h.Healthz, h.Metrics = a.Healthz, a.Metrics
	case err := <-done:
		cancel()
		return fmt.Errorf("daemon exited at start: %w", err)
	case <-time.After(30 * time.Second):
		cancel()
		return errors.New("daemon did not start within 30s")
	}
	h.stop = func() error {
		cancel()
		return <-done
	}
	return nil
}

func (h *Harness) startBinary(ctx context.Context, opts Options) error {
	hzPort, err := freePort()
	if err != nil {
		return err
	}
	mPort, err := freePort()
	if err != nil {
		return err
	}
	args := append([]string{
		"--endpoint=unix://" + h.Socket,
		"--healthz-port=" + strconv.Itoa(hzPort),
		"--healthz-bind-address=127.0.0.1",
		"--prometheus-port=" + strconv.Itoa(mPort),
		"--metrics-bind-address=127.0.0.1",
		"--nmi-port=" + strconv.Itoa(portOf(h.Emu.NMIAddr())),
	}, opts.Args...)
	cmd := exec.Command(opts.Binary, args...)
	if ns := opts.NetNS; ns != nil {
		imds, err := ns.Listen("tcp", "169.254.169.254:80")
		if err != nil {
			return err
		}
		h.Emu.ServeIMDS(imds)
		proxy, err := ns.Listen("tcp", strings.TrimPrefix(h.Emu.ProxyURL(), "http://"))
		if err != nil {
			return err
		}
		h.Emu.ServeProxy(proxy)
		nmi, err := ns.Listen("tcp", h.Emu.NMIAddr())
		if err != nil {
			return err
		}
		h.Emu.ServeNMI(nmi)
		cmd = ns.Command(opts.Binary, args...)
	}
	cmd.Env = append(os.Environ(), h.Emu.Env()...)
	out := opts.Output
	if out == nil {
		f, err := os.Create(filepath.Join(h.Dir, "kvcsi.log"))
		if err != nil {
			return err
		}
		out = f
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", opts.Binary, err)
	}
	h.Healthz = "127.0.0.1:" + strconv.Itoa(hzPort)
	h.Metrics = "127.0.0.1:" + strconv.Itoa(mPort)
	// exited is closed once the process is reaped; waitErr is set before, so both the
	// start loop and stop can observe the exit.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	h.stop = func() error {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		return waitErr
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(h.Socket); err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("kvcsi exited at start: %v (log in %s)", waitErr, h.Dir)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("kvcsi did not create its socket within 30s")
		}
	}
}

// Close stops the provider and the emulator and removes temporary files.
func (h *Harness) Close() error {
	var err error
	h.closeMu.Do(func() {
		if h.conn != nil {
			h.conn.Close()
		}
		if h.stop != nil {
			err = h.stop()
		}
		if h.Emu != nil {
			h.Emu.Close()
		}
		if h.tmpDir {
			os.RemoveAll(h.Dir)
		}
	})
	return err
}

// Restart replaces a running in-process or binary provider by a new one on the same socket.
func (h *Harness) Stop() error {
	if h.stop == nil {
		return nil
	}
	err := h.stop()
	h.stop = nil
	return err
}

// DialProvider connects to a provider socket the way the driver v1.6 does: a
// passthrough unix target, authority "localhost", insecure credentials, and the
// driver's service config (waitForReady, retry on UNAVAILABLE).
func DialProvider(socket string) (*grpc.ClientConn, error) {
	return grpc.NewClient("unix:"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithAuthority("localhost"),
		grpc.WithDefaultServiceConfig(driverServiceConfig),
	)
}

// driverServiceConfig mirrors the driver's provider client configuration.
const driverServiceConfig = `{
  "methodConfig": [{
    "name": [{"service": "v1alpha1.CSIDriverProvider"}],
    "waitForReady": true,
    "retryPolicy": {"MaxAttempts": 3, "InitialBackoff": "1s", "MaxBackoff": "10s", "BackoffMultiplier": 1.1, "RetryableStatusCodes": ["UNAVAILABLE"]}
  }]
}`

func waitReady(ctx context.Context, c v1alpha1.CSIDriverProviderClient) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := c.Version(ctx, &v1alpha1.VersionRequest{Version: "v1alpha1"})
	if err != nil {
		return fmt.Errorf("provider not ready: %w", err)
	}
	return nil
}

func portOf(addr string) int {
	i := strings.LastIndex(addr, ":")
	p, _ := strconv.Atoi(addr[i+1:])
	return p
}
