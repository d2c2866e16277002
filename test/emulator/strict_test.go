package emulator

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawToken asks a login host for a client-credentials token with a client secret.
func rawToken(t *testing.T, e *Emulator, host, tenantID, clientID, secret, resource, claims string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {resource + "/.default"}}
	if claims != "" {
		form.Set("claims", claims)
	}
	resp, err := e.HTTPClient().PostForm("https://"+host+"/"+tenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func rawGet(t *testing.T, e *Emulator, u, token string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestCloudsApart: each cloud has its own tenants, token keys, issuer and
// resources, like Azure's.
func TestCloudsApart(t *testing.T) {
	t.Parallel()
	e := newEmulator(t, Options{Clouds: []Cloud{{LoginHost: "login.microsoftonline.us", Tenants: []string{tenantA}}}})
	e.AddTenant(tenantA)
	e.SetClientSecret(tenantA, appSecret, secretVal)
	v := e.Vault("kv-apart")
	v.Grant(appSecret, AllPermissions...)
	v.SetSecret("s", "x", SecretOptions{})

	// A tenant of one cloud only does not exist at another cloud's login host.
	e.AddTenantToCloud("login.chinacloudapi.cn", tenantB)
	e.SetClientSecret(tenantB, appSecret, secretVal)
	if st, body := rawToken(t, e, "login.microsoftonline.com", tenantB, appSecret, secretVal, "https://vault.azure.net", ""); st != 400 || !strings.Contains(body["error_description"].(string), "AADSTS90002") {
		t.Fatalf("public login host, China tenant: %d %v", st, body)
	}
	// A login host refuses another cloud's resource.
	st, body := rawToken(t, e, "login.microsoftonline.com", tenantA, appSecret, secretVal, "https://vault.usgovcloudapi.net", "")
	if st != 400 || body["error"] != "invalid_resource" || !strings.Contains(body["error_description"].(string), "AADSTS500011") {
		t.Fatalf("public login host, US Gov resource: %d %v", st, body)
	}
	_, pub := rawToken(t, e, "login.microsoftonline.com", tenantA, appSecret, secretVal, "https://vault.azure.net", "")
	_, gov := rawToken(t, e, "login.microsoftonline.us", tenantA, appSecret, secretVal, "https://vault.usgovcloudapi.net", "")
	if e.Counts().TokensByHost["login.microsoftonline.us"] != 1 || e.Counts().TokensByHost["login.microsoftonline.com"] != 1 {
		t.Fatalf("tokens by host %v", e.Counts().TokensByHost)
	}
	pubTok, govTok := pub["access_token"].(string), gov["access_token"].(string)
	for _, tc := range []struct {
		name, url, token, want string
	}{
		{"own cloud", "https://kv-apart.vault.azure.net/secrets/s?api-version=7.6", pubTok, ""},
		{"US Gov token at a public vault", "https://kv-apart.vault.azure.net/secrets/s?api-version=7.6", govTok, "AKV10022: Invalid audience. Expected https://vault.azure.net, found: https://vault.usgovcloudapi.net"},
		{"public token at a US Gov vault", "https://kv-apart.vault.usgovcloudapi.net/secrets/s?api-version=7.6", pubTok, "AKV10022"},
		{"own cloud, US Gov", "https://kv-apart.vault.usgovcloudapi.net/secrets/s?api-version=7.6", govTok, ""},
	} {
		resp, body := rawGet(t, e, tc.url, tc.token)
		if tc.want == "" {
			if resp.StatusCode != 200 {
				t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
			}
			continue
		}
		if resp.StatusCode != 401 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	// A token with the right audience but another cloud's issuer and key: AKV10032.
	e.DeclareCloud(Cloud{LoginHost: "login.other.test", VaultSuffix: "vault.other.test", Tenants: []string{tenantA}})
	_, other := rawToken(t, e, "login.other.test", tenantA, appSecret, secretVal, "https://vault.other.test", "")
	p, _ := parseJWT(other["access_token"].(string))
	p.claims["aud"] = "https://vault.azure.net"
	forged := e.cloudByLoginHost("login.other.test").signer.sign(p.claims)
	if resp, body := rawGet(t, e, "https://kv-apart.vault.azure.net/secrets/s?api-version=7.6", forged); resp.StatusCode != 401 ||
		!strings.Contains(body, "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/"+tenantA+"/, https://login.microsoftonline.com/"+tenantA+"/v2.0, found https://login.other.test/"+tenantA+"/") {
		t.Errorf("other cloud's issuer: %d %s", resp.StatusCode, body)
	}
}

// TestAPIVersions: vaults answer only the api-versions of their cloud.
func TestAPIVersions(t *testing.T) {
	t.Parallel()
	e := newEmulator(t, Options{Clouds: []Cloud{{LoginHost: "login.stack.test", VaultSuffix: "vault.stack.test", APIVersions: []string{"7.1"}}}})
	e.Vault("kv-ver")
	for _, tc := range []struct{ url, want string }{
		{"https://kv-ver.vault.azure.net/secrets/s?api-version=1999-01-01", "The specified version (1999-01-01) is not recognized. Consider using the latest supported version (2026-04-01)."},
		{"https://kv-ver.vault.stack.test/secrets/s?api-version=2026-04-01", "The specified version (2026-04-01) is not recognized. Consider using the latest supported version (7.1)."},
		{"https://kv-ver.vault.azure.net/secrets/s", "missing the required parameter 'api-version'"},
	} {
		resp, body := rawGet(t, e, tc.url, "")
		if resp.StatusCode != 400 || !strings.Contains(body, `"code":"BadParameter"`) || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s", tc.url, resp.StatusCode, body)
		}
	}
	for _, u := range []string{"https://kv-ver.vault.stack.test/secrets/s?api-version=7.1", "https://kv-ver.vault.azure.net/secrets/s?api-version=7.1"} {
		if resp, _ := rawGet(t, e, u, ""); resp.StatusCode != 401 {
			t.Errorf("%s: %d, want the 401 challenge", u, resp.StatusCode)
		}
	}
}

// TestContinuousAccessEvaluation: CAE tokens live long, come with refresh_in,
// and a revoked one is answered with a claims challenge.
func TestContinuousAccessEvaluation(t *testing.T) {
	t.Parallel()
	e := newEmulator(t, Options{CAETokenLifetime: 24 * time.Hour})
	e.AddTenant(tenantA)
	e.SetClientSecret(tenantA, appSecret, secretVal)
	v := e.Vault("kv-cae")
	v.Grant(appSecret, AllPermissions...)
	v.SetSecret("s", "x", SecretOptions{})
	const cp1 = `{"access_token":{"xms_cc":{"values":["CP1"]}}}`
	_, plain := rawToken(t, e, "login.microsoftonline.com", tenantA, appSecret, secretVal, "https://vault.azure.net", "")
	_, cae := rawToken(t, e, "login.microsoftonline.com", tenantA, appSecret, secretVal, "https://vault.azure.net", cp1)
	if plain["expires_in"].(float64) != 3599 || plain["refresh_in"] != nil {
		t.Fatalf("plain token %v", plain)
	}
	if cae["expires_in"].(float64) != 86400 || cae["refresh_in"].(float64) != 43200 {
		t.Fatalf("CAE token %v", cae)
	}
	u := "https://kv-cae.vault.azure.net/secrets/s?api-version=7.6"
	e.RevokeTokens(appSecret)
	if resp, _ := rawGet(t, e, u, plain["access_token"].(string)); resp.StatusCode != 200 {
		t.Fatalf("a token without CAE is not revoked: %d", resp.StatusCode)
	}
	resp, body := rawGet(t, e, u, cae["access_token"].(string))
	h := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != 401 || !strings.Contains(h, `error="insufficient_claims"`) || e.Counts().KeyVaultClaimsChallenges != 1 {
		t.Fatalf("revoked: %d %q %s", resp.StatusCode, h, body)
	}
	claims := h[strings.Index(h, `claims="`)+8:]
	claims = claims[:strings.Index(claims, `"`)]
	if dec, err := base64.StdEncoding.DecodeString(claims); err != nil || !strings.Contains(string(dec), `"nbf":{"essential":true`) {
		t.Fatalf("claims %q: %s %v", claims, dec, err)
	}
	_, fresh := rawToken(t, e, "login.microsoftonline.com", tenantA, appSecret, secretVal, "https://vault.azure.net", cp1)
	if resp, _ := rawGet(t, e, u, fresh["access_token"].(string)); resp.StatusCode != 200 {
		t.Fatalf("a token issued after the revocation: %d", resp.StatusCode)
	}
	e.DisableApp(tenantA, appSecret)
	if st, body := rawToken(t, e, "login.microsoftonline.com", tenantA, appSecret, secretVal, "https://vault.azure.net", cp1); st != 400 || !strings.Contains(body["error_description"].(string), "AADSTS7000112") {
		t.Fatalf("disabled app: %d %v", st, body)
	}
}

// TestVaultConcurrencyAndThrottling records the highest concurrency per vault and
// throttles without Retry-After.
func TestVaultConcurrencyAndThrottling(t *testing.T) {
	t.Parallel()
	e := newEmulator(t)
	e.Vault("kv-conc")
	e.SetFaults(ServiceKeyVault, Faults{Latency: 100 * time.Millisecond})
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rawGet(t, e, "https://kv-conc.vault.azure.net/secrets/s?api-version=7.6", "")
		}()
	}
	wg.Wait()
	if n := e.Counts().KeyVaultMaxConcurrent["kv-conc"]; n != 5 {
		t.Fatalf("max concurrent %d, want 5", n)
	}
	e.SetFaults(ServiceKeyVault, Faults{ThrottleFirst: 2, NoRetryAfter: true, ThrottleStatus: 503})
	for i, want := range []int{503, 503, 401} {
		resp, _ := rawGet(t, e, "https://kv-conc.vault.azure.net/secrets/s?api-version=7.6", "")
		if resp.StatusCode != want || resp.Header.Get("Retry-After") != "" {
			t.Fatalf("request %d: %d Retry-After %q", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}
