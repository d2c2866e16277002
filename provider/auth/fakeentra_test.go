package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeEntra answers the Entra ID endpoints MSAL uses for confidential clients:
// instance discovery, the tenant's OpenID configuration and the v2 token
// endpoint. Access tokens name the client, tenant, scope and a digest of the
// assertion or secret that was presented, so a test can tell whose token it got.
type fakeEntra struct {
	t             *testing.T
	tokenRequests atomic.Int64
	otherRequests atomic.Int64

	mu    sync.Mutex
	hosts []string // Host headers of token requests
	forms []map[string]string
}

func (f *fakeEntra) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	path := r.URL.Path
	switch {
	case strings.HasSuffix(path, "/discovery/instance"):
		f.otherRequests.Add(1)
		authz := r.URL.Query().Get("authorization_endpoint")
		writeTestJSON(w, map[string]any{
			"tenant_discovery_endpoint": strings.Replace(authz, "/oauth2/v2.0/authorize", "/v2.0/.well-known/openid-configuration", 1),
			"api-version":               "1.1",
			"metadata":                  []map[string]any{{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
		})
	case strings.HasSuffix(path, "/v2.0/.well-known/openid-configuration"):
		f.otherRequests.Add(1)
		tenant := strings.Split(strings.TrimPrefix(path, "/"), "/")[0]
		base := "https://" + host + "/" + tenant
		writeTestJSON(w, map[string]any{
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"issuer":                 base + "/v2.0",
		})
	case strings.HasSuffix(path, "/oauth2/v2.0/token") && r.Method == http.MethodPost:
		f.tokenRequests.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tenant := strings.Split(strings.TrimPrefix(path, "/"), "/")[0]
		form := map[string]string{}
		for k := range r.PostForm {
			form[k] = r.PostForm.Get(k)
		}
		f.mu.Lock()
		f.hosts = append(f.hosts, host)
		f.forms = append(f.forms, form)
		f.mu.Unlock()
		proof := form["client_assertion"] + form["client_secret"]
		sum := sha256.Sum256([]byte(proof))
		writeTestJSON(w, map[string]any{
			"token_type":     "Bearer",
			"expires_in":     3600,
			"ext_expires_in": 3600,
			"access_token":   fmt.Sprintf("at|%s|%s|%s|%s", form["client_id"], tenant, form["scope"], hex.EncodeToString(sum[:4])),
		})
	default:
		f.t.Logf("fake Entra: unexpected %s %s%s", r.Method, host, r.URL)
		http.NotFound(w, r)
	}
}

func writeTestJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// proofOf is the digest the fake puts in its access tokens for a secret or assertion.
func proofOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// handlerTransport is a policy.Transporter that serves requests with a handler
// in process, whatever their host.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	rec := httptest.NewRecorder()
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	t.h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
