package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"k8s.io/klog/v2"
)

// options are the daemon's flags. The first block keeps the Azure provider's names,
// defaults and meanings (compat spec §1.4); the second is kvcsi's own.
type options struct {
	endpoint                string
	printVersion            bool
	logFormatJSON           bool
	enablePprof             bool
	pprofPort               int
	healthzPort             int
	healthzPath             string
	healthzTimeout          time.Duration
	metricsBackend          string
	prometheusPort          int
	constructPEMChain       bool
	writeCertAndKeySeparate bool
	cloudName               string
	tokenProxyURL           string
	sniName                 string
	customUserAgent         string

	healthzBindAddress string
	metricsBindAddress string
	parallelism        int
	vaultConcurrency   int
	maxRetries         int
	cacheSize          int
	cacheIdleTTL       time.Duration
	nmiPort            int
	noReuse            bool
	maxResponseBytes   int
}

func newFlagSet(o *options, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kvcsi", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&o.endpoint, "endpoint", "unix:///tmp/azure.sock", "gRPC endpoint: unix:///path/azure.sock (the driver looks for <providers-dir>/azure.sock) or tcp://host:port")
	fs.BoolVar(&o.printVersion, "version", false, "print the version as JSON and exit")
	fs.BoolVar(&o.logFormatJSON, "log-format-json", false, "log as JSON (info to stdout, errors to stderr)")
	fs.BoolVar(&o.enablePprof, "enable-pprof", false, "serve pprof on localhost:<pprof-port> (never on other interfaces)")
	fs.IntVar(&o.pprofPort, "pprof-port", 6060, "pprof port (localhost only)")
	fs.IntVar(&o.healthzPort, "healthz-port", 8989, "port of the HTTP liveness endpoint")
	fs.StringVar(&o.healthzPath, "healthz-path", "/healthz", "path of the HTTP liveness endpoint")
	fs.DurationVar(&o.healthzTimeout, "healthz-timeout", 5*time.Second, "timeout of the gRPC health call the liveness endpoint makes over the socket")
	fs.StringVar(&o.metricsBackend, "metrics-backend", "Prometheus", "metrics backend; only Prometheus is supported")
	fs.IntVar(&o.prometheusPort, "prometheus-port", 8898, "port of the Prometheus /metrics endpoint")
	fs.BoolVar(&o.constructPEMChain, "construct-pem-chain", true, "order the certificates of PKCS#12 certificate-backed secrets leaf → intermediates → root")
	fs.BoolVar(&o.writeCertAndKeySeparate, "write-cert-and-key-in-separate-files", false, "also write <file>.crt and <file>.key for certificate-backed secrets")
	fs.StringVar(&o.cloudName, "cloud-name", "AzurePublicCloud", "default cloud when a SecretProviderClass sets no cloudName (AzureStackCloud reads AZURE_ENVIRONMENT_FILEPATH)")
	fs.StringVar(&o.tokenProxyURL, "token-proxy-url", "", "identity binding token proxy URL (default https://kubernetes.default.svc.cluster.local)")
	fs.StringVar(&o.sniName, "sni-name", "", "identity binding TLS server name (default: computed from the API server certificate)")
	fs.StringVar(&o.customUserAgent, "custom-user-agent", "", "prefix for the User-Agent sent to Entra ID and Key Vault (the Azure provider accepted but ignored it; kvcsi sends it)")

	fs.StringVar(&o.healthzBindAddress, "healthz-bind-address", "", "kvcsi: address the liveness endpoint binds to (default all interfaces, as the Azure provider)")
	fs.StringVar(&o.metricsBindAddress, "metrics-bind-address", "", "kvcsi: address the metrics endpoint binds to (default all interfaces, as the Azure provider)")
	fs.IntVar(&o.parallelism, "parallelism", 32, "kvcsi: concurrent Key Vault requests within one mount (1 = sequential like the Azure provider)")
	fs.IntVar(&o.vaultConcurrency, "vault-concurrency", 32, "kvcsi: concurrent requests to one vault across all mounts; halved while the vault throttles")
	fs.IntVar(&o.maxRetries, "max-retries", 3, "kvcsi: retries of throttled (429), failed (5xx) or reset Key Vault requests, within the mount's deadline")
	fs.IntVar(&o.cacheSize, "cache-size", 1024, "kvcsi: credentials (with their tokens) and Key Vault clients kept for reuse across mounts")
	fs.DurationVar(&o.cacheIdleTTL, "cache-idle-ttl", 30*time.Minute, "kvcsi: drop a cached credential or client unused this long")
	fs.IntVar(&o.nmiPort, "nmi-port", 2579, "kvcsi: port of the aad-pod-identity NMI endpoint on localhost (usePodIdentity)")
	fs.IntVar(&o.maxResponseBytes, "max-response-bytes", 4<<20, "kvcsi: fail a mount whose files exceed what the driver accepts; match the driver's --max-call-recv-msg-size (default 4 MiB)")
	fs.BoolVar(&o.noReuse, "no-reuse", false, "kvcsi: benchmark baseline: no token or client reuse, sequential fetch (never use in production)")
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
