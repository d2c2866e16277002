package integration

// Issue 3, end to end: every object type × objectFormat × objectEncoding combination of
// the Azure provider's encodings matrix (shared/spec/azure-provider-compat.md §4.5) and
// every kvcsi extension field, mounted through the real provider on a real socket with
// the real Azure SDK against the emulator. Expected bytes are built here, independently
// of provider/format and of the PEM/PFX builders the emulator uses: crypto/x509 and
// encoding/pem only. docs/formats.md lists which test covers which combination.
//
// This file holds the shared formatsFixtures and helpers, and the key and cert object types.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/kvcsi/kvcsi/provider/daemon"
	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
	"github.com/kvcsi/kvcsi/test/pki"
)

// formatsFixtures are generated once per test binary: RSA key generation dominates otherwise.
type formatsFixtures struct {
	rsaKey, rsaHSMKey       *rsa.PrivateKey   // objectType key, RSA and RSA-HSM
	p256, p384, p521        *ecdsa.PrivateKey // objectType key, EC and EC-HSM
	root, inter2, inter1    *pki.Cert         // EC CAs: root → inter2 → inter1 → leaf
	leaf                    *pki.Cert         // RSA leaf issued by inter1
	ecRoot, ecInter, ecLeaf *pki.Cert         // a second, all-EC (P-384) chain
	renewedLeaf             *pki.Cert         // a second leaf from ecInter (certificate versions)
	looseLeaf               *pki.Cert         // self-signed, without an authority key ID; no chain
	fixErr                  error
}

var (
	formatsFxOnce sync.Once
	formatsFx     formatsFixtures
)

// pkiFx returns the shared keys and chains.
func pkiFx(t *testing.T) *formatsFixtures {
	t.Helper()
	formatsFxOnce.Do(func() {
		f := &formatsFx
		defer func() {
			if r := recover(); r != nil {
				f.fixErr = fmt.Errorf("generating formatsFixtures: %v", r)
			}
		}()
		f.rsaKey = pki.MustKey(pki.RSA2048).(*rsa.PrivateKey)
		f.rsaHSMKey = pki.MustKey(pki.RSA2048).(*rsa.PrivateKey)
		f.p256 = pki.MustKey(pki.P256).(*ecdsa.PrivateKey)
		f.p384 = pki.MustKey(pki.P384).(*ecdsa.PrivateKey)
		f.p521 = pki.MustKey(pki.P521).(*ecdsa.PrivateKey)
		must := func(c *pki.Cert, err error) *pki.Cert {
			if err != nil {
				panic(err)
			}
			return c
		}
		f.root = must(pki.NewCA("Formats Root CA", pki.Options{KeyType: pki.P256}))
		f.inter2 = must(f.root.Issue(pki.Options{CommonName: "Formats Intermediate 2", IsCA: true, KeyType: pki.P256}))
		f.inter1 = must(f.inter2.Issue(pki.Options{CommonName: "Formats Intermediate 1", IsCA: true, KeyType: pki.P256}))
		// The leaf reuses the RSA-HSM key: one RSA key fewer to generate.
		f.leaf = must(f.inter1.Issue(pki.Options{CommonName: "web.formats.test", DNSNames: []string{"web.formats.test"}, Key: f.rsaHSMKey}))
		f.ecRoot = must(pki.NewCA("Formats EC Root CA", pki.Options{KeyType: pki.P384}))
		f.ecInter = must(f.ecRoot.Issue(pki.Options{CommonName: "Formats EC Intermediate", IsCA: true, KeyType: pki.P384}))
		f.ecLeaf = must(f.ecInter.Issue(pki.Options{CommonName: "ec.formats.test", DNSNames: []string{"ec.formats.test"}, KeyType: pki.P384}))
		f.renewedLeaf = must(f.ecInter.Issue(pki.Options{CommonName: "ec.formats.test", DNSNames: []string{"ec.formats.test"}, KeyType: pki.P256}))
		f.looseLeaf = must(pki.NewCA("loose.formats.test", pki.Options{KeyType: pki.P256, NoKeyIDs: true}))
	})
	if formatsFx.fixErr != nil {
		t.Fatal(formatsFx.fixErr)
	}
	return &formatsFx
}

