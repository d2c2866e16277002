package integration

// The examples of the kvcsi extensions for files users want (rendered files, optional
// objects, selectors, expiry, certificate extras), mounted byte for byte, and optional
// objects through the real binary.

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
	"github.com/kvcsi/kvcsi/test/spctest"
)

// visibleFile is one expected file of a composed example: its bytes and mode, and the
// object version id it must carry.
type visibleFile struct {
	path, contents string
	mode           uint32
	id, version    string // version "" = a rendered file's derived version (32 hex)
}

// checkComposed checks the files in order, each with its version, then that the
// response also carries the versions of hidden (the inputs of rendered files that are
// not in the volume).
func checkComposed(t *testing.T, resp *v1alpha1.MountResponse, files []visibleFile, hidden map[string]string) {
	t.Helper()
	if len(resp.GetFiles()) != len(files) || len(resp.GetObjectVersion()) != len(files)+len(hidden) {
		var got []string
		for _, f := range resp.GetFiles() {
			got = append(got, f.GetPath())
		}
		t.Fatalf("got files %q and %d versions, want %d files and %d versions", got, len(resp.GetObjectVersion()), len(files), len(files)+len(hidden))
	}
	for i, w := range files {
		f, ov := resp.Files[i], resp.ObjectVersion[i]
		if f.Path != w.path || string(f.Contents) != w.contents && w.contents != "*" || uint32(f.Mode) != w.mode {
			t.Errorf("file %d: %s (mode %#o)\n%s\nwant %s (mode %#o)\n%s", i, f.Path, f.Mode, previewBytes(f.Contents), w.path, w.mode, previewBytes([]byte(w.contents)))
		}
		if ov.Id != w.id || (w.version != "" && ov.Version != w.version) || !versionRE.MatchString(ov.Version) {
			t.Errorf("file %d (%s): version %s@%s, want %s@%s", i, w.path, ov.Id, ov.Version, w.id, w.version)
		}
	}
	for _, ov := range resp.ObjectVersion[len(files):] {
		if want, ok := hidden[ov.Id]; !ok || ov.Version != want {
			t.Errorf("hidden version %s@%s, want one of %v", ov.Id, ov.Version, hidden)
		}
	}
}

