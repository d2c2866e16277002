package integration

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/kvcsi/kvcsi/provider/auth"
	"github.com/kvcsi/kvcsi/provider/daemon"
	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
	"github.com/kvcsi/kvcsi/test/pki"
)

// Identities only these tests use. MSAL caches managed identity tokens process-wide by
// identity and resource, so every managed-identity mount of this test binary happens in
// TestIdentityModes, against one emulator (the binary test runs in its own process).
const (
	ibClientID  = "0a1b2c3d-6666-4e5f-8a9b-000000000006" // user-assigned identity behind the identity binding
	otherTenant = "5d4c3b2a-7777-4f60-9e8d-7c6b5a493827" // tenant of the cross-tenant vault
	otherVault  = "kvcsi-xt-vault"
	// testClusterID and testSNI are a vector computed outside the project with the
	// Azure provider's formula (issue 12), never with auth.SNIName.
	testClusterID = "6732f9c0e1d8a3001f4b2c55"
	testSNI       = "advh58mg6e4c6ssfu9mpketojfrc5ja2h26168h7n91acchba107g.ests.aks"
	secondPod     = "app-1"
)

func miParams(userAssigned string, objects ...string) map[string]string {
	p := map[string]string{
		"keyvaultName":         harness.VaultName,
		"tenantID":             harness.Tenant,
		"useVMManagedIdentity": "true",
		"objects":              harness.Objects(objects...),
	}
	if userAssigned != "" {
		p["userAssignedIdentityID"] = userAssigned
	}
	return p
}

func podIdentityParams(objects ...string) map[string]string {
	return map[string]string{
		"keyvaultName":   harness.VaultName,
		"tenantID":       harness.Tenant,
		"usePodIdentity": "true",
		"objects":        harness.Objects(objects...),
	}
}

func ibParams(objects ...string) map[string]string {
	return map[string]string{
		"keyvaultName":       harness.VaultName,
		"tenantID":           harness.Tenant,
		"clientID":           ibClientID,
		"useAzureTokenProxy": "true",
		"objects":            harness.Objects(objects...),
	}
}