// chainDERs is the DER of certificates, in the given order (CertificateInput.Chain).
func chainDERs(certs ...*pki.Cert) [][]byte {
	out := make([][]byte, len(certs))
	for i, c := range certs {
		out[i] = c.Cert.Raw
	}
	return out
}

// Expected bytes, built with crypto/x509 and encoding/pem only.

// pubPEM is a SubjectPublicKeyInfo "PUBLIC KEY" block.
func pubPEM(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatalf("marshal public key: %v", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// keyPEM is a PKCS#8 "PRIVATE KEY" block.
func keyPEM(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal private key: %v", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// certsPEM is one "CERTIFICATE" block per certificate, in order.
func certsPEM(certs ...*pki.Cert) string {
	var b strings.Builder
	for _, c := range certs {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}))
	}
	return b.String()
}

// fileWant is one expected file of a MountResponse with its ObjectVersion.
type fileWant struct {
	path     string
	contents string
	mode     fs.FileMode
	id       string
	version  string
}

var versionRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// checkFiles compares a response with want exactly: order, paths, bytes, modes, ids,
// versions, one ObjectVersion per file.
func checkFiles(t *testing.T, resp *v1alpha1.MountResponse, want []fileWant) {
	t.Helper()
	if len(resp.GetFiles()) != len(want) || len(resp.GetObjectVersion()) != len(want) {
		var got []string
		for _, f := range resp.GetFiles() {
			got = append(got, f.GetPath())
		}
		t.Fatalf("got %d files %q and %d object versions, want %d files", len(resp.GetFiles()), got, len(resp.GetObjectVersion()), len(want))
	}
	for i, w := range want {
		f, ov := resp.Files[i], resp.ObjectVersion[i]
		if f.Path != w.path {
			t.Errorf("file %d: path %q, want %q", i, f.Path, w.path)
		}
		if !bytes.Equal(f.Contents, []byte(w.contents)) {
			t.Errorf("file %d (%s): contents differ\n got: %s\nwant: %s", i, w.path, previewBytes(f.Contents), previewBytes([]byte(w.contents)))
		}
		if fs.FileMode(f.Mode) != w.mode {
			t.Errorf("file %d (%s): mode %#o, want %#o", i, w.path, f.Mode, w.mode)
		}
		if ov.Id != w.id || ov.Version != w.version {
			t.Errorf("file %d (%s): object version %s@%s, want %s@%s", i, w.path, ov.Id, ov.Version, w.id, w.version)
		}
		if !versionRE.MatchString(ov.Version) {
			t.Errorf("file %d (%s): version %q is not 32 lower-case hex characters", i, w.path, ov.Version)
		}
	}
}

// preview shortens contents for failure messages.
func previewBytes(b []byte) string {
	s := fmt.Sprintf("%q", b)
	if len(s) > 400 {
		s = s[:200] + " … " + s[len(s)-150:]
	}
	return s
}