// composeExamples sets up the objects of the composed examples and returns, per
// example, the check of its mount.
func composeExamples(t *testing.T, h *harness.Harness, f *formatsFixtures) map[string]func(*testing.T, *v1alpha1.MountResponse) {
	v := h.Vault
	user := v.SetSecret("app-db-user", "app", emulator.SecretOptions{})
	pw := v.SetSecret("app-db-password", `p@ss'w"rd $HOME`, emulator.SecretOptions{})
	cfg := v.SetSecret("app-db-config", `{"host":"db.internal","port":5432}`, emulator.SecretOptions{ContentType: "application/json"})

	shopDB := v.SetSecret("shop-db-password", "s3cr3t\nline2", emulator.SecretOptions{Tags: map[string]string{"app": "shop"}})
	shopAPI := v.SetSecret("shop-api-key", "k-123", emulator.SecretOptions{Tags: map[string]string{"app": "shop"}})
	off := false
	v.SetSecret("shop-retired", "x", emulator.SecretOptions{Tags: map[string]string{"app": "shop"}, Enabled: &off})
	v.SetSecret("shop-old", "x", emulator.SecretOptions{Tags: map[string]string{"app": "shop"}, Expires: time.Now().Add(-time.Hour)})
	v.SetSecret("shop-untagged", "x", emulator.SecretOptions{})

	signing := v.SetSecret("api-signing-secret", "sign-me", emulator.SecretOptions{Expires: time.Now().Add(10 * 24 * time.Hour)})
	pfxPassword := "keystore-pass-!@#"
	pfxPwVer := v.SetSecret("web-tls-pfx-password", pfxPassword, emulator.SecretOptions{})
	webVer := v.Versions(emulator.ObjectCert, "web-tls")
	web := webVer[len(webVer)-1]

	return map[string]func(*testing.T, *v1alpha1.MountResponse){
		"rendered-files.yaml": func(t *testing.T, resp *v1alpha1.MountResponse) {
			checkComposed(t, resp, []visibleFile{
				{"db-config.json", `{"host":"db.internal","port":5432}`, 0o644, "secret/app-db-config", cfg},
				{"app.env", "DB_USER='app'\nDB_PASSWORD=\"p@ss'w\\\"rd \\$HOME\"\nDB_HOST='db.internal'\n", 0o644, "file/app.env", ""},
				{"appsettings.json", "{\n  \"User\": \"app\",\n  \"Password\": \"p@ss'w\\\"rd $HOME\"\n}\n", 0o600, "file/appsettings.json", ""},
				{"dsn.txt", `postgres://app:p@ss'w"rd $HOME@db.internal:5432/app?sslmode=require`, 0o644, "file/dsn.txt", ""},
			}, map[string]string{"secret/app-db-user": user, "secret/app-db-password": pw, "secret/app-db-config": cfg})
		},
		"optional-objects.yaml": func(t *testing.T, resp *v1alpha1.MountResponse) {
			checkComposed(t, resp, []visibleFile{
				{"db-password", `p@ss'w"rd $HOME`, 0o644, "secret/app-db-password", pw},
				{"config.json", "{\n  \"db-password\": \"p@ss'w\\\"rd $HOME\"\n}\n", 0o644, "file/config.json", ""},
			}, nil)
		},
		"selector-dotenv.yaml": func(t *testing.T, resp *v1alpha1.MountResponse) {
			checkComposed(t, resp, []visibleFile{
				{".env", "API_KEY='k-123'\nDB_PASSWORD=\"s3cr3t\\nline2\"\n", 0o644, "file/.env", ""},
			}, map[string]string{"secret/shop-api-key": shopAPI, "secret/shop-db-password": shopDB})
		},
		"expiry.yaml": func(t *testing.T, resp *v1alpha1.MountResponse) {
			checkComposed(t, resp, []visibleFile{
				{"api-signing-secret", "sign-me", 0o644, "secret/api-signing-secret", signing},
				{"web-tls.pem", certsPEM(f.leaf), 0o644, "cert/web-tls", web},
			}, nil)
		},
		"certificate-extras.yaml": func(t *testing.T, resp *v1alpha1.MountResponse) {
			checkComposed(t, resp, []visibleFile{
				{"tls/ca.crt", certsPEM(f.inter1, f.inter2, f.root), 0o644, "secret/web-tls", web},
				{"tls/keystore.password", pfxPassword, 0o600, "secret/web-tls-pfx-password", pfxPwVer},
				{"tls/keystore.p12", "*", 0o600, "secret/web-tls", web},
			}, nil)
			if len(resp.Files) == 3 {
				checkProtectedPFX(t, resp.Files[2].Contents, pfxPassword, f)
			}
		},
	}
}

// checkProtectedPFX opens the password-protected PFX with go-pkcs12 and with OpenSSL 3.
func checkProtectedPFX(t *testing.T, pfx []byte, password string, f *formatsFixtures) {
	t.Helper()
	key, leaf, cas, err := pkcs12.DecodeChain(pfx, password)
	if err != nil {
		t.Fatalf("go-pkcs12 cannot open the PFX: %v", err)
	}
	if !bytes.Equal(leaf.Raw, f.leaf.Cert.Raw) || len(cas) != 3 {
		t.Errorf("PFX holds leaf %s and %d CA certificates", leaf.Subject, len(cas))
	}
	if key == nil {
		t.Error("the PFX holds no key")
	}
	if _, _, _, err := pkcs12.DecodeChain(pfx, "wrong"); err == nil {
		t.Error("the PFX opens with a wrong password")
	}
	openssl := opensslPath(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "keystore.p12")
	if err := os.WriteFile(p, pfx, 0o600); err != nil {
		t.Fatal(err)
	}
	// The password reaches OpenSSL through its environment, never its command line.
	cmd := exec.Command(openssl, "pkcs12", "-info", "-in", p, "-passin", "env:KVCSI_PFX_PASS", "-noout")
	cmd.Env = append(os.Environ(), "KVCSI_PFX_PASS="+password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs12 -info: %v\n%s", err, out)
	}
	for _, want := range []string{"MAC: sha256", "PBES2, PBKDF2, AES-256-CBC"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("openssl pkcs12 -info does not say %q:\n%s", want, out)
		}
	}
	cmd = exec.Command(openssl, "pkcs12", "-in", p, "-passin", "env:KVCSI_PFX_PASS", "-nodes", "-nocerts")
	cmd.Env = append(os.Environ(), "KVCSI_PFX_PASS="+password)
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "PRIVATE KEY") {
		t.Errorf("openssl cannot read the key: %v", err)
	}
}

