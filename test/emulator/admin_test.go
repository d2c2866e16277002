package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// adminCall sends a JSON request to the admin API and decodes the answer.
func adminCall(t *testing.T, e *Emulator, method, path string, in any, wantStatus int) map[string]any {
	t.Helper()
	var body bytes.Buffer
	if in != nil {
		if s, ok := in.(string); ok {
			body.WriteString(s)
		} else if err := json.NewEncoder(&body).Encode(in); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, e.AdminURL()+path, &body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
	}
	return out
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	e := newEmulator(t)
	cfg := `{
	  "tenants": ["` + tenantA + `"],
	  "apps": [{"tenantId": "` + tenantA + `", "clientId": "` + appSecret + `", "secret": "` + secretVal + `"}],
	  "issuers": ["` + issuerURL + `"],
	  "vaults": [{
	    "name": "kv-admin",
	    "grants": [{"clientId": "` + appSecret + `", "permissions": ["SecretGet", "SecretList", "CertGet"]}],
	    "secrets": [{"name": "multi", "values": ["a", "b", "c"], "contentType": "text/plain"}],
	    "certificates": [{"name": "tls", "generate": {"commonName": "tls.test", "keyType": "P256", "intermediates": 1}}]
	  }],
	  "faults": {"imds": {"firstLatency": "1s"}},
	  "tokenLifetime": "30m"
	}`
	adminCall(t, e, http.MethodPost, "/config", cfg, http.StatusOK)
	if f := e.GetFaults(ServiceIMDS); f.FirstLatency != time.Second {
		t.Fatalf("faults %+v", f)
	}
	adminCall(t, e, http.MethodDelete, "/faults/imds", nil, http.StatusOK)

	// Unknown fields and permissions are refused.
	adminCall(t, e, http.MethodPost, "/config", `{"tenant": []}`, http.StatusBadRequest)
	adminCall(t, e, http.MethodPost, "/vaults/kv-admin/grants", map[string]any{"clientId": "x", "permissions": []string{"Get"}}, http.StatusBadRequest)

	out := adminCall(t, e, http.MethodPost, "/vaults/kv-admin/secrets/added", map[string]any{"value": "via-admin"}, http.StatusOK)
	added := out["version"].(string)
	info := adminCall(t, e, http.MethodGet, "/vaults/kv-admin/secret/multi/versions", nil, http.StatusOK)
	versions := info["versions"].([]any)
	if len(versions) != 3 {
		t.Fatalf("versions %v", versions)
	}
	adminCall(t, e, http.MethodPost, "/vaults/kv-admin/secret/multi/versions/latest/disable", nil, http.StatusOK)

	cred := secretCred(t, e, tenantA, appSecret, secretVal)
	sc := secretsClient(t, e, "https://kv-admin.vault.azure.net/", cred)
	ctx := ctxT(t)
	got, err := sc.GetSecret(ctx, "added", added, nil)
	if err != nil || *got.Value != "via-admin" {
		t.Fatal(got, err)
	}
	_, err = sc.GetSecret(ctx, "multi", "", nil)
	respErr(t, err, http.StatusForbidden, "Forbidden")
	got, err = sc.GetSecret(ctx, "multi", versions[1].(string), nil)
	if err != nil || *got.Value != "b" {
		t.Fatal(got, err)
	}
	cert, err := certsClient(t, e, "https://kv-admin.vault.azure.net/", cred).GetCertificate(ctx, "tls", "", nil)
	if err != nil || len(cert.CER) == 0 {
		t.Fatal(cert, err)
	}
	if cert.Attributes == nil || cert.Attributes.Expires == nil || cert.Attributes.NotBefore == nil {
		t.Fatalf("certificate without exp/nbf: %+v", cert.Attributes)
	}

	// Delete, with expiry set through the admin API.
	adminCall(t, e, http.MethodPost, "/vaults/kv-admin/secrets/doomed", map[string]any{"value": "x", "expires": "2031-01-01T00:00:00Z", "tags": map[string]string{"app": "a"}}, http.StatusOK)
	if s, err := sc.GetSecret(ctx, "doomed", "", nil); err != nil || s.Attributes.Expires == nil || s.Attributes.Expires.Year() != 2031 || *s.Tags["app"] != "a" {
		t.Fatalf("doomed: %v %+v", err, s)
	}
	adminCall(t, e, http.MethodDelete, "/vaults/kv-admin/secret/doomed", nil, http.StatusOK)
	adminCall(t, e, http.MethodDelete, "/vaults/kv-admin/secret/doomed", nil, http.StatusNotFound)
	_, err = sc.GetSecret(ctx, "doomed", "", nil)
	respErr(t, err, http.StatusNotFound, "SecretNotFound")

	// Raw override, then throttling, then counts.
	adminCall(t, e, http.MethodPut, "/vaults/kv-admin/raw", map[string]any{
		"objectType": "secret", "name": "added", "version": "", "status": 500, "bodyText": "not json",
	}, http.StatusOK)
	_, err = sc.GetSecret(ctx, "added", "", nil)
	respErr(t, err, http.StatusInternalServerError, "")
	adminCall(t, e, http.MethodPut, "/faults/keyvault", map[string]any{"throttleRate": 1, "retryAfter": "1ms"}, http.StatusOK)
	_, err = sc.GetSecret(ctx, "added", added, nil)
	respErr(t, err, http.StatusTooManyRequests, "Throttled")
	adminCall(t, e, http.MethodPut, "/faults/keyvault", map[string]any{}, http.StatusOK)
	counts := adminCall(t, e, http.MethodGet, "/counts", nil, http.StatusOK)
	if counts["tokenRequests"].(float64) != 1 || counts["keyVaultByOp"].(map[string]any)["GetSecret"].(float64) < 5 {
		t.Fatalf("counts %v", counts)
	}
	adminCall(t, e, http.MethodPost, "/counts/reset", nil, http.StatusOK)
	if c := e.Counts(); c.KeyVaultRequests != 0 {
		t.Fatalf("not reset: %+v", c)
	}

	// Workload identity set up entirely through the admin API.
	adminCall(t, e, http.MethodPost, "/federated-credentials", map[string]any{
		"tenantId": tenantA, "clientId": appWI, "issuer": issuerURL, "subject": saSubject,
	}, http.StatusOK)
	adminCall(t, e, http.MethodPost, "/vaults/kv-admin/grants", map[string]any{
		"clientId": appWI, "permissions": []string{"SecretGet"}, "objectType": "secret", "objectName": "added",
	}, http.StatusOK)
	tok := adminCall(t, e, http.MethodPost, "/issuers/"+url.PathEscape(issuerURL)+"/tokens", map[string]any{
		"subject": saSubject, "ttl": "10m",
	}, http.StatusOK)["token"].(string)
	adminCall(t, e, http.MethodPost, "/issuers/tokens", map[string]any{"issuer": "https://nope/", "subject": "x"}, http.StatusNotFound)
	got, err = secretsClient(t, e, "https://kv-admin.vault.azure.net/", assertionCred(t, e, tenantA, appWI, tok)).GetSecret(ctx, "added", added, nil)
	if err != nil || *got.Value != "via-admin" {
		t.Fatal(got, err)
	}

	// Managed and pod identities.
	mi := adminCall(t, e, http.MethodPost, "/managed-identities", map[string]any{"tenantId": tenantA, "clientId": miOther}, http.StatusOK)
	if !strings.HasSuffix(mi["resourceId"].(string), "/userAssignedIdentities/"+miOther) {
		t.Fatalf("%v", mi)
	}
	adminCall(t, e, http.MethodPost, "/pod-identities", map[string]any{"namespace": "ns", "podName": "p", "clientId": podApp, "tenantId": tenantA}, http.StatusOK)
	adminCall(t, e, http.MethodDelete, "/pod-identities/ns/p", nil, http.StatusOK)

	inf := adminCall(t, e, http.MethodGet, "/info", nil, http.StatusOK)
	if inf["proxyUrl"] != e.ProxyURL() || inf["caFile"] != e.CAFile() || inf["nmiAddr"] != e.NMIAddr() {
		t.Fatalf("info %v", inf)
	}
}