// TestIdentityModes mounts the same secret with every identity mode, through the real
// socket, the real SDK credentials and the emulator: workload identity, service
// principal, the node's system- and user-assigned managed identity (IMDS), aad-pod-identity
// (NMI on the emulator's port, wired as --nmi-port) and AKS identity binding (through a
// TLS token proxy that checks the computed SNI and is trusted through the cluster CA).
// Then vaults in another tenant, which work when the identity exists there.
func TestIdentityModes(t *testing.T) {
	proxy := newTokenProxy(t)
	h := start(t, harness.Options{Daemon: func(o *daemon.Options) {
		o.TokenProxyURL = proxy.URL()
		o.ClusterCAFile = proxy.caFile
		// SNIName stays empty: the provider computes it from the API server certificate.
	}})
	proxy.setUpstream(h.Emu.HTTPClient())

	e := h.Emu
	e.AddManagedIdentity(ibClientID, false, harness.Tenant)
	e.AddFederatedCredential(harness.Tenant, ibClientID, emulator.FederatedCredential{
		Issuer: harness.IssuerURL, Subject: "system:serviceaccount:" + harness.Namespace + ":" + harness.SAName,
		Audiences: []string{harness.IBAudience},
	})
	h.Vault.Grant(ibClientID, emulator.SecretGet, emulator.SecretList)
	const value = "identity-mode-secret-9Fz"
	ver := h.Vault.SetSecret("shared", value, emulator.SecretOptions{})
	obj := "objectName: shared\nobjectType: secret"

	modes := []struct {
		name    string
		in      harness.MountInput
		client  string // identity the emulator must have issued a token to
		counter func(emulator.Counts) int
		host    string // the service that must have issued it (Counts.TokensByHost)
	}{
		{"workload identity", harness.MountInput{Params: wiParams(obj), Tokens: h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)},
			harness.WIClientID, func(c emulator.Counts) int { return c.TokenRequests }, "login.microsoftonline.com"},
		{"service principal", harness.MountInput{Params: spParams(obj), Secrets: spSecrets()},
			harness.SPClientID, func(c emulator.Counts) int { return c.TokenRequests }, "login.microsoftonline.com"},
		{"VM managed identity, system-assigned", harness.MountInput{Params: miParams("", obj)},
			harness.SysMIClient, func(c emulator.Counts) int { return c.IMDSRequests }, "169.254.169.254"},
		{"VM managed identity, user-assigned", harness.MountInput{Params: miParams(harness.MIClientID, obj)},
			harness.MIClientID, func(c emulator.Counts) int { return c.IMDSRequests }, "169.254.169.254"},
		{"aad-pod-identity", harness.MountInput{Params: podIdentityParams(obj)},
			harness.PodIDClient, func(c emulator.Counts) int { return c.NMIRequests }, "nmi"},
		{"identity binding", harness.MountInput{Params: ibParams(obj), Tokens: h.WorkloadToken(harness.Pod{}, harness.IBAudience, time.Hour)},
			ibClientID, func(c emulator.Counts) int { return c.TokenRequests }, "login.microsoftonline.com"},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			before := e.Counts()
			resp, err := h.Mount(ctx(t), m.in)
			if err != nil {
				t.Fatalf("mount: %v", err)
			}
			checkShared(t, resp, value, ver)
			after := e.Counts()
			if after.TokensIssued[m.client] <= before.TokensIssued[m.client] {
				t.Errorf("no token was issued to %s", m.client)
			}
			if m.counter(after) <= m.counter(before) {
				t.Errorf("the token did not come from the expected service")
			}
			for host, n := range after.TokensByHost {
				if d := n - before.TokensByHost[host]; d > 0 && host != m.host {
					t.Errorf("%d token(s) issued by %s, want %s only", d, host, m.host)
				}
			}
			if after.TokensByHost[m.host] <= before.TokensByHost[m.host] {
				t.Errorf("no token issued by %s (by host %v)", m.host, after.TokensByHost)
			}
		})
	}

	t.Run("identity binding went through the token proxy with the computed SNI", func(t *testing.T) {
		want := testSNI
		seen := proxy.seen()
		if len(seen.tokenRequests) == 0 {
			t.Fatalf("the token proxy saw no token request (SNIs %v)", seen.snis)
		}
		for _, sni := range seen.snis {
			if sni != "" && sni != want {
				t.Errorf("TLS server name %q, want %q", sni, want)
			}
		}
		for _, p := range seen.tokenRequests {
			if p != "/"+harness.Tenant+"/oauth2/v2.0/token" {
				t.Errorf("token request path %q", p)
			}
		}
		if len(seen.badAssertions) > 0 {
			t.Errorf("assertions not for %s: %v", harness.IBAudience, seen.badAssertions)
		}
	})

	t.Run("aad-pod-identity sends the pod's name and namespace", func(t *testing.T) {
		e.AddPodIdentity(harness.Namespace, secondPod, harness.PodIDClient, harness.Tenant)
		pod := harness.Pod{Name: secondPod, Namespace: harness.Namespace, UID: "7a1b2c3d-4d5e-4f60-8a7b-9c0d1e2f3a4b", ServiceAccount: "default"}
		if _, err := h.Mount(ctx(t), harness.MountInput{Params: podIdentityParams(obj), Pod: pod}); err != nil {
			t.Fatalf("mount for a second bound pod: %v", err)
		}
		// A pod without a binding gets NMI's 403, with the fix.
		_, err := h.Mount(ctx(t), harness.MountInput{Params: podIdentityParams(obj),
			Pod: harness.Pod{Name: "unbound", Namespace: harness.Namespace, UID: "8a1b2c3d-4d5e-4f60-8a7b-9c0d1e2f3a4b"}})
		wantStatus(t, err, codes.Unauthenticated, "nmi response failed with status code: 403", "no AzureAssignedIdentity found for pod:default/unbound", "aadpodidbinding")
	})

	t.Run("aad-pod-identity retries NMI failures", func(t *testing.T) {
		e.SetFaults(emulator.ServiceNMI, emulator.Faults{ErrorRate: 1, ErrorStatus: http.StatusServiceUnavailable})
		defer e.SetFaults(emulator.ServiceNMI, emulator.Faults{})
		before := e.Counts().NMIRequests
		// A pod whose token is not cached yet.
		e.AddPodIdentity(harness.Namespace, "app-2", harness.PodIDClient, harness.Tenant)
		_, err := h.Mount(ctx(t), harness.MountInput{Params: podIdentityParams(obj), Pod: harness.Pod{Name: "app-2", Namespace: harness.Namespace, UID: "9a1b2c3d-4d5e-4f60-8a7b-9c0d1e2f3a4b"}})
		wantStatus(t, err, codes.Unavailable, "nmi response failed with status code: 503", "NMI failed on this node")
		if n := e.Counts().NMIRequests - before; n < 1+auth.DefaultNMIRetries {
			t.Errorf("NMI was asked %d times, want at least %d (the first attempt and its retries)", n, 1+auth.DefaultNMIRetries)
		}
	})

	t.Run("cross-tenant vault", func(t *testing.T) {
		e.AddTenant(otherTenant)
		xv := e.Vault(otherVault)
		xv.SetTenant(otherTenant)
		const xvalue = "cross-tenant-secret-4Kp"
		xver := xv.SetSecret("shared", xvalue, emulator.SecretOptions{})
		for _, id := range []string{harness.WIClientID, harness.SPClientID, harness.MIClientID} {
			xv.Grant(id, emulator.SecretGet)
		}
		// One object in the home vault, one in the other tenant's, same identity.
		objs := []string{obj, "objectName: shared\nobjectType: secret\nobjectAlias: other\nkeyvaultName: " + otherVault}
		wi := harness.MountInput{Params: wiParams(objs...), Tokens: h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)}
		sp := harness.MountInput{Params: spParams(objs...), Secrets: spSecrets()}

		// Before the apps exist in the vault's tenant: the home object mounts, the other
		// fails saying where the app is missing.
		_, err := h.Mount(ctx(t), wi)
		wantStatus(t, err, codes.Unauthenticated, "objectName:shared", "AADSTS700016", "tenant "+otherTenant,
			"vault "+otherVault+" is in tenant "+otherTenant+", so the app must be multi-tenant")

		// The apps get service principals in the other tenant: both mount.
		e.AddFederatedCredential(otherTenant, harness.WIClientID, emulator.FederatedCredential{
			Issuer: harness.IssuerURL, Subject: "system:serviceaccount:" + harness.Namespace + ":" + harness.SAName})
		e.SetClientSecret(otherTenant, harness.SPClientID, harness.SPSecret)
		for name, in := range map[string]harness.MountInput{"workload identity": wi, "service principal": sp} {
			resp, err := h.Mount(ctx(t), in)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(resp.Files) != 2 || string(resp.Files[1].Contents) != xvalue || resp.Files[1].Path != "other" || resp.ObjectVersion[1].Version != xver {
				t.Errorf("%s: files %v", name, harness.Modes(resp))
			}
		}

		// A managed identity only has tokens of its own tenant.
		_, err = h.Mount(ctx(t), harness.MountInput{Params: miParams(harness.MIClientID, "objectName: shared\nobjectType: secret\nkeyvaultName: "+otherVault)})
		wantStatus(t, err, codes.Unauthenticated, "Key Vault "+otherVault+" rejected the token of the node's user-assigned managed identity (client ID "+harness.MIClientID+")",
			"AKV10032", "vault "+otherVault+" is in tenant "+otherTenant+", but a managed identity only gets tokens from its own tenant")
	})

	t.Run("identity binding with a CA that does not sign the proxy", func(t *testing.T) {
		other := pki.MustCA("kvcsi test cluster CA", pki.Options{KeyType: pki.P256})
		if err := os.WriteFile(proxy.caFile, other.PEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(proxy.caFile, proxy.ca.PEM(), 0o600)
		// A pod the provider has no token for yet.
		pod := harness.Pod{Name: "app-9", Namespace: harness.Namespace, UID: "aa1b2c3d-4d5e-4f60-8a7b-9c0d1e2f3a4b", ServiceAccount: harness.SAName}
		_, err := h.Mount(ctx(t), harness.MountInput{Params: ibParams(obj), Tokens: h.WorkloadToken(pod, harness.IBAudience, 2*time.Hour), Pod: pod})
		wantStatus(t, err, codes.Unauthenticated, "identity binding (client ID "+ibClientID+") could not get a token",
			"x509: certificate signed by unknown authority", "--token-proxy-url", "the cluster CA")
	})
}