// checkPEMPair parses converted PEM output with crypto/x509: every block must parse, the
// private key must be PKCS#8 and match the first certificate, and, when ordered, each
// certificate must be signed by the next one (leaf → intermediates → root).
func checkPEMPair(t *testing.T, content []byte, ordered bool) {
	t.Helper()
	var certs []*x509.Certificate
	var keys []any
	var certBlocks, keyBlocks []byte
	for rest := content; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			if len(bytes.TrimSpace(rest)) != 0 {
				t.Fatalf("trailing non-PEM data: %q", rest)
			}
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatalf("certificate %d does not parse: %v", len(certs), err)
			}
			certs = append(certs, c)
			certBlocks = append(certBlocks, pem.EncodeToMemory(b)...)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				t.Fatalf("private key is not PKCS#8: %v", err)
			}
			keys = append(keys, k)
			keyBlocks = append(keyBlocks, pem.EncodeToMemory(b)...)
		default:
			t.Fatalf("unexpected PEM block %q", b.Type)
		}
	}
	if len(keys) != 1 || len(certs) == 0 {
		t.Fatalf("got %d keys and %d certificates, want 1 key and some certificates", len(keys), len(certs))
	}
	if !ordered {
		// The key must still belong to one of the certificates.
		pub := keys[0].(crypto.Signer).Public()
		for _, c := range certs {
			if pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(c.PublicKey) {
				return
			}
		}
		t.Errorf("the key matches none of the %d certificates", len(certs))
		return
	}
	if _, err := tls.X509KeyPair(certBlocks, keyBlocks); err != nil {
		t.Errorf("the key does not match the first certificate: %v", err)
	}
	for i := 0; i+1 < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i+1]); err != nil {
			t.Errorf("certificate %d (%s) is not signed by certificate %d (%s): %v", i, certs[i].Subject, i+1, certs[i+1].Subject, err)
		}
	}
}

