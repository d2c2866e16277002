// Package daemon wires the provider's parts from its options and runs the gRPC server
// and the liveness, metrics and pprof endpoints until the context ends. cmd/kvcsi parses
// flags into Options; tests run the very same wiring in-process.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/kvcsi/kvcsi/provider/auth"
	"github.com/kvcsi/kvcsi/provider/cloud"
	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/format"
	"github.com/kvcsi/kvcsi/provider/keyvault"
	"github.com/kvcsi/kvcsi/provider/metrics"
	"github.com/kvcsi/kvcsi/provider/mount"
	"github.com/kvcsi/kvcsi/provider/server"
	"github.com/kvcsi/kvcsi/provider/version"
)

// parsedObjectsCacheSize bounds the validated objects parameters kept across mounts
// (config.Parser): a node rarely has more distinct SecretProviderClasses than this.
const parsedObjectsCacheSize = 256

// Options are the daemon's settings (the flags of cmd/kvcsi).
type Options struct {
	Endpoint                       string
	EnablePprof                    bool
	PprofPort                      int
	HealthzPort                    int
	HealthzPath                    string
	HealthzTimeout                 time.Duration
	HealthzBindAddress             string
	MetricsBackend                 string
	PrometheusPort                 int
	MetricsBindAddress             string
	ConstructPEMChain              bool
	WriteCertAndKeyInSeparateFiles bool
	CloudName                      string
	// CloudEnvironmentFile is AZURE_ENVIRONMENT_FILEPATH, read once by the caller.
	CloudEnvironmentFile string
	TokenProxyURL        string
	SNIName              string
	CustomUserAgent      string
	// Zero values of these take the defaults of the packages they configure.
	Parallelism      int           // mount.DefaultParallelism
	VaultConcurrency int           // keyvault.DefaultVaultConcurrency
	MaxRetries       int           // keyvault.DefaultMaxRetries
	CacheSize        int           // cache.DefaultSize
	CacheIdleTTL     time.Duration // cache.DefaultIdleTTL
	NMIPort          int           // auth.DefaultNMIPort
	ExpiryWarning    time.Duration // mount.DefaultExpiryWarning
	// NoReuse runs the benchmark baseline instead of the provider (baseline.go).
	NoReuse bool
	// MaxResponseBytes is the largest MountResponse the driver accepts (its
	// --max-call-recv-msg-size); 0 means the driver's default, 4 MiB.
	MaxResponseBytes int

	// ClusterCAFile is the CA the identity-binding token proxy is verified against;
	// "" is the service account's ca.crt (auth.DefaultClusterCAFile).
	ClusterCAFile string

	// HTTPClient is shared by every Entra ID, IMDS and Key Vault request. Nil builds the
	// production client: keep-alive, HTTP/2, proxy from HTTPS_PROXY/HTTP_PROXY/NO_PROXY
	// except for IMDS and loopback (ProxyFunc).
	HTTPClient *http.Client
	// Ready, if set, receives the listeners' addresses once everything listens.
	Ready func(Addresses)
}

// Addresses are where the daemon listens (useful with port 0 in tests).
type Addresses struct {
	Endpoint server.Endpoint
	Healthz  string
	Metrics  string
	Pprof    string
}