func checkShared(t *testing.T, resp *v1alpha1.MountResponse, value, ver string) {
	t.Helper()
	if len(resp.Files) != 1 || resp.Files[0].Path != "shared" || string(resp.Files[0].Contents) != value {
		t.Fatalf("files %v", harness.Modes(resp))
	}
	if len(resp.ObjectVersion) != 1 || resp.ObjectVersion[0].Id != "secret/shared" || resp.ObjectVersion[0].Version != ver {
		t.Fatalf("versions %v", resp.ObjectVersion)
	}
}

// wantStatus checks a failed mount's gRPC code and message, and that the message holds
// no secret value, token or client secret.
func wantStatus(t *testing.T, err error, code codes.Code, contains ...string) string {
	t.Helper()
	if err == nil {
		t.Fatalf("mount succeeded, want %s", code)
	}
	st := status.Convert(err)
	t.Logf("%s: %s", st.Code(), st.Message())
	if st.Code() != code {
		t.Errorf("code = %s, want %s", st.Code(), code)
	}
	// The driver's gRPC client retries Unavailable and then prefixes the last error.
	if !strings.HasPrefix(st.Message(), "failed to mount objects, error: ") &&
		!(code == codes.Unavailable && strings.Contains(st.Message(), "desc = failed to mount objects, error: ")) {
		t.Errorf("message lacks the Azure provider's prefix: %s", st.Message())
	}
	for _, s := range contains {
		if !strings.Contains(st.Message(), s) {
			t.Errorf("message lacks %q", s)
		}
	}
	noLeaks(t, st.Message())
	return st.Message()
}

