package integration

// Certificate-backed secrets (objectType secret on a Key Vault certificate, kid set):
// the application/x-pem-file and application/x-pkcs12 rows of the encodings matrix,
// --construct-pem-chain with its incomplete-chain fallback, and
// --write-cert-and-key-in-separate-files.

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
	"github.com/kvcsi/kvcsi/test/pki"
)

// aes256CBC is the DER of the AES-256-CBC object identifier (2.16.840.1.101.3.4.1.42):
// present in a modern PKCS#12 file, absent from a legacy 3DES/RC2 one.
var aes256CBC = []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a}

// buildPFX encodes a password-less PKCS#12 file holding key and certs, in exactly this
// bag order (the first certificate carries the key's local key ID).
func buildPFX(t *testing.T, enc pki.PFXEncoding, key crypto.Signer, certs ...*pki.Cert) []byte {
	t.Helper()
	var rest []*x509.Certificate
	for _, c := range certs[1:] {
		rest = append(rest, c.Cert)
	}
	pfx, err := pki.PFX(enc, key, certs[0].Cert, rest, "")
	if err != nil {
		t.Fatalf("build PFX: %v", err)
	}
	if modern := bytes.Contains(pfx, aes256CBC); modern != (enc == pki.PFXModern) {
		t.Fatalf("PFX %s: AES-256-CBC present = %v", enc, modern)
	}
	return pfx
}

