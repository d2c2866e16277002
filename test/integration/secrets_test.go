package integration

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

// wiParams are the parameters of a workload-identity SecretProviderClass.
func wiParams(objects ...string) map[string]string {
	return map[string]string{
		"keyvaultName": harness.VaultName,
		"tenantId":     harness.Tenant,
		"clientID":     harness.WIClientID,
		"objects":      harness.Objects(objects...),
	}
}

func spParams(objects ...string) map[string]string {
	return map[string]string{
		"keyvaultName": harness.VaultName,
		"tenantID":     harness.Tenant,
		"objects":      harness.Objects(objects...),
	}
}

func spSecrets() map[string]string {
	// nodePublishSecretRef keys are matched case-insensitively, as upstream.
	return map[string]string{"ClientID": harness.SPClientID, "clientSecret": harness.SPSecret}
}

type wantFile struct {
	path, contents, mode, id, version string
}

func TestSecretMounts(t *testing.T) {
	h := start(t, harness.Options{})
	v := h.Vault
	pw1 := v.SetSecret("db-password", "s3cr3t-v1", emulator.SecretOptions{Created: time.Now().Add(-3 * time.Hour)})
	pw2 := v.SetSecret("db-password", "s3cr3t-v2", emulator.SecretOptions{Created: time.Now().Add(-2 * time.Hour)})
	pw3 := v.SetSecret("db-password", "s3cr3t-v3", emulator.SecretOptions{Created: time.Now().Add(-1 * time.Hour)})
	b64 := v.SetSecret("blob-b64", base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff, 'x'}), emulator.SecretOptions{})
	hx := v.SetSecret("blob-hex", hex.EncodeToString([]byte("hex!\n")), emulator.SecretOptions{})
	unicode := v.SetSecret("unicode", "päss wörd ✓\n", emulator.SecretOptions{})
	// A disabled newest version is skipped by objectVersionHistory.
	hist1 := v.SetSecret("history", "h1", emulator.SecretOptions{Created: time.Now().Add(-4 * time.Hour)})
	hist2 := v.SetSecret("history", "h2", emulator.SecretOptions{Created: time.Now().Add(-3 * time.Hour)})
	hist3 := v.SetSecret("history", "h3", emulator.SecretOptions{Created: time.Now().Add(-2 * time.Hour)})
	disabled := v.SetSecret("history", "h4-disabled", emulator.SecretOptions{Created: time.Now().Add(-1 * time.Hour)})
	v.DisableVersion("secret", "history", disabled)

	tests := []struct {
		name    string
		objects []string
		want    []wantFile
	}{
		{"latest", []string{"objectName: db-password\nobjectType: secret"},
			[]wantFile{{"db-password", "s3cr3t-v3", "0644", "secret/db-password", pw3}}},
		{"pinned version and alias", []string{"objectName: db-password\nobjectType: secret\nobjectAlias: config/pw\nobjectVersion: " + pw1},
			[]wantFile{{"config/pw", "s3cr3t-v1", "0644", "secret/db-password", pw1}}},
		{"file permission", []string{"objectName: db-password\nobjectType: secret\nfilePermission: 0600"},
			[]wantFile{{"db-password", "s3cr3t-v3", "0600", "secret/db-password", pw3}}},
		{"base64 decoding", []string{"objectName: blob-b64\nobjectType: secret\nobjectEncoding: base64"},
			[]wantFile{{"blob-b64", "\x00\x01\x02\xffx", "0644", "secret/blob-b64", b64}}},
		{"hex decoding, case-insensitive", []string{"objectName: blob-hex\nobjectType: secret\nobjectEncoding: HEX"},
			[]wantFile{{"blob-hex", "hex!\n", "0644", "secret/blob-hex", hx}}},
		{"utf-8 as stored", []string{"objectName: unicode\nobjectType: secret\nobjectEncoding: utf-8"},
			[]wantFile{{"unicode", "päss wörd ✓\n", "0644", "secret/unicode", unicode}}},
		{"version history skips disabled, newest first", []string{"objectName: history\nobjectType: secret\nobjectVersionHistory: 5"},
			[]wantFile{
				{"history/0", "h3", "0644", "secret/history/0", hist3},
				{"history/1", "h2", "0644", "secret/history/1", hist2},
				{"history/2", "h1", "0644", "secret/history/2", hist1},
			}},
		{"version history from a start version with alias", []string{"objectName: history\nobjectType: secret\nobjectAlias: ring\nobjectVersionHistory: 2\nobjectVersion: " + hist2},
			[]wantFile{
				{"ring/0", "h2", "0644", "secret/history/0", hist2},
				{"ring/1", "h1", "0644", "secret/history/1", hist1},
			}},
		{"several objects keep their order", []string{
			"objectName: unicode\nobjectType: secret",
			"objectName: db-password\nobjectType: secret\nobjectAlias: pw-old\nobjectVersion: " + pw2,
			"objectName: db-password\nobjectType: secret",
		}, []wantFile{
			{"unicode", "päss wörd ✓\n", "0644", "secret/unicode", unicode},
			{"pw-old", "s3cr3t-v2", "0644", "secret/db-password", pw2},
			{"db-password", "s3cr3t-v3", "0644", "secret/db-password", pw3},
		}},
	}
	for _, mode := range []struct {
		name    string
		params  func(...string) map[string]string
		tokens  bool
		secrets map[string]string
	}{
		{"workload identity", wiParams, true, nil},
		{"service principal", spParams, false, spSecrets()},
	} {
		for _, tc := range tests {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				in := harness.MountInput{Params: mode.params(tc.objects...), Secrets: mode.secrets}
				if mode.tokens {
					in.Tokens = h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)
				}
				resp, err := h.Mount(ctx(t), in)
				if err != nil {
					t.Fatalf("mount: %v", err)
				}
				if len(resp.Files) != len(tc.want) || len(resp.ObjectVersion) != len(tc.want) {
					t.Fatalf("got %d files and %d versions, want %d: %v", len(resp.Files), len(resp.ObjectVersion), len(tc.want), harness.Modes(resp))
				}
				for i, w := range tc.want {
					f, ov := resp.Files[i], resp.ObjectVersion[i]
					if f.Path != w.path || string(f.Contents) != w.contents || fmt.Sprintf("0%o", f.Mode) != w.mode {
						t.Errorf("file %d = %q %q 0%o, want %q %q %s", i, f.Path, f.Contents, f.Mode, w.path, w.contents, w.mode)
					}
					if ov.Id != w.id || ov.Version != w.version {
						t.Errorf("version %d = %s@%s, want %s@%s", i, ov.Id, ov.Version, w.id, w.version)
					}
				}
			})
		}
	}
}

