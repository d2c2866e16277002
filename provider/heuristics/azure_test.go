package heuristics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// The errors below are produced by the real Azure SDK clients and credentials, and by
// net/http, against fakes that answer as Key Vault, Entra ID, IMDS and proxies do: when
// a dependency update changes the text a heuristic reads, its test fails.

const (
	tenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	clientID = "1b6e3a4e-0c6f-4a8f-9d0e-5f7a4b7c2d11"
	vaultURL = "https://app-vault.vault.azure.net/"
)

// transport answers every request with f.
type transport func(*http.Request) *http.Response

func (f transport) Do(req *http.Request) (*http.Response, error) {
	resp := f(req)
	resp.Request = req
	return resp, nil
}

func answer(status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	header.Set("Content-Type", "application/json; charset=utf-8")
	return &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Header: header, Body: io.NopCloser(strings.NewReader(body))}
}

type staticCred struct{}

func (staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func noRetry(tr policy.Transporter) azcore.ClientOptions {
	return azcore.ClientOptions{Transport: tr, Retry: policy.RetryOptions{MaxRetries: -1}}
}

// getSecret is the error of azsecrets' GetSecret when the vault challenges with
// challenge and then answers status with a Key Vault error body of message.
func getSecret(t *testing.T, challenge string, status int, code, inner, message string) error {
	t.Helper()
	body := map[string]any{"code": code, "message": message}
	if inner != "" {
		body["innererror"] = map[string]any{"code": inner}
	}
	b, _ := json.Marshal(map[string]any{"error": body})
	tr := transport(func(r *http.Request) *http.Response {
		if r.Header.Get("Authorization") == "" {
			return answer(http.StatusUnauthorized, http.Header{"Www-Authenticate": {challenge}}, `{"error":{"code":"Unauthorized"}}`)
		}
		return answer(status, nil, string(b))
	})
	c, err := azsecrets.NewClient(vaultURL, staticCred{}, &azsecrets.ClientOptions{ClientOptions: noRetry(tr)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecret(context.Background(), "db", "", nil)
	if err == nil {
		t.Fatal("GetSecret succeeded")
	}
	return err
}

const publicChallenge = `Bearer authorization="https://login.microsoftonline.com/` + tenant + `", resource="https://vault.azure.net"`

// message is the Key Vault error message of a GetSecret error, as the SDK hands it over.
func message(t *testing.T, err error) (inner, msg string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.RawResponse == nil {
		t.Fatalf("want an *azcore.ResponseError with its response, got %T %v", err, err)
	}
	var b struct {
		Error struct {
			Message    string `json:"message"`
			InnerError *struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	body, _ := io.ReadAll(re.RawResponse.Body)
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if b.Error.InnerError != nil {
		inner = b.Error.InnerError.Code
	}
	return inner, b.Error.Message
}

func TestChallengeResourceMismatch(t *testing.T) {
	// A vault host of the public cloud answering with the China cloud's challenge.
	err := getSecret(t, `Bearer authorization="https://login.chinacloudapi.cn/`+tenant+`", resource="https://vault.azure.cn"`, 200, "", "", "")
	if !ChallengeResourceMismatch(err) {
		t.Fatalf("not recognised: %v", err)
	}
	if ChallengeResourceMismatch(getSecret(t, publicChallenge, 404, "SecretNotFound", "", "A secret with (name/id) db was not found in this key vault.")) || ChallengeResourceMismatch(nil) {
		t.Fatal("a 404 recognised as a challenge mismatch")
	}
}

// imdsErr is the error of a managed identity credential whose IMDS answers status/body.
func imdsErr(t *testing.T, id string, status int, body string) error {
	t.Helper()
	o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: noRetry(transport(func(*http.Request) *http.Response { return answer(status, nil, body) }))}
	if id != "" {
		o.ID = azidentity.ClientID(id)
	}
	cred, err := azidentity.NewManagedIdentityCredential(o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err == nil {
		t.Fatal("IMDS gave a token")
	}
	return err
}

func TestManagedIdentityText(t *testing.T) {
	const body = `{"error":"invalid_request","error_description":"Identity not found"}`
	err := imdsErr(t, "", http.StatusBadRequest, body) // no system-assigned identity: "credential unavailable"
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		t.Fatalf("the system-assigned case is now an AuthenticationFailedError (%v): the text heuristics may be unneeded", err)
	}
	if !ManagedIdentityCredential(err) {
		t.Errorf("not recognised as the managed identity credential's: %v", err)
	}
	if got, ok := ManagedIdentityAnswer(err); !ok || !strings.HasPrefix(got, body) {
		t.Errorf("answer %q, %v; want %s", got, ok, body)
	}
	if ManagedIdentityCredential(errors.New("boom")) || ManagedIdentityCredential(nil) {
		t.Error("a plain error recognised")
	}
	if _, ok := ManagedIdentityAnswer(errors.New("boom")); ok {
		t.Error("an answer in a plain error")
	}
	// A user-assigned identity's 400 carries the response; its description says why.
	err = imdsErr(t, clientID, http.StatusBadRequest, body)
	if !errors.As(err, &afe) || afe.RawResponse == nil {
		t.Fatalf("user-assigned: %T %v", err, err)
	}
	var b struct {
		Desc string `json:"error_description"`
	}
	raw, _ := runtime.Payload(afe.RawResponse)
	if json.Unmarshal(raw, &b) != nil || !IMDSIdentityNotFound(b.Desc) || IMDSIdentityNotFound("Bad request") {
		t.Errorf("IMDSIdentityNotFound(%q) false", b.Desc)
	}
	if IMDSMultipleIdentities(b.Desc) || !IMDSMultipleIdentities("Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request") {
		t.Error("IMDSMultipleIdentities")
	}
}

func TestProxyRefusal(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cannot resolve "+r.Host, http.StatusBadGateway)
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	_, err := (&http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}).Get("https://nope.vault.azure.net/secrets/db")
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("want a *url.Error, got %T %v", err, err)
	}
	if got, ok := ProxyRefusal(ue.Err); !ok || got != "Bad Gateway" {
		t.Fatalf("ProxyRefusal(%q) = %q, %v", ue.Err, got, ok)
	}
	// A refused connection is not a proxy's refusal.
	dead := httptest.NewServer(http.NotFoundHandler())
	addr := dead.Listener.Addr().String()
	dead.Close()
	_, err = http.Get("http://" + addr + "/")
	if errors.As(err, &ue) {
		if _, ok := ProxyRefusal(ue.Err); ok {
			t.Fatalf("connection refused read as a proxy refusal: %v", ue.Err)
		}
	}
	if _, ok := ProxyRefusal(fmt.Errorf("wrapped: %w", errors.New("x"))); ok {
		t.Fatal("an error with a cause read as a proxy refusal")
	}
}

func TestTLSVerificationFailed(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	// net/http keeps crypto/tls's typed error.
	_, err := (&http.Client{}).Get(srv.URL)
	if !TLSVerificationFailed(err) {
		t.Fatalf("net/http: not recognised: %v", err)
	}
	// azidentity keeps only the text.
	cred, cerr := azidentity.NewClientSecretCredential(tenant, clientID, "s", &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cloudAt(srv.URL), Retry: policy.RetryOptions{MaxRetries: -1}}, DisableInstanceDiscovery: true,
	})
	if cerr != nil {
		t.Fatal(cerr)
	}
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	var afe *azidentity.AuthenticationFailedError
	if err == nil || !TLSVerificationFailed(err) {
		t.Fatalf("azidentity: not recognised: %T %v", err, err)
	}
	if errors.As(err, &afe) && afe.RawResponse != nil {
		t.Fatalf("azidentity: a TLS failure with a response: %v", err)
	}
	if TLSVerificationFailed(errors.New("connection refused")) || TLSVerificationFailed(nil) {
		t.Fatal("a plain error recognised")
	}
}

