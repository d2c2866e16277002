package diag_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/kvcsi/kvcsi/provider/auth"
	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// The errors in these tests are real: produced by the Azure SDK clients and credentials
// talking to a fake transport that answers like Key Vault, Entra ID and IMDS do.

const (
	testTenant  = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testClient  = "1b6e3a4e-0c6f-4a8f-9d0e-5f7a4b7c2d11"
	testVault   = "app-vault"
	testSecret  = "client-secret-value-9Xq"
	accessToken = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
)

// transport answers every request with handle.
type transport func(*http.Request) *http.Response

func (f transport) Do(req *http.Request) (*http.Response, error) {
	resp := f(req)
	if resp == nil {
		return nil, fmt.Errorf("test transport: no answer for %s %s", req.Method, req.URL)
	}
	resp.Request = req
	return resp, nil
}

func answer(status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	if header.Get("Content-Type") == "" {
		header.Set("Content-Type", "application/json; charset=utf-8")
	}
	return &http.Response{
		StatusCode: status,
		Status:     fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Header:     header,
		Body:       io.NopCloser(strings.NewReader(body)),
	}
}

type staticCred struct{}

func (staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: accessToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func kvBody(code, inner, msg string) string {
	e := map[string]any{"code": code, "message": msg}
	if inner != "" {
		e["innererror"] = map[string]any{"code": inner}
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return string(b)
}

// kvCall makes one Key Vault call ("secret", "key", "cert", or "secret-versions") with
// the real SDK client, and returns its error: the vault first challenges, then answers
// status/header/body.
func kvCall(t *testing.T, op, name, version string, status int, header http.Header, body string) error {
	t.Helper()
	tr := transport(func(r *http.Request) *http.Response {
		if r.Header.Get("Authorization") == "" {
			h := http.Header{}
			h.Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/`+testTenant+`", resource="https://vault.azure.net"`)
			return answer(http.StatusUnauthorized, h, kvBody("Unauthorized", "", "AKV10000: Request is missing a Bearer or PoP token."))
		}
		if status == http.StatusUnauthorized && header == nil {
			header = http.Header{}
			header.Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/`+testTenant+`", resource="https://vault.azure.net"`)
		}
		return answer(status, header.Clone(), body)
	})
	co := azcore.ClientOptions{Transport: tr, Retry: policy.RetryOptions{MaxRetries: -1}}
	vaultURL := "https://" + testVault + ".vault.azure.net/"
	ctx := context.Background()
	var err error
	switch op {
	case "secret":
		c, cerr := azsecrets.NewClient(vaultURL, staticCred{}, &azsecrets.ClientOptions{ClientOptions: co})
		if cerr != nil {
			t.Fatal(cerr)
		}
		_, err = c.GetSecret(ctx, name, version, nil)
	case "secret-versions":
		c, cerr := azsecrets.NewClient(vaultURL, staticCred{}, &azsecrets.ClientOptions{ClientOptions: co})
		if cerr != nil {
			t.Fatal(cerr)
		}
		_, err = c.NewListSecretPropertiesVersionsPager(name, nil).NextPage(ctx)
	case "key":
		c, cerr := azkeys.NewClient(vaultURL, staticCred{}, &azkeys.ClientOptions{ClientOptions: co})
		if cerr != nil {
			t.Fatal(cerr)
		}
		_, err = c.GetKey(ctx, name, version, nil)
	case "cert":
		c, cerr := azcertificates.NewClient(vaultURL, staticCred{}, &azcertificates.ClientOptions{ClientOptions: co})
		if cerr != nil {
			t.Fatal(cerr)
		}
		_, err = c.GetCertificate(ctx, name, version, nil)
	default:
		t.Fatalf("unknown op %s", op)
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("%s: want an *azcore.ResponseError, got %T %v", op, err, err)
	}
	return err
}

func aadBody(status int, name string, code int, desc string) string {
	const trace, corr = "0f8a3c1e-1111-4d2b-9e5f-6a7b8c9d0e1f", "5b7e2d10-2222-4c3a-8f6e-7d8c9b0a1f2e"
	b, _ := json.Marshal(map[string]any{
		"error":             name,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: 2026-11-26 11:22:54Z", code, desc, trace, corr),
		"error_codes":       []int{code},
		"timestamp":         "2026-11-26 11:22:54Z",
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", code),
	})
	return string(b)
}

// entraTransport answers MSAL's authority metadata request and then the token request
// with status/body.
func entraTransport(status int, body string) transport {
	return func(r *http.Request) *http.Response {
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/.well-known/openid-configuration"):
			tenant := strings.Split(strings.TrimPrefix(p, "/"), "/")[0]
			base := "https://" + r.URL.Host + "/" + tenant
			b, _ := json.Marshal(map[string]any{
				"token_endpoint":         base + "/oauth2/v2.0/token",
				"authorization_endpoint": base + "/oauth2/v2.0/authorize",
				"issuer":                 "https://" + r.URL.Host + "/" + tenant + "/v2.0",
				"jwks_uri":               base + "/discovery/v2.0/keys",
			})
			return answer(http.StatusOK, nil, string(b))
		case strings.HasSuffix(p, "/oauth2/v2.0/token"):
			return answer(status, nil, body)
		case strings.HasPrefix(p, "/common/discovery/instance"):
			return answer(http.StatusOK, nil, `{"tenant_discovery_endpoint":"https://login.microsoftonline.com/`+testTenant+`/v2.0/.well-known/openid-configuration","api-version":"1.1","metadata":[]}`)
		}
		return answer(http.StatusNotFound, nil, `{}`)
	}
}

var vaultScope = policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}, TenantID: testTenant}

