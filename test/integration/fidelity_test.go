package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/kvcsi/kvcsi/provider/daemon"
	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

// TestObjectVersionHistoryBoundaries pins objectVersionHistory to the Azure provider's
// files and object versions: it appends a version before it checks the count, so with
// more than N enabled versions it writes <file>/0 … <file>/N (N+1 files), and with N or
// fewer all of them; newest first by creation time, disabled versions skipped. Both
// with every version on one list page and spread over several.
func TestObjectVersionHistoryBoundaries(t *testing.T) {
	const n = 3
	for _, pageSize := range []int{25, 2} {
		t.Run(fmt.Sprintf("page size %d", pageSize), func(t *testing.T) {
			h := start(t, harness.Options{Emulator: emulator.Options{PageSize: pageSize}})
			base := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
			for _, versions := range []int{n - 1, n, n + 1, n + 2, 3 * n} {
				name := fmt.Sprintf("ring-%d", versions)
				// Set in an order unlike their creation times, with a disabled one
				// in the middle that must not count.
				created := make([]string, versions) // newest first
				for i := 0; i < versions; i++ {
					at := base.Add(time.Duration((i*7)%versions) * time.Hour)
					ver := h.Vault.SetSecret(name, fmt.Sprintf("key-%d", (i*7)%versions), emulator.SecretOptions{Created: at})
					created[versions-1-(i*7)%versions] = ver
				}
				off := h.Vault.SetSecret(name, "disabled", emulator.SecretOptions{Created: base.Add(time.Duration(versions)*time.Hour - 30*time.Minute)})
				h.Vault.DisableVersion("secret", name, off)

				resp, err := h.Mount(ctx(t), harness.MountInput{Params: spParams(fmt.Sprintf("objectName: %s\nobjectType: secret\nobjectAlias: keys\nobjectVersionHistory: %d", name, n)), Secrets: spSecrets()})
				if err != nil {
					t.Fatalf("%d versions: %v", versions, err)
				}
				want := min(versions, n+1)
				if len(resp.Files) != want || len(resp.ObjectVersion) != want {
					t.Fatalf("%d versions, objectVersionHistory %d: %d files %v, want %d (the Azure provider writes N+1 when more than N exist)",
						versions, n, len(resp.Files), harness.Modes(resp), want)
				}
				for i := 0; i < want; i++ {
					f, ov := resp.Files[i], resp.ObjectVersion[i]
					wantPath := "keys" + string(filepath.Separator) + fmt.Sprint(i)
					if f.Path != wantPath || string(f.Contents) != fmt.Sprintf("key-%d", versions-1-i) ||
						ov.Id != fmt.Sprintf("secret/%s/%d", name, i) || ov.Version != created[i] {
						t.Errorf("%d versions, file %d: %s %q %s@%s, want %s %q secret/%s/%d@%s", versions, i, f.Path, f.Contents, ov.Id, ov.Version,
							wantPath, fmt.Sprintf("key-%d", versions-1-i), name, i, created[i])
					}
				}
			}
		})
	}
}

