package emulator

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

const (
	tenantA   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tenantB   = "0e3e2e5a-8a1b-4d39-9a67-3c3f1c6e4f5a"
	appSecret = "1b6e3a4e-0c6f-4a8f-9d0e-5f7a4b7c2d11"
	appWI     = "5d1f6a57-0f4b-4a3e-8f54-2f1d3a9c6b20"
	unknownID = "9a9a9a9a-9a9a-4a9a-9a9a-9a9a9a9a9a9a"
	secretVal = "s3cr3t-Value~" // a client secret
	issuerURL = "https://oidc.prod-aks.azure.com/6f1e0b2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b/"
	saSubject = "system:serviceaccount:default:workload-identity-sa"
)

func newEmulator(t *testing.T, opts ...Options) *Emulator {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	e, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// clientOpts are SDK options that route through the emulator with fast retries.
func clientOpts(e *Emulator) azcore.ClientOptions {
	return azcore.ClientOptions{
		Transport: e.HTTPClient(),
		Retry:     policy.RetryOptions{MaxRetries: 2, RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond},
	}
}

func secretCred(t *testing.T, e *Emulator, tenantID, clientID, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOpts(e)})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func assertionCred(t *testing.T, e *Emulator, tenantID, clientID, assertion string, co ...azcore.ClientOptions) azcore.TokenCredential {
	t.Helper()
	o := clientOpts(e)
	if len(co) > 0 {
		o = co[0]
	}
	cred, err := azidentity.NewClientAssertionCredential(tenantID, clientID,
		func(context.Context) (string, error) { return assertion, nil },
		&azidentity.ClientAssertionCredentialOptions{ClientOptions: o})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func secretsClient(t *testing.T, e *Emulator, vaultURL string, cred azcore.TokenCredential) *azsecrets.Client {
	t.Helper()
	c, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{ClientOptions: clientOpts(e)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// respErr asserts err is an azcore.ResponseError with status and code.
func respErr(t *testing.T, err error, status int, code string) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want ResponseError %d %s, got %v", status, code, err)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("want %d %s, got %d %s: %v", status, code, re.StatusCode, re.ErrorCode, err)
	}
	return re
}

// authErr asserts err is an azidentity AuthenticationFailedError mentioning want.
func authErr(t *testing.T, err error, want ...string) {
	t.Helper()
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		t.Fatalf("want AuthenticationFailedError, got %T %v", err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error does not contain %q:\n%v", w, err)
		}
	}
}