// noLeaks fails if text holds a secret value, a client secret, a token or a multi-line dump.
func noLeaks(t *testing.T, text string) {
	t.Helper()
	for _, s := range []string{"secret-9Fz", "secret-4Kp", "value-", harness.SPSecret, "outsider-secret", "eyJ", "access_token", "-----", "\n"} {
		if strings.Contains(text, s) {
			t.Errorf("message has %q:\n%s", s, text)
		}
	}
}

// tokenProxy plays the AKS API server and its identity-binding token proxy on one TLS
// port: a dial without SNI (the provider's cluster ID discovery, to an IP address) gets
// the API server certificate with SAN hcp-kubernetes.<cluster id>.svc.cluster.local; a
// handshake naming the computed SNI gets the proxy's certificate, and its requests are
// forwarded to the emulator's Entra ID. Any other server name fails the handshake.
type tokenProxy struct {
	srv    *httptest.Server
	ca     *pki.Cert
	caFile string
	sni    string

	mu            sync.Mutex
	upstream      *http.Client
	snis          []string
	tokenRequests []string
	badAssertions []string
}

type proxySeen struct {
	snis, tokenRequests, badAssertions []string
}

func newTokenProxy(t *testing.T) *tokenProxy {
	t.Helper()
	p := &tokenProxy{ca: pki.MustCA("kvcsi test cluster CA", pki.Options{KeyType: pki.P256}), sni: testSNI}
	p.caFile = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(p.caFile, p.ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	apiServer := p.ca.MustIssue(pki.Options{KeyType: pki.P256, DNSNames: []string{"kubernetes.default.svc", "hcp-kubernetes." + testClusterID + ".svc.cluster.local"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}).TLS()
	proxyCert := p.ca.MustIssue(pki.Options{KeyType: pki.P256, DNSNames: []string{p.sni}}).TLS()
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.TLS = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Without SNI (a dial to an IP address) the server presents Certificates[0];
		// GetCertificate decides for every handshake that names a server.
		Certificates: []tls.Certificate{apiServer},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			p.mu.Lock()
			p.snis = append(p.snis, hello.ServerName)
			p.mu.Unlock()
			if hello.ServerName == p.sni {
				return &proxyCert, nil
			}
			return nil, fmt.Errorf("unexpected server name %q", hello.ServerName)
		},
	}
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are part of the test
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

func (p *tokenProxy) URL() string { return p.srv.URL }

func (p *tokenProxy) setUpstream(c *http.Client) {
	p.mu.Lock()
	p.upstream = c
	p.mu.Unlock()
}

func (p *tokenProxy) seen() proxySeen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return proxySeen{slices.Clone(p.snis), slices.Clone(p.tokenRequests), slices.Clone(p.badAssertions)}
}

