package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"k8s.io/klog/v2"

	"github.com/kvcsi/kvcsi/provider/auth"
	"github.com/kvcsi/kvcsi/provider/cache"
	"github.com/kvcsi/kvcsi/provider/daemon"
	"github.com/kvcsi/kvcsi/provider/keyvault"
	"github.com/kvcsi/kvcsi/provider/mount"
	"github.com/kvcsi/kvcsi/provider/server"
)

// options are the flags: the daemon's options, bound directly, and two of the command's
// own. The first block of flags keeps the Azure provider's names, defaults and meanings
// (docs/compatibility.md, "Flags"); the second is kvcsi's own, whose defaults are those of
// the packages they configure.
type options struct {
	daemon        daemon.Options
	printVersion  bool
	logFormatJSON bool
}

func newFlagSet(o *options, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kvcsi", flag.ContinueOnError)
	fs.SetOutput(output)
	d := &o.daemon
	fs.StringVar(&d.Endpoint, "endpoint", "unix:///tmp/azure.sock", "gRPC endpoint: unix:///path/azure.sock (the driver looks for <providers-dir>/azure.sock) or tcp://host:port")
	fs.BoolVar(&o.printVersion, "version", false, "print the version as JSON and exit")
	fs.BoolVar(&o.logFormatJSON, "log-format-json", false, "log as JSON (info to stdout, errors to stderr)")
	fs.BoolVar(&d.EnablePprof, "enable-pprof", false, "serve pprof on localhost:<pprof-port> (never on other interfaces)")
	fs.IntVar(&d.PprofPort, "pprof-port", 6060, "pprof port (localhost only)")
	fs.IntVar(&d.HealthzPort, "healthz-port", 8989, "port of the HTTP liveness endpoint")
	fs.StringVar(&d.HealthzPath, "healthz-path", "/healthz", "path of the HTTP liveness endpoint")
	fs.DurationVar(&d.HealthzTimeout, "healthz-timeout", 5*time.Second, "timeout of the gRPC health call the liveness endpoint makes over the socket")
	fs.StringVar(&d.MetricsBackend, "metrics-backend", "Prometheus", "metrics backend; only Prometheus is supported")
	fs.IntVar(&d.PrometheusPort, "prometheus-port", 8898, "port of the Prometheus /metrics endpoint")
	fs.BoolVar(&d.ConstructPEMChain, "construct-pem-chain", true, "order the certificates of PKCS#12 certificate-backed secrets leaf → intermediates → root")
	fs.BoolVar(&d.WriteCertAndKeyInSeparateFiles, "write-cert-and-key-in-separate-files", false, "also write <file>.crt and <file>.key for certificate-backed secrets")
	fs.StringVar(&d.CloudName, "cloud-name", "AzurePublicCloud", "default cloud when a SecretProviderClass sets no cloudName (AzureStackCloud reads AZURE_ENVIRONMENT_FILEPATH)")
	fs.StringVar(&d.TokenProxyURL, "token-proxy-url", "", "identity binding token proxy URL (default "+auth.DefaultTokenProxyURL+")")
	fs.StringVar(&d.SNIName, "sni-name", "", "identity binding TLS server name (default: computed from the API server certificate)")
	fs.StringVar(&d.CustomUserAgent, "custom-user-agent", "", "prefix for the User-Agent sent to Entra ID and Key Vault (the Azure provider accepted but ignored it; kvcsi sends it)")

	fs.StringVar(&d.HealthzBindAddress, "healthz-bind-address", "", "kvcsi: address the liveness endpoint binds to (default all interfaces, as the Azure provider)")
	fs.StringVar(&d.MetricsBindAddress, "metrics-bind-address", "", "kvcsi: address the metrics endpoint binds to (default all interfaces, as the Azure provider)")
	fs.IntVar(&d.Parallelism, "parallelism", mount.DefaultParallelism, "kvcsi: concurrent Key Vault requests within one mount (1 = sequential like the Azure provider)")
	fs.IntVar(&d.VaultConcurrency, "vault-concurrency", keyvault.DefaultVaultConcurrency, "kvcsi: concurrent requests to one vault across all mounts; halved while the vault throttles")
	fs.IntVar(&d.MaxRetries, "max-retries", keyvault.DefaultMaxRetries, "kvcsi: retries of throttled (429), failed (5xx) or reset Key Vault requests, within the mount's deadline")
	fs.IntVar(&d.CacheSize, "cache-size", cache.DefaultSize, "kvcsi: credentials (with their tokens) and Key Vault clients kept for reuse across mounts")
	fs.DurationVar(&d.CacheIdleTTL, "cache-idle-ttl", cache.DefaultIdleTTL, "kvcsi: drop a cached credential or client unused this long")
	fs.IntVar(&d.NMIPort, "nmi-port", auth.DefaultNMIPort, "kvcsi: port of the aad-pod-identity NMI endpoint on localhost (usePodIdentity)")
	fs.IntVar(&d.MaxResponseBytes, "max-response-bytes", server.DefaultMaxResponseBytes, "kvcsi: fail a mount whose files exceed what the driver accepts; match the driver's --max-call-recv-msg-size (default 4 MiB)")
	fs.DurationVar(&d.ExpiryWarning, "expiry-warning", mount.DefaultExpiryWarning, "kvcsi: log a warning for every mounted object that expires within this window (exp attribute, certificate NotAfter); negative disables")
	fs.BoolVar(&d.NoReuse, "no-reuse", false, "kvcsi: benchmark baseline: no token or client reuse, sequential fetch (never use in production)")
	klog.InitFlags(fs)
	return fs
}

func parseFlags(args []string, output io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(o, output)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: kvcsi takes flags only (or the subcommands lint and version)", fs.Args())
	}
	return o, nil
}