func b64Text(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// formatsCertSecrets covers every objectFormat × objectEncoding cell for the two
// certificate content types, with the provider's defaults (--construct-pem-chain on).
func formatsCertSecrets(t *testing.T, h *harness.Harness) {
	f := pkiFx(t)
	v := h.Vault

	// application/x-pem-file, stored out of order: never reordered, whatever the flags.
	storedPEM := keyPEM(t, f.leaf.Key) + certsPEM(f.root, f.leaf, f.inter2, f.inter1)
	pemVer := v.SetCertificate("web-pem", emulator.CertificateInput{Leaf: f.leaf.Cert, Key: f.leaf.Key, ContentType: emulator.ContentTypePEM, PEM: storedPEM})

	// application/x-pkcs12, legacy (3DES, SHA-1 MAC) with an RSA key and the chain
	// stored root first; modern (AES-256, SHA-256 MAC, OpenSSL 3's default) with an
	// EC P-384 key.
	legacy := buildPFX(t, pki.PFXLegacy, f.leaf.Key, f.leaf, f.root, f.inter1, f.inter2)
	legacyVer := v.SetCertificate("web-pfx", emulator.CertificateInput{Leaf: f.leaf.Cert, ContentType: emulator.ContentTypePFX, PFX: legacy})
	legacyPEM := keyPEM(t, f.leaf.Key) + certsPEM(f.leaf, f.inter1, f.inter2, f.root)

	modern := buildPFX(t, pki.PFXModern, f.ecLeaf.Key, f.ecLeaf, f.ecRoot, f.ecInter)
	modernVer := v.SetCertificate("ec-modern", emulator.CertificateInput{Leaf: f.ecLeaf.Cert, ContentType: emulator.ContentTypePFX, PFX: modern})
	modernPEM := keyPEM(t, f.ecLeaf.Key) + certsPEM(f.ecLeaf, f.ecInter, f.ecRoot)

	rc2 := buildPFX(t, pki.PFXLegacyRC2, f.renewedLeaf.Key, f.renewedLeaf, f.ecInter)
	rc2Ver := v.SetCertificate("ec-rc2", emulator.CertificateInput{Leaf: f.renewedLeaf.Cert, ContentType: emulator.ContentTypePFX, PFX: rc2})
	rc2PEM := keyPEM(t, f.renewedLeaf.Key) + certsPEM(f.renewedLeaf, f.ecInter)

	type cell struct {
		name, obj string
		want      fileWant
		pair      bool // the output is converted PEM: parse it and match key and certificate
	}
	ok := []cell{
		// secret (cert, PEM): pem/pfx ignored, utf-8 as stored.
		{"pem content/default", "objectName: web-pem\nobjectType: secret",
			fileWant{"web-pem", storedPEM, 0o644, "secret/web-pem", pemVer}, false},
		{"pem content/objectFormat pem", "objectName: web-pem\nobjectType: secret\nobjectFormat: pem",
			fileWant{"web-pem", storedPEM, 0o644, "secret/web-pem", pemVer}, false},
		{"pem content/objectFormat pfx is ignored", "objectName: web-pem\nobjectType: secret\nobjectFormat: pfx",
			fileWant{"web-pem", storedPEM, 0o644, "secret/web-pem", pemVer}, false},
		{"pem content/utf-8", "objectName: web-pem\nobjectType: secret\nobjectEncoding: utf-8\nobjectAlias: tls/web.pem\nfilePermission: \"0640\"",
			fileWant{"tls/web.pem", storedPEM, 0o640, "secret/web-pem", pemVer}, false},

		// secret (cert, PFX) objectFormat pem: PKCS#8 key, then the chain leaf first.
		{"pfx content/default", "objectName: web-pfx\nobjectType: secret",
			fileWant{"web-pfx", legacyPEM, 0o644, "secret/web-pfx", legacyVer}, true},
		{"pfx content/objectFormat pem", "objectName: web-pfx\nobjectType: secret\nobjectFormat: pem",
			fileWant{"web-pfx", legacyPEM, 0o644, "secret/web-pfx", legacyVer}, true},
		{"pfx content/objectFormat PEM, utf-8", "objectName: web-pfx\nobjectType: secret\nobjectFormat: PEM\nobjectEncoding: UTF-8\nfilePermission: \"0600\"",
			fileWant{"web-pfx", legacyPEM, 0o600, "secret/web-pfx", legacyVer}, true},
		{"pfx content/pinned version", "objectName: web-pfx\nobjectType: secret\nobjectVersion: " + legacyVer,
			fileWant{"web-pfx", legacyPEM, 0o644, "secret/web-pfx", legacyVer}, true},

		// secret (cert, PFX) objectFormat pfx: the stored base64 text, or the binary.
		{"pfx content/objectFormat pfx", "objectName: web-pfx\nobjectType: secret\nobjectFormat: pfx",
			fileWant{"web-pfx", b64Text(legacy), 0o644, "secret/web-pfx", legacyVer}, false},
		{"pfx content/objectFormat pfx, utf-8", "objectName: web-pfx\nobjectType: secret\nobjectFormat: pfx\nobjectEncoding: utf-8",
			fileWant{"web-pfx", b64Text(legacy), 0o644, "secret/web-pfx", legacyVer}, false},
		{"pfx content/objectFormat PFX, base64: binary", "objectName: web-pfx\nobjectType: secret\nobjectFormat: PFX\nobjectEncoding: base64\nobjectAlias: web.pfx",
			fileWant{"web.pfx", string(legacy), 0o644, "secret/web-pfx", legacyVer}, false},

		// Modern PKCS#12 (issue 3 item 6) and legacy RC2.
		{"modern pfx/default", "objectName: ec-modern\nobjectType: secret",
			fileWant{"ec-modern", modernPEM, 0o644, "secret/ec-modern", modernVer}, true},
		{"modern pfx/objectFormat pfx", "objectName: ec-modern\nobjectType: secret\nobjectFormat: pfx",
			fileWant{"ec-modern", b64Text(modern), 0o644, "secret/ec-modern", modernVer}, false},
		{"modern pfx/objectFormat pfx, base64: binary", "objectName: ec-modern\nobjectType: secret\nobjectFormat: pfx\nobjectEncoding: base64",
			fileWant{"ec-modern", string(modern), 0o644, "secret/ec-modern", modernVer}, false},
		{"legacy rc2 pfx/default", "objectName: ec-rc2\nobjectType: secret",
			fileWant{"ec-rc2", rc2PEM, 0o644, "secret/ec-rc2", rc2Ver}, true},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			resp := wiMount(t, h, c.obj)
			checkFiles(t, resp, []fileWant{c.want})
			if c.pair && len(resp.GetFiles()) == 1 {
				checkPEMPair(t, resp.Files[0].Contents, true)
			}
		})
	}

	// Cells that are errors: decoding PEM text as base64 or hex, and hex on a PFX.
	for _, c := range []struct{ name, obj, objName string }{
		{"pem content/base64 fails", "objectName: web-pem\nobjectType: secret\nobjectEncoding: base64", "web-pem"},
		{"pem content/hex fails", "objectName: web-pem\nobjectType: secret\nobjectEncoding: hex", "web-pem"},
		{"pfx content/objectFormat pem, base64 fails", "objectName: web-pfx\nobjectType: secret\nobjectEncoding: base64", "web-pfx"},
		{"pfx content/objectFormat pem, hex fails", "objectName: web-pfx\nobjectType: secret\nobjectFormat: pem\nobjectEncoding: hex", "web-pfx"},
		{"pfx content/objectFormat pfx, hex fails", "objectName: web-pfx\nobjectType: secret\nobjectFormat: pfx\nobjectEncoding: hex", "web-pfx"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := wiMountErr(t, h, c.obj)
			wantFailure(t, st, anyFailure, []string{"objectType:secret, objectName:" + c.objName + ",", "objectEncoding"},
				"BEGIN", "PRIVATE KEY", b64Text(legacy)[:40])
		})
	}

	t.Run("objectVersionHistory of a certificate's secret", func(t *testing.T) {
		now := time.Now()
		v1 := v.SetCertificate("rotating-tls", emulator.CertificateInput{Leaf: f.ecLeaf.Cert, Chain: chainDERs(f.ecRoot, f.ecInter), Key: f.ecLeaf.Key, ContentType: emulator.ContentTypePFX, Created: now.Add(-2 * time.Hour)})
		v2 := v.SetCertificate("rotating-tls", emulator.CertificateInput{Leaf: f.renewedLeaf.Cert, ContentType: emulator.ContentTypePFX, Created: now.Add(-time.Hour),
			PFX: buildPFX(t, pki.PFXModern, f.renewedLeaf.Key, f.renewedLeaf, f.ecRoot, f.ecInter)})
		resp := wiMount(t, h, "objectName: rotating-tls\nobjectType: secret\nobjectVersionHistory: 2\nfilePermission: \"0600\"")
		checkFiles(t, resp, []fileWant{
			{"rotating-tls/0", keyPEM(t, f.renewedLeaf.Key) + certsPEM(f.renewedLeaf, f.ecInter, f.ecRoot), 0o600, "secret/rotating-tls/0", v2},
			{"rotating-tls/1", keyPEM(t, f.ecLeaf.Key) + certsPEM(f.ecLeaf, f.ecInter, f.ecRoot), 0o600, "secret/rotating-tls/1", v1},
		})
		for _, file := range resp.GetFiles() {
			checkPEMPair(t, file.Contents, true)
		}
	})
}

