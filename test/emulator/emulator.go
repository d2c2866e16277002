// Package emulator stands in for Microsoft Entra ID, the Key Vault data plane,
// the instance metadata service (IMDS) and the aad-pod-identity NMI endpoint.
//
// A process reaches it the way it would reach Azure through a corporate proxy:
// HTTPS_PROXY/HTTP_PROXY point at the emulator's proxy listener and
// SSL_CERT_FILE at the emulator's CA. CONNECT tunnels are terminated in-process
// with a leaf certificate minted for the requested host; plain-HTTP proxied
// requests for 169.254.169.254 are answered as IMDS. NMI listens on its own
// loopback port, and an admin HTTP API mirrors the Go API for out-of-process
// users (see README.md).
package emulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options configures Start. The zero value is usable.
type Options struct {
	// Dir is where ca.pem is written; a temporary directory (removed by
	// Close) when empty.
	Dir string
	// ExtraHosts are extra DNS names the emulator answers for (custom clouds).
	// A wildcard "*.vault.contoso.test" declares the Key Vault DNS suffix
	// "vault.contoso.test"; any other name (e.g. "login.contoso.test") is
	// answered as an Entra ID login host.
	ExtraHosts []string
	// Clouds pairs custom login hosts with custom Key Vault suffixes, so that
	// the 401 challenge of a vault under VaultSuffix names LoginHost.
	Clouds []Cloud
	// NMIAddr is the NMI listen address, default "127.0.0.1:0".
	NMIAddr string
	// ProxyAddr is the HTTP proxy listen address, default "127.0.0.1:0".
	ProxyAddr string
	// AdminAddr is the admin API listen address, default "127.0.0.1:0".
	AdminAddr string
	// Logf, when set, receives one line per request (never secrets or tokens).
	Logf func(format string, args ...any)
	// Seed makes identifiers (versions, object IDs, trace IDs) reproducible.
	// Zero selects a fixed default seed.
	Seed uint64
	// PageSize is the number of items per page of a Key Vault list
	// response when the request carries no maxresults; default 2 so that
	// paging is exercised (the real service uses 25).
	PageSize int
	// TokenLifetime is the lifetime of issued access tokens, default 3599s
	// (expires_in 3599 like Entra ID).
	TokenLifetime time.Duration
	// RSACA makes the CA and server certificates RSA 2048 instead of ECDSA
	// P-256.
	RSACA bool
	// CAETokenLifetime, when set, is the lifetime of tokens for clients that
	// declare the CAE capability (azcore always does for Key Vault): Entra ID
	// issues those for up to 28 hours, since Key Vault can revoke them with a
	// claims challenge (RevokeTokens). Zero gives them TokenLifetime.
	CAETokenLifetime time.Duration
	// RefreshIn overrides the refresh_in (whole seconds) of token answers; by
	// default only tokens living two hours or more carry one, half their lifetime.
	RefreshIn time.Duration
	// IMDSAddr is the IMDS listen address, default "127.0.0.1:0". A node reaches
	// IMDS at 169.254.169.254:80, never through a proxy: see ServeIMDS.
	IMDSAddr string
	// NMIHold is how long NMI keeps a request for a pod whose identity is not
	// assigned yet before it answers (real NMI: up to 80 s for an identity not
	// even created, 100 s for one being assigned); default 0 answers at once.
	NMIHold time.Duration
	// LegacyFederationErrors makes federated credential mismatches answer the
	// older combined AADSTS70021 error (400 invalid_request) instead of the
	// current per-field AADSTS700211/700212/700213 (401 invalid_client).
	LegacyFederationErrors bool
}

// Cloud pairs an Entra ID login host with a Key Vault DNS suffix, and names
// the tenants that exist in that cloud and the Key Vault api-versions its vaults
// accept. A login host the emulator already knows (a built-in cloud's) extends
// that cloud; a new one starts a cloud with its own token signing key.
type Cloud struct {
	LoginHost   string `json:"loginHost"`             // e.g. "login.contoso.test"
	VaultSuffix string `json:"vaultSuffix,omitempty"` // e.g. "vault.contoso.test"
	// Tenants exist in this cloud (AddTenant declares tenants of the public cloud).
	Tenants []string `json:"tenants,omitempty"`
	// APIVersions replaces the Key Vault api-versions the cloud's vaults accept
	// (default: the public cloud's list; StackHubKeyVaultAPIVersions for a Stack Hub).
	APIVersions []string `json:"apiVersions,omitempty"`
	// ADFS makes the login host an AD FS authority, as on an Azure Stack Hub
	// without Entra ID: https://<host>/adfs, one tenant named "adfs".
	ADFS bool `json:"adfs,omitempty"`
}