func TestServicePrincipalSecrets(t *testing.T) {
	t.Parallel()
	e := newEmulator(t)
	e.AddTenant(tenantA)
	e.AddApp(tenantA, appSecret)
	e.SetClientSecret(tenantA, appSecret, secretVal)
	v := e.Vault("kv-one")
	v.Grant(appSecret, SecretGet, SecretList)
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	v1 := v.SetSecret("db-password", "one", SecretOptions{Created: created})
	v2 := v.SetSecret("db-password", "two", SecretOptions{ContentType: "text/plain", Created: created.Add(time.Hour)})
	v3 := v.SetSecret("db-password", "three", SecretOptions{Created: created.Add(2 * time.Hour)})
	v.DisableVersion(ObjectSecret, "db-password", v1)
	for _, ver := range []string{v1, v2, v3} {
		if len(ver) != 32 || strings.Trim(ver, "0123456789abcdef") != "" {
			t.Fatalf("version %q is not 32 lower-hex chars", ver)
		}
	}

	ctx := ctxT(t)
	c := secretsClient(t, e, "https://kv-one.vault.azure.net/", secretCred(t, e, tenantA, appSecret, secretVal))

	got, err := c.GetSecret(ctx, "db-password", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Value != "three" || got.ID.Version() != v3 || got.ID.Name() != "db-password" || !*got.Attributes.Enabled {
		t.Fatalf("latest: %+v", got)
	}
	if string(*got.ID) != "https://kv-one.vault.azure.net/secrets/db-password/"+v3 {
		t.Fatalf("id %s", *got.ID)
	}
	got, err = c.GetSecret(ctx, "db-password", v2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Value != "two" || *got.ContentType != "text/plain" || !got.Attributes.Created.Equal(created.Add(time.Hour)) {
		t.Fatalf("v2: %+v", got)
	}

	// Paging (page size 2, three versions) and disabled versions in the list.
	pager := c.NewListSecretPropertiesVersionsPager("db-password", nil)
	var versions []string
	pages := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, it := range page.Value {
			if it.ID.Version() == v1 && *it.Attributes.Enabled {
				t.Fatal("v1 should be listed as disabled")
			}
			versions = append(versions, it.ID.Version())
		}
	}
	slices.Sort(versions)
	want := []string{v1, v2, v3}
	slices.Sort(want)
	if pages != 2 || !slices.Equal(versions, want) {
		t.Fatalf("pages %d versions %v want %v", pages, versions, want)
	}

	// Disabled version.
	_, err = c.GetSecret(ctx, "db-password", v1, nil)
	re := respErr(t, err, http.StatusForbidden, "Forbidden")
	if !strings.Contains(err.Error(), "SecretDisabled") || !strings.Contains(err.Error(), "Operation get is not allowed on a disabled secret.") {
		t.Fatalf("disabled: %v", re)
	}
	// Not found, with and without version.
	_, err = c.GetSecret(ctx, "missing", "", nil)
	respErr(t, err, http.StatusNotFound, "SecretNotFound")
	if !strings.Contains(err.Error(), "A secret with (name/id) missing was not found in this key vault.") {
		t.Fatal(err)
	}
	_, err = c.GetSecret(ctx, "db-password", "0123456789abcdef0123456789abcdef", nil)
	respErr(t, err, http.StatusNotFound, "SecretNotFound")

	cnt := e.Counts()
	if cnt.KeyVaultChallenges != 1 || cnt.TokenRequests != 1 || cnt.TokensByClient[appSecret] != 1 {
		t.Fatalf("counts %+v", cnt)
	}
	if cnt.KeyVaultByOp["GetSecret"] != 5 || cnt.KeyVaultByOp["ListSecretVersions"] != 2 {
		t.Fatalf("by op %+v", cnt.KeyVaultByOp)
	}
	if cnt.Tunnels["kv-one.vault.azure.net"] == 0 || cnt.Tunnels["login.microsoftonline.com"] == 0 {
		t.Fatalf("tunnels %v", cnt.Tunnels)
	}
	e.ResetCounts()
	if c := e.Counts(); c.TokenRequests != 0 || len(c.KeyVaultByOp) != 0 {
		t.Fatalf("reset: %+v", c)
	}
}

func TestServicePrincipalFailures(t *testing.T) {
	t.Parallel()
	e := newEmulator(t)
	e.AddTenant(tenantA)
	e.AddTenant(tenantB)
	e.SetClientSecret(tenantA, appSecret, secretVal)
	v := e.Vault("kv-fail")
	v.SetSecret("s", "v", SecretOptions{})

	cases := []struct {
		name             string
		tenant, client   string
		secret           string
		want             []string
		wantTokenRequest int
	}{
		{"wrong secret", tenantA, appSecret, "nope", []string{"AADSTS7000215", "invalid_client", "401"}, 1},
		{"unknown client", tenantA, unknownID, secretVal, []string{"AADSTS700016", "unauthorized_client", "400"}, 1},
		{"client in other tenant", tenantB, appSecret, secretVal, []string{"AADSTS700016"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.ResetCounts()
			if tc.tenant == tenantB {
				v.SetTenant(tenantB)
				defer v.SetTenant(tenantA)
			}
			c := secretsClient(t, e, "https://kv-fail.vault.azure.net/", secretCred(t, e, tc.tenant, tc.client, tc.secret))
			_, err := c.GetSecret(ctxT(t), "s", "", nil)
			authErr(t, err, tc.want...)
			if n := e.Counts().TokenRequests; n != tc.wantTokenRequest {
				t.Fatalf("token requests %d", n)
			}
		})
	}

	t.Run("unknown tenant", func(t *testing.T) {
		e := newEmulator(t)
		e.AddTenant(tenantA)
		v := e.Vault("kv-x")
		v.SetTenant(unknownID)
		c := secretsClient(t, e, "https://kv-x.vault.azure.net/", secretCred(t, e, unknownID, appSecret, secretVal))
		_, err := c.GetSecret(ctxT(t), "s", "", nil)
		if err == nil || !strings.Contains(err.Error(), "AADSTS90002") {
			t.Fatalf("want AADSTS90002, got %v", err)
		}
	})

	t.Run("no permission", func(t *testing.T) {
		c := secretsClient(t, e, "https://kv-fail.vault.azure.net/", secretCred(t, e, tenantA, appSecret, secretVal))
		_, err := c.GetSecret(ctxT(t), "s", "", nil)
		respErr(t, err, http.StatusForbidden, "Forbidden")
		for _, w := range []string{"ForbiddenByRbac", "Caller: appid=" + appSecret, "Microsoft.KeyVault/vaults/secrets/getSecret/action"} {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("403 lacks %q: %v", w, err)
			}
		}
		// A grant on another object does not help; one on this object does.
		v.GrantObject(appSecret, ObjectSecret, "other", SecretGet)
		_, err = c.GetSecret(ctxT(t), "s", "", nil)
		respErr(t, err, http.StatusForbidden, "Forbidden")
		v.GrantObject(appSecret, ObjectSecret, "s", SecretGet)
		if _, err := c.GetSecret(ctxT(t), "s", "", nil); err != nil {
			t.Fatal(err)
		}
		// Listing needs SecretList.
		_, err = c.NewListSecretPropertiesVersionsPager("s", nil).NextPage(ctxT(t))
		respErr(t, err, http.StatusForbidden, "Forbidden")
	})

	t.Run("token from another tenant", func(t *testing.T) {
		e := newEmulator(t)
		e.AddTenant(tenantA)
		e.SetClientSecret(tenantA, appSecret, secretVal)
		v := e.Vault("kv-t")
		v.Grant(appSecret, SecretGet)
		v.SetSecret("s", "v", SecretOptions{})
		tok, err := secretCred(t, e, tenantA, appSecret, secretVal).GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		v.SetTenant(tenantB)
		req, _ := http.NewRequest(http.MethodGet, "https://kv-t.vault.azure.net/secrets/s?api-version=7.6", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := e.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), tenantB) {
			t.Fatalf("status %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
}

func TestChallengeShape(t *testing.T) {
	t.Parallel()
	e := newEmulator(t, Options{RSACA: true, ExtraHosts: []string{"*.vault.contoso.test", "login.contoso.test"}})
	e.AddTenant(tenantA)
	e.Vault("kv-shape")
	e.AddCloud("login.contoso.test", "vault.contoso.test")
	for _, tc := range []struct{ host, login, resource string }{
		{"kv-shape.vault.azure.net", "login.microsoftonline.com", "https://vault.azure.net"},
		{"kv-shape.vault.usgovcloudapi.net", "login.microsoftonline.us", "https://vault.usgovcloudapi.net"},
		{"kv-shape.vault.azure.cn", "login.chinacloudapi.cn", "https://vault.azure.cn"},
		{"kv-shape.vault.contoso.test", "login.contoso.test", "https://vault.contoso.test"},
	} {
		resp, err := e.HTTPClient().Get("https://" + tc.host + "/secrets/x?api-version=7.6")
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		_, _ = ioCopy(&body, resp)
		want := `Bearer authorization="https://` + tc.login + `/` + tenantA + `", resource="` + tc.resource + `"`
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
			t.Fatalf("%s: %d %q", tc.host, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if body.String() != `{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}` {
			t.Fatalf("body %s", body.String())
		}
	}
	if n := e.Counts().KeyVaultChallenges; n != 4 {
		t.Fatalf("challenges %d", n)
	}
	// Unknown vaults and hosts are refused by the proxy like an unresolvable name.
	if _, err := e.HTTPClient().Get("https://nosuchvault.vault.azure.net/secrets/x?api-version=7.6"); err == nil {
		t.Fatal("unknown vault should fail")
	}
	if _, err := e.HTTPClient().Get("https://example.com/"); err == nil {
		t.Fatal("unknown host should fail")
	}
}

func TestWorkloadIdentity(t *testing.T) {
	t.Parallel()
	e := newEmulator(t)
	e.AddTenant(tenantA)
	e.AddApp(tenantA, appWI)
	iss := e.AddIssuer(issuerURL)
	e.AddFederatedCredential(tenantA, appWI, FederatedCredential{Issuer: issuerURL, Subject: saSubject})
	v := e.Vault("kv-wi")
	v.Grant(appWI, SecretGet)
	v.SetSecret("s", "wi-value", SecretOptions{})
	other := e.AddIssuer("https://other-issuer.example/")

	good := iss.MintToken(saSubject, DefaultFederatedAudience, time.Hour, map[string]any{
		"kubernetes.io": map[string]any{"namespace": "default", "pod": map[string]any{"name": "p", "uid": "u"}},
	})
	t.Run("success", func(t *testing.T) {
		e.ResetCounts()
		c := secretsClient(t, e, "https://kv-wi.vault.azure.net/", assertionCred(t, e, tenantA, appWI, good))
		got, err := c.GetSecret(ctxT(t), "s", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if *got.Value != "wi-value" {
			t.Fatal(*got.Value)
		}
		if n := e.Counts().TokensByClient[appWI]; n != 1 {
			t.Fatalf("token requests for %s: %d", appWI, n)
		}
	})

	noSlash := strings.TrimSuffix(issuerURL, "/")
	cases := []struct {
		name      string
		assertion string
		fic       *FederatedCredential // replaces the app's credentials when set
		want      []string
	}{
		{"issuer without trailing slash", iss.MintToken(saSubject, DefaultFederatedAudience, time.Hour, map[string]any{"iss": noSlash}),
			nil, []string{"AADSTS700211", "'" + noSlash + "'"}},
		{"credential without trailing slash", good,
			&FederatedCredential{Issuer: noSlash, Subject: saSubject}, []string{"AADSTS700211", "'" + issuerURL + "'"}},
		{"credential with extra trailing slash", good,
			&FederatedCredential{Issuer: issuerURL + "/", Subject: saSubject}, []string{"AADSTS700211"}},
		{"wrong subject", iss.MintToken("system:serviceaccount:default:other", DefaultFederatedAudience, time.Hour, nil),
			nil, []string{"AADSTS700213", "system:serviceaccount:default:other"}},
		{"wrong audience", iss.MintToken(saSubject, "api://AKSIdentityBinding", time.Hour, nil),
			nil, []string{"AADSTS700212", "api://AKSIdentityBinding"}},
		{"expired", iss.MintToken(saSubject, DefaultFederatedAudience, -10*time.Minute, nil),
			nil, []string{"AADSTS700024", "not within its valid time range"}},
		{"signed by another issuer", other.MintToken(saSubject, DefaultFederatedAudience, time.Hour, map[string]any{"iss": issuerURL}),
			nil, []string{"AADSTS700027"}},
		{"not a JWT", "not-a-jwt",
			nil, []string{"AADSTS50027"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clientID := appWI
			if tc.fic != nil {
				clientID = e.ids.guid()
				e.AddFederatedCredential(tenantA, clientID, *tc.fic)
				v.Grant(clientID, SecretGet)
			}
			c := secretsClient(t, e, "https://kv-wi.vault.azure.net/", assertionCred(t, e, tenantA, clientID, tc.assertion))
			_, err := c.GetSecret(ctxT(t), "s", "", nil)
			authErr(t, err, tc.want...)
		})
	}

	t.Run("legacy AADSTS70021", func(t *testing.T) {
		e := newEmulator(t, Options{LegacyFederationErrors: true})
		e.AddTenant(tenantA)
		iss := e.AddIssuer(issuerURL)
		e.AddFederatedCredential(tenantA, appWI, FederatedCredential{Issuer: noSlash, Subject: saSubject})
		e.Vault("kv-wi").SetSecret("s", "v", SecretOptions{})
		c := secretsClient(t, e, "https://kv-wi.vault.azure.net/", assertionCred(t, e, tenantA, appWI,
			iss.MintToken(saSubject, DefaultFederatedAudience, time.Hour, nil)))
		_, err := c.GetSecret(ctxT(t), "s", "", nil)
		authErr(t, err, "AADSTS70021", "No matching federated identity record found for presented assertion. Assertion Issuer: '"+issuerURL+"'. Assertion Subject: '"+saSubject+"'. Assertion Audience: 'api://AzureADTokenExchange'.")
	})

	t.Run("custom cloud authority", func(t *testing.T) {
		e := newEmulator(t, Options{Clouds: []Cloud{{LoginHost: "login.contoso.test", VaultSuffix: "vault.contoso.test", Tenants: []string{tenantA}}}})
		iss := e.AddIssuer(issuerURL)
		e.AddFederatedCredential(tenantA, appWI, FederatedCredential{Issuer: issuerURL, Subject: saSubject})
		v := e.Vault("kv-custom")
		v.Grant(appWI, SecretGet)
		v.SetSecret("s", "custom", SecretOptions{})
		o := clientOpts(e)
		o.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.contoso.test/"}
		cred := assertionCred(t, e, tenantA, appWI, iss.MintToken(saSubject, DefaultFederatedAudience, time.Hour, nil), o)
		got, err := secretsClient(t, e, "https://kv-custom.vault.contoso.test/", cred).GetSecret(ctxT(t), "s", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if *got.Value != "custom" {
			t.Fatal(*got.Value)
		}
		cnt := e.Counts()
		// MSAL asks login.microsoftonline.com for instance discovery of a
		// custom authority (MSAL Go v1.10 asks twice), then the custom
		// host's OpenID configuration.
		if cnt.DiscoveryRequests < 2 || cnt.Tunnels["login.microsoftonline.com"] != 1 || cnt.Tunnels["login.contoso.test"] != 1 {
			t.Fatalf("counts %+v", cnt)
		}
	})
}

func TestKeyVaultFaults(t *testing.T) {
	t.Parallel()
	e := newEmulator(t)
	e.AddTenant(tenantA)
	e.SetClientSecret(tenantA, appSecret, secretVal)
	v := e.Vault("kv-faults")
	v.Grant(appSecret, AllPermissions...)
	v.SetSecret("s", "v", SecretOptions{})
	c := secretsClient(t, e, "https://kv-faults.vault.azure.net/", secretCred(t, e, tenantA, appSecret, secretVal))
	ctx := ctxT(t)
	if _, err := c.GetSecret(ctx, "s", "", nil); err != nil {
		t.Fatal(err)
	}

	t.Run("throttled", func(t *testing.T) {
		e.SetFaults(ServiceKeyVault, Faults{ThrottleRate: 1, RetryAfter: 10 * time.Millisecond})
		defer e.SetFaults(ServiceKeyVault, Faults{})
		e.ResetCounts()
		_, err := c.GetSecret(ctx, "s", "", nil)
		re := respErr(t, err, http.StatusTooManyRequests, "Throttled")
		if re.RawResponse.Header.Get("Retry-After") != "1" || !strings.Contains(err.Error(), "VaultRequestTypeLimitReached") {
			t.Fatalf("429: %v", err)
		}
		if n := e.Counts().KeyVaultRequests; n != 3 { // 1 + MaxRetries
			t.Fatalf("requests %d", n)
		}
	})
	t.Run("server error", func(t *testing.T) {
		e.SetFaults(ServiceKeyVault, Faults{ErrorRate: 1, ErrorStatus: 503})
		defer e.SetFaults(ServiceKeyVault, Faults{})
		_, err := c.GetSecret(ctx, "s", "", nil)
		respErr(t, err, http.StatusServiceUnavailable, "ServiceUnavailable")
	})
	t.Run("reset", func(t *testing.T) {
		e.SetFaults(ServiceKeyVault, Faults{ResetRate: 1})
		defer e.SetFaults(ServiceKeyVault, Faults{})
		_, err := c.GetSecret(ctx, "s", "", nil)
		var re *azcore.ResponseError
		if err == nil || errors.As(err, &re) {
			t.Fatalf("want transport error, got %v", err)
		}
	})
	t.Run("latency", func(t *testing.T) {
		e.SetFaults(ServiceKeyVault, Faults{Latency: 50 * time.Millisecond, FirstLatency: 100 * time.Millisecond})
		defer e.SetFaults(ServiceKeyVault, Faults{})
		for i, min := range []time.Duration{150 * time.Millisecond, 50 * time.Millisecond} {
			start := time.Now()
			if _, err := c.GetSecret(ctx, "s", "", nil); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < min || (i == 1 && d >= 150*time.Millisecond) {
				t.Fatalf("request %d took %v", i, d)
			}
		}
	})
	t.Run("entra throttled", func(t *testing.T) {
		e.SetFaults(ServiceEntraID, Faults{ThrottleRate: 1, RetryAfter: time.Millisecond})
		defer e.SetFaults(ServiceEntraID, Faults{})
		c := secretsClient(t, e, "https://kv-faults.vault.azure.net/", secretCred(t, e, tenantA, appSecret, secretVal))
		_, err := c.GetSecret(ctx, "s", "", nil)
		authErr(t, err, "AADSTS90055")
	})
	t.Run("raw response", func(t *testing.T) {
		v.SetRawResponse(ObjectSecret, "s", "", http.StatusOK, []byte(`{"id":"https://kv-faults.vault.azure.net/secrets/s/abc"}`))
		defer v.SetRawResponse(ObjectSecret, "s", "", 0, nil)
		got, err := c.GetSecret(ctx, "s", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.Value != nil || got.ID.Version() != "abc" {
			t.Fatalf("%+v", got)
		}
	})
}

func ioCopy(b *strings.Builder, resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	return io.Copy(b, resp.Body)
}
