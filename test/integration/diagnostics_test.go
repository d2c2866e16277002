package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

// Apps and names of the diagnostics fixture (on top of the harness's).
const (
	outsiderApp    = "0a1b2c3d-9999-4e5f-8a9b-000000000099" // a service principal with no access to the vault
	outsiderSecret = "outsider-secret-Hq2"
	secretsOnlyApp = "0a1b2c3d-8888-4e5f-8a9b-000000000088" // may get secrets, nothing else
	audienceApp    = "0a1b2c3d-7777-4e5f-8a9b-000000000077" // federated credential with another audience
	unknownApp     = "0a1b2c3d-dead-4e5f-8a9b-0000000000ff" // exists nowhere
	ghostTenant    = "99999999-0000-4000-8000-000000000009" // exists nowhere
	missingVersion = "0123456789abcdef0123456789abcdef"
)

// TestDiagnostics makes every kind of failure happen for real, through the socket, the
// SDK and the emulator, and checks the gRPC code and that the message says which object,
// what went wrong and what to fix, in one line, after the Azure provider's prefix, with
// no secret value, client secret or token in it.
func TestDiagnostics(t *testing.T) {
	h := start(t, harness.Options{})
	e, v := h.Emu, h.Vault
	v.SetSecret("present", "value-present", emulator.SecretOptions{})
	v.SetSecret("history", "value-h1", emulator.SecretOptions{Created: time.Now().Add(-time.Hour)})
	v.SetSecret("history", "value-h2", emulator.SecretOptions{})
	v.SetSecret("not-base64", "value-*not*base64*", emulator.SecretOptions{})
	off := v.SetSecret("switched-off", "value-disabled", emulator.SecretOptions{})
	v.DisableVersion("secret", "switched-off", off)
	v.SetKey("signing", emulator.JWK{Kty: "oct-HSM"}, emulator.KeyOptions{})
	e.AddApp(harness.Tenant, outsiderApp)
	e.SetClientSecret(harness.Tenant, outsiderApp, outsiderSecret)
	e.SetClientSecret(harness.Tenant, secretsOnlyApp, outsiderSecret)
	v.Grant(secretsOnlyApp, emulator.SecretGet)
	e.AddFederatedCredential(harness.Tenant, audienceApp, emulator.FederatedCredential{
		Issuer: harness.IssuerURL, Subject: "system:serviceaccount:" + harness.Namespace + ":" + harness.SAName,
		Audiences: []string{"api://SomeOtherAudience"},
	})
	ghost := e.Vault("kvcsi-ghost-tenant")
	ghost.SetTenant(ghostTenant)
	ghost.SetSecret("present", "value-ghost", emulator.SecretOptions{})

	mint := func(issuer, sa, aud string, ttl time.Duration) map[string]harness.Token {
		iss := h.Issuer
		if issuer != harness.IssuerURL {
			iss = e.AddIssuer(issuer)
		}
		tok := iss.MintToken("system:serviceaccount:"+harness.Namespace+":"+sa, aud, ttl, nil)
		return map[string]harness.Token{harness.WIAudience: {Token: tok, ExpirationTimestamp: time.Now().Add(ttl).UTC().Format(time.RFC3339)}}
	}
	good := h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)
	withParam := func(p map[string]string, kv ...string) map[string]string {
		for i := 0; i+1 < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}
	as := func(clientID string) map[string]string {
		return map[string]string{"clientid": clientID, "clientsecret": outsiderSecret}
	}
	present := "objectName: present\nobjectType: secret"
	const prefix = "failed to mount objects, error: failed to get objectType:"

	tests := []struct {
		name     string
		in       harness.MountInput
		setup    func() func()
		code     codes.Code
		contains []string
	}{
		// Workload identity.
		{name: "federated credential: issuer differs by its trailing slash",
			in:   harness.MountInput{Params: wiParams(present), Tokens: mint(strings.TrimSuffix(harness.IssuerURL, "/"), harness.SAName, harness.WIAudience, time.Hour)},
			code: codes.Unauthenticated,
			contains: []string{prefix + "secret, objectName:present, objectVersion:: workload identity (client ID " + harness.WIClientID + ") could not get a token from Entra ID (tenant " + harness.Tenant + "): 401 invalid_client: AADSTS700211",
				`the pod's service account token has issuer "https://oidc.kvcsi.test/issuer" and subject "system:serviceaccount:default:workload"`,
				`; fix: add a federated identity credential to the app or managed identity with client ID ` + harness.WIClientID + ` in tenant ` + harness.Tenant + ` whose issuer is "https://oidc.kvcsi.test/issuer" and subject is "system:serviceaccount:default:workload", matching character for character, including the trailing "/" of the issuer (or its absence)`}},
		{name: "federated credential: subject",
			in:   harness.MountInput{Params: wiParams(present), Tokens: mint(harness.IssuerURL, "other-sa", harness.WIAudience, time.Hour)},
			code: codes.Unauthenticated,
			contains: []string{"AADSTS700213", `subject "system:serviceaccount:default:other-sa"`,
				`with issuer "https://oidc.kvcsi.test/issuer/" and subject "system:serviceaccount:default:other-sa", matching character for character`}},
		{name: "federated credential: audience",
			in:       harness.MountInput{Params: withParam(wiParams(present), "clientID", audienceApp), Tokens: good},
			setup:    func() func() { v.Grant(audienceApp, emulator.SecretGet); return nil },
			code:     codes.Unauthenticated,
			contains: []string{"AADSTS700212", `for audience "api://AzureADTokenExchange"`, `must list the audience "api://AzureADTokenExchange"`}},
		{name: "expired service account token",
			in:       harness.MountInput{Params: wiParams(present), Tokens: mint(harness.IssuerURL, harness.SAName, harness.WIAudience, -10*time.Minute)},
			code:     codes.Unauthenticated,
			contains: []string{"AADSTS700024: Client assertion is not within its valid time range", "it expired at", "requiresRepublish: true"}},
		{name: "client ID unknown in the tenant",
			in:   harness.MountInput{Params: withParam(wiParams(present), "clientID", unknownApp), Tokens: good},
			code: codes.Unauthenticated,
			contains: []string{"AADSTS700016: Application with identifier '" + unknownApp + "' was not found in the directory '" + harness.Tenant + "'",
				"fix: check clientID: " + unknownApp + " must be the client (application) ID, not the object ID"}},
		{name: "tenant not found",
			in:       harness.MountInput{Params: withParam(wiParams(present), "keyvaultName", "kvcsi-ghost-tenant"), Tokens: good},
			code:     codes.Unauthenticated,
			contains: []string{"AADSTS90002: Tenant '" + ghostTenant + "' not found", "vault kvcsi-ghost-tenant names tenant " + ghostTenant + " in its authentication challenge"}},
		{name: "no token for the workload identity audience",
			in:       harness.MountInput{Params: wiParams(present)},
			code:     codes.InvalidArgument,
			contains: []string{"failed to mount objects, error: failed to build auth config for mode None: failed to parse workload identity tokens, error: service account tokens not found", "tokenRequests: [{audience: api://AzureADTokenExchange}]"}},
		{name: "token for another audience only",
			in:       harness.MountInput{Params: wiParams(present), Tokens: h.WorkloadToken(harness.Pod{}, harness.IBAudience, time.Hour)},
			code:     codes.InvalidArgument,
			contains: []string{"token for audience api://AzureADTokenExchange not found", "tokenRequests: [{audience: api://AzureADTokenExchange}]"}},

		// Service principal and managed identity.
		{name: "wrong client secret",
			in:       harness.MountInput{Params: spParams(present), Secrets: map[string]string{"clientid": harness.SPClientID, "clientsecret": "wrong-secret-Zz9"}},
			code:     codes.Unauthenticated,
			contains: []string{"service principal (client ID " + harness.SPClientID + ") could not get a token from Entra ID", "AADSTS7000215: Invalid client secret provided", "not its Secret ID"}},
		{name: "no nodePublishSecretRef and no clientID",
			in:       harness.MountInput{Params: spParams(present)},
			code:     codes.InvalidArgument,
			contains: []string{"could not find clientid in secrets", "set parameters.clientID for workload identity"}},
		{name: "user-assigned identity not on the node",
			in:   harness.MountInput{Params: miParams("0a1b2c3d-3333-4e5f-8a9b-0000000000ee", present)},
			code: codes.Unauthenticated,
			contains: []string{"the node's user-assigned managed identity (client ID 0a1b2c3d-3333-4e5f-8a9b-0000000000ee) could not get a token from the instance metadata service (IMDS): 400 invalid_request: Identity not found",
				"assign the user-assigned managed identity with client ID 0a1b2c3d-3333-4e5f-8a9b-0000000000ee to the node pool's virtual machine scale set"}},
		{name: "pod without an aad-pod-identity binding",
			in:       harness.MountInput{Params: podIdentityParams(present), Pod: harness.Pod{Name: "lonely", Namespace: harness.Namespace, UID: "ba1b2c3d-4d5e-4f60-8a7b-9c0d1e2f3a4b"}},
			code:     codes.Unauthenticated,
			contains: []string{"nmi response failed with status code: 403, response body: no AzureAssignedIdentity found for pod:default/lonely", "aadpodidbinding"}},

		// Key Vault.
		{name: "403 on a secret",
			in:   harness.MountInput{Params: spParams(present), Secrets: as(outsiderApp)},
			code: codes.PermissionDenied,
			contains: []string{prefix + `secret, objectName:present, objectVersion:: service principal (client ID ` + outsiderApp + `) lacks the get permission on secret "present" in vault kvcsi-vault: 403 Forbidden (ForbiddenByRbac)`,
				"data action Microsoft.KeyVault/vaults/secrets/getSecret/action",
				`fix: assign client ID ` + outsiderApp + ` the built-in role "Key Vault Secrets User" on vault kvcsi-vault`}},
		{name: "403 on a key",
			in:       harness.MountInput{Params: spParams("objectName: signing\nobjectType: key"), Secrets: as(secretsOnlyApp)},
			code:     codes.PermissionDenied,
			contains: []string{`lacks the get permission on key "signing"`, `"Key Vault Crypto User"`}},
		{name: "403 on a certificate",
			in:       harness.MountInput{Params: spParams("objectName: web\nobjectType: cert"), Secrets: as(secretsOnlyApp)},
			code:     codes.PermissionDenied,
			contains: []string{`lacks the get permission on certificate "web"`, `"Key Vault Certificate User"`}},
		{name: "403 listing versions for objectVersionHistory",
			in:       harness.MountInput{Params: spParams("objectName: history\nobjectType: secret\nobjectVersionHistory: 2"), Secrets: as(secretsOnlyApp)},
			code:     codes.PermissionDenied,
			contains: []string{`lacks the list permission on secret "history"`, "readMetadata", `"Key Vault Secrets User"`}},
		{name: "disabled secret",
			in:       harness.MountInput{Params: spParams("objectName: switched-off\nobjectType: secret"), Secrets: spSecrets()},
			code:     codes.PermissionDenied,
			contains: []string{`secret "switched-off" in vault kvcsi-vault is disabled: 403 Forbidden (SecretDisabled)`, "enable the object's latest version"}},
		{name: "404 object",
			in:   harness.MountInput{Params: spParams("objectName: absent\nobjectType: secret"), Secrets: spSecrets()},
			code: codes.NotFound,
			contains: []string{prefix + `secret, objectName:absent, objectVersion:: secret "absent" was not found in vault kvcsi-vault: 404 SecretNotFound: A secret with (name/id) absent was not found in this key vault`,
				"fix: check objectName and objectType"}},
		{name: "404 version",
			in:       harness.MountInput{Params: spParams("objectName: present\nobjectType: secret\nobjectVersion: " + missingVersion), Secrets: spSecrets()},
			code:     codes.NotFound,
			contains: []string{"objectVersion:" + missingVersion + ": version " + missingVersion + ` of secret "present" was not found in vault kvcsi-vault`, "set objectVersion to an existing version"}},
		{name: "vault name that does not resolve",
			in:   harness.MountInput{Params: withParam(spParams(present), "keyvaultName", "kvcsi-vualt"), Secrets: spSecrets()},
			code: codes.NotFound,
			contains: []string{`vault "kvcsi-vualt" could not be reached: the HTTP proxy answered "Bad Gateway" to CONNECT kvcsi-vualt.vault.azure.net:443`,
				"check keyvaultName (the vault's name, not its URL) and cloudName (this mount looks for the vault under vault.azure.net)"}},
		{name: "throttled",
			in: harness.MountInput{Params: spParams(present), Secrets: spSecrets()},
			setup: func() func() {
				e.SetFaults(emulator.ServiceKeyVault, emulator.Faults{ThrottleRate: 1, RetryAfter: 5 * time.Minute})
				return func() { e.SetFaults(emulator.ServiceKeyVault, emulator.Faults{}) }
			},
			code:     codes.ResourceExhausted,
			contains: []string{"Key Vault kvcsi-vault answered HTTP 429 and asked to wait 5m0s", "429 Throttled", "retry after 5m0s"}},
		{name: "Key Vault server errors",
			in: harness.MountInput{Params: spParams(present), Secrets: spSecrets()},
			setup: func() func() {
				e.SetFaults(emulator.ServiceKeyVault, emulator.Faults{ErrorRate: 1, ErrorStatus: 500})
				return func() { e.SetFaults(emulator.ServiceKeyVault, emulator.Faults{}) }
			},
			code:     codes.Unavailable,
			contains: []string{"Key Vault kvcsi-vault answered 500 InternalServerError", "transient"}},
		{name: "content that does not fit the object's settings",
			in:       harness.MountInput{Params: spParams("objectName: not-base64\nobjectType: secret\nobjectEncoding: base64"), Secrets: spSecrets()},
			code:     codes.InvalidArgument,
			contains: []string{`objectName:not-base64, objectVersion:: secret "not-base64": objectEncoding base64 cannot decode`, "fix: store the value base64-encoded, or remove objectEncoding"}},
		{name: "every failing object is reported, the first decides the code",
			in:   harness.MountInput{Params: spParams("objectName: absent\nobjectType: secret", present, "objectName: signing\nobjectType: key"), Secrets: as(secretsOnlyApp)},
			code: codes.NotFound,
			contains: []string{`objectName:absent, objectVersion:: secret "absent" was not found`,
				`; failed to get objectType:key, objectName:signing, objectVersion:: service principal (client ID ` + secretsOnlyApp + `) lacks the get permission on key "signing"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				if undo := tc.setup(); undo != nil {
					defer undo()
				}
			}
			_, err := h.Mount(ctx(t), tc.in)
			msg := wantStatus(t, err, tc.code, tc.contains...)
			if strings.Contains(msg, "value-") || strings.Contains(msg, outsiderSecret) || strings.Contains(msg, "wrong-secret-Zz9") {
				t.Errorf("message leaks a secret: %s", msg)
			}
		})
	}

	t.Run("deadline", func(t *testing.T) {
		e.SetFaults(emulator.ServiceKeyVault, emulator.Faults{Latency: 5 * time.Second})
		defer e.SetFaults(emulator.ServiceKeyVault, emulator.Faults{})
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := h.Mount(c, harness.MountInput{Params: spParams(present), Secrets: spSecrets()})
		st := status.Convert(err)
		t.Logf("%s: %s", st.Code(), st.Message())
		if st.Code() != codes.DeadlineExceeded {
			t.Errorf("code = %s, want DeadlineExceeded", st.Code())
		}
		// The provider answers as the deadline passes; whichever side reports first, a
		// provider message names the deadline.
		if strings.Contains(st.Message(), "failed to mount objects") && !strings.Contains(st.Message(), "the mount's deadline passed") {
			t.Errorf("message: %s", st.Message())
		}
		noLeaks(t, st.Message())
	})
}

// TestDiagnosticsLegacyFederation: with Entra ID's older combined error (AADSTS70021)
// the message still gives the token's exact issuer and subject.
func TestDiagnosticsLegacyFederation(t *testing.T) {
	h := start(t, harness.Options{Emulator: emulator.Options{LegacyFederationErrors: true}})
	h.Vault.SetSecret("present", "value-present", emulator.SecretOptions{})
	pod := harness.Pod{Name: harness.PodName, Namespace: "shop", UID: "ca1b2c3d-4d5e-4f60-8a7b-9c0d1e2f3a4b", ServiceAccount: "web"}
	_, err := h.Mount(ctx(t), harness.MountInput{Params: wiParams("objectName: present\nobjectType: secret"), Pod: pod,
		Tokens: h.WorkloadToken(pod, harness.WIAudience, time.Hour)})
	wantStatus(t, err, codes.Unauthenticated, "400 invalid_request: AADSTS70021: No matching federated identity record found for presented assertion",
		`the pod's service account token has issuer "https://oidc.kvcsi.test/issuer/" and subject "system:serviceaccount:shop:web"`,
		`whose issuer is "https://oidc.kvcsi.test/issuer/" and subject is "system:serviceaccount:shop:web", matching character for character, including the trailing "/" of the issuer`)
}