// Emulator is a running emulator. All methods are safe for concurrent use.
type Emulator struct {
	opts Options

	dir    string
	tmpDir bool
	caFile string
	ca     *authority

	proxyLn, nmiLn, adminLn, imdsLn net.Listener
	proxySrv, tlsSrv                *http.Server
	nmiSrv, adminSrv, imdsSrv       *http.Server
	tunnels                         *connListener
	wg                              sync.WaitGroup

	ids *idSource

	mu             sync.Mutex
	clouds         []*cloudState // the first is the public cloud
	tenants        map[string]*tenant
	tenantOrder    []string
	issuers        map[string]*Issuer
	vaults         map[string]*Vault
	managed        map[string]*managedIdentity // by client ID
	systemIdentity string                      // client ID of the system-assigned identity
	podIdentities  map[string]podBinding       // "<ns>/<pod>"
	issuedAt       map[string]time.Time        // CAE tokens' issue times by uti
	revokedBefore  map[string]time.Time        // RevokeTokens: by lower-case client ID
	vaultInFlight  map[string]int              // requests being answered, per vault
	tokenLifetime  time.Duration
	faults         map[Service]*faultState
	counts         Counts

	closeOnce sync.Once
	closeErr  error
}

// Start starts the proxy, NMI and admin listeners and returns the running
// emulator. Close it when done.
func Start(opts Options) (*Emulator, error) {
	if opts.NMIAddr == "" {
		opts.NMIAddr = "127.0.0.1:0"
	}
	if opts.ProxyAddr == "" {
		opts.ProxyAddr = "127.0.0.1:0"
	}
	if opts.AdminAddr == "" {
		opts.AdminAddr = "127.0.0.1:0"
	}
	if opts.IMDSAddr == "" {
		opts.IMDSAddr = "127.0.0.1:0"
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 2
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = 3599 * time.Second
	}
	e := &Emulator{
		opts:          opts,
		ids:           newIDSource(opts.Seed),
		tenants:       map[string]*tenant{},
		issuers:       map[string]*Issuer{},
		vaults:        map[string]*Vault{},
		managed:       map[string]*managedIdentity{},
		podIdentities: map[string]podBinding{},
		issuedAt:      map[string]time.Time{},
		revokedBefore: map[string]time.Time{},
		vaultInFlight: map[string]int{},
		tokenLifetime: opts.TokenLifetime,
		faults:        map[Service]*faultState{},
	}
	e.counts = newCounts()
	var err error
	if e.clouds, err = builtinClouds(e.ids); err != nil {
		return nil, err
	}
	for _, h := range opts.ExtraHosts {
		e.addExtraHost(h)
	}
	for _, c := range opts.Clouds {
		e.DeclareCloud(c)
	}

	if e.ca, err = newAuthority(!opts.RSACA); err != nil {
		return nil, err
	}
	e.dir = opts.Dir
	if e.dir == "" {
		if e.dir, err = os.MkdirTemp("", "azure-emulator-"); err != nil {
			return nil, err
		}
		e.tmpDir = true
	} else if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return nil, err
	}
	e.caFile = filepath.Join(e.dir, "ca.pem")
	if err := os.WriteFile(e.caFile, e.ca.certPEM, 0o644); err != nil {
		e.cleanup()
		return nil, err
	}

	if err := e.listen(); err != nil {
		e.cleanup()
		return nil, err
	}
	return e, nil
}

func (e *Emulator) listen() error {
	var err error
	if e.proxyLn, err = net.Listen("tcp", e.opts.ProxyAddr); err != nil {
		return fmt.Errorf("proxy listener: %w", err)
	}
	if e.nmiLn, err = net.Listen("tcp", e.opts.NMIAddr); err != nil {
		e.proxyLn.Close()
		return fmt.Errorf("nmi listener: %w", err)
	}
	if e.adminLn, err = net.Listen("tcp", e.opts.AdminAddr); err != nil {
		e.proxyLn.Close()
		e.nmiLn.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	if e.imdsLn, err = net.Listen("tcp", e.opts.IMDSAddr); err != nil {
		e.proxyLn.Close()
		e.nmiLn.Close()
		e.adminLn.Close()
		return fmt.Errorf("imds listener: %w", err)
	}
	e.tunnels = newConnListener(e.proxyLn.Addr())

	tlsConf := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: e.ca.leafFor,
	}
	e.tlsSrv = &http.Server{
		Handler:           http.HandlerFunc(e.serveTLS),
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 30 * time.Second,
		// Disable HTTP/2: connection resets need a hijackable HTTP/1.1 conn.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     quietLogger(),
	}
	e.proxySrv = &http.Server{
		Handler:           http.HandlerFunc(e.serveProxy),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          quietLogger(),
	}
	e.nmiSrv = &http.Server{
		Handler:           http.HandlerFunc(e.serveNMI),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          quietLogger(),
	}
	e.adminSrv = &http.Server{
		Handler:           e.adminHandler(),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          quietLogger(),
	}
	e.imdsSrv = &http.Server{
		Handler:           http.HandlerFunc(e.serveIMDS),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          quietLogger(),
	}
	e.serve(e.tlsSrv, tls.NewListener(e.tunnels, tlsConf))
	e.serve(e.proxySrv, e.proxyLn)
	e.serve(e.nmiSrv, e.nmiLn)
	e.serve(e.adminSrv, e.adminLn)
	e.serve(e.imdsSrv, e.imdsLn)
	return nil
}