// secretCredError is the error of a ClientSecretCredential whose token request gets status/body.
func secretCredError(t *testing.T, status int, body string) error {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(testTenant, testClient, testSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Transport: entraTransport(status, body), Retry: policy.RetryOptions{MaxRetries: -1}},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), vaultScope)
	return authErr(t, err)
}

// assertionCredError is the same for a workload identity (client assertion) credential.
func assertionCredError(t *testing.T, status int, body string) error {
	t.Helper()
	cred, err := azidentity.NewClientAssertionCredential(testTenant, testClient,
		func(context.Context) (string, error) { return saToken, nil },
		&azidentity.ClientAssertionCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Transport: entraTransport(status, body), Retry: policy.RetryOptions{MaxRetries: -1}},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), vaultScope)
	return authErr(t, err)
}

// imdsError is the error of a managed identity credential whose IMDS answers status/body.
func imdsError(t *testing.T, clientID string, status int, body string) error {
	t.Helper()
	tr := transport(func(r *http.Request) *http.Response { return answer(status, nil, body) })
	o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: tr, Retry: policy.RetryOptions{MaxRetries: -1}}}
	if clientID != "" {
		o.ID = azidentity.ClientID(clientID)
	}
	cred, err := azidentity.NewManagedIdentityCredential(o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err == nil {
		t.Fatal("want an error")
	}
	// A user-assigned identity's 400 is an AuthenticationFailedError; a missing
	// system-assigned one is "credential unavailable" with the answer in its text.
	return fmt.Errorf("%w", err)
}

func authErr(t *testing.T, err error) error {
	t.Helper()
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		t.Fatalf("want an *azidentity.AuthenticationFailedError, got %T %v", err, err)
	}
	// As the Key Vault clients return it: wrapped by azcore's bearer token policy.
	return fmt.Errorf("%w", err)
}

// saToken is a service-account token shaped like a real one (never to be printed).
var saToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ." +
	"eyJpc3MiOiJodHRwczovL29pZGMuZXhhbXBsZS9pc3N1ZXIvIiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50OnNob3A6d2ViIn0." +
	"c2lnbmF0dXJlLW5vdC1jaGVja2Vk"

// proxyRefusedError is net/http's error for a CONNECT that a real HTTP proxy answered 502.
func proxyRefusedError(t *testing.T, host string) error {
	t.Helper()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cannot resolve "+r.Host, http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)
	pu, _ := url.Parse(proxy.URL)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	_, err := c.Get("https://" + host + "/secrets/db/?api-version=7.6")
	if err == nil {
		t.Fatal("want an error")
	}
	return err
}

// dnsError is the resolver's error for a name that does not exist, as http.Client returns it.
func dnsError(host string) error {
	return &url.Error{Op: "Get", URL: "https://" + host + "/secrets/db/?api-version=7.6",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}}
}

// refusedError is a connection refused, as http.Client returns it.
func refusedError(t *testing.T) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = (&http.Client{}).Get("http://" + addr + "/host/token/")
	if err == nil {
		t.Fatal("want an error")
	}
	return err
}

// nmiError is the error of auth's aad-pod-identity credential when NMI answers status
// with body (or, for status 0, when nothing listens on NMI's port).
func nmiError(t *testing.T, status int, body string) error {
	t.Helper()
	endpoint := ""
	if status == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		endpoint = "http://" + l.Addr().String() + "/host/token/"
		l.Close()
	} else {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}))
		t.Cleanup(srv.Close)
		endpoint = srv.URL + "/host/token/"
	}
	m := auth.NewManager(auth.Options{NMIEndpoint: endpoint, NMIRetries: -1})
	cred, _, err := m.Credential(config.Identity{Mode: vocab.PodIdentity}, config.Pod{Namespace: "shop", Name: "web"}, "", "https://vault.azure.net")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err == nil {
		t.Fatal("NMI gave a token")
	}
	return err
}