// TestCloudLoginHosts: each cloud's mounts get their tokens from that cloud's login host
// (a vault of one cloud refuses another cloud's tokens, and a login host another
// cloud's resource), for every identity mode that talks to Entra ID.
func TestCloudLoginHosts(t *testing.T) {
	envFile := writeStackEnv(t, t.TempDir())
	h := start(t, harness.Options{Emulator: emulator.Options{Clouds: []emulator.Cloud{
		{LoginHost: "login.microsoftonline.us", Tenants: []string{harness.Tenant}},
		{LoginHost: "login.chinacloudapi.cn", Tenants: []string{harness.Tenant}},
		{LoginHost: "login.contoso.test", VaultSuffix: "vault.contoso.test", Tenants: []string{harness.Tenant}},
	}}})
	h.Vault.SetSecret("cloud-secret", "per-cloud", emulator.SecretOptions{})
	obj := "objectName: cloud-secret\nobjectType: secret"
	for _, tc := range []struct {
		name   string
		params map[string]string
		login  string
	}{
		{"public", map[string]string{}, "login.microsoftonline.com"},
		{"US Government", map[string]string{"cloudName": "AzureUSGovernmentCloud"}, "login.microsoftonline.us"},
		{"China", map[string]string{"cloudName": "AzureChinaCloud"}, "login.chinacloudapi.cn"},
		{"Azure Stack", map[string]string{"cloudName": "AzureStackCloud", "cloudEnvFileName": envFile}, "login.contoso.test"},
	} {
		for _, mode := range []string{"workload identity", "service principal"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				in := harness.MountInput{Params: spParams(obj), Secrets: spSecrets()}
				if mode == "workload identity" {
					in = harness.MountInput{Params: wiParams(obj), Tokens: h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)}
				}
				for k, v := range tc.params {
					in.Params[k] = v
				}
				before := h.Emu.Counts()
				if _, err := h.Mount(ctx(t), in); err != nil {
					t.Fatalf("mount: %v", err)
				}
				after := h.Emu.Counts()
				for host, n := range after.TokensByHost {
					if d := n - before.TokensByHost[host]; d > 0 && host != tc.login {
						t.Errorf("%d token(s) issued by %s for a %s mount, want only %s", d, host, tc.name, tc.login)
					}
				}
				if after.TokensByHost[tc.login] <= before.TokensByHost[tc.login] {
					t.Errorf("no token from %s (tokens by host %v)", tc.login, after.TokensByHost)
				}
			})
		}
	}
}

// TestParallelFetch fails if a mount fetches its objects one after another: with Key
// Vault answering slowly, a 10-object mount must have as many requests in flight at
// the vault as the mount's parallelism allows.
func TestParallelFetch(t *testing.T) {
	const parallelism = 8
	h := start(t, harness.Options{Daemon: func(o *daemon.Options) { o.Parallelism = parallelism }})
	var objs []string
	for i := 0; i < 10; i++ {
		h.Vault.SetSecret(fmt.Sprintf("p%d", i), "v", emulator.SecretOptions{})
		objs = append(objs, fmt.Sprintf("objectName: p%d\nobjectType: secret", i))
	}
	h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{Latency: 150 * time.Millisecond})
	if _, err := h.Mount(ctx(t), harness.MountInput{Params: spParams(objs...), Secrets: spSecrets()}); err != nil {
		t.Fatal(err)
	}
	if got, want := h.Emu.Counts().KeyVaultMaxConcurrent[harness.VaultName], min(10, parallelism); got != want {
		t.Fatalf("at most %d requests were in flight at the vault, want %d (objects fetched in parallel, --parallelism %d)", got, want, parallelism)
	}
}

// stackHub starts an emulated Azure Stack Hub whose vaults serve only api-version 7.1,
// and returns the parameters of a mount in it.
func stackHub(t *testing.T, opts harness.Options) (*harness.Harness, map[string]string) {
	t.Helper()
	opts.Emulator.Clouds = append(opts.Emulator.Clouds, emulator.Cloud{LoginHost: "login.contoso.test", VaultSuffix: "vault.contoso.test",
		Tenants: []string{harness.Tenant}, APIVersions: []string{"7.1"}})
	h := start(t, opts)
	h.Vault.SetSecret("stack-secret", "from-the-hub", emulator.SecretOptions{})
	p := spParams("objectName: stack-secret\nobjectType: secret")
	p["cloudName"] = "AzureStackCloud"
	p["cloudEnvFileName"] = writeStackEnv(t, t.TempDir())
	return h, p
}

// TestStackHubAPIVersion: Azure Stack Hub's Key Vault lags the public cloud's
// api-versions; keyvaultAPIVersion makes kvcsi talk to it, and without it the failure
// says what to set.
func TestStackHubAPIVersion(t *testing.T) {
	// Its own emulator and kvcsi process, mostly waiting: runs beside the others.
	t.Parallel()
	h, p := stackHub(t, harness.Options{Binary: kvcsiBinary(t)})
	_, err := h.Mount(ctx(t), harness.MountInput{Params: p, Secrets: spSecrets()})
	wantStatus(t, err, codes.InvalidArgument, "400 BadParameter: The specified version (2026-04-01) is not recognized. Consider using the latest supported version (7.1)",
		"keyvaultAPIVersion", "7.1")
	p["keyvaultAPIVersion"] = "7.1"
	resp, err := h.Mount(ctx(t), harness.MountInput{Params: p, Secrets: spSecrets()})
	if err != nil {
		t.Fatalf("mount with keyvaultAPIVersion 7.1: %v", err)
	}
	if string(resp.Files[0].Contents) != "from-the-hub" {
		t.Fatalf("got %q", resp.Files[0].Contents)
	}
}

