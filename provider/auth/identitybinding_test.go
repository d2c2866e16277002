package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/test/pki"
)

// tokenProxy is a TLS server playing the AKS API server (for the SNI
// discovery dial, which sends no SNI to an IP address) and the identity
// binding token proxy (for requests whose SNI is the computed name).
type tokenProxy struct {
	*httptest.Server
	entra  *fakeEntra
	caFile string

	mu        sync.Mutex
	ca        *pki.Cert
	apiServer tls.Certificate
	proxy     tls.Certificate
	sni       string
	seenSNI   []string
	paths     []string
	discovery atomic.Int64
}

const testClusterID = "6512d9a4b2e0d1000166b2c1"

func newTokenProxy(t *testing.T, prefix string, apiServerDNS []string) *tokenProxy {
	t.Helper()
	p := &tokenProxy{entra: &fakeEntra{t: t}, sni: SNIName(testClusterID)}
	p.setCA(t, pki.MustCA("kvcsi test cluster CA", pki.Options{KeyType: pki.P256}), apiServerDNS)
	p.caFile = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(p.caFile, p.ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	h := http.Handler(p.entra)
	if prefix != "" {
		h = http.StripPrefix(prefix, h)
	}
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.paths = append(p.paths, r.URL.Path)
		p.mu.Unlock()
		if prefix != "" && !strings.HasPrefix(r.URL.Path, prefix+"/") {
			http.Error(w, "request outside the proxy path", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	}))
	p.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.seenSNI = append(p.seenSNI, hello.ServerName)
		switch hello.ServerName {
		case "":
			p.discovery.Add(1)
			return &tls.Config{Certificates: []tls.Certificate{p.apiServer}}, nil
		case p.sni:
			return &tls.Config{Certificates: []tls.Certificate{p.proxy}}, nil
		}
		return nil, fmt.Errorf("unexpected SNI %q", hello.ServerName)
	}}
	p.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures
	p.StartTLS()
	t.Cleanup(p.Close)
	return p
}

func (p *tokenProxy) setCA(t *testing.T, ca *pki.Cert, apiServerDNS []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ca = ca
	p.apiServer = ca.MustIssue(pki.Options{KeyType: pki.P256, DNSNames: apiServerDNS, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}).TLS()
	p.proxy = ca.MustIssue(pki.Options{KeyType: pki.P256, DNSNames: []string{p.sni}}).TLS()
}

func aksAPIServerNames() []string {
	return []string{"kubernetes", "kubernetes.default.svc.cluster.local", "hcp-kubernetes." + testClusterID + ".svc.cluster.local"}
}

// failingTransport fails the test if used: identity binding must not use the
// shared transport.
type failingTransport struct{ t *testing.T }

func (f failingTransport) Do(req *http.Request) (*http.Response, error) {
	f.t.Errorf("shared transport used for %s", req.URL)
	return nil, fmt.Errorf("not this transport")
}