// TestAdminAPIStrictness drives the issue-12 additions through the admin API, which
// mirrors the Go API.
func TestAdminAPIStrictness(t *testing.T) {
	t.Parallel()
	e := newEmulator(t)
	adminCall(t, e, http.MethodPost, "/clouds", map[string]any{"loginHost": "login.stack.test", "vaultSuffix": "vault.stack.test",
		"tenants": []string{tenantA}, "apiVersions": []string{"7.1"}}, http.StatusOK)
	e.Vault("kv-admin2")
	if resp, body := rawGet(t, e, "https://kv-admin2.vault.stack.test/secrets/s?api-version=7.6", ""); resp.StatusCode != 400 || !strings.Contains(body, "latest supported version (7.1)") {
		t.Fatalf("api-version: %d %s", resp.StatusCode, body)
	}
	if e.lookupTenant(e.cloudByLoginHost("login.stack.test"), tenantA) == nil {
		t.Fatal("tenant not declared in the stack cloud")
	}
	adminCall(t, e, http.MethodPost, "/apps", map[string]any{"tenantId": tenantA, "clientId": appSecret, "secret": secretVal}, http.StatusOK)
	adminCall(t, e, http.MethodPost, "/apps/disable", map[string]any{"tenantId": tenantA, "clientId": appSecret}, http.StatusOK)
	if st, body := rawToken(t, e, "login.stack.test", tenantA, appSecret, secretVal, "https://vault.stack.test", ""); st != 400 || !strings.Contains(body["error_description"].(string), "AADSTS7000112") {
		t.Fatalf("disabled: %d %v", st, body)
	}
	adminCall(t, e, http.MethodPost, "/apps/enable", map[string]any{"tenantId": tenantA, "clientId": appSecret}, http.StatusOK)
	if st, _ := rawToken(t, e, "login.stack.test", tenantA, appSecret, secretVal, "https://vault.stack.test", ""); st != 200 {
		t.Fatalf("enabled again: %d", st)
	}
	adminCall(t, e, http.MethodPost, "/revoke-tokens/"+appSecret, nil, http.StatusOK)
	e.mu.Lock()
	_, revoked := e.revokedBefore[strings.ToLower(appSecret)]
	e.mu.Unlock()
	if !revoked {
		t.Fatal("not revoked")
	}
	adminCall(t, e, http.MethodPost, "/managed-identities", map[string]any{"tenantId": tenantA, "clientId": miUser}, http.StatusOK)
	adminCall(t, e, http.MethodDelete, "/managed-identities/"+miUser, nil, http.StatusOK)
	if e.ManagedIdentityResourceID(miUser) != "" {
		t.Fatal("managed identity not removed")
	}
	adminCall(t, e, http.MethodPut, "/nmi-hold", map[string]any{"hold": "2s"}, http.StatusOK)
	adminCall(t, e, http.MethodPost, "/pod-identities", map[string]any{"namespace": "ns", "podName": "p", "clientId": podApp, "tenantId": tenantA, "assignedAfter": "1h"}, http.StatusOK)
	e.mu.Lock()
	hold, b := e.opts.NMIHold, e.podIdentities["ns/p"]
	e.mu.Unlock()
	if hold != 2*time.Second || b.assignedAt.Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("nmi hold %s, binding %+v", hold, b)
	}
	adminCall(t, e, http.MethodPut, "/faults/keyvault", map[string]any{"throttleFirst": 2, "noRetryAfter": true, "throttleStatus": 503}, http.StatusOK)
	if f := e.GetFaults(ServiceKeyVault); f.ThrottleFirst != 2 || !f.NoRetryAfter || f.ThrottleStatus != 503 {
		t.Fatalf("faults %+v", f)
	}
	info := adminCall(t, e, http.MethodGet, "/info", nil, http.StatusOK)
	if info["imdsAddr"] != e.IMDSAddr() {
		t.Fatalf("info %v", info)
	}
}