// TestThrottlingWithoutRetryAfter: Key Vault may throttle without saying how long to
// wait; kvcsi backs off exponentially on its own, through the binary.
func TestThrottlingWithoutRetryAfter(t *testing.T) {
	// Its own emulator and kvcsi process, mostly waiting: runs beside the others.
	t.Parallel()
	h := start(t, harness.Options{Binary: kvcsiBinary(t)})
	h.Vault.SetSecret("busy", "eventually", emulator.SecretOptions{})
	in := harness.MountInput{Params: spParams("objectName: busy\nobjectType: secret"), Secrets: spSecrets()}
	if _, err := h.Mount(ctx(t), in); err != nil { // token and challenge in place
		t.Fatal(err)
	}
	for _, status := range []int{429, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{ThrottleFirst: 3, ThrottleStatus: status, NoRetryAfter: true})
			defer h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{})
			before := h.Emu.Counts().KeyVaultRequests
			start := time.Now()
			resp, err := h.Mount(ctx(t), in)
			if err != nil {
				t.Fatalf("mount after three throttled answers: %v", err)
			}
			elapsed := time.Since(start)
			if string(resp.Files[0].Contents) != "eventually" {
				t.Fatalf("got %q", resp.Files[0].Contents)
			}
			if n := h.Emu.Counts().KeyVaultRequests - before; n != 4 {
				t.Errorf("%d requests, want 4 (three throttled, then the answer)", n)
			}
			// Exponential back-off from 200 ms with ±25% jitter: at least 150+300+600 ms.
			if elapsed < 1050*time.Millisecond {
				t.Errorf("three retries took %s: no back-off without Retry-After", elapsed)
			}
		})
	}
	t.Run("throttled throughout", func(t *testing.T) {
		h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{ThrottleRate: 1, NoRetryAfter: true})
		defer h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{})
		_, err := h.Mount(ctx(t), in)
		msg := wantStatus(t, err, codes.ResourceExhausted, "429", "without Retry-After")
		if strings.Contains(msg, "asked to wait") {
			t.Errorf("the vault asked for no wait, the message says it did: %s", msg)
		}
	})
}