func TestNoObjectsMountsNothing(t *testing.T) {
	h := start(t, harness.Options{})
	resp, err := h.Mount(ctx(t), harness.MountInput{
		Params:  map[string]string{"keyvaultName": harness.VaultName, "tenantId": harness.Tenant, "objects": "array: []"},
		Secrets: spSecrets(),
	})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	// The driver rejects a response without object versions, so one placeholder is sent.
	if len(resp.Files) != 0 || len(resp.ObjectVersion) != 1 {
		t.Fatalf("files %d versions %v", len(resp.Files), resp.ObjectVersion)
	}
}

func TestMountFailures(t *testing.T) {
	h := start(t, harness.Options{})
	h.Vault.SetSecret("present", "value-present", emulator.SecretOptions{})
	h.Vault.SetSecret("forbidden", "value-forbidden", emulator.SecretOptions{})
	// A second app with a secret but no access to the vault at all.
	const outsider = "0a1b2c3d-9999-4e5f-8a9b-000000000099"
	h.Emu.AddApp(harness.Tenant, outsider)
	h.Emu.SetClientSecret(harness.Tenant, outsider, "outsider-secret")

	wiTok := func(issuerURL, ns, sa, aud string, ttl time.Duration) map[string]harness.Token {
		iss := h.Issuer
		if issuerURL != harness.IssuerURL {
			iss = h.Emu.AddIssuer(issuerURL)
		}
		tok := iss.MintToken("system:serviceaccount:"+ns+":"+sa, aud, ttl, nil)
		return map[string]harness.Token{aud: {Token: tok, ExpirationTimestamp: time.Now().Add(ttl).UTC().Format(time.RFC3339)}}
	}
	obj := "objectName: present\nobjectType: secret"
	tests := []struct {
		name     string
		in       harness.MountInput
		code     codes.Code
		contains []string
	}{
		{"issuer without its trailing slash",
			harness.MountInput{Params: wiParams(obj), Tokens: wiTok(strings.TrimSuffix(harness.IssuerURL, "/"), harness.Namespace, harness.SAName, harness.WIAudience, time.Hour)},
			codes.Unauthenticated, []string{"failed to mount objects, error:", "objectName:present", "AADSTS"}},
		{"wrong subject",
			harness.MountInput{Params: wiParams(obj), Tokens: wiTok(harness.IssuerURL, harness.Namespace, "other-sa", harness.WIAudience, time.Hour)},
			codes.Unauthenticated, []string{"AADSTS"}},
		{"expired token",
			harness.MountInput{Params: wiParams(obj), Tokens: wiTok(harness.IssuerURL, harness.Namespace, harness.SAName, harness.WIAudience, -10*time.Minute)},
			codes.Unauthenticated, []string{"AADSTS700024"}},
		{"missing token",
			harness.MountInput{Params: wiParams(obj)},
			codes.InvalidArgument, []string{"failed to mount objects, error:", "api://AzureADTokenExchange", "tokenRequests"}},
		{"wrong client secret",
			harness.MountInput{Params: spParams(obj), Secrets: map[string]string{"clientid": harness.SPClientID, "clientsecret": "wrong"}},
			codes.Unauthenticated, []string{"AADSTS7000215"}},
		{"no permission on the vault (403)",
			harness.MountInput{Params: spParams(obj), Secrets: map[string]string{"clientid": outsider, "clientsecret": "outsider-secret"}},
			codes.PermissionDenied, []string{"objectName:present", "403"}},
		{"object not found (404)",
			harness.MountInput{Params: spParams("objectName: absent\nobjectType: secret"), Secrets: spSecrets()},
			codes.NotFound, []string{"objectName:absent", "404"}},
		{"every failing object is reported",
			harness.MountInput{Params: spParams("objectName: absent\nobjectType: secret", obj, "objectName: absent-too\nobjectType: secret"), Secrets: spSecrets()},
			codes.NotFound, []string{"objectName:absent,", "objectName:absent-too"}},
		{"missing keyvaultName",
			harness.MountInput{Params: map[string]string{"tenantId": harness.Tenant, "objects": harness.Objects(obj)}, Secrets: spSecrets()},
			codes.InvalidArgument, []string{"keyvaultName is not provided"}},
		{"missing tenant",
			harness.MountInput{Params: map[string]string{"keyvaultName": harness.VaultName, "objects": harness.Objects(obj)}, Secrets: spSecrets()},
			codes.InvalidArgument, []string{"tenantId is not provided"}},
		{"invalid filePermission is an error, not mode 0",
			harness.MountInput{Params: spParams(obj + "\nfilePermission: rw-r--r--"), Secrets: spSecrets()},
			codes.InvalidArgument, []string{"objectName:present", "filePermission"}},
		{"path traversal",
			harness.MountInput{Params: spParams(obj + "\nobjectAlias: ../etc/passwd"), Secrets: spSecrets()},
			codes.InvalidArgument, []string{"file name must not contain '..'"}},
		{"duplicate output paths",
			harness.MountInput{Params: spParams(obj, "objectName: other\nobjectType: secret\nobjectAlias: present"), Secrets: spSecrets()},
			codes.InvalidArgument, []string{"present"}},
		{"unknown objectType",
			harness.MountInput{Params: spParams("objectName: present\nobjectType: Secret"), Secrets: spSecrets()},
			codes.InvalidArgument, []string{"Invalid vaultObjectTypes"}},
		{"no nodePublishSecretRef and no clientID",
			harness.MountInput{Params: spParams(obj)},
			codes.InvalidArgument, []string{"clientid"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.Mount(ctx(t), tc.in)
			if err == nil {
				t.Fatalf("mount succeeded with %d files, want an error", len(resp.Files))
			}
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Errorf("code = %s, want %s (%s)", st.Code(), tc.code, st.Message())
			}
			for _, s := range tc.contains {
				if !strings.Contains(st.Message(), s) {
					t.Errorf("message lacks %q:\n%s", s, st.Message())
				}
			}
			for _, secret := range []string{"value-present", "value-forbidden", harness.SPSecret, "outsider-secret", "eyJ"} {
				if strings.Contains(st.Message(), secret) {
					t.Errorf("message leaks %q:\n%s", secret, st.Message())
				}
			}
		})
	}
}