// wiMount mounts objects with workload identity and fails the test on error.
func wiMount(t *testing.T, h *harness.Harness, objects ...string) *v1alpha1.MountResponse {
	t.Helper()
	resp, err := h.Mount(ctx(t), harness.MountInput{Params: wiParams(objects...), Tokens: h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	return resp
}

// wiMountErr mounts objects with workload identity and returns the gRPC status of the
// failure; a successful mount fails the test.
func wiMountErr(t *testing.T, h *harness.Harness, objects ...string) *status.Status {
	t.Helper()
	resp, err := h.Mount(ctx(t), harness.MountInput{Params: wiParams(objects...), Tokens: h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)})
	if err == nil {
		t.Fatalf("mount succeeded with %d files, want an error", len(resp.GetFiles()))
	}
	return status.Convert(err)
}

// anyFailure, as the code wantFailure expects, accepts any code but OK, Internal (the
// server's panic recovery) and Unavailable (a provider that went away): the code of a
// content problem is provider/diag's to choose.
const anyFailure codes.Code = 1 << 20

// wantFailure checks a failed mount's code and that its message holds every string in
// contains and none in leaks.
func wantFailure(t *testing.T, st *status.Status, code codes.Code, contains []string, leaks ...string) {
	t.Helper()
	switch {
	case code == anyFailure:
		if st.Code() == codes.OK || st.Code() == codes.Internal || st.Code() == codes.Unavailable {
			t.Errorf("code %s: %s", st.Code(), st.Message())
		}
	case st.Code() != code:
		t.Errorf("code %s, want %s: %s", st.Code(), code, st.Message())
	}
	for _, s := range contains {
		if !strings.Contains(st.Message(), s) {
			t.Errorf("message lacks %q:\n%s", s, st.Message())
		}
	}
	for _, s := range leaks {
		if s != "" && strings.Contains(st.Message(), s) {
			t.Errorf("message leaks %q:\n%s", s, st.Message())
		}
	}
}

// flags are the harness variants for the provider-wide PEM flags.
func withFlags(constructChain, separateFiles bool) harness.Options {
	return harness.Options{Daemon: func(o *daemon.Options) {
		o.ConstructPEMChain = constructChain
		o.WriteCertAndKeyInSeparateFiles = separateFiles
	}}
}

// jwk is the emulator JWK of a public key with kty overridden (RSA-HSM, EC-HSM).
func jwkOf(t *testing.T, pub crypto.PublicKey, kty string) emulator.JWK {
	t.Helper()
	j, err := emulator.JWKFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if kty != "" {
		j.Kty = kty
	}
	return j
}

// TestFormats runs the checks that need the provider's default flags
// (--construct-pem-chain on, no separate files) on one harness: starting the emulator
// costs more than all the mounts. Object names are distinct per check, and each check
// seeds what it mounts, so any one runs alone too (-run TestFormats/keys).
func TestFormats(t *testing.T) {
	h := start(t, harness.Options{})
	for _, c := range []struct {
		name string
		run  func(*testing.T, *harness.Harness)
	}{
		{"plain-secrets", formatsPlainSecrets},
		{"keys", formatsKeys},
		{"certs", formatsCerts},
		{"cert-secrets", formatsCertSecrets},
		{"pem-chain", func(t *testing.T, h *harness.Harness) { formatsPEMChain(t, h, true) }},
		{"certificate-parts", formatsCertificateParts},
		{"convert-pfx", formatsConvertPFX},
		{"jmespath", formatsJMESPath},
		{"multi-vault", formatsMultiVault},
		{"malformed-responses", formatsMalformed},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

// formatsPlainSecrets: the "secret (plain)" row — objectFormat pem or pfx has no effect,
// objectEncoding utf-8/base64/hex decodes the stored text; the content type does not make
// a secret without kid a certificate.
func formatsPlainSecrets(t *testing.T, h *harness.Harness) {
	f := pkiFx(t)
	v := h.Vault
	raw := []byte{0x00, 0x01, 0xfe, 0xff, '\n', 'k', 'v'}
	b64Text := base64.StdEncoding.EncodeToString(raw)
	text := v.SetSecret("plain-text", "line 1\nline 2 ✓", emulator.SecretOptions{ContentType: "text/plain"})
	b64Ver := v.SetSecret("plain-b64", b64Text[:4]+"\r\n"+b64Text[4:], emulator.SecretOptions{})
	hexVer := v.SetSecret("plain-hex", strings.ToUpper(hex.EncodeToString(raw)), emulator.SecretOptions{})
	// PEM text and a PFX in plain secrets (no kid): written as stored.
	pemText := keyPEM(t, f.ecLeaf.Key) + certsPEM(f.ecRoot, f.ecLeaf)
	pemVer := v.SetSecret("plain-pem", pemText, emulator.SecretOptions{ContentType: emulator.ContentTypePEM})
	v.SetSecret("plain-bad-b64", "not base64!", emulator.SecretOptions{})
	v.SetSecret("plain-bad-hex", "abc", emulator.SecretOptions{})

	for _, format := range []string{"", "pem", "pfx", "PFX"} {
		field := ""
		if format != "" {
			field = "\nobjectFormat: " + format
		}
		for _, c := range []struct {
			name, obj string
			want      fileWant
		}{
			{"utf-8 default", "objectName: plain-text\nobjectType: secret", fileWant{"plain-text", "line 1\nline 2 ✓", 0o644, "secret/plain-text", text}},
			{"utf-8", "objectName: plain-text\nobjectType: secret\nobjectEncoding: utf-8", fileWant{"plain-text", "line 1\nline 2 ✓", 0o644, "secret/plain-text", text}},
			{"base64, line breaks ignored", "objectName: plain-b64\nobjectType: secret\nobjectEncoding: base64\nfilePermission: \"0600\"", fileWant{"plain-b64", string(raw), 0o600, "secret/plain-b64", b64Ver}},
			{"hex, upper case", "objectName: plain-hex\nobjectType: secret\nobjectEncoding: Hex\nobjectAlias: bin/blob", fileWant{"bin/blob", string(raw), 0o644, "secret/plain-hex", hexVer}},
			{"PEM text without kid: as stored", "objectName: plain-pem\nobjectType: secret", fileWant{"plain-pem", pemText, 0o644, "secret/plain-pem", pemVer}},
		} {
			t.Run("objectFormat "+format+"/"+c.name, func(t *testing.T) {
				checkFiles(t, wiMount(t, h, c.obj+field), []fileWant{c.want})
			})
		}
	}
	for _, c := range []struct{ name, obj string }{
		{"plain-bad-b64", "objectName: plain-bad-b64\nobjectType: secret\nobjectEncoding: base64"},
		{"plain-bad-hex", "objectName: plain-bad-hex\nobjectType: secret\nobjectEncoding: hex"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := wiMountErr(t, h, c.obj)
			wantFailure(t, st, anyFailure, []string{"objectName:" + c.name + ",", "objectEncoding"}, "not base64", "abc")
		})
	}
}

// formatsKeys: objectType key writes the public key as a SubjectPublicKeyInfo PEM
// for RSA, RSA-HSM, EC and EC-HSM on P-256, P-384 and P-521; unsupported key types and
// curves fail with an error naming the key; objectVersionHistory; objectFormat and
// objectEncoding are refused for keys.
func formatsKeys(t *testing.T, h *harness.Harness) {
	f := pkiFx(t)
	v := h.Vault
	type keyCase struct {
		name string
		pub  crypto.PublicKey
		kty  string
	}
	cases := []keyCase{
		{"rsa", f.rsaKey.Public(), "RSA"},
		{"rsa-hsm", f.rsaHSMKey.Public(), "RSA-HSM"},
		{"ec-p256", f.p256.Public(), "EC"},
		{"ec-p384", f.p384.Public(), "EC"},
		{"ec-p521", f.p521.Public(), "EC"},
		{"ec-hsm-p256", f.p256.Public(), "EC-HSM"},
		{"ec-hsm-p384", f.p384.Public(), "EC-HSM"},
		{"ec-hsm-p521", f.p521.Public(), "EC-HSM"},
	}
	versions := map[string]string{}
	for _, c := range cases {
		versions[c.name] = v.SetKey(c.name, jwkOf(t, c.pub, c.kty), emulator.KeyOptions{})
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := wiMount(t, h, "objectName: "+c.name+"\nobjectType: key")
			checkFiles(t, resp, []fileWant{{c.name, pubPEM(t, c.pub), 0o644, "key/" + c.name, versions[c.name]}})
		})
	}
	t.Run("alias, explicit pem and filePermission", func(t *testing.T) {
		resp := wiMount(t, h, "objectName: ec-p384\nobjectType: key\nobjectAlias: keys/signing.pem\nobjectFormat: PEM\nobjectVersion: "+versions["ec-p384"]+"\nfilePermission: \"0440\"")
		checkFiles(t, resp, []fileWant{{"keys/signing.pem", pubPEM(t, f.p384.Public()), 0o440, "key/ec-p384", versions["ec-p384"]}})
	})

	t.Run("coordinates with and without leading zeros", func(t *testing.T) {
		// Key Vault's JWK integers are big-endian; a leading zero byte may be dropped
		// (EC coordinates) or present (an RSA modulus written as a signed integer).
		var short *ecdsa.PrivateKey
		for short == nil {
			k := pki.MustKey(pki.P256).(*ecdsa.PrivateKey)
			if k.X.FillBytes(make([]byte, 32))[0] == 0 {
				short = k
			}
		}
		ec := jwkOf(t, short.Public(), "")
		ec.X = ec.X[1:]
		ecVer := v.SetKey("ec-short-x", ec, emulator.KeyOptions{})
		rsaJWK := jwkOf(t, f.rsaKey.Public(), "")
		rsaJWK.N = append([]byte{0}, rsaJWK.N...)
		rsaVer := v.SetKey("rsa-signed-n", rsaJWK, emulator.KeyOptions{})
		resp := wiMount(t, h, "objectName: ec-short-x\nobjectType: key", "objectName: rsa-signed-n\nobjectType: key")
		checkFiles(t, resp, []fileWant{
			{"ec-short-x", pubPEM(t, short.Public()), 0o644, "key/ec-short-x", ecVer},
			{"rsa-signed-n", pubPEM(t, f.rsaKey.Public()), 0o644, "key/rsa-signed-n", rsaVer},
		})
	})

	t.Run("objectVersionHistory", func(t *testing.T) {
		now := time.Now()
		k1 := v.SetKey("rotated", jwkOf(t, f.p256.Public(), ""), emulator.KeyOptions{Created: now.Add(-4 * time.Hour)})
		k2 := v.SetKey("rotated", jwkOf(t, f.rsaKey.Public(), ""), emulator.KeyOptions{Created: now.Add(-3 * time.Hour)})
		off := v.SetKey("rotated", jwkOf(t, f.p384.Public(), ""), emulator.KeyOptions{Created: now.Add(-2 * time.Hour)})
		v.DisableVersion("key", "rotated", off)
		k4 := v.SetKey("rotated", jwkOf(t, f.p521.Public(), "EC-HSM"), emulator.KeyOptions{Created: now.Add(-1 * time.Hour)})
		resp := wiMount(t, h, "objectName: rotated\nobjectType: key\nobjectVersionHistory: 5")
		checkFiles(t, resp, []fileWant{
			{"rotated/0", pubPEM(t, f.p521.Public()), 0o644, "key/rotated/0", k4},
			{"rotated/1", pubPEM(t, f.rsaKey.Public()), 0o644, "key/rotated/1", k2},
			{"rotated/2", pubPEM(t, f.p256.Public()), 0o644, "key/rotated/2", k1},
		})
		// A pinned older version, without history.
		resp = wiMount(t, h, "objectName: rotated\nobjectType: key\nobjectVersion: "+k2)
		checkFiles(t, resp, []fileWant{{"rotated", pubPEM(t, f.rsaKey.Public()), 0o644, "key/rotated", k2}})
	})

	t.Run("unsupported", func(t *testing.T) {
		v.SetKey("aes", emulator.JWK{Kty: "oct"}, emulator.KeyOptions{})
		v.SetKey("aes-hsm", emulator.JWK{Kty: "oct-HSM"}, emulator.KeyOptions{})
		// secp256k1: any 32-byte coordinates; the curve is refused before the point is read.
		k1 := emulator.JWK{Kty: "EC", Crv: "P-256K", X: bytes.Repeat([]byte{1}, 32), Y: bytes.Repeat([]byte{2}, 32)}
		v.SetKey("bitcoin", k1, emulator.KeyOptions{})
		k1.Kty = "EC-HSM"
		v.SetKey("bitcoin-hsm", k1, emulator.KeyOptions{})
		for _, tc := range []struct{ name, reason string }{
			{"aes", "key type 'oct' currently not supported"},
			{"aes-hsm", "key type 'oct-HSM' currently not supported"},
			{"bitcoin", "curve P-256K is not supported"},
			{"bitcoin-hsm", "curve P-256K is not supported"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st := wiMountErr(t, h, "objectName: rsa\nobjectType: key", "objectName: "+tc.name+"\nobjectType: key")
				wantFailure(t, st, anyFailure, []string{"failed to mount objects, error:", "objectType:key, objectName:" + tc.name + ",", tc.reason})
				if strings.Contains(st.Message(), "objectName:rsa,") {
					t.Errorf("the supported key is reported as failing too:\n%s", st.Message())
				}
			})
		}
	})

	t.Run("pfx and encodings are refused", func(t *testing.T) {
		for _, obj := range []string{
			"objectName: rsa\nobjectType: key\nobjectFormat: pfx",
			"objectName: rsa\nobjectType: key\nobjectFormat: PFX", // upstream's exact-case check let this through
			"objectName: rsa\nobjectType: key\nobjectEncoding: base64",
			"objectName: rsa\nobjectType: key\nobjectEncoding: utf-8",
		} {
			st := wiMountErr(t, h, obj)
			wantFailure(t, st, codes.InvalidArgument, []string{"objectName:rsa"})
		}
	})
}