// Run serves until ctx ends or a listener fails.
func Run(ctx context.Context, o Options) error {
	if !strings.EqualFold(o.MetricsBackend, "prometheus") {
		return fmt.Errorf("unsupported metrics backend %s: only Prometheus is supported", o.MetricsBackend)
	}
	endpoint, err := server.ParseEndpoint(o.Endpoint)
	if err != nil {
		return err
	}
	defaultEnv, err := cloud.Resolve(o.CloudName, "", cloud.Defaults{EnvironmentFilePath: o.CloudEnvironmentFile})
	if err != nil {
		return fmt.Errorf("--cloud-name %s: %w", o.CloudName, err)
	}
	defaults := cloud.Defaults{Environment: defaultEnv, EnvironmentFilePath: o.CloudEnvironmentFile, Files: &cloud.FileCache{}}
	klog.InfoS("Starting kvcsi, the Azure Key Vault provider", "version", version.BuildVersion, "buildDate", version.BuildDate,
		"cloud", defaultEnv.Name, "constructPEMChain", o.ConstructPEMChain,
		"writeCertAndKeyInSeparateFiles", o.WriteCertAndKeyInSeparateFiles, "parallelism", o.Parallelism, "noReuse", o.NoReuse)

	httpClient := o.HTTPClient
	if httpClient == nil {
		httpClient = NewHTTPClient()
	}
	reg := metrics.New()
	authOpts := auth.Options{
		Transport:     userAgentClient{httpClient, version.UserAgent(o.CustomUserAgent)},
		NMIPort:       o.NMIPort,
		TokenProxyURL: o.TokenProxyURL,
		SNIName:       o.SNIName,
		ClusterCAFile: o.ClusterCAFile,
		CacheSize:     o.CacheSize,
		IdleTTL:       o.CacheIdleTTL,
	}
	vaultOpts := keyvault.Options{
		HTTPClient:       httpClient,
		ApplicationID:    applicationID(o.CustomUserAgent),
		CacheSize:        o.CacheSize,
		IdleTTL:          o.CacheIdleTTL,
		VaultConcurrency: o.VaultConcurrency,
		MaxRetries:       o.MaxRetries,
		Observer:         reg,
	}
	mountOpts := mount.Options{
		Clouds: func(name, file string) (cloud.Environment, error) {
			return cloud.Resolve(name, file, defaults)
		},
		Format:        format.Options{ConstructPEMChain: o.ConstructPEMChain, WriteCertAndKeySeparately: o.WriteCertAndKeyInSeparateFiles},
		Parallelism:   o.Parallelism,
		ExpiryWarning: o.ExpiryWarning,
		Observer:      reg,
	}
	srv := &server.Server{Observer: reg, MaxResponseBytes: o.MaxResponseBytes}
	if o.NoReuse {
		srv.Mounter = &baselineMounter{auth: authOpts, vaults: vaultOpts, mount: mountOpts}
	} else {
		creds := auth.NewManager(authOpts)
		vaults := keyvault.NewPool(vaultOpts)
		defer vaults.Close()
		watch(reg, creds, vaults)
		mountOpts.Credentials, mountOpts.Vaults = creds, mount.PoolVaults(vaults)
		srv.Mounter = mount.New(mountOpts)
		srv.Parser = config.NewParser(parsedObjectsCacheSize, o.CacheIdleTTL)
	}
	g := server.NewGRPCServer(srv, reg)

	l, err := server.Listen(endpoint)
	if err != nil {
		return err
	}
	if endpoint.Network == "unix" {
		defer os.Remove(endpoint.Address)
	}
	klog.InfoS("Listening for connections", "address", endpoint.String())

	errc := make(chan error, 4)
	var servers []*http.Server
	startHTTP := func(name, addr string, h http.Handler) (string, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", fmt.Errorf("%s server: listen on %s: %w", name, addr, err)
		}
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, hs)
		klog.InfoS("Serving", "server", name, "address", ln.Addr().String())
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s server: %w", name, err)
			}
		}()
		return ln.Addr().String(), nil
	}
	shutdown := func() {
		g.Stop()
		for _, hs := range servers {
			c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = hs.Shutdown(c)
			cancel()
		}
	}
	addrs := Addresses{Endpoint: endpoint}
	healthMux := http.NewServeMux()
	healthMux.Handle(o.HealthzPath, &server.Healthz{Endpoint: endpoint, Timeout: o.HealthzTimeout})
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", reg.Handler())
	// A port that cannot be bound is fatal (the Azure provider silently ignored it).
	if addrs.Healthz, err = startHTTP("healthz", net.JoinHostPort(o.HealthzBindAddress, strconv.Itoa(o.HealthzPort)), healthMux); err == nil {
		addrs.Metrics, err = startHTTP("metrics", net.JoinHostPort(o.MetricsBindAddress, strconv.Itoa(o.PrometheusPort)), metricsMux)
	}
	if err == nil && o.EnablePprof {
		addrs.Pprof, err = startHTTP("pprof", net.JoinHostPort("localhost", strconv.Itoa(o.PprofPort)), pprofMux())
	}
	if err != nil {
		l.Close()
		shutdown()
		return err
	}

	go func() { errc <- server.Serve(ctx, g, l, 10*time.Second) }()
	if o.Ready != nil {
		o.Ready(addrs)
	}
	err = <-errc
	shutdown()
	klog.InfoS("Stopped")
	return err
}

// watch exports the credential cache's and the Key Vault pool's numbers.
func watch(reg *metrics.Registry, creds *auth.Manager, vaults *keyvault.Pool) {
	reg.WatchCredentials(func() metrics.CredentialStats {
		s := creds.Stats()
		return metrics.CredentialStats{TokenRequests: s.TokenRequests, TokenCacheHits: s.TokenCacheHits, TokenCacheMisses: s.TokenCacheMisses, Credentials: s.Credentials}
	})
	reg.WatchVaults(func() metrics.VaultStats {
		s := vaults.Stats()
		return metrics.VaultStats{ClientSets: s.ClientSets, Challenges: s.ChallengesLearned, ChallengesReused: s.ChallengesReused,
			Throttled: s.Throttled, Retries: s.Retries, FailedFast: s.FailedFast}
	})
}

// NewHTTPClient is the one client every outbound request shares: keep-alive pools per
// host, HTTP/2, and the proxy from the environment (how a corporate proxy is reached),
// never for IMDS or loopback (ProxyFunc). The system roots include SSL_CERT_FILE on Linux.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = ProxyFunc(http.ProxyFromEnvironment)
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	// A burst of new pods (distinct tokens) would otherwise open one TLS connection
	// per concurrent token exchange to the login host: measured with 500 concurrent
	// mounts, 64 connections per host cut the provider's CPU per cold mount by ~40%
	// (handshakes) and its peak RSS by ~15 MiB; requests beyond them wait for a
	// connection. Key Vault requests are bounded by --vault-concurrency anyway.
	t.MaxConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.ForceAttemptHTTP2 = true
	return &http.Client{Transport: t}
}

func pprofMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// applicationID is the short id azcore puts at the front of the User-Agent.
func applicationID(custom string) string {
	if custom != "" {
		return custom
	}
	return "kvcsi/" + version.BuildVersion
}

// userAgentClient sets kvcsi's User-Agent on token requests (Entra ID, IMDS, NMI), so the
// services' logs show who called; --custom-user-agent prefixes it.
type userAgentClient struct {
	c  *http.Client
	ua string
}

func (u userAgentClient) Do(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" || !strings.Contains(req.Header.Get("User-Agent"), "kvcsi/") {
		req.Header.Set("User-Agent", strings.TrimSpace(u.ua+" "+req.Header.Get("User-Agent")))
	}
	return u.c.Do(req)
}