// TestFormatsFlags runs the chain-order and separate-files checks under the provider
// flag combinations other than the default one (which TestFormats covers), one harness
// per combination, in parallel.
func TestFormatsFlags(t *testing.T) {
	for _, c := range []struct {
		name                     string
		construct, separateFiles bool
		run                      func(*testing.T, *harness.Harness, bool)
	}{
		{"no-construct-pem-chain", false, false, formatsPEMChain},
		{"separate-files/no-construct-pem-chain", false, true, formatsSeparateFiles},
		{"separate-files/construct-pem-chain", true, true, formatsSeparateFiles},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, start(t, withFlags(c.construct, c.separateFiles)), c.construct)
		})
	}
}

// formatsPEMChain stores chains shuffled in the PFX (the leaf is not even the first
// certificate) and checks --construct-pem-chain's leaf → intermediates → root order,
// its fallback to the stored order when the chain is incomplete, and the stored order
// with the flag off. The PEM content type is never reordered.
func formatsPEMChain(t *testing.T, h *harness.Harness, construct bool) {
	f := pkiFx(t)
	v := h.Vault
	key := keyPEM(t, f.leaf.Key)
	shuffled := buildPFX(t, pki.PFXLegacy, f.leaf.Key, f.inter2, f.root, f.leaf, f.inter1)
	noInter1 := buildPFX(t, pki.PFXModern, f.leaf.Key, f.leaf, f.root, f.inter2)
	noInter2 := buildPFX(t, pki.PFXLegacy, f.leaf.Key, f.root, f.inter1, f.leaf)
	leafOnly := buildPFX(t, pki.PFXModern, f.leaf.Key, f.leaf)
	stored := key + certsPEM(f.inter2, f.leaf, f.root, f.inter1)

	want := map[string]string{
		"shuffled":   key + certsPEM(f.inter2, f.root, f.leaf, f.inter1),
		"no-inter1":  key + certsPEM(f.leaf, f.root, f.inter2),
		"no-inter2":  key + certsPEM(f.root, f.inter1, f.leaf),
		"leaf-only":  key + certsPEM(f.leaf),
		"pem-stored": stored,
	}
	if construct {
		want["shuffled"] = key + certsPEM(f.leaf, f.inter1, f.inter2, f.root)
		// no-inter1 and no-inter2 are incomplete: the walk from the leaf stops early,
		// so the stored order is kept (the Azure provider since v1.6.1).
	}
	vers := map[string]string{
		"shuffled":   v.SetCertificate("shuffled", emulator.CertificateInput{Leaf: f.leaf.Cert, ContentType: emulator.ContentTypePFX, PFX: shuffled}),
		"no-inter1":  v.SetCertificate("no-inter1", emulator.CertificateInput{Leaf: f.leaf.Cert, ContentType: emulator.ContentTypePFX, PFX: noInter1}),
		"no-inter2":  v.SetCertificate("no-inter2", emulator.CertificateInput{Leaf: f.leaf.Cert, ContentType: emulator.ContentTypePFX, PFX: noInter2}),
		"leaf-only":  v.SetCertificate("leaf-only", emulator.CertificateInput{Leaf: f.leaf.Cert, ContentType: emulator.ContentTypePFX, PFX: leafOnly}),
		"pem-stored": v.SetCertificate("pem-stored", emulator.CertificateInput{Leaf: f.leaf.Cert, ContentType: emulator.ContentTypePEM, PEM: stored}),
	}
	names := []string{"shuffled", "no-inter1", "no-inter2", "leaf-only", "pem-stored"}
	var objs []string
	var files []fileWant
	for _, n := range names {
		objs = append(objs, "objectName: "+n+"\nobjectType: secret")
		files = append(files, fileWant{n, want[n], 0o644, "secret/" + n, vers[n]})
	}
	resp := wiMount(t, h, objs...)
	checkFiles(t, resp, files)
	if len(resp.GetFiles()) == len(names) {
		checkPEMPair(t, resp.Files[0].Contents, construct) // shuffled: ordered only with the flag
		checkPEMPair(t, resp.Files[1].Contents, false)
		checkPEMPair(t, resp.Files[3].Contents, true) // leaf only
	}
}

