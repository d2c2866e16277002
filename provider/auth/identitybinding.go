package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

const sniDialTimeout = 10 * time.Second

// SNIName returns the TLS server name of the AKS identity-binding token proxy
// for a cluster: "a" + base32hex(sha256("identity-binding" + clusterID)),
// lower case without padding, + ".ests.aks".
func SNIName(clusterID string) string {
	sum := sha256.Sum256([]byte("identity-binding" + clusterID))
	enc := base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])
	return "a" + strings.ToLower(enc) + ".ests.aks"
}

// ClusterIDFromCertificate finds the cluster ID in an AKS API server
// certificate, from its SAN hcp-kubernetes.<id>.svc.cluster.local.
func ClusterIDFromCertificate(cert *x509.Certificate) (string, error) {
	const prefix, suffix = "hcp-kubernetes.", ".svc.cluster.local"
	for _, name := range cert.DNSNames {
		if strings.HasPrefix(name, prefix) && strings.HasSuffix(name, suffix) && len(name) > len(prefix)+len(suffix) {
			id := name[len(prefix) : len(name)-len(suffix)]
			if !strings.Contains(id, ".") {
				return id, nil
			}
		}
	}
	return "", fmt.Errorf("no SAN of the form %s<cluster id>%s in the API server certificate", prefix, suffix)
}

// proxyTransport sends identity-binding requests to the cluster's token proxy:
// the original path and query on the proxy's URL, TLS server name = SNI, trust
// = the cluster CA file, re-read on every request so that a rotated CA is
// picked up. It is shared by all identity-binding credentials of a Manager.
type proxyTransport struct {
	proxyURL    string
	sniOverride string
	caFile      string
	stats       *counters
	log         klog.Logger

	sniSem chan struct{} // one SNI discovery at a time; a channel so waiting honours ctx

	mu       sync.Mutex
	parsed   *url.URL
	parseErr error
	sni      string
	caData   []byte
	tr       *http.Transport
}

func newProxyTransport(proxyURL, sni, caFile string, stats *counters, log klog.Logger) *proxyTransport {
	p := &proxyTransport{proxyURL: proxyURL, sniOverride: sni, caFile: caFile, stats: stats, log: log, sniSem: make(chan struct{}, 1)}
	p.parsed, p.parseErr = parseProxyURL(proxyURL)
	return p
}

func parseProxyURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parse token proxy URL %q: %w", s, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("token proxy URL %q must be an https URL with a host", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("token proxy URL %q must not have user info, a query or a fragment", s)
	}
	return u, nil
}

// Do implements policy.Transporter.
func (p *proxyTransport) Do(req *http.Request) (*http.Response, error) {
	if p.parseErr != nil {
		return nil, permanent(fmt.Errorf("proxy transport not available: %w", p.parseErr))
	}
	sni, err := p.serverName(req.Context())
	if err != nil {
		return nil, permanent(fmt.Errorf("proxy transport not available: compute SNI name: %w", err))
	}
	tr, err := p.transport(sni)
	if err != nil {
		return nil, permanent(fmt.Errorf("proxy transport not available: %w", err))
	}
	out := req.Clone(req.Context())
	u := *p.parsed
	u.Path = strings.TrimSuffix(p.parsed.Path, "/") + req.URL.Path
	u.RawPath = ""
	if req.URL.RawPath != "" {
		u.RawPath = strings.TrimSuffix(p.parsed.EscapedPath(), "/") + req.URL.RawPath
	}
	u.RawQuery = req.URL.RawQuery
	out.URL = &u
	// out.Host keeps the original authority host, as the SDK's own proxy
	// transport does: the proxy sees the Entra ID host in the Host header.
	resp, err := tr.RoundTrip(out)
	if err == nil && resp == nil {
		err = errors.New("token proxy returned no response")
	}
	return resp, err
}

// permanentError is an error the azcore retry policy does not retry (it looks
// for a NonRetriable method). Setting the token proxy up failed: retrying
// within the same GetToken would only repeat the failure (and, for the SNI
// dial, its timeout); the next GetToken tries again.
type permanentError struct{ err error }

func permanent(err error) error        { return permanentError{err} }
func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }
func (permanentError) NonRetriable()   {}

// serverName returns the SNI: the override, or the cached computed one, or it
// computes it now with a TLS dial to the proxy host.
func (p *proxyTransport) serverName(ctx context.Context) (string, error) {
	if p.sniOverride != "" {
		return p.sniOverride, nil
	}
	p.mu.Lock()
	sni := p.sni
	p.mu.Unlock()
	if sni != "" {
		return sni, nil
	}
	select {
	case p.sniSem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-p.sniSem }()
	p.mu.Lock()
	sni = p.sni
	p.mu.Unlock()
	if sni != "" {
		return sni, nil // computed while we waited
	}
	clusterID, err := p.discoverClusterID(ctx)
	if err != nil {
		return "", err // not cached: the next request tries again
	}
	sni = SNIName(clusterID)
	p.mu.Lock()
	p.sni = sni
	p.mu.Unlock()
	p.log.V(2).Info("computed the identity-binding SNI name", "clusterID", clusterID, "sni", sni)
	return sni, nil
}

// discoverClusterID dials the token proxy host (the API server) and reads the
// cluster ID from its certificate, verified against the cluster CA.
func (p *proxyTransport) discoverClusterID(ctx context.Context) (string, error) {
	p.stats.ibSNIDiscovery.Add(1)
	pool, _, err := p.readCA()
	if err != nil {
		return "", err
	}
	host := p.parsed.Hostname()
	port := p.parsed.Port()
	if port == "" {
		port = "443"
	}
	ctx, cancel := context.WithTimeout(ctx, sniDialTimeout)
	defer cancel()
	d := &tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return "", fmt.Errorf("dial %s: %w", net.JoinHostPort(host, port), err)
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", errors.New("the API server sent no certificate")
	}
	return ClusterIDFromCertificate(certs[0])
}

// readCA reads and parses the cluster CA file.
func (p *proxyTransport) readCA() (*x509.CertPool, []byte, error) {
	b, err := os.ReadFile(p.caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read CA file %q: %w", p.caFile, err)
	}
	pool, err := p.parseCA(b)
	return pool, b, err
}

func (p *proxyTransport) parseCA(b []byte) (*x509.CertPool, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("CA file %q is empty", p.caFile)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("parse CA file %q: no valid certificates found", p.caFile)
	}
	return pool, nil
}

// transport returns an http.Transport trusting the current CA file, building
// a new one (and closing the old one's idle connections) when the file changed.
// While the file is empty or unreadable (mid-rotation) the last good transport
// is kept.
func (p *proxyTransport) transport(sni string) (*http.Transport, error) {
	b, readErr := os.ReadFile(p.caFile)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tr != nil && (readErr != nil || len(bytes.TrimSpace(b)) == 0 || bytes.Equal(b, p.caData)) {
		return p.tr, nil
	}
	if readErr != nil {
		return nil, fmt.Errorf("read CA file %q: %w", p.caFile, readErr)
	}
	pool, err := p.parseCA(b)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{ServerName: sni, RootCAs: pool, MinVersion: tls.VersionTLS12}
	if p.tr != nil {
		p.tr.CloseIdleConnections()
	}
	p.tr, p.caData = tr, b
	return tr, nil
}