// entra answers MSAL's OpenID configuration, its instance discovery with
// discoStatus/discoBody, and every token request with status/body.
func entra(status int, body string, discoStatus int, discoBody string) transport {
	return func(r *http.Request) *http.Response {
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/.well-known/openid-configuration"):
			base := "https://" + r.URL.Host + "/" + tenant
			b, _ := json.Marshal(map[string]any{"token_endpoint": base + "/oauth2/v2.0/token", "authorization_endpoint": base + "/oauth2/v2.0/authorize",
				"issuer": base + "/v2.0", "jwks_uri": base + "/discovery/v2.0/keys"})
			return answer(http.StatusOK, nil, string(b))
		case strings.HasSuffix(p, "/oauth2/v2.0/token"):
			return answer(status, nil, body)
		case strings.HasSuffix(p, "/discovery/instance"):
			return answer(discoStatus, nil, discoBody)
		}
		return answer(http.StatusNotFound, nil, `{}`)
	}
}

func secretCredErr(t *testing.T, tr transport) error {
	t.Helper()
	return secretCredErrDiscovery(t, tr, false)
}

// secretCredErrDiscovery is secretCredErr with MSAL's instance discovery on or off.
func secretCredErrDiscovery(t *testing.T, tr transport, discovery bool) error {
	t.Helper()
	co := noRetry(tr)
	if discovery {
		// MSAL asks instance discovery about authority hosts it does not know.
		co.Cloud = cloudAt("https://login.kvcsi.test")
	}
	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, "s", &azidentity.ClientSecretCredentialOptions{
		ClientOptions: co, DisableInstanceDiscovery: !discovery,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err == nil {
		t.Fatal("got a token")
	}
	return err
}

const entraDesc = "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value. Trace ID: 0f8a3c1e-1111-4d2b-9e5f-6a7b8c9d0e1f Correlation ID: 5b7e2d10-2222-4c3a-8f6e-7d8c9b0a1f2e Timestamp: 2026-11-26 11:22:54Z"

func TestEntraTexts(t *testing.T) {
	body, _ := json.Marshal(map[string]any{"error": "invalid_client", "error_description": entraDesc, "error_codes": []int{7000215}})
	err := secretCredErr(t, entra(401, string(body), 0, ""))
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil {
		t.Fatalf("want an AuthenticationFailedError with its response: %T %v", err, err)
	}
	var b struct {
		Desc string `json:"error_description"`
	}
	raw, _ := runtime.Payload(afe.RawResponse)
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	if got := EntraFirstSentence(b.Desc); got != "Invalid client secret provided" {
		t.Errorf("EntraFirstSentence = %q", got)
	}
	if got := EntraFirstSentence("AADSTS90002: Tenant 'x' not found Trace ID: 1 Correlation ID: 2"); got != "Tenant 'x' not found" {
		t.Errorf("EntraFirstSentence = %q", got)
	}
	if code, ok := AADSTSCode(b.Desc); !ok || code != 7000215 {
		t.Errorf("AADSTSCode(description) = %d, %v", code, ok)
	}
	// azidentity's text quotes Entra ID's answer, code included: what is left to read
	// when an error carries no response (MSAL's authority resolution).
	meta, _ := json.Marshal(map[string]any{"error": "invalid_instance", "error_description": "AADSTS50049: Unknown or invalid instance.", "error_codes": []int{50049}})
	err = secretCredErrDiscovery(t, entra(200, "{}", 400, string(meta)), true)
	if code, ok := AADSTSCode(err.Error()); !ok || code != 50049 {
		t.Errorf("AADSTSCode(%q) = %d, %v", err, code, ok)
	}
	if _, ok := AADSTSCode("no code here"); ok {
		t.Error("a code in a text without one")
	}
	// azidentity's multi-line text separates its sections with rules.
	if text := err.Error() + "\n" + afeWithResponse(t).Error(); !strings.Contains(text, "--------") || strings.Contains(StripSDKRules(text), "--------") {
		t.Errorf("StripSDKRules left rules, or azidentity has none: %q", StripSDKRules(text))
	}
}

func afeWithResponse(t *testing.T) error {
	t.Helper()
	return secretCredErr(t, entra(401, `{"error":"invalid_client"}`, 0, ""))
}

func TestKeyVaultTexts(t *testing.T) {
	// azcore's ResponseError text separates its sections with rules too.
	notFound := getSecret(t, publicChallenge, 404, "SecretNotFound", "", "A secret with (name/id) db was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182")
	if !strings.Contains(notFound.Error(), "--------") || strings.Contains(StripSDKRules(notFound.Error()), "--------") {
		t.Errorf("azcore's text: %q", StripSDKRules(notFound.Error()))
	}
	_, msg := message(t, notFound)
	if got := KeyVaultMessageCut(msg); got != "A secret with (name/id) db was not found in this key vault." {
		t.Errorf("KeyVaultMessageCut = %q", got)
	}
	rbac := "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n" +
		"Caller: appid=" + clientID + ";oid=2c1f0d3e-7777-4a1b-8c2d-3e4f5a6b7c8d;iss=https://sts.windows.net/" + tenant + "/\r\n" +
		"Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\nResource: '/subscriptions/x/resourcegroups/rg/providers/microsoft.keyvault/vaults/app-vault/secrets/db'\r\n"
	inner, msg := message(t, getSecret(t, publicChallenge, 403, "Forbidden", "ForbiddenByRbac", rbac))
	if id, ok := KeyVaultCaller(msg); !ok || id != clientID {
		t.Errorf("KeyVaultCaller = %q, %v", id, ok)
	}
	if a, ok := KeyVaultDataAction(msg); !ok || a != "Microsoft.KeyVault/vaults/secrets/getSecret/action" {
		t.Errorf("KeyVaultDataAction = %q, %v", a, ok)
	}
	if got := KeyVaultMessageCut(strings.ReplaceAll(msg, "\r\n", " ")); got != "Caller is not authorized to perform action on resource." {
		t.Errorf("KeyVaultMessageCut = %q", got)
	}
	if KeyVaultObjectDisabled(inner, msg) || KeyVaultNetworkBlocked(inner, msg) {
		t.Error("an RBAC refusal read as a disabled object or network rule")
	}
	inner, msg = message(t, getSecret(t, publicChallenge, 403, "Forbidden", "SecretDisabled", "Operation get is not allowed on a disabled secret."))
	if !KeyVaultObjectDisabled(inner, msg) || !KeyVaultObjectDisabled("", msg) {
		t.Errorf("disabled secret not recognised: %q %q", inner, msg)
	}
	inner, msg = message(t, getSecret(t, publicChallenge, 403, "Forbidden", "ForbiddenByFirewall", "Client address is not authorized and caller is not a trusted service.\r\nClient address: 203.0.113.7"))
	if !KeyVaultNetworkBlocked(inner, msg) || !KeyVaultNetworkBlocked("", msg) {
		t.Errorf("network rule not recognised: %q %q", inner, msg)
	}
	_, msg = message(t, getSecret(t, publicChallenge, 401, "Unauthorized", "", "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/"+tenant+"/, found https://sts.windows.net/other/."))
	if got := KeyVaultTokenError(msg); got != "AKV10032" {
		t.Errorf("KeyVaultTokenError = %q", got)
	}
	if got := KeyVaultTokenError("[TokenExpired] Error validating token: 'S2S12086'."); got != "[TokenExpired]" {
		t.Errorf("KeyVaultTokenError = %q", got)
	}
	// Azure Stack Hub's answer to a newer api-version (Azure/azure-sdk-for-python#28595).
	_, msg = message(t, getSecret(t, publicChallenge, 400, "BadParameter", "", "The specified version (7.3) is not recognized. Consider using the latest supported version (7.1)."))
	if sent, latest, ok := KeyVaultUnsupportedAPIVersion(msg); !ok || sent != "7.3" || latest != "7.1" {
		t.Errorf("KeyVaultUnsupportedAPIVersion(%q) = %q, %q, %v", msg, sent, latest, ok)
	}
	if _, _, ok := KeyVaultUnsupportedAPIVersion("The request URI contains an invalid name: db_password"); ok {
		t.Error("an invalid name read as an unsupported api-version")
	}
}

type cloudConfig = azcloud.Configuration

func cloudAt(authority string) cloudConfig {
	return cloudConfig{ActiveDirectoryAuthorityHost: authority + "/"}
}