// TestContinuousAccessEvaluation: tokens for Key Vault are CAE tokens that live long
// (24 h here) and come with refresh_in. kvcsi's token cache honours refresh_in; a
// revoked token in the cache is answered with a claims challenge, and kvcsi drops it,
// gets a token carrying the claims and the mount succeeds; an identity revoked for
// real fails with the diagnosis. Through the binary.
func TestContinuousAccessEvaluation(t *testing.T) {
	// Its own emulator and kvcsi process, mostly waiting: runs beside the others.
	t.Parallel()
	h := start(t, harness.Options{Binary: kvcsiBinary(t), Emulator: emulator.Options{CAETokenLifetime: 24 * time.Hour, RefreshIn: 3 * time.Second}})
	h.Vault.SetSecret("cae", "still-allowed", emulator.SecretOptions{})
	second := h.Emu.Vault("kvcsi-vault-2")
	second.SetTenant(harness.Tenant)
	second.Grant(harness.WIClientID, emulator.SecretGet)
	second.SetSecret("cae", "still-allowed", emulator.SecretOptions{})
	tokens := h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)
	in := func(vault string) harness.MountInput {
		p := wiParams("objectName: cae\nobjectType: secret")
		p["keyvaultName"] = vault
		return harness.MountInput{Params: p, Tokens: tokens}
	}
	mount := func(what, vault string) {
		t.Helper()
		resp, err := h.Mount(ctx(t), in(vault))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if string(resp.Files[0].Contents) != "still-allowed" {
			t.Fatalf("%s: %q", what, resp.Files[0].Contents)
		}
	}
	issued := func() int { return h.Emu.Counts().TokensIssued[harness.WIClientID] }
	mount("first mount", harness.VaultName)
	mount("second mount, cached token", harness.VaultName)
	if n := issued(); n != 1 {
		t.Fatalf("tokens issued %d, want 1", n)
	}
	// The same identity for another vault of the tenant: the cached token serves it
	// until refresh_in, then a new one is asked for.
	mount("another vault before refresh_in", "kvcsi-vault-2")
	if n := issued(); n != 1 {
		t.Fatalf("tokens issued %d before refresh_in, want 1", n)
	}
	time.Sleep(3500 * time.Millisecond)
	h.Emu.Vault("kvcsi-vault-3").SetTenant(harness.Tenant)
	h.Emu.Vault("kvcsi-vault-3").Grant(harness.WIClientID, emulator.SecretGet)
	h.Emu.Vault("kvcsi-vault-3").SetSecret("cae", "still-allowed", emulator.SecretOptions{})
	mount("a third vault after refresh_in", "kvcsi-vault-3")
	if n := issued(); n != 2 {
		t.Fatalf("tokens issued %d after refresh_in passed, want 2 (refresh_in honoured)", n)
	}

	h.Emu.RevokeTokens(harness.WIClientID)
	mount("mount with a revoked token in the cache", harness.VaultName)
	if c := h.Emu.Counts(); c.KeyVaultClaimsChallenges != 1 || c.TokensIssued[harness.WIClientID] != 3 {
		t.Fatalf("claims challenges %d, tokens issued %d: want 1 challenge and one new token", c.KeyVaultClaimsChallenges, c.TokensIssued[harness.WIClientID])
	}
	mount("mount after the new token", harness.VaultName)
	if c := h.Emu.Counts(); c.KeyVaultClaimsChallenges != 1 || c.TokensIssued[harness.WIClientID] != 3 {
		t.Fatalf("claims challenges %d, tokens issued %d after the new token was cached", c.KeyVaultClaimsChallenges, c.TokensIssued[harness.WIClientID])
	}

	h.Emu.DisableApp(harness.Tenant, harness.WIClientID)
	h.Emu.RevokeTokens(harness.WIClientID)
	_, err := h.Mount(ctx(t), in(harness.VaultName))
	wantStatus(t, err, codes.Unauthenticated, "AADSTS7000112", "is disabled", "Enabled for users to sign in", harness.WIClientID)
}