func (e *Emulator) serve(srv *http.Server, ln net.Listener) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		_ = srv.Serve(ln)
	}()
}

// ServeIMDS answers IMDS on one more listener until Close, such as one bound to
// 169.254.169.254:80 inside a network namespace: that is how a node reaches
// IMDS, directly and never through a proxy.
func (e *Emulator) ServeIMDS(ln net.Listener) { e.serve(e.imdsSrv, ln) }

// ServeProxy runs the HTTP proxy on one more listener until Close (e.g. inside
// a network namespace, for a process that runs there).
func (e *Emulator) ServeProxy(ln net.Listener) { e.serve(e.proxySrv, ln) }

// ServeNMI answers NMI on one more listener until Close.
func (e *Emulator) ServeNMI(ln net.Listener) { e.serve(e.nmiSrv, ln) }

// Close stops every listener and removes the temporary directory, if any.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var errs []error
		for _, srv := range []*http.Server{e.proxySrv, e.tlsSrv, e.nmiSrv, e.adminSrv, e.imdsSrv} {
			if err := srv.Shutdown(ctx); err != nil {
				srv.Close()
			}
		}
		e.tunnels.Close()
		e.wg.Wait()
		if err := e.cleanup(); err != nil {
			errs = append(errs, err)
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

func (e *Emulator) cleanup() error {
	if e.tmpDir {
		return os.RemoveAll(e.dir)
	}
	return nil
}

// ProxyURL is the URL to use as HTTPS_PROXY and HTTP_PROXY.
func (e *Emulator) ProxyURL() string { return "http://" + e.proxyLn.Addr().String() }

// CAFile is the path of the PEM file holding the emulator's CA certificate.
func (e *Emulator) CAFile() string { return e.caFile }

// CAPEM returns the CA certificate in PEM form.
func (e *Emulator) CAPEM() []byte { return append([]byte(nil), e.ca.certPEM...) }

// CAPool returns a pool holding only the emulator's CA.
func (e *Emulator) CAPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(e.ca.cert)
	return p
}

// NMIAddr is the NMI listener's "127.0.0.1:port".
func (e *Emulator) NMIAddr() string { return e.nmiLn.Addr().String() }

// IMDSAddr is the IMDS listener's "127.0.0.1:port", a stand-in for
// 169.254.169.254:80 (see ServeIMDS and HTTPClient).
func (e *Emulator) IMDSAddr() string { return e.imdsLn.Addr().String() }

// AdminURL is the base URL of the admin API, "http://127.0.0.1:port".
func (e *Emulator) AdminURL() string { return "http://" + e.adminLn.Addr().String() }

// Dir is the directory holding ca.pem.
func (e *Emulator) Dir() string { return e.dir }

// Env returns the environment a child process needs to reach the emulator
// instead of Azure.
func (e *Emulator) Env() []string {
	return []string{
		"HTTPS_PROXY=" + e.ProxyURL(),
		"HTTP_PROXY=" + e.ProxyURL(),
		"SSL_CERT_FILE=" + e.caFile,
		"NO_PROXY=",
	}
}

// HTTPClient returns a new client that sends every request through the
// emulator's proxy and trusts only the emulator's CA, except requests for
// 169.254.169.254, which it sends directly to the IMDS listener (as a node
// routes them). Its transport can be used as azcore ClientOptions.Transport.
func (e *Emulator) HTTPClient() *http.Client {
	proxyURL, _ := url.Parse(e.ProxyURL())
	return &http.Client{
		Transport: &http.Transport{
			Proxy: func(r *http.Request) (*url.URL, error) {
				if r.URL.Hostname() == imdsHost {
					return nil, nil
				}
				return proxyURL, nil
			},
			DialContext:         e.DialContext,
			TLSClientConfig:     &tls.Config{RootCAs: e.CAPool(), MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		Timeout: 60 * time.Second,
	}
}

// DialContext dials like net.Dialer, except that 169.254.169.254:80 reaches
// the emulator's IMDS listener: an in-process stand-in for the route a node
// has to IMDS. Use it as http.Transport.DialContext.
func (e *Emulator) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if host, port, err := net.SplitHostPort(addr); err == nil && host == imdsHost && port == "80" {
		addr = e.IMDSAddr()
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (e *Emulator) logf(format string, args ...any) {
	if e.opts.Logf != nil {
		e.opts.Logf(format, args...)
	}
}
