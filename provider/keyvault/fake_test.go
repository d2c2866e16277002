package keyvault

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// fakeVault is an in-memory Key Vault data plane behind an http.RoundTripper: it
// answers the 401 challenge, checks that the bearer token names the vault's tenant,
// serves secrets, keys, certificates and version lists, and plays scripted faults.
type fakeVault struct {
	mu          sync.Mutex
	tenant      map[string]string   // host -> tenant
	script      map[string][]reply  // host -> replies to authorized requests, consumed in order
	probes      map[string]int      // host -> unauthenticated requests (challenges answered)
	authorized  map[string]int      // host -> requests that carried a token
	tokens      map[string][]string // host -> Authorization headers seen
	delay       time.Duration
	inFlight    int
	maxInFlight int
	probeFail   int // the next probeFail probes are throttled (429, retry-after-ms 1)
}

// reply is one scripted answer: a status with headers (429, 503, ...).
type reply struct {
	status int
	header map[string]string
	reset  bool // transport failure instead of an answer
}

func newFakeVault() *fakeVault {
	return &fakeVault{
		tenant:     map[string]string{},
		script:     map[string][]reply{},
		probes:     map[string]int{},
		authorized: map[string]int{},
		tokens:     map[string][]string{},
	}
}

func (f *fakeVault) client() *http.Client { return &http.Client{Transport: f} }

func (f *fakeVault) setTenant(host, tenant string) {
	f.mu.Lock()
	f.tenant[host] = tenant
	f.mu.Unlock()
}

func (f *fakeVault) push(host string, rs ...reply) {
	f.mu.Lock()
	f.script[host] = append(f.script[host], rs...)
	f.mu.Unlock()
}

func (f *fakeVault) counts(host string) (probes, authorized int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.probes[host], f.authorized[host]
}

func (f *fakeVault) seen(host string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tokens[host]...)
}

func (f *fakeVault) tenantOf(host string) string {
	if t := f.tenant[host]; t != "" {
		return t
	}
	return "tenant-a"
}

func (f *fakeVault) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	host := req.URL.Host
	f.mu.Lock()
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	delay := f.delay
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}

	f.mu.Lock()
	tenant := f.tenantOf(host)
	challenge := fmt.Sprintf(`Bearer authorization="https://login.microsoftonline.com/%s", resource="https://vault.azure.net"`, tenant)
	authz := req.Header.Get("Authorization")
	if authz == "" {
		f.probes[host]++
		if f.probeFail > 0 {
			f.probeFail--
			f.mu.Unlock()
			return respond(req, http.StatusTooManyRequests, map[string]string{"retry-after-ms": "1"}, `{"error":{"code":"Throttled"}}`), nil
		}
		f.mu.Unlock()
		return respond(req, http.StatusUnauthorized, map[string]string{"WWW-Authenticate": challenge}, `{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}`), nil
	}
	f.authorized[host]++
	f.tokens[host] = append(f.tokens[host], authz)
	if !strings.HasSuffix(authz, "|"+tenant) || strings.HasPrefix(authz, "Bearer bad") {
		f.mu.Unlock()
		return respond(req, http.StatusUnauthorized, map[string]string{"WWW-Authenticate": challenge}, `{"error":{"code":"Unauthorized","message":"AKV10032: Invalid issuer."}}`), nil
	}
	var r *reply
	if s := f.script[host]; len(s) > 0 {
		r = &s[0]
		f.script[host] = s[1:]
	}
	f.mu.Unlock()
	if r != nil {
		if r.reset {
			return nil, &netError{}
		}
		return respond(req, r.status, r.header, `{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received."}}`), nil
	}
	if strings.Trim(req.URL.Path, "/") == "secrets" {
		return respond(req, http.StatusOK, nil, secretsListBody(host, req.URL.Query().Get("$skiptoken"))), nil
	}
	return respond(req, http.StatusOK, nil, objectBody(host, req.URL.Path)), nil
}

// secretsListBody answers GET /secrets in two pages, as Key Vault pages: a nextLink
// with a $skiptoken, then a last page with nextLink null.
func secretsListBody(host, token string) string {
	base := "https://" + host + "/secrets/"
	page := map[string]any{
		"value": []map[string]any{
			{"id": base + "app-db", "contentType": "text/plain", "tags": map[string]string{"app": "shop"},
				"attributes": map[string]any{"enabled": true, "exp": 1900000000, "nbf": 1700000000}},
			{"id": base + "app-off", "attributes": map[string]any{"enabled": false}},
		},
		"nextLink": "https://" + host + "/secrets?api-version=7.5&$skiptoken=page2",
	}
	if token == "page2" {
		page = map[string]any{"value": []map[string]any{
			{"id": base + "web-tls", "managed": true, "contentType": "application/x-pkcs12", "attributes": map[string]any{"enabled": true}},
		}, "nextLink": nil}
	}
	b, _ := json.Marshal(page)
	return string(b)
}

// netError is a transport failure as the net package reports one.
type netError struct{}

func (*netError) Error() string   { return "read tcp: connection reset by peer" }
func (*netError) Timeout() bool   { return false }
func (*netError) Temporary() bool { return false }

func respond(req *http.Request, status int, header map[string]string, body string) *http.Response {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for k, v := range header {
		h.Set(k, v)
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

// objectBody answers GET /secrets|keys|certificates/<name>[/<version>|/versions].
func objectBody(host, path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	base := "https://" + host + "/" + parts[0] + "/" + parts[1]
	if len(parts) == 3 && parts[2] == "versions" {
		items := []map[string]any{
			{"id": base + "/v1", "kid": base + "/v1", "attributes": map[string]any{"enabled": true, "created": 1700000000}},
			{"id": base + "/v2", "kid": base + "/v2", "attributes": map[string]any{"enabled": false, "created": 1700000100}},
		}
		b, _ := json.Marshal(map[string]any{"value": items})
		return string(b)
	}
	ver := "latest0"
	if len(parts) == 3 && parts[2] != "" {
		ver = parts[2]
	}
	id := base + "/" + ver
	var v any
	switch parts[0] {
	case "secrets":
		v = map[string]any{"id": id, "value": "value-of-" + parts[1], "contentType": "text/plain",
			"attributes": map[string]any{"enabled": true, "exp": 1900000000, "nbf": 1700000000}}
	case "keys":
		v = map[string]any{"key": map[string]any{"kid": id, "kty": "EC", "crv": "P-256", "x": "AQID", "y": "BAUG"}}
	default:
		v = map[string]any{"id": id, "cer": "MIIB", "attributes": map[string]any{"enabled": true, "exp": 1800000000}}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// fakeCred issues "<name>|<tenant>" tokens and counts its calls.
type fakeCred struct {
	name  string
	calls atomic.Int32
}

func (c *fakeCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	return azcore.AccessToken{Token: c.name + "|" + o.TenantID, ExpiresOn: time.Now().Add(time.Hour)}, nil
}