// formatsCerts: objectType cert writes only the leaf as one CERTIFICATE block,
// whatever the backing secret's content type or chain; objectVersionHistory;
// objectFormat pfx and objectEncoding are refused.
func formatsCerts(t *testing.T, h *harness.Harness) {
	f := pkiFx(t)
	v := h.Vault
	pemVer := v.SetCertificate("tls-pem", emulator.CertificateInput{Leaf: f.leaf.Cert, Chain: chainDERs(f.inter1, f.inter2, f.root), Key: f.leaf.Key, ContentType: emulator.ContentTypePEM})
	pfxVer := v.SetCertificate("tls-pfx", emulator.CertificateInput{Leaf: f.ecLeaf.Cert, Chain: chainDERs(f.ecRoot, f.ecInter), Key: f.ecLeaf.Key, ContentType: emulator.ContentTypePFX})
	noKeyVer := v.SetCertificate("public-only", emulator.CertificateInput{Leaf: f.looseLeaf.Cert})

	for _, tc := range []struct {
		name, obj string
		want      fileWant
	}{
		{"PEM-backed: the leaf only", "objectName: tls-pem\nobjectType: cert",
			fileWant{"tls-pem", certsPEM(f.leaf), 0o644, "cert/tls-pem", pemVer}},
		{"PFX-backed: the leaf only", "objectName: tls-pfx\nobjectType: cert\nobjectFormat: pem",
			fileWant{"tls-pfx", certsPEM(f.ecLeaf), 0o644, "cert/tls-pfx", pfxVer}},
		{"without a key", "objectName: public-only\nobjectType: cert\nobjectAlias: ca/public.crt\nfilePermission: \"0400\"",
			fileWant{"ca/public.crt", certsPEM(f.looseLeaf), 0o400, "cert/public-only", noKeyVer}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFiles(t, wiMount(t, h, tc.obj), []fileWant{tc.want})
		})
	}

	t.Run("objectVersionHistory", func(t *testing.T) {
		now := time.Now()
		c1 := v.SetCertificate("renewed", emulator.CertificateInput{Leaf: f.ecLeaf.Cert, Chain: chainDERs(f.ecInter), Key: f.ecLeaf.Key, Created: now.Add(-3 * time.Hour)})
		c2 := v.SetCertificate("renewed", emulator.CertificateInput{Leaf: f.renewedLeaf.Cert, Chain: chainDERs(f.ecInter), Key: f.renewedLeaf.Key, ContentType: emulator.ContentTypePFX, Created: now.Add(-time.Hour)})
		resp := wiMount(t, h, "objectName: renewed\nobjectType: cert\nobjectAlias: leaf\nobjectVersionHistory: 3")
		checkFiles(t, resp, []fileWant{
			{"leaf/0", certsPEM(f.renewedLeaf), 0o644, "cert/renewed/0", c2},
			{"leaf/1", certsPEM(f.ecLeaf), 0o644, "cert/renewed/1", c1},
		})
		// Pinned start version.
		resp = wiMount(t, h, "objectName: renewed\nobjectType: cert\nobjectVersionHistory: 2\nobjectVersion: "+c1)
		checkFiles(t, resp, []fileWant{{"renewed/0", certsPEM(f.ecLeaf), 0o644, "cert/renewed/0", c1}})
	})

	t.Run("pfx and encodings are refused", func(t *testing.T) {
		for _, obj := range []string{
			"objectName: tls-pfx\nobjectType: cert\nobjectFormat: pfx",
			"objectName: tls-pfx\nobjectType: cert\nobjectEncoding: hex",
			"objectName: tls-pfx\nobjectType: cert\nobjectEncoding: base64",
		} {
			st := wiMountErr(t, h, obj)
			wantFailure(t, st, codes.InvalidArgument, []string{"objectName:tls-pfx"})
		}
	})
}