// opensslPath finds OpenSSL 3, installing it from Debian's packages when it is missing
// (CI runs as root); it skips with the reason only when it cannot be had.
func opensslPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil && os.Geteuid() == 0 {
		if out, ierr := exec.Command("sh", "-c", "apt-get install -y openssl >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y openssl >/dev/null 2>&1)").CombinedOutput(); ierr != nil {
			t.Logf("installing openssl: %v %s", ierr, out)
		}
		p, err = exec.LookPath("openssl")
	}
	if err != nil {
		t.Skip("openssl is not installed and cannot be installed (apt-get install openssl needs root and Debian's packages): the OpenSSL 3 check of the password-protected PFX is skipped; go-pkcs12 has read it")
	}
	out, _ := exec.Command(p, "version").Output()
	if !strings.HasPrefix(string(out), "OpenSSL 3") {
		t.Skipf("openssl is %q, not OpenSSL 3", strings.TrimSpace(string(out)))
	}
	return p
}

// TestOptionalObjectsBinary: through the real kvcsi binary, deleting an optional secret
// in the emulator leaves the other files mounting and the log line names it; deleting a
// required one fails the mount as before; recreating the optional one brings it back.
func TestOptionalObjectsBinary(t *testing.T) {
	out := &harness.SyncBuffer{}
	h := start(t, harness.Options{Binary: kvcsiBinary(t), Output: out})
	v := h.Vault
	v.SetSecret("app-db-password", "pw", emulator.SecretOptions{})
	v.SetSecret("feature-flags", "on", emulator.SecretOptions{})
	params := map[string]string{
		"keyvaultName": harness.VaultName,
		"tenantID":     harness.Tenant,
		"clientID":     harness.WIClientID,
		"objects": spctest.Objects(
			"objectName: app-db-password\nobjectType: secret\nobjectAlias: db-password",
			"objectName: feature-flags\nobjectType: secret\noptional: true"),
	}
	mount := func() (*v1alpha1.MountResponse, error) {
		return h.Mount(ctx(t), harness.MountInput{Params: params, SPCName: "optional", Tokens: h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)})
	}
	paths := func(resp *v1alpha1.MountResponse) string {
		var out []string
		for _, f := range resp.GetFiles() {
			out = append(out, f.Path+"="+string(f.Contents))
		}
		return strings.Join(out, " ")
	}
	resp, err := mount()
	if err != nil || paths(resp) != "db-password=pw feature-flags=on" {
		t.Fatalf("both present: %v %s", err, paths(resp))
	}
	v.Delete(emulator.ObjectSecret, "feature-flags")
	resp, err = mount()
	if err != nil || paths(resp) != "db-password=pw" {
		t.Fatalf("optional deleted: %v %s", err, paths(resp))
	}
	// The binary's output reaches the buffer through a pipe: poll for the line.
	line := `skippedOptional=1 skipped=["objects.array[1] secret feature-flags in vault kvcsi-vault (not_found)"]`
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), line); {
		if time.Now().After(deadline) {
			t.Fatalf("the mount's log line does not name the skipped optional object:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	v.SetSecret("feature-flags", "off", emulator.SecretOptions{})
	if resp, err = mount(); err != nil || paths(resp) != "db-password=pw feature-flags=off" {
		t.Fatalf("optional recreated: %v %s", err, paths(resp))
	}
	v.Delete(emulator.ObjectSecret, "app-db-password")
	_, err = mount()
	if err == nil || !strings.Contains(err.Error(), "objectName:app-db-password") || !strings.Contains(err.Error(), "SecretNotFound") {
		t.Fatalf("required deleted: %v", err)
	}
}

// TestExtensionMetricsAndRefusal: through the binary, a skipped optional object, the
// mounted objects' expiry and the soonest expiry reach /metrics with bounded labels
// only; refuseExpired refuses an expired secret with the date and the fix; a selector
// without the list permission is told which role to assign.
func TestExtensionMetricsAndRefusal(t *testing.T) {
	h := start(t, harness.Options{Binary: kvcsiBinary(t), Output: io.Discard})
	soon := time.Now().Add(3 * 24 * time.Hour).Truncate(time.Second)
	h.Vault.SetSecret("mtrname-soon", "v", emulator.SecretOptions{Expires: soon})
	h.Vault.SetSecret("mtrname-later", "v", emulator.SecretOptions{Expires: soon.Add(400 * 24 * time.Hour)})
	h.Vault.SetSecret("mtrname-none", "v", emulator.SecretOptions{})
	h.Vault.SetSecret("mtrname-gone", "v", emulator.SecretOptions{Expires: time.Now().Add(-48 * time.Hour)})
	tokens := h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)
	mount := func(objects ...string) error {
		_, err := h.Mount(ctx(t), harness.MountInput{Params: wiParams(objects...), Tokens: tokens})
		return err
	}
	if err := mount("objectName: mtrname-soon\nobjectType: secret", "objectName: mtrname-later\nobjectType: secret",
		"objectName: mtrname-none\nobjectType: secret", "objectName: mtrname-absent\nobjectType: secret\noptional: true"); err != nil {
		t.Fatal(err)
	}
	err := mount("objectName: mtrname-gone\nobjectType: secret\nrefuseExpired: true")
	if err == nil || !strings.Contains(err.Error(), `secret "mtrname-gone" in vault kvcsi-vault expired at `) || !strings.Contains(err.Error(), "fix: add a new version of the secret with a later expiry date (exp) in Key Vault, or remove refuseExpired") {
		t.Fatalf("refuseExpired: %v", err)
	}
	_, body := obsGet(t, "http://"+h.Metrics+"/metrics")
	for _, want := range []string{
		`kvcsi_optional_objects_skipped_total{reason="not_found"} 1`,
		`kvcsi_mounted_objects_total{expiry="7d"} 1`,
		`kvcsi_mounted_objects_total{expiry="later"} 1`,
		`kvcsi_mounted_objects_total{expiry="none"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if v := scrapeValue(t, h.Metrics, "kvcsi_soonest_object_expiry_timestamp_seconds"); int64(v) != soon.Unix() {
		t.Errorf("soonest expiry %v, want %d", v, soon.Unix())
	}
	if strings.Contains(body, "mtrname-") {
		t.Error("/metrics names an object")
	}

	// A selector needs the list permission: an identity with get alone is told the role.
	h.Emu.Vault("kvcsi-nolist").SetTenant(harness.Tenant)
	nolist := h.Emu.Vault("kvcsi-nolist")
	nolist.Grant(harness.WIClientID, emulator.SecretGet)
	nolist.SetSecret("shop-a", "v", emulator.SecretOptions{})
	p := wiParams("objectType: secret\nselector: {namePrefix: shop-}")
	p["keyvaultName"] = "kvcsi-nolist"
	_, err = h.Mount(ctx(t), harness.MountInput{Params: p, Tokens: tokens})
	if err == nil || !strings.Contains(err.Error(), "lacks the list permission on the secrets (a selector lists them) in vault kvcsi-nolist") ||
		!strings.Contains(err.Error(), `"Key Vault Secrets User" on vault kvcsi-nolist (a selector lists the vault's secrets`) {
		t.Fatalf("selector without list permission: %v", err)
	}
}