// formatsSeparateFiles: --write-cert-and-key-in-separate-files writes <file>.crt and
// <file>.key before <file>, same Id, version and mode, for both content types; PFX
// output gets no empty companions (upstream #1277), plain secrets none at all.
func formatsSeparateFiles(t *testing.T, h *harness.Harness, construct bool) {
	f := pkiFx(t)
	v := h.Vault
	key := keyPEM(t, f.leaf.Key)
	shuffled := buildPFX(t, pki.PFXLegacy, f.leaf.Key, f.inter2, f.root, f.leaf, f.inter1)
	modern := buildPFX(t, pki.PFXModern, f.ecLeaf.Key, f.ecLeaf, f.ecInter)
	storedPEM := key + certsPEM(f.inter2, f.leaf, f.root, f.inter1)
	pfxCerts := certsPEM(f.inter2, f.root, f.leaf, f.inter1)
	if construct {
		pfxCerts = certsPEM(f.leaf, f.inter1, f.inter2, f.root)
	}

	pfxVer := v.SetCertificate("web", emulator.CertificateInput{Leaf: f.leaf.Cert, ContentType: emulator.ContentTypePFX, PFX: shuffled})
	pemVer := v.SetCertificate("web-pem", emulator.CertificateInput{Leaf: f.leaf.Cert, ContentType: emulator.ContentTypePEM, PEM: storedPEM})
	plainVer := v.SetSecret("plain", "not a certificate", emulator.SecretOptions{ContentType: "text/plain"})
	appsvcVer := v.SetSecret("appsvc", b64Text(modern), emulator.SecretOptions{ContentType: emulator.ContentTypePFX})
	now := time.Now()
	h1 := v.SetCertificate("hist", emulator.CertificateInput{Leaf: f.ecLeaf.Cert, ContentType: emulator.ContentTypePFX, PFX: modern, Created: now.Add(-2 * time.Hour)})
	h2 := v.SetCertificate("hist", emulator.CertificateInput{Leaf: f.renewedLeaf.Cert, Key: f.renewedLeaf.Key, ContentType: emulator.ContentTypePEM, Created: now.Add(-time.Hour)})

	cases := []struct {
		name string
		obj  string
		want []fileWant
	}{
		{"pfx content", "objectName: web\nobjectType: secret\nobjectAlias: tls/web\nfilePermission: \"0640\"", []fileWant{
			{"tls/web.crt", pfxCerts, 0o640, "secret/web", pfxVer},
			{"tls/web.key", key, 0o640, "secret/web", pfxVer},
			{"tls/web", key + pfxCerts, 0o640, "secret/web", pfxVer},
		}},
		{"pem content, as stored", "objectName: web-pem\nobjectType: secret", []fileWant{
			{"web-pem.crt", certsPEM(f.inter2, f.leaf, f.root, f.inter1), 0o644, "secret/web-pem", pemVer},
			{"web-pem.key", key, 0o644, "secret/web-pem", pemVer},
			{"web-pem", storedPEM, 0o644, "secret/web-pem", pemVer},
		}},
		{"pem content, objectFormat pfx ignored", "objectName: web-pem\nobjectType: secret\nobjectFormat: pfx", []fileWant{
			{"web-pem.crt", certsPEM(f.inter2, f.leaf, f.root, f.inter1), 0o644, "secret/web-pem", pemVer},
			{"web-pem.key", key, 0o644, "secret/web-pem", pemVer},
			{"web-pem", storedPEM, 0o644, "secret/web-pem", pemVer},
		}},
		{"objectFormat pfx: no empty companions", "objectName: web\nobjectType: secret\nobjectFormat: pfx", []fileWant{
			{"web", b64Text(shuffled), 0o644, "secret/web", pfxVer},
		}},
		{"objectFormat pfx, base64: no empty companions", "objectName: web\nobjectType: secret\nobjectFormat: pfx\nobjectEncoding: base64", []fileWant{
			{"web", string(shuffled), 0o644, "secret/web", pfxVer},
		}},
		{"plain secret: no companions", "objectName: plain\nobjectType: secret", []fileWant{
			{"plain", "not a certificate", 0o644, "secret/plain", plainVer},
		}},
		{"plain PFX secret: no companions", "objectName: appsvc\nobjectType: secret", []fileWant{
			{"appsvc", b64Text(modern), 0o644, "secret/appsvc", appsvcVer},
		}},
		{"plain PFX secret with convertPFXToPEM: companions", "objectName: appsvc\nobjectType: secret\nconvertPFXToPEM: true", []fileWant{
			{"appsvc.crt", certsPEM(f.ecLeaf, f.ecInter), 0o644, "secret/appsvc", appsvcVer},
			{"appsvc.key", keyPEM(t, f.ecLeaf.Key), 0o644, "secret/appsvc", appsvcVer},
			{"appsvc", keyPEM(t, f.ecLeaf.Key) + certsPEM(f.ecLeaf, f.ecInter), 0o644, "secret/appsvc", appsvcVer},
		}},
		{"objectType cert: no companions", "objectName: web\nobjectType: cert", []fileWant{
			{"web", certsPEM(f.leaf), 0o644, "cert/web", pfxVer},
		}},
		{"certificatePart: no companions", "objectName: web\nobjectType: secret\ncertificatePart: key", []fileWant{
			{"web", key, 0o644, "secret/web", pfxVer},
		}},
		{"objectVersionHistory", "objectName: hist\nobjectType: secret\nobjectVersionHistory: 2", []fileWant{
			{"hist/0.crt", certsPEM(f.renewedLeaf), 0o644, "secret/hist/0", h2},
			{"hist/0.key", keyPEM(t, f.renewedLeaf.Key), 0o644, "secret/hist/0", h2},
			{"hist/0", keyPEM(t, f.renewedLeaf.Key) + certsPEM(f.renewedLeaf), 0o644, "secret/hist/0", h2},
			{"hist/1.crt", certsPEM(f.ecLeaf, f.ecInter), 0o644, "secret/hist/1", h1},
			{"hist/1.key", keyPEM(t, f.ecLeaf.Key), 0o644, "secret/hist/1", h1},
			{"hist/1", keyPEM(t, f.ecLeaf.Key) + certsPEM(f.ecLeaf, f.ecInter), 0o644, "secret/hist/1", h1},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkFiles(t, wiMount(t, h, c.obj), c.want)
		})
	}
	t.Run("companions parse and match", func(t *testing.T) {
		resp := wiMount(t, h, "objectName: web\nobjectType: secret")
		if len(resp.GetFiles()) != 3 {
			t.Fatalf("got %d files", len(resp.GetFiles()))
		}
		pair := append(append([]byte(nil), resp.Files[1].Contents...), resp.Files[0].Contents...)
		checkPEMPair(t, pair, construct)
	})
}