func TestSNIName(t *testing.T) {
	got := SNIName(testClusterID)
	if !strings.HasPrefix(got, "a") || !strings.HasSuffix(got, ".ests.aks") || strings.ContainsAny(got, "=ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		t.Fatalf("SNI %q", got)
	}
	// 32 bytes of SHA-256 are 52 base32 characters without padding.
	if label := strings.TrimSuffix(strings.TrimPrefix(got, "a"), ".ests.aks"); len(label) != 52 || strings.Trim(label, "0123456789abcdefghijklmnopqrstuv") != "" {
		t.Fatalf("label %q is not lower-case base32hex", label)
	}
	if SNIName("other") == got {
		t.Fatal("SNI does not depend on the cluster ID")
	}
	// Vectors computed outside the project with the Azure provider's formula (issue 12):
	// a changed salt, hash or encoding fails here.
	for id, want := range map[string]string{
		"0123456789abcdef01234567": "adjohu9u1dlsmhjkfb9rc27r2rl3iuv7jlrjrafk5ic3sov52hu8g.ests.aks",
		"6732f9c0e1d8a3001f4b2c55": "advh58mg6e4c6ssfu9mpketojfrc5ja2h26168h7n91acchba107g.ests.aks",
	} {
		if got := SNIName(id); got != want {
			t.Errorf("SNIName(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestIdentityBindingThroughTheTokenProxy(t *testing.T) {
	p := newTokenProxy(t, "", aksAPIServerNames())
	m := NewManager(Options{Transport: failingTransport{t}, TokenProxyURL: p.URL, ClusterCAFile: p.caFile})
	const saToken = "ib-sa-token"
	cred, key, err := m.Credential(ib(saToken, "uami-client", tenantA), testPod, authority, kvRes)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "ib-") {
		t.Fatalf("key %q", key)
	}
	if p.discovery.Load() != 0 {
		t.Fatal("SNI discovery ran before the first token request")
	}
	for i := 0; i < 5; i++ {
		tok := mustToken(t, cred, kvScope)
		if want := "at|uami-client|" + tenantA + "|"; !strings.HasPrefix(tok.Token, want) || !strings.HasSuffix(tok.Token, proofOf(saToken)) {
			t.Fatalf("token %q", tok.Token)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.entra.tokenRequests.Load() != 1 || p.discovery.Load() != 1 {
		t.Fatalf("token requests %d, discovery dials %d", p.entra.tokenRequests.Load(), p.discovery.Load())
	}
	for _, sni := range p.seenSNI[1:] {
		if sni != p.sni {
			t.Fatalf("SNI %q, want %q", sni, p.sni)
		}
	}
	if p.paths[len(p.paths)-1] != "/"+tenantA+"/oauth2/v2.0/token" {
		t.Fatalf("paths %q", p.paths)
	}
	for _, path := range p.paths {
		if strings.Contains(path, "discovery/instance") {
			t.Fatal("instance discovery was not disabled")
		}
	}
	if host := p.entra.hosts[0]; host != "login.microsoftonline.com" {
		t.Fatalf("Host header %q, want the authority host (as the SDK's proxy transport sends)", host)
	}
	if f := p.entra.forms[0]; f["client_assertion"] != saToken || f["client_id"] != "uami-client" {
		t.Fatalf("form %v", f)
	}
	if s := m.Stats(); s.SNIDiscoveries != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestIdentityBindingProxyPathPrefixAndSNIOverride(t *testing.T) {
	p := newTokenProxy(t, "/tokenproxy", aksAPIServerNames())
	m := NewManager(Options{Transport: failingTransport{t}, TokenProxyURL: p.URL + "/tokenproxy/", ClusterCAFile: p.caFile, SNIName: p.sni})
	cred, _, err := m.Credential(ib("sa", "uami", tenantA), testPod, authority, kvRes)
	if err != nil {
		t.Fatal(err)
	}
	mustToken(t, cred, kvScope)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.discovery.Load() != 0 {
		t.Fatal("--sni-name set, yet the API server was dialled")
	}
	if last := p.paths[len(p.paths)-1]; last != "/tokenproxy/"+tenantA+"/oauth2/v2.0/token" {
		t.Fatalf("path %q", last)
	}
}

func TestIdentityBindingSNIDiscoveryFailureIsNotCached(t *testing.T) {
	p := newTokenProxy(t, "", []string{"kubernetes.default.svc.cluster.local"}) // no hcp-kubernetes SAN
	m := NewManager(Options{Transport: failingTransport{t}, TokenProxyURL: p.URL, ClusterCAFile: p.caFile})
	cred, _, err := m.Credential(ib("sa", "uami", tenantA), testPod, authority, kvRes)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = cred.GetToken(ctx, kvScope)
	if err == nil || !strings.Contains(err.Error(), "proxy transport not available: compute SNI name: ") || !strings.Contains(err.Error(), "hcp-kubernetes.") {
		t.Fatalf("err = %v", err)
	}
	// Fix the API server certificate: the next request discovers the SNI.
	p.setCA(t, p.ca, aksAPIServerNames())
	p.CloseClientConnections()
	mustToken(t, cred, kvScope)
	if p.discovery.Load() < 2 {
		t.Fatalf("discovery dials = %d: the failure was cached", p.discovery.Load())
	}
}

func TestIdentityBindingConcurrentFirstUseDiscoversOnce(t *testing.T) {
	p := newTokenProxy(t, "", aksAPIServerNames())
	m := NewManager(Options{Transport: failingTransport{t}, TokenProxyURL: p.URL, ClusterCAFile: p.caFile})
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sa := fmt.Sprintf("sa-%d", i)
			cred, _, err := m.Credential(ib(sa, "uami", tenantA), testPod, authority, kvRes)
			if err != nil {
				t.Error(err)
				return
			}
			tok, err := cred.GetToken(context.Background(), kvScope)
			if err != nil || !strings.HasSuffix(tok.Token, proofOf(sa)) {
				t.Errorf("pod %d: %q %v", i, tok.Token, err)
			}
		}()
	}
	wg.Wait()
	if p.discovery.Load() != 1 || p.entra.tokenRequests.Load() != 16 {
		t.Fatalf("discovery dials %d, token requests %d", p.discovery.Load(), p.entra.tokenRequests.Load())
	}
}

func TestIdentityBindingRereadsTheCAFile(t *testing.T) {
	p := newTokenProxy(t, "", aksAPIServerNames())
	m := NewManager(Options{Transport: failingTransport{t}, TokenProxyURL: p.URL, ClusterCAFile: p.caFile})
	get := func(sa string, timeout time.Duration) error {
		cred, _, err := m.Credential(ib(sa, "uami", tenantA), testPod, authority, kvRes)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err = cred.GetToken(ctx, kvScope)
		return err
	}
	if err := get("sa-1", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The cluster CA rotates: the proxy presents certificates from a new CA,
	// which the old CA file does not trust.
	p.setCA(t, pki.MustCA("kvcsi test cluster CA", pki.Options{KeyType: pki.P256}), aksAPIServerNames())
	p.CloseClientConnections()
	if err := get("sa-2", 500*time.Millisecond); err == nil {
		t.Fatal("the old CA accepted a certificate from the new one")
	}
	p.mu.Lock()
	newPEM := p.ca.PEM()
	p.mu.Unlock()
	if err := os.WriteFile(p.caFile, newPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := get("sa-3", 10*time.Second); err != nil {
		t.Fatalf("new CA file not picked up: %v", err)
	}
	// An empty file (mid-rotation) keeps the last good transport.
	if err := os.WriteFile(p.caFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p.CloseClientConnections()
	if err := get("sa-4", 10*time.Second); err != nil {
		t.Fatalf("empty CA file: %v", err)
	}
}

func TestIdentityBindingConfigurationErrors(t *testing.T) {
	m := NewManager(Options{TokenProxyURL: "http://not-https.example", ClusterCAFile: filepath.Join(t.TempDir(), "missing")})
	cred, _, err := m.Credential(ib("sa", "uami", tenantA), testPod, authority, kvRes)
	if err != nil {
		t.Fatal(err) // like azidentity constructors, building contacts nothing
	}
	if _, err := cred.GetToken(context.Background(), kvScope); err == nil || !strings.Contains(err.Error(), "proxy transport not available") || !strings.Contains(err.Error(), "https") {
		t.Fatalf("err = %v", err)
	}
	m = NewManager(Options{TokenProxyURL: "https://127.0.0.1:1", ClusterCAFile: filepath.Join(t.TempDir(), "missing")})
	cred, _, _ = m.Credential(ib("sa", "uami", tenantA), testPod, authority, kvRes)
	if _, err := cred.GetToken(context.Background(), kvScope); err == nil || !strings.Contains(err.Error(), "proxy transport not available: compute SNI name: read CA file") {
		t.Fatalf("err = %v", err)
	}
}

func TestClusterIDFromCertificate(t *testing.T) {
	for _, c := range []struct {
		names []string
		want  string
	}{
		{[]string{"kubernetes", "hcp-kubernetes.abc123.svc.cluster.local"}, "abc123"},
		{[]string{"hcp-kubernetes..svc.cluster.local", "hcp-kubernetes.a.b.svc.cluster.local"}, ""},
		{nil, ""},
	} {
		got, err := ClusterIDFromCertificate(&x509.Certificate{DNSNames: c.names})
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("%v: %q, %v", c.names, got, err)
		}
	}
}
