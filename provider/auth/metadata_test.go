package auth

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Real azidentity credentials against the fake Entra ID: authority metadata is
// fetched once per authority and tenant, not once per credential.
func TestAuthorityMetadataIsSharedAcrossCredentials(t *testing.T) {
	for _, tc := range []struct {
		name      string
		wantFirst int64 // metadata requests for five new pods of one tenant
	}{
		{"shared", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entra := &fakeEntra{t: t}
			clock := newFakeClock()
			m := NewManager(Options{Transport: handlerTransport{entra}, Now: clock.Now})
			newPod := func(i int, tenant string) {
				t.Helper()
				cred, _, err := m.Credential(wi(fmt.Sprintf("sa-token-%s-%d", tenant, i), "client", tenant), testPod, authority, kvRes)
				if err != nil {
					t.Fatal(err)
				}
				if tok := mustToken(t, cred, kvScope); !strings.Contains(tok.Token, "|"+tenant+"|") {
					t.Fatalf("token %q", tok.Token)
				}
			}
			for i := range 5 {
				newPod(i, tenantA)
			}
			if got := entra.otherRequests.Load(); got != tc.wantFirst || entra.tokenRequests.Load() != 5 {
				t.Fatalf("5 pods: %d metadata and %d token requests, want %d and 5", got, entra.tokenRequests.Load(), tc.wantFirst)
			}
			newPod(0, tenantB) // another tenant has its own OpenID configuration
			if got := entra.otherRequests.Load(); got != 4 {
				t.Fatalf("after another tenant: %d metadata requests, want 4", got)
			}
			clock.Advance(metadataTTL + time.Minute) // old copies are fetched again
			newPod(9, tenantA)
			if got := entra.otherRequests.Load(); got != 6 {
				t.Fatalf("after the TTL: %d metadata requests, want 6", got)
			}
		})
	}
}

// countingTransport answers metadata URLs with the next status of a script.
type countingTransport struct {
	statuses []int
	calls    int
}

func (c *countingTransport) Do(r *http.Request) (*http.Response, error) {
	status := c.statuses[min(c.calls, len(c.statuses)-1)]
	c.calls++
	body := fmt.Sprintf(`{"call":%d}`, c.calls)
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

func TestMetadataTransport(t *testing.T) {
	const openid = "https://login.example/tenant/v2.0/.well-known/openid-configuration"
	for _, tc := range []struct {
		name      string
		method    string
		url       string
		statuses  []int
		wantCalls int // after three requests
		wantBody  string
	}{
		{"openid configuration is kept", http.MethodGet, openid, []int{200}, 1, `{"call":1}`},
		{"instance discovery is kept", http.MethodGet, "https://login.example/common/discovery/instance?api-version=1.1", []int{200}, 1, `{"call":1}`},
		{"errors are not kept", http.MethodGet, openid, []int{503, 500, 200}, 3, `{"call":3}`},
		{"token requests always go out", http.MethodPost, "https://login.example/tenant/oauth2/v2.0/token", []int{200}, 3, `{"call":3}`},
		{"other documents always go out", http.MethodGet, "https://login.example/tenant/v2.0/keys", []int{200}, 3, `{"call":3}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := &countingTransport{statuses: tc.statuses}
			mt := newMetadataTransport(next, time.Now)
			var body []byte
			for range 3 {
				req, _ := http.NewRequest(tc.method, tc.url, nil)
				resp, err := mt.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if next.calls != tc.wantCalls || string(body) != tc.wantBody {
				t.Fatalf("%d calls, last body %s; want %d and %s", next.calls, body, tc.wantCalls, tc.wantBody)
			}
		})
	}
}
