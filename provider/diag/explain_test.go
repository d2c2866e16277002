package diag_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"google.golang.org/grpc/codes"

	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/provider/format"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

const (
	issuer  = "https://oidc.example/issuer/"
	subject = "system:serviceaccount:shop:web"
	version = "0123456789abcdef0123456789abcdef"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func wiContext() diag.Context {
	return diag.Context{
		ObjectType: vocab.Secret, ObjectName: "db", Vault: testVault, VaultURL: "https://" + testVault + ".vault.azure.net/",
		IdentityMode: vocab.WorkloadIdentity, ClientID: testClient, TenantID: testTenant,
		Token: &diag.TokenClaims{Issuer: issuer, Subject: subject, Audience: []string{"api://AzureADTokenExchange"}, Expiry: now.Add(time.Hour)},
		Now:   func() time.Time { return now },
	}
}

func with(c diag.Context, f func(*diag.Context)) diag.Context {
	f(&c)
	return c
}

func spContext() diag.Context {
	return with(wiContext(), func(c *diag.Context) { c.IdentityMode, c.Token = vocab.ServicePrincipal, nil })
}

func miContext(clientID string) diag.Context {
	return with(wiContext(), func(c *diag.Context) { c.IdentityMode, c.ClientID, c.Token = vocab.VMManagedIdentity, clientID, nil })
}

func rbacMessage(action string) string {
	return "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n" +
		"Caller: appid=" + testClient + ";oid=2c1f0d3e-7777-4a1b-8c2d-3e4f5a6b7c8d;iss=https://sts.windows.net/" + testTenant + "/\r\n" +
		"Action: '" + action + "'\r\nResource: '/subscriptions/x/resourcegroups/rg/providers/microsoft.keyvault/vaults/app-vault/secrets/db'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: app-vault;location=eastus\r\n"
}

func TestExplain(t *testing.T) {
	retryAfter := http.Header{}
	retryAfter.Set("Retry-After", "7")
	tests := []struct {
		name string
		err  func(t *testing.T) error
		ctx  diag.Context
		kind diag.Kind
		want []string // substrings of the message
		fix  []string // substrings of the fix
		not  []string // must not appear
	}{
		// Key Vault.
		{"403 RBAC on a secret names the identity, the permission and the role",
			func(t *testing.T) error {
				return kvCall(t, "secret", "db", "", 403, nil, kvBody("Forbidden", "ForbiddenByRbac", rbacMessage("Microsoft.KeyVault/vaults/secrets/getSecret/action")))
			},
			wiContext(), diag.KindPermissionDenied,
			[]string{"workload identity (client ID " + testClient + ") lacks the get permission on secret \"db\" in vault app-vault", "403 Forbidden (ForbiddenByRbac): Caller is not authorized to perform action on resource", "data action Microsoft.KeyVault/vaults/secrets/getSecret/action"},
			[]string{`assign client ID ` + testClient + ` the built-in role "Key Vault Secrets User" on vault app-vault`},
			[]string{"access policies", "Resource:"}},
		{"403 access policy on a key",
			func(t *testing.T) error {
				return kvCall(t, "key", "signing", "", 403, nil, kvBody("Forbidden", "AccessDenied",
					"The user, group or application 'appid="+testClient+";oid=2c1f;iss=https://sts.windows.net/"+testTenant+"/' does not have keys get permission on key vault 'app-vault;location=eastus'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287"))
			},
			with(spContext(), func(c *diag.Context) { c.ObjectType, c.ObjectName = "key", "signing" }), diag.KindPermissionDenied,
			[]string{"service principal (client ID " + testClient + ") lacks the get permission on key \"signing\"", "does not have keys get permission"},
			[]string{`give client ID ` + testClient + ` the key permission "get" in the access policies of vault app-vault`},
			[]string{"Crypto User", "For help"}},
		{"403 on a certificate without a known model offers both",
			func(t *testing.T) error {
				return kvCall(t, "cert", "web", "", 403, nil, kvBody("Forbidden", "", "Access denied."))
			},
			with(miContext(""), func(c *diag.Context) { c.ObjectType, c.ObjectName = "cert", "web" }), diag.KindPermissionDenied,
			[]string{"the node's system-assigned managed identity lacks the get permission on certificate \"web\""},
			[]string{`"Key Vault Certificate User"`, `certificate permission "get" in the access policies`}, nil},
		{"403 on the versions list asks for list",
			func(t *testing.T) error {
				return kvCall(t, "secret-versions", "db", "", 403, nil, kvBody("Forbidden", "ForbiddenByRbac", rbacMessage("Microsoft.KeyVault/vaults/secrets/readMetadata/action")))
			},
			wiContext(), diag.KindPermissionDenied,
			[]string{"lacks the list permission on secret \"db\"", "readMetadata"},
			[]string{`"Key Vault Secrets User"`}, nil},
		{"403 disabled secret",
			func(t *testing.T) error {
				return kvCall(t, "secret", "db", "", 403, nil, kvBody("Forbidden", "SecretDisabled", "Operation get is not allowed on a disabled secret."))
			},
			wiContext(), diag.KindPermissionDenied,
			[]string{`secret "db" in vault app-vault is disabled: 403 Forbidden (SecretDisabled)`},
			[]string{"enable the object's latest version"}, []string{"lacks"}},
		{"403 firewall",
			func(t *testing.T) error {
				return kvCall(t, "secret", "db", "", 403, nil, kvBody("Forbidden", "ForbiddenByFirewall", "Client address is not authorized and caller is not a trusted service.\r\nClient address: 20.1.2.3"))
			},
			wiContext(), diag.KindPermissionDenied,
			[]string{"the network rules of vault app-vault block this node"},
			[]string{"outbound IP addresses"}, []string{"20.1.2.3"}},
		{"404 object",
			func(t *testing.T) error {
				return kvCall(t, "secret", "db", "", 404, nil, kvBody("SecretNotFound", "", "A secret with (name/id) db was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"))
			},
			wiContext(), diag.KindNotFound,
			[]string{`secret "db" was not found in vault app-vault: 404 SecretNotFound: A secret with (name/id) db was not found in this key vault`},
			[]string{"check objectName and objectType"}, []string{"recover it using", "fwlink"}},
		{"404 version",
			func(t *testing.T) error {
				return kvCall(t, "secret", "db", version, 404, nil, kvBody("SecretNotFound", "", "A secret with (name/id) db/"+version+" was not found in this key vault."))
			},
			with(wiContext(), func(c *diag.Context) { c.ObjectVersion = version }), diag.KindNotFound,
			[]string{"version " + version + ` of secret "db" was not found in vault app-vault`},
			[]string{"set objectVersion to an existing version", "or remove objectVersion"}, nil},
		{"429 with Retry-After",
			func(t *testing.T) error {
				return kvCall(t, "secret", "db", "", 429, retryAfter, kvBody("Throttled", "", "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"))
			},
			wiContext(), diag.KindThrottled,
			[]string{"Key Vault app-vault is throttling requests: 429 Throttled", "(it asked to retry after 7s)"},
			[]string{"retry after 7s"}, nil},
		{"429 as the keyvault package returns it keeps its kind, wait and fix",
			func(t *testing.T) error {
				re := kvCall(t, "secret", "db", "", 429, retryAfter, kvBody("Throttled", "", "Request was not processed because too many requests were received."))
				return &diag.Error{Kind: diag.KindThrottled, RetryAfter: 2 * time.Minute,
					Err: fmt.Errorf("Key Vault answered HTTP 429 and asked to wait 2m0s, which does not fit in the mount's deadline: %w", re),
					Fix: "the vault is throttling requests; retry after 2m0s"}
			},
			wiContext(), diag.KindThrottled,
			[]string{"Key Vault app-vault answered HTTP 429 and asked to wait 2m0s, which does not fit in the mount's deadline: 429 Throttled: Request was not processed"},
			[]string{"retry after 2m0s"}, nil},
		{"401 token from another tenant for a managed identity",
			func(t *testing.T) error {
				return kvCall(t, "secret", "db", "", 401, nil, kvBody("Unauthorized", "", "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/"+testTenant+"/, found https://sts.windows.net/other/."))
			},
			miContext(testClient), diag.KindUnauthenticated,
			[]string{"Key Vault app-vault rejected the token of the node's user-assigned managed identity (client ID " + testClient + "): 401 Unauthorized: AKV10032"},
			[]string{"vault app-vault is in tenant " + testTenant, "only gets tokens from its own tenant"}, nil},
		{"500",
			func(t *testing.T) error {
				return kvCall(t, "secret", "db", "", 500, nil, kvBody("InternalServerError", "", "An unexpected error occurred."))
			},
			wiContext(), diag.KindUnavailable,
			[]string{"Key Vault app-vault answered 500 InternalServerError: An unexpected error occurred"},
			[]string{"transient"}, nil},

		// Entra ID, workload identity.
		{"700211 issuer: the token's issuer and subject, character for character",
			func(t *testing.T) error {
				return assertionCredError(t, 401, aadBody(401, "invalid_client", 700211, "No matching federated identity record found for presented assertion issuer 'https://oidc.example/issuer/'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation"))
			},
			wiContext(), diag.KindUnauthenticated,
			[]string{"workload identity (client ID " + testClient + ") could not get a token from Entra ID (tenant " + testTenant + "): 401 invalid_client: AADSTS700211: No matching federated identity record found for presented assertion issuer 'https://oidc.example/issuer/'",
				`the pod's service account token has issuer "https://oidc.example/issuer/" and subject "system:serviceaccount:shop:web"`, "[trace ID 0f8a3c1e-1111-4d2b-9e5f-6a7b8c9d0e1f]"},
			[]string{`issuer is "https://oidc.example/issuer/" and subject is "system:serviceaccount:shop:web", matching character for character, including the trailing "/" of the issuer`},
			[]string{"Correlation ID", "Timestamp", "Please check"}},
		{"700213 subject",
			func(t *testing.T) error {
				return assertionCredError(t, 401, aadBody(401, "invalid_client", 700213, "No matching federated identity record found for presented assertion subject 'system:serviceaccount:shop:web'. Please check your federated identity credential."))
			},
			wiContext(), diag.KindUnauthenticated,
			[]string{"AADSTS700213", `subject "system:serviceaccount:shop:web"`},
			[]string{`with issuer "https://oidc.example/issuer/" and subject "system:serviceaccount:shop:web", matching character for character`}, nil},
		{"7002137 (seen in the field) is explained like the other federation mismatches",
			func(t *testing.T) error {
				return assertionCredError(t, 400, aadBody(400, "invalid_request", 7002137, "No matching federated identity record found for presented assertion subject."))
			},
			wiContext(), diag.KindUnauthenticated,
			[]string{"AADSTS7002137", `the pod's service account token has issuer "https://oidc.example/issuer/" and subject "system:serviceaccount:shop:web"`},
			[]string{`whose issuer is "https://oidc.example/issuer/" and subject is "system:serviceaccount:shop:web"`}, nil},
		{"7000112 disabled app",
			func(t *testing.T) error {
				return assertionCredError(t, 400, aadBody(400, "unauthorized_client", 7000112, "Application '"+testClient+"'(web) is disabled."))
			},
			wiContext(), diag.KindUnauthenticated,
			[]string{"AADSTS7000112: Application '" + testClient + "'(web) is disabled"},
			[]string{"is disabled in tenant " + testTenant, "Enabled for users to sign in: Yes"}, nil},
		{"700212 audience",
			func(t *testing.T) error {
				return assertionCredError(t, 401, aadBody(401, "invalid_client", 700212, "No matching federated identity record found for presented assertion audience 'api://AzureADTokenExchange'."))
			},
			wiContext(), diag.KindUnauthenticated,
			[]string{"AADSTS700212", `for audience "api://AzureADTokenExchange"`},
			[]string{`must list the audience "api://AzureADTokenExchange"`}, nil},
		{"70021 (legacy) without claims gives the general rule",
			func(t *testing.T) error {
				return assertionCredError(t, 400, aadBody(400, "invalid_request", 70021, "No matching federated identity record found for presented assertion. Assertion Issuer: 'https://oidc.example/issuer'. Assertion Subject: 'system:serviceaccount:shop:web'."))
			},
			with(wiContext(), func(c *diag.Context) { c.Token = nil }), diag.KindUnauthenticated,
			[]string{"AADSTS70021: No matching federated identity record found for presented assertion"},
			[]string{"issuer = the cluster's OIDC issuer URL exactly (including any trailing /)", "audience = api://AzureADTokenExchange"}, nil},
		{"700024 expired token",
			func(t *testing.T) error {
				return assertionCredError(t, 401, aadBody(401, "invalid_client", 700024, "Client assertion is not within its valid time range. Current time: 2026-11-26T12:00:00Z, expiry time of assertion 2026-11-26T11:50:00Z."))
			},
			with(wiContext(), func(c *diag.Context) { c.Token.Expiry = now.Add(-10 * time.Minute) }), diag.KindUnauthenticated,
			[]string{"AADSTS700024: Client assertion is not within its valid time range", "it expired at 2026-11-26T11:50:00Z, 10m0s ago"},
			[]string{"requiresRepublish: true", "node's clock"}, nil},
		{"700016 unknown client ID",
			func(t *testing.T) error {
				return assertionCredError(t, 400, aadBody(400, "unauthorized_client", 700016, "Application with identifier '"+testClient+"' was not found in the directory '"+testTenant+"'. This can happen if the application has not been installed."))
			},
			wiContext(), diag.KindUnauthenticated,
			[]string{"AADSTS700016: Application with identifier '" + testClient + "' was not found in the directory"},
			[]string{"check clientID: " + testClient + " must be the client (application) ID, not the object ID"}, []string{"This can happen"}},
		{"90002 unknown tenant",
			func(t *testing.T) error {
				return secretCredError(t, 400, aadBody(400, "invalid_request", 90002, "Tenant '"+testTenant+"' not found. Check to make sure you have the correct tenant ID."))
			},
			spContext(), diag.KindUnauthenticated,
			[]string{"AADSTS90002: Tenant '" + testTenant + "' not found"},
			[]string{"tenant " + testTenant + " does not exist in login.microsoftonline.com: check tenantID", "cloudName"}, nil},
		{"7000215 wrong client secret never shows the secret",
			func(t *testing.T) error {
				return secretCredError(t, 401, aadBody(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value."))
			},
			spContext(), diag.KindUnauthenticated,
			[]string{"service principal (client ID " + testClient + ") could not get a token from Entra ID", "AADSTS7000215: Invalid client secret provided"},
			[]string{"Value there (not its Secret ID)"}, nil},
		{"Entra throttling",
			func(t *testing.T) error {
				return secretCredError(t, 429, aadBody(429, "temporarily_unavailable", 90055, "The request has been throttled."))
			},
			spContext(), diag.KindThrottled, []string{"AADSTS90055"}, []string{"throttling"}, nil},
		{"Entra transient failure",
			func(t *testing.T) error {
				return secretCredError(t, 503, aadBody(503, "temporarily_unavailable", 90033, "A transient error has occurred."))
			},
			spContext(), diag.KindUnavailable, []string{"AADSTS90033"}, []string{"transient"}, nil},

		// IMDS.
		{"IMDS: user-assigned identity not on the node",
			func(t *testing.T) error {
				return imdsError(t, testClient, 400, `{"error":"invalid_request","error_description":"Identity not found"}`)
			},
			miContext(testClient), diag.KindUnauthenticated,
			[]string{"the node's user-assigned managed identity (client ID " + testClient + ") could not get a token from the instance metadata service (IMDS): 400 invalid_request: Identity not found"},
			[]string{"assign the user-assigned managed identity with client ID " + testClient + " to the node pool's virtual machine scale set"}, nil},
		{"IMDS: no system-assigned identity",
			func(t *testing.T) error {
				return imdsError(t, "", 400, `{"error":"invalid_request","error_description":"Identity not found"}`)
			},
			miContext(""), diag.KindUnauthenticated,
			[]string{"the node's system-assigned managed identity could not get a token from the instance metadata service (IMDS)"},
			[]string{"no system-assigned managed identity"}, nil},

		{"IMDS: several user-assigned identities, none chosen",
			func(t *testing.T) error {
				return imdsError(t, "", 400, `{"error":"invalid_request","error_description":"Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request"}`)
			},
			miContext(""), diag.KindUnauthenticated,
			[]string{"Multiple user assigned identities exist"},
			[]string{"set userAssignedIdentityID to the client ID of the identity to use"}, nil},

		// aad-pod-identity.
		{"NMI: identity still being assigned",
			func(t *testing.T) error {
				return nmiError(t, 404, "getting assigned identities for pod shop/web in ASSIGNED state failed after 20 attempts, retry duration [5]s. Error: <nil>")
			},
			with(wiContext(), func(c *diag.Context) { c.IdentityMode, c.ClientID, c.Token = vocab.PodIdentity, "", nil }), diag.KindUnauthenticated,
			[]string{"nmi response failed with status code: 404"},
			[]string{"still being assigned", "kvcsi retried until the mount's deadline"}, nil},
		{"NMI: no identity assigned",
			func(t *testing.T) error {
				return nmiError(t, 403, "no AzureAssignedIdentity found for pod:shop/web in assigned state")
			},
			with(wiContext(), func(c *diag.Context) { c.IdentityMode, c.ClientID, c.Token = vocab.PodIdentity, "", nil }), diag.KindUnauthenticated,
			[]string{"aad-pod-identity (NMI) gave the pod no token: nmi response failed with status code: 403, response body: no AzureAssignedIdentity found for pod:shop/web"},
			[]string{"aadpodidbinding label", "deprecated"}, nil},
		{"NMI: server error",
			func(t *testing.T) error {
				return nmiError(t, 500, "internal error")
			},
			with(wiContext(), func(c *diag.Context) { c.IdentityMode, c.ClientID, c.Token = vocab.PodIdentity, "", nil }), diag.KindUnavailable,
			[]string{"status code: 500"}, []string{"NMI pod's logs"}, nil},
		{"NMI: throttled",
			func(t *testing.T) error {
				return nmiError(t, 429, "slow down")
			},
			with(wiContext(), func(c *diag.Context) { c.IdentityMode, c.ClientID, c.Token = vocab.PodIdentity, "", nil }), diag.KindThrottled,
			[]string{"status code: 429"}, []string{"throttling"}, nil},
		{"NMI: no token in the answer",
			func(t *testing.T) error {
				return nmiError(t, 200, `{"token":null,"clientid":""}`)
			},
			with(wiContext(), func(c *diag.Context) { c.IdentityMode, c.ClientID, c.Token = vocab.PodIdentity, "", nil }), diag.KindUnauthenticated,
			[]string{"nmi did not return expected values in response: token and clientid"}, []string{"NMI answered without a token"}, nil},
		{"NMI: not listening",
			func(t *testing.T) error { return nmiError(t, 0, "") },
			with(wiContext(), func(c *diag.Context) { c.IdentityMode, c.ClientID, c.Token = vocab.PodIdentity, "", nil }), diag.KindUnavailable,
			[]string{"nmi request failed", "connection refused"}, []string{"--nmi-port"}, nil},

		// Transport and deadlines.
		{"vault name does not resolve",
			func(t *testing.T) error { return dnsError(testVault + ".vault.azure.net") },
			wiContext(), diag.KindNotFound,
			[]string{`vault "app-vault" does not exist or is not visible from this node: its host name app-vault.vault.azure.net does not resolve`},
			[]string{"check keyvaultName (the vault's name, not its URL) and cloudName (this mount looks for the vault under vault.azure.net)", "privatelink.vaultcore.azure.net"}, nil},
		{"vault name refused by the proxy",
			func(t *testing.T) error { return proxyRefusedError(t, testVault+".vault.azure.net") },
			wiContext(), diag.KindNotFound,
			[]string{`vault "app-vault" could not be reached: the HTTP proxy answered "Bad Gateway" to CONNECT app-vault.vault.azure.net:443`},
			[]string{"check keyvaultName", "allow app-vault.vault.azure.net in the proxy"}, nil},
		{"login host does not resolve",
			func(t *testing.T) error { return dnsError("login.microsoftonline.com") },
			wiContext(), diag.KindUnavailable,
			[]string{"host login.microsoftonline.com does not resolve"}, []string{"cloudName"}, nil},
		{"connection refused",
			func(t *testing.T) error { return refusedError(t) },
			wiContext(), diag.KindUnavailable,
			[]string{"no answer from 127.0.0.1", "connection refused"}, []string{"check that the node reaches 127.0.0.1:"}, nil},
		{"deadline",
			func(t *testing.T) error {
				return fmt.Errorf("Get %q: %w", "https://app-vault.vault.azure.net/secrets/db/", context.DeadlineExceeded)
			},
			wiContext(), diag.KindDeadline,
			[]string{"the mount's deadline passed before the object was fetched", "context deadline exceeded"},
			[]string{"check that the node reaches app-vault.vault.azure.net"}, nil},
		{"rendering",
			func(t *testing.T) error {
				return &format.Error{Type: vocab.Secret, Object: "db", Reason: "objectEncoding base64 cannot decode the secret", Fix: "store the value base64-encoded, or remove objectEncoding", Err: errors.New("illegal base64 data at input byte 4")}
			},
			wiContext(), diag.KindInvalid,
			[]string{`"db": objectEncoding base64 cannot decode the secret: illegal base64 data at input byte 4`},
			[]string{"store the value base64-encoded"}, []string{"(store"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cause := tt.err(t)
			got := diag.Explain(cause, tt.ctx)
			var de *diag.Error
			if !errors.As(got, &de) {
				t.Fatalf("Explain returned %T, want *diag.Error", got)
			}
			if de.Kind != tt.kind || diag.Classify(got) != tt.kind {
				t.Errorf("kind = %s (Classify %s), want %s", de.Kind, diag.Classify(got), tt.kind)
			}
			msg := got.Error()
			t.Logf("%s", msg)
			for _, s := range tt.want {
				if !strings.Contains(de.Msg, s) {
					t.Errorf("message lacks %q:\n%s", s, de.Msg)
				}
			}
			for _, s := range tt.fix {
				if !strings.Contains(de.Fix, s) {
					t.Errorf("fix lacks %q:\n%s", s, de.Fix)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(msg, s) {
					t.Errorf("message has %q:\n%s", s, msg)
				}
			}
			if !strings.HasSuffix(msg, "; fix: "+de.Fix) || de.Fix == "" {
				t.Errorf("message does not end with its fix: %s", msg)
			}
			checkOneLineNoSecrets(t, msg)
			if !errors.Is(got, cause) {
				t.Errorf("the cause is not in the chain")
			}
			var re *azcore.ResponseError
			if errors.As(cause, &re) && !errors.As(got, &re) {
				t.Errorf("the ResponseError is not reachable")
			}
		})
	}
}

func checkOneLineNoSecrets(t *testing.T, msg string) {
	t.Helper()
	if strings.ContainsAny(msg, "\r\n\t") || strings.Contains(msg, "-----") {
		t.Errorf("message is not one line:\n%s", msg)
	}
	for _, secret := range []string{testSecret, accessToken, saToken, "eyJ", "Bearer "} {
		if strings.Contains(msg, secret) {
			t.Errorf("message leaks %q:\n%s", secret, msg)
		}
	}
}

func TestExplainPassThrough(t *testing.T) {
	if diag.Explain(nil, wiContext()) != nil {
		t.Fatal("Explain(nil) != nil")
	}
	done := diag.Explain(errors.New("nmi response failed with status code: 404, response body: x"), wiContext())
	if again := diag.Explain(done, wiContext()); again != done {
		t.Errorf("an explained error was explained again: %v", again)
	}
	// An explicit kind and fix from the producer win; the text is condensed.
	prior := &diag.Error{Kind: diag.KindNotFound, Err: errors.New("objectVersion x is not among the object's enabled versions"), Fix: "set objectVersion to an existing enabled version"}
	got := diag.Explain(fmt.Errorf("list: %w", prior), wiContext())
	if diag.Classify(got) != diag.KindNotFound || got.Error() != "objectVersion x is not among the object's enabled versions; fix: set objectVersion to an existing enabled version" {
		t.Errorf("got %s: %v", diag.Classify(got), got)
	}
}

// A JWT or a token field in some unexpected error text is redacted.
func TestExplainRedacts(t *testing.T) {
	err := fmt.Errorf("unexpected answer {\"access_token\":\"opaque-token-value\"} for assertion %s and client_secret=%s", saToken, testSecret)
	msg := diag.Explain(err, wiContext()).Error()
	for _, s := range []string{"opaque-token-value", saToken, testSecret} {
		if strings.Contains(msg, s) {
			t.Errorf("message leaks %q: %s", s, msg)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  func(t *testing.T) error
		want diag.Kind
	}{
		{"nil", func(*testing.T) error { return nil }, diag.KindUnknown},
		{"plain", func(*testing.T) error { return errors.New("boom") }, diag.KindUnknown},
		{"explicit kind", func(*testing.T) error { return diag.New(diag.KindInvalid, errors.New("x"), "") }, diag.KindInvalid},
		{"explicit unknown falls through", func(*testing.T) error { return diag.New(diag.KindUnknown, context.DeadlineExceeded, "") }, diag.KindDeadline},
		{"deadline", func(*testing.T) error { return fmt.Errorf("x: %w", context.DeadlineExceeded) }, diag.KindDeadline},
		{"canceled", func(*testing.T) error { return context.Canceled }, diag.KindUnavailable},
		{"entra 401", func(t *testing.T) error {
			return assertionCredError(t, 401, aadBody(401, "invalid_client", 700213, "No match."))
		}, diag.KindUnauthenticated},
		{"entra 429", func(t *testing.T) error {
			return secretCredError(t, 429, aadBody(429, "temporarily_unavailable", 90055, "Throttled."))
		}, diag.KindThrottled},
		{"imds 400", func(t *testing.T) error {
			return imdsError(t, testClient, 400, `{"error":"invalid_request","error_description":"Identity not found"}`)
		}, diag.KindUnauthenticated},
		{"kv 400", func(t *testing.T) error {
			return kvCall(t, "secret", "db", "", 400, nil, kvBody("BadParameter", "", "bad"))
		}, diag.KindInvalid},
		{"kv 401", func(t *testing.T) error {
			return kvCall(t, "secret", "db", "", 401, nil, kvBody("Unauthorized", "", "AKV10022: Invalid audience."))
		}, diag.KindUnauthenticated},
		{"kv 403", func(t *testing.T) error {
			return kvCall(t, "secret", "db", "", 403, nil, kvBody("Forbidden", "", "no"))
		}, diag.KindPermissionDenied},
		{"kv 404", func(t *testing.T) error { return kvCall(t, "key", "k", "", 404, nil, kvBody("KeyNotFound", "", "no")) }, diag.KindNotFound},
		{"kv 408", func(t *testing.T) error { return kvCall(t, "cert", "c", "", 408, nil, kvBody("Timeout", "", "slow")) }, diag.KindDeadline},
		{"kv 429", func(t *testing.T) error {
			return kvCall(t, "secret", "db", "", 429, nil, kvBody("Throttled", "", "slow down"))
		}, diag.KindThrottled},
		{"kv 503", func(t *testing.T) error {
			return kvCall(t, "secret", "db", "", 503, nil, kvBody("ServiceUnavailable", "", "later"))
		}, diag.KindUnavailable},
		// NMI's answers are for Explain to read (see TestExplain), not retries.
		{"nmi 502", func(t *testing.T) error { return nmiError(t, 502, "x") }, diag.KindUnknown},
		{"render", func(*testing.T) error { return &format.Error{Type: vocab.Key, Object: "k", Reason: "bad"} }, diag.KindInvalid},
		{"no such host", func(*testing.T) error { return dnsError("nope.vault.azure.net") }, diag.KindNotFound},
		{"proxy refused", func(t *testing.T) error { return proxyRefusedError(t, "nope.vault.azure.net") }, diag.KindUnavailable},
		{"refused", func(t *testing.T) error { return refusedError(t) }, diag.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := diag.Classify(tt.err(t)); got != tt.want {
				t.Errorf("Classify = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestKindCodes(t *testing.T) {
	for k, want := range map[diag.Kind]codes.Code{
		diag.KindUnknown: codes.Unknown, diag.KindInvalid: codes.InvalidArgument, diag.KindUnauthenticated: codes.Unauthenticated,
		diag.KindPermissionDenied: codes.PermissionDenied, diag.KindNotFound: codes.NotFound, diag.KindThrottled: codes.ResourceExhausted,
		diag.KindUnavailable: codes.Unavailable, diag.KindDeadline: codes.DeadlineExceeded, diag.KindInternal: codes.Internal,
	} {
		if k.Code() != want || k.String() == "" {
			t.Errorf("%d: code %s (%q), want %s", k, k.Code(), k.String(), want)
		}
	}
}
