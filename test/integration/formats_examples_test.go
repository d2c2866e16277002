package integration

// Every SecretProviderClass in examples/ lints clean and mounts against the emulator,
// with the files each one documents, byte for byte.

import (
	"encoding/base64"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
	"github.com/kvcsi/kvcsi/test/pki"
	"github.com/kvcsi/kvcsi/test/spctest"
)

func TestFormatsExamples(t *testing.T) {
	f := pkiFx(t)
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	paths, err := spctest.Examples(root)
	if err != nil {
		t.Fatalf("no examples found: %v", err)
	}

	h := start(t, harness.Options{})
	for _, name := range []string{"kvcsi-platform", "kvcsi-dr"} {
		v := h.Emu.Vault(name)
		v.SetTenant(harness.Tenant)
		v.Grant(harness.WIClientID, emulator.SecretGet, emulator.CertGet)
	}
	v, platform, dr := h.Vault, h.Emu.Vault("kvcsi-platform"), h.Emu.Vault("kvcsi-dr")

	// The objects the examples name, in their vaults.
	now := time.Now()
	pw1 := v.SetSecret("db-password", "correct-horse-battery-staple-v1", emulator.SecretOptions{Created: now.Add(-time.Hour)})
	pw2 := v.SetSecret("db-password", "correct-horse-battery-staple-v2", emulator.SecretOptions{Created: now})
	token := []byte("binary\x00token\x01")
	tokenVer := v.SetSecret("api-token", base64.StdEncoding.EncodeToString(token), emulator.SecretOptions{})
	signingVer := v.SetKey("signing-key", jwkOf(t, f.p256.Public(), ""), emulator.KeyOptions{})
	webPFX := buildPFX(t, pki.PFXModern, f.leaf.Key, f.leaf, f.root, f.inter1, f.inter2)
	webVer := v.SetCertificate("web-tls", emulator.CertificateInput{Leaf: f.leaf.Cert, ContentType: emulator.ContentTypePFX, PFX: webPFX})
	appsvcPFX := buildPFX(t, pki.PFXLegacy, f.ecLeaf.Key, f.ecLeaf, f.ecInter)
	appsvcVer := v.SetSecret("appsvc-cert", b64Text(appsvcPFX), emulator.SecretOptions{ContentType: emulator.ContentTypePFX})
	dbConfig := `{"host":"db.internal","port":5432,"user":"app","password":"s3cr3t","options":{"sslmode":"require","pool":10},` +
		`"connection-strings":{"primary":"host=db.internal user=app","replica":"host=db-ro.internal user=app"}}`
	dbConfigVer := v.SetSecret("db-config", dbConfig, emulator.SecretOptions{ContentType: "application/json"})
	apiKeyVer := platform.SetSecret("shared-api-key", "platform-key-123", emulator.SecretOptions{})
	caVer := platform.SetCertificate("platform-ca", emulator.CertificateInput{Leaf: f.ecRoot.Cert, Key: f.ecRoot.Key})
	drVer := dr.SetSecret("db-password", "dr-password", emulator.SecretOptions{})

	key := keyPEM(t, f.leaf.Key)
	chain := certsPEM(f.leaf, f.inter1, f.inter2, f.root)
	want := map[string][]fileWant{
		"secretproviderclass.yaml": {
			{"db-password", "correct-horse-battery-staple-v2", 0o644, "secret/db-password", pw2},
			{"previous/db-password/0", "correct-horse-battery-staple-v2", 0o644, "secret/db-password/0", pw2},
			{"previous/db-password/1", "correct-horse-battery-staple-v1", 0o644, "secret/db-password/1", pw1},
			{"api-token", string(token), 0o600, "secret/api-token", tokenVer},
			{"signing-key", pubPEM(t, f.p256.Public()), 0o644, "key/signing-key", signingVer},
			{"web-tls", key + chain, 0o644, "secret/web-tls", webVer},
			{"web-tls-leaf.pem", certsPEM(f.leaf), 0o644, "cert/web-tls", webVer},
		},
		"certificates.yaml": {
			{"tls.crt", chain, 0o640, "secret/web-tls", webVer},
			{"tls.key", key, 0o640, "secret/web-tls", webVer},
			{"tls", key + chain, 0o640, "secret/web-tls", webVer},
			{"chain.pem", chain, 0o644, "secret/web-tls", webVer},
			{"private/key.pem", key, 0o600, "secret/web-tls", webVer},
			{"web-tls.pfx", string(webPFX), 0o644, "secret/web-tls", webVer},
			{"leaf.pem", certsPEM(f.leaf), 0o644, "cert/web-tls", webVer},
			{"public-key.pem", pubPEM(t, f.leaf.Key.Public()), 0o644, "key/web-tls", webVer},
			{"appsvc.pem", keyPEM(t, f.ecLeaf.Key) + certsPEM(f.ecLeaf, f.ecInter), 0o644, "secret/appsvc-cert", appsvcVer},
		},
		"json-extraction.yaml": {
			{"db/config.json", dbConfig, 0o640, "secret/db-config", dbConfigVer},
			{"db/host", "db.internal", 0o640, "secret/db-config", dbConfigVer},
			{"db/port", "5432", 0o640, "secret/db-config", dbConfigVer},
			{"db/user", "app", 0o640, "secret/db-config", dbConfigVer},
			{"db/password", "s3cr3t", 0o600, "secret/db-config", dbConfigVer},
			{"db/options.json", `{"pool":10,"sslmode":"require"}`, 0o640, "secret/db-config", dbConfigVer},
			{"db/primary.conn", "host=db.internal user=app", 0o600, "secret/db-config", dbConfigVer},
		},
		"multi-vault.yaml": {
			{"db-password", "correct-horse-battery-staple-v2", 0o644, "secret/db-password", pw2},
			{"shared-api-key", "platform-key-123", 0o644, "secret/shared-api-key", apiKeyVer},
			{"platform/ca.pem", certsPEM(f.ecRoot), 0o644, "cert/platform-ca", caVer},
			{"dr/db-password", "dr-password", 0o644, "secret/db-password", drVer},
		},
	}

	composed := composeExamples(t, h, f)
	seen := map[string]bool{}
	for _, p := range paths {
		base := filepath.Base(p)
		seen[base] = true
		t.Run(base, func(t *testing.T) {
			files, ok := want[base]
			check, isComposed := composed[base]
			if !ok && !isComposed {
				t.Fatalf("examples/%s has no expectations here: add them to TestFormatsExamples", base)
			}
			spc, err := spctest.ReadManifest(p)
			if err != nil {
				t.Fatal(err)
			}
			if spc.APIVersion != "secrets-store.csi.x-k8s.io/v1" || spc.Kind != "SecretProviderClass" || spc.Spec.Provider != "azure" || spc.Metadata.Name == "" {
				t.Errorf("apiVersion %q kind %q provider %q name %q", spc.APIVersion, spc.Kind, spc.Spec.Provider, spc.Metadata.Name)
			}
			findings, _ := config.Lint(spc.Spec.Parameters, nil)
			for _, finding := range findings {
				// The original example keeps the deprecated tenantId that Azure provider users have.
				if base == "secretproviderclass.yaml" && finding.Severity == config.SeverityWarning && finding.Field == config.ParamTenantIDDeprecated {
					continue
				}
				t.Errorf("lint: %s", finding)
			}
			resp, err := h.Mount(ctx(t), harness.MountInput{
				Params:  spc.Spec.Parameters,
				SPCName: spc.Metadata.Name,
				Tokens:  h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour),
			})
			if err != nil {
				t.Fatalf("mount: %v", err)
			}
			if isComposed {
				check(t, resp)
			} else {
				checkFiles(t, resp, files)
			}
			// secretObjects name files of the volume.
			paths := map[string]bool{}
			for _, f := range resp.GetFiles() {
				paths[f.GetPath()] = true
			}
			for _, so := range spc.Spec.SecretObjects {
				for _, d := range so.Data {
					if !paths[d.ObjectName] {
						t.Errorf("secretObjects %s: objectName %q is not a file of the volume", so.SecretName, d.ObjectName)
					}
				}
			}
			if base == "certificates.yaml" && len(resp.GetFiles()) == len(files) {
				checkPEMPair(t, resp.Files[2].Contents, true)
				checkPEMPair(t, resp.Files[8].Contents, true)
			}
		})
	}
	var missing []string
	for base := range composed {
		if !seen[base] {
			missing = append(missing, base)
		}
	}
	for base := range want {
		if !seen[base] {
			missing = append(missing, base)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("expected examples not found in examples/: %v", missing)
	}
}