// TestErrorTextsFromTheField asserts, through the binary, the diagnosis and fix of
// errors users meet: Key Vault's 400 BadParameter for an invalid object name, and
// federated credential mismatches and expired assertions of workload identity.
func TestErrorTextsFromTheField(t *testing.T) {
	// Its own emulator and kvcsi process, mostly waiting: runs beside the others.
	t.Parallel()
	h := start(t, harness.Options{Binary: kvcsiBinary(t)})
	_, err := h.Mount(ctx(t), harness.MountInput{Params: spParams("objectName: db_password\nobjectType: secret"), Secrets: spSecrets()})
	wantStatus(t, err, codes.InvalidArgument, "400 BadParameter: The request URI contains an invalid name: db_password", "1–127 characters")

	mint := func(sub, aud string, ttl time.Duration) map[string]harness.Token {
		tok := h.Issuer.MintToken(sub, aud, ttl, nil)
		return map[string]harness.Token{harness.WIAudience: {Token: tok, ExpirationTimestamp: time.Now().Add(ttl).UTC().Format(time.RFC3339)}}
	}
	sa := "system:serviceaccount:" + harness.Namespace + ":" + harness.SAName
	other := h.Emu.AddIssuer("https://oidc.kvcsi.test/other-cluster/")
	otherTok := other.MintToken(sa, harness.WIAudience, time.Hour, nil)
	for _, tc := range []struct {
		name     string
		tokens   map[string]harness.Token
		contains []string
	}{
		{"issuer", map[string]harness.Token{harness.WIAudience: {Token: otherTok, ExpirationTimestamp: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}},
			[]string{"AADSTS700211", `issuer is "https://oidc.kvcsi.test/other-cluster/"`}},
		{"subject", mint("system:serviceaccount:default:other", harness.WIAudience, time.Hour), []string{"AADSTS700213", `subject "system:serviceaccount:default:other"`}},
		{"audience", mint(sa, "api://Other", time.Hour), []string{"AADSTS700212", `must list the audience "api://Other"`}},
		{"expired", mint(sa, harness.WIAudience, -10*time.Minute), []string{"AADSTS700024", "requiresRepublish: true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Mount(ctx(t), harness.MountInput{Params: wiParams("objectName: x\nobjectType: secret"), Tokens: tc.tokens})
			wantStatus(t, err, codes.Unauthenticated, tc.contains...)
		})
	}
	t.Run("legacy AADSTS70021", func(t *testing.T) {
		h := start(t, harness.Options{Binary: kvcsiBinary(t), Emulator: emulator.Options{LegacyFederationErrors: true}})
		_, err := h.Mount(ctx(t), harness.MountInput{Params: wiParams("objectName: x\nobjectType: secret"),
			Tokens: map[string]harness.Token{harness.WIAudience: {Token: h.Issuer.MintToken("system:serviceaccount:default:other", harness.WIAudience, time.Hour, nil),
				ExpirationTimestamp: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}})
		wantStatus(t, err, codes.Unauthenticated, "AADSTS70021: No matching federated identity record found for presented assertion", `subject is "system:serviceaccount:default:other"`)
	})
}

// writeADFSEnv writes an Azure Stack Hub environment file whose login endpoint is an AD
// FS authority, as Stack Hubs without Entra ID have.
func writeADFSEnv(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "adfs.json")
	if err := os.WriteFile(p, []byte(`{"name":"ContosoADFS","activeDirectoryEndpoint":"https://adfs.contoso.test/adfs/",`+
		`"keyVaultEndpoint":"https://vault.adfs.test/","keyVaultDNSSuffix":"vault.adfs.test","resourceManagerEndpoint":"https://management.adfs.test/"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStackHubADFS mounts from an Azure Stack Hub whose identity provider is AD FS: MSAL
// treats a /adfs authority specially (no tenants, no instance discovery), the tenant is
// "adfs", and the environment file's login endpoint is https://<adfs host>/adfs/.
func TestStackHubADFS(t *testing.T) {
	// Its own emulator and kvcsi process, mostly waiting: runs beside the others.
	t.Parallel()
	h := start(t, harness.Options{Binary: kvcsiBinary(t), Emulator: emulator.Options{Clouds: []emulator.Cloud{
		{LoginHost: "adfs.contoso.test", VaultSuffix: "vault.adfs.test", ADFS: true, APIVersions: emulator.StackHubKeyVaultAPIVersions},
	}}})
	h.Emu.SetClientSecret("adfs", harness.SPClientID, harness.SPSecret)
	v := h.Emu.Vault("kvcsi-adfs")
	v.SetTenant("adfs")
	v.Grant(harness.SPClientID, emulator.SecretGet)
	v.SetSecret("adfs-secret", "through-ad-fs", emulator.SecretOptions{})
	p := spParams("objectName: adfs-secret\nobjectType: secret")
	p["keyvaultName"] = "kvcsi-adfs"
	p["tenantID"] = "adfs"
	p["cloudName"] = "AzureStackCloud"
	p["cloudEnvFileName"] = writeADFSEnv(t)
	p["keyvaultAPIVersion"] = "7.1"
	resp, err := h.Mount(ctx(t), harness.MountInput{Params: p, Secrets: spSecrets()})
	if err != nil {
		t.Fatalf("mount through AD FS: %v", err)
	}
	if string(resp.Files[0].Contents) != "through-ad-fs" {
		t.Fatalf("got %q", resp.Files[0].Contents)
	}
	if n := h.Emu.Counts().TokensByHost["adfs.contoso.test"]; n != 1 {
		t.Fatalf("tokens from AD FS: %d (by host %v)", n, h.Emu.Counts().TokensByHost)
	}
}
