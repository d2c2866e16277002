// Command azure-emulator runs the Azure emulator (Entra ID, Key Vault, IMDS,
// NMI) out of process for demos, benchmarks and end-to-end tests.
//
// It prints, and writes to <dir>/emulator.env, KEY=VALUE lines:
//
//	AZURE_EMULATOR_PROXY_URL, AZURE_EMULATOR_CA_FILE, AZURE_EMULATOR_NMI_ADDR,
//	AZURE_EMULATOR_ADMIN_URL, HTTPS_PROXY, HTTP_PROXY, SSL_CERT_FILE, NO_PROXY
//
// then serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kvcsi/kvcsi/test/emulator"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "azure-emulator:", err)
		os.Exit(1)
	}
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("azure-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		dir         = fs.String("dir", "", "directory for ca.pem and emulator.env (default: a new temporary directory, kept)")
		proxyAddr   = fs.String("proxy-addr", "127.0.0.1:0", "HTTP proxy listen address")
		nmiAddr     = fs.String("nmi-addr", "127.0.0.1:0", "NMI listen address")
		adminAddr   = fs.String("admin-addr", "127.0.0.1:0", "admin API listen address")
		imdsAddr    = fs.String("imds-addr", "127.0.0.1:0", "IMDS listen address (169.254.169.254:80 where that address is bound, e.g. inside a network namespace)")
		caeLifetime = fs.Duration("cae-token-lifetime", 0, "lifetime of CAE-capable access tokens (default: the normal token lifetime)")
		nmiHold     = fs.Duration("nmi-hold", 0, "how long NMI holds a request for a pod whose identity is not assigned yet")
		refreshIn   = fs.Duration("refresh-in", 0, "refresh_in of token answers (default: half the lifetime of tokens living 2h or more)")
		configFile  = fs.String("config", "", "YAML or JSON file preloading tenants, apps, identities, vaults and objects")
		latencyKV   = fs.Duration("latency-keyvault", 0, "latency added to every Key Vault request")
		latencyAAD  = fs.Duration("latency-entra", 0, "latency added to every Entra ID request")
		latencyIMDS = fs.Duration("latency-imds", 0, "latency added to every IMDS request")
		pageSize    = fs.Int("page-size", 0, "Key Vault list page size when the client sends no maxresults (default 2)")
		seed        = fs.Uint64("seed", 0, "seed for versions and other identifiers (0: fixed default)")
		verbose     = fs.Bool("v", false, "log every request to stderr")
		legacyFIC   = fs.Bool("legacy-federation-errors", false, "answer federated credential mismatches with AADSTS70021")
		extraHosts  stringList
	)
	fs.Var(&extraHosts, "extra-host", "extra host name: *.<vault suffix> or a login host (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	if *dir == "" {
		d, err := os.MkdirTemp("", "azure-emulator-")
		if err != nil {
			return err
		}
		*dir = d
	}
	logger := log.New(stderr, "azure-emulator: ", log.LstdFlags|log.Lmicroseconds)
	opts := emulator.Options{
		Dir:                    *dir,
		ExtraHosts:             extraHosts,
		NMIAddr:                *nmiAddr,
		ProxyAddr:              *proxyAddr,
		AdminAddr:              *adminAddr,
		IMDSAddr:               *imdsAddr,
		CAETokenLifetime:       *caeLifetime,
		NMIHold:                *nmiHold,
		RefreshIn:              *refreshIn,
		PageSize:               *pageSize,
		Seed:                   *seed,
		LegacyFederationErrors: *legacyFIC,
	}
	if *verbose {
		opts.Logf = logger.Printf
	}
	e, err := emulator.Start(opts)
	if err != nil {
		return err
	}
	defer e.Close()

	if *configFile != "" {
		cfg, err := loadConfig(*configFile)
		if err != nil {
			return err
		}
		if err := e.Apply(cfg); err != nil {
			return fmt.Errorf("%s: %w", *configFile, err)
		}
	}
	for s, d := range map[emulator.Service]time.Duration{
		emulator.ServiceKeyVault: *latencyKV,
		emulator.ServiceEntraID:  *latencyAAD,
		emulator.ServiceIMDS:     *latencyIMDS,
	} {
		if d > 0 {
			f := e.GetFaults(s)
			f.Latency = d
			e.SetFaults(s, f)
		}
	}

	lines := []string{
		"AZURE_EMULATOR_PROXY_URL=" + e.ProxyURL(),
		"AZURE_EMULATOR_CA_FILE=" + e.CAFile(),
		"AZURE_EMULATOR_NMI_ADDR=" + e.NMIAddr(),
		"AZURE_EMULATOR_IMDS_ADDR=" + e.IMDSAddr(),
		"AZURE_EMULATOR_ADMIN_URL=" + e.AdminURL(),
	}
	lines = append(lines, e.Env()...)
	text := strings.Join(lines, "\n") + "\n"
	envFile := filepath.Join(*dir, "emulator.env")
	if err := writeFileAtomic(envFile, []byte(text)); err != nil {
		return err
	}
	fmt.Fprint(stdout, text)
	logger.Printf("ready; environment in %s", envFile)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	logger.Printf("shutting down")
	return e.Close()
}

// loadConfig reads YAML (or JSON, a subset of YAML) into an emulator.Config,
// going through JSON so that one set of field names applies.
func loadConfig(path string) (emulator.Config, error) {
	var cfg emulator.Config
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	var generic any
	if err := yaml.Unmarshal(b, &generic); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	j, err := json.Marshal(generic)
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(j)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