func (p *tokenProxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || r.TLS.ServerName != p.sni {
		http.Error(w, "not the token proxy's server name", http.StatusMisdirectedRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	upstream := p.upstream
	if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		p.tokenRequests = append(p.tokenRequests, r.URL.Path)
		if form, err := url.ParseQuery(string(body)); err != nil || !assertionFor(form.Get("client_assertion"), harness.IBAudience) {
			p.badAssertions = append(p.badAssertions, r.URL.Path)
		}
	}
	p.mu.Unlock()
	if upstream == nil {
		http.Error(w, "no upstream yet", http.StatusServiceUnavailable)
		return
	}
	// The request keeps the Entra ID host in its Host header (the SDK's own proxy
	// transport does the same); forward it there, through the emulator.
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "https://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out.Header = r.Header.Clone()
	resp, err := upstream.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// assertionFor reports whether a JWT's aud claim holds aud (signature not checked:
// Entra ID does that).
func assertionFor(jwt, aud string) bool {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Aud json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return false
	}
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		return one == aud
	}
	var many []string
	return json.Unmarshal(claims.Aud, &many) == nil && slices.Contains(many, aud)
}

// TestIdentityModesBinary runs aad-pod-identity with the real kvcsi binary: NMI on
// localhost at --nmi-port (never proxied, though HTTP_PROXY is set), and the deprecation
// of pod identity logged once per pod however many mounts it has. The binary's managed
// identity mounts run inside a network namespace, where 169.254.169.254 is bound
// (TestManagedIdentityThroughIMDS): kvcsi never proxies IMDS, so outside one it would
// leave the machine.
func TestIdentityModesBinary(t *testing.T) {
	out := &harness.SyncBuffer{}
	h := start(t, harness.Options{Binary: kvcsiBinary(t), Args: []string{"-v=5"}, Output: out})
	const value = "binary-identity-secret-9Fz"
	ver := h.Vault.SetSecret("shared", value, emulator.SecretOptions{})
	h.Emu.AddPodIdentity(harness.Namespace, secondPod, harness.PodIDClient, harness.Tenant)
	obj := "objectName: shared\nobjectType: secret"
	second := harness.Pod{Name: secondPod, Namespace: harness.Namespace, UID: "7a1b2c3d-4d5e-4f60-8a7b-9c0d1e2f3a4b", ServiceAccount: "default"}
	mounts := []struct {
		name string
		in   harness.MountInput
	}{
		{"pod identity", harness.MountInput{Params: podIdentityParams(obj)}},
		{"pod identity again", harness.MountInput{Params: podIdentityParams(obj)}},
		{"pod identity, second pod", harness.MountInput{Params: podIdentityParams(obj), Pod: second}},
		{"pod identity, second pod again", harness.MountInput{Params: podIdentityParams(obj), Pod: second}},
		{"pod identity a third time", harness.MountInput{Params: podIdentityParams(obj)}},
	}
	for _, m := range mounts {
		resp, err := h.Mount(ctx(t), m.in)
		if err != nil {
			t.Fatalf("%s: %v\nlog:\n%s", m.name, err, out.String())
		}
		checkShared(t, resp, value, ver)
	}
	c := h.Emu.Counts()
	if c.NMIRequests == 0 || c.TokensIssued[harness.PodIDClient] == 0 {
		t.Errorf("NMI requests %d, tokens issued %v", c.NMIRequests, c.TokensIssued)
	}
	logs := out.String()
	var warnings []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "pod identity (aad-pod-identity) is deprecated") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], `pod="default/app-0"`) || !strings.Contains(warnings[1], `pod="default/app-1"`) {
		t.Errorf("want one deprecation warning per pod, got %d:\n%s", len(warnings), strings.Join(warnings, "\n"))
	}
	for _, leak := range []string{value, harness.SPSecret, "eyJ"} {
		if strings.Contains(logs, leak) {
			t.Errorf("the provider's log holds %q", leak)
		}
	}
}
