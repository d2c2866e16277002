package format

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io/fs"
	"strings"
	"testing"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/provider/vocab"
)

const marker = "SECRETMARKER" // must never appear in an error message

var chainOn = Options{ConstructPEMChain: true}

type want struct {
	files []vocab.File
	err   string // substring of the error; "" means success
}

func one(path string, contents []byte) []vocab.File {
	return []vocab.File{{Path: path, Mode: 0o644, Contents: contents}}
}

func runRender(t *testing.T, req Request, f Fetched, opts Options, w want) {
	t.Helper()
	if req.Mode == 0 {
		req.Mode = 0o644
	}
	files, err := Render(req, f, opts)
	if w.err != "" {
		if err == nil {
			t.Fatalf("Render succeeded with %d files, want error containing %q", len(files), w.err)
		}
		if !strings.Contains(err.Error(), w.err) {
			t.Fatalf("error %q does not contain %q", err, w.err)
		}
		if f.Name != "" && !strings.Contains(err.Error(), f.Name) {
			t.Errorf("error %q does not name the object %q", err, f.Name)
		}
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("error %T is not a *format.Error", err)
		}
		if strings.Contains(err.Error(), marker) {
			t.Errorf("error leaks content: %q", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if len(files) != len(w.files) {
		t.Fatalf("got %d files %v, want %d", len(files), paths(files), len(w.files))
	}
	for i := range files {
		g, x := files[i], w.files[i]
		if g.Path != x.Path || g.Mode != x.Mode {
			t.Errorf("file %d: got %s %v, want %s %v", i, g.Path, g.Mode, x.Path, x.Mode)
		}
		if !bytes.Equal(g.Contents, x.Contents) {
			t.Errorf("file %d (%s): contents differ\n got: %q\nwant: %q", i, g.Path, g.Contents, x.Contents)
		}
	}
}

func paths(files []vocab.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out
}

func plainSecret(value string) Fetched {
	return Fetched{Type: vocab.Secret, Name: "plain", Value: ptr(value)}
}

func certSecret(ct, value string) Fetched {
	return Fetched{Type: vocab.Secret, Name: "tls", Value: ptr(value), ContentType: ptr(ct),
		KID: ptr("https://v.vault.azure.net/keys/tls/0123456789abcdef0123456789abcdef")}
}

// TestEncodingsMatrix walks every row of the matrix in docs/formats.md: object type ×
// objectFormat × objectEncoding.
func TestEncodingsMatrix(t *testing.T) {
	p := mustPKI(t)
	pfx := mustPFX(t, pkcs12.Modern2023, p.leafKey, p.leaf, p.root, p.inter)
	pfxText := b64(pfx)
	storedPEM := string(cat(certsPEM(p.root), pkcs8PEM(t, p.leafKey), certsPEM(p.leaf))) // deliberately unordered
	converted := cat(pkcs8PEM(t, p.leafKey), certsPEM(p.leaf, p.inter, p.root))
	jwk := JWK{Kty: ptr("EC"), Crv: ptr("P-256")}
	jwk.X, jwk.Y = ecXY(t, &p.rootKey.PublicKey)
	rootPub, _ := x509.MarshalPKIXPublicKey(&p.rootKey.PublicKey)

	raw := []byte("hello\x00world\xff")
	for _, tc := range []struct {
		name string
		req  Request
		f    Fetched
		want want
	}{
		// secret (plain): format ignored; utf-8/base64/hex decode the value.
		{"plain/none/none", Request{}, plainSecret("s3cr3t"), want{files: one("out", []byte("s3cr3t"))}},
		{"plain/pem/utf-8", Request{Format: "pem", Encoding: "utf-8"}, plainSecret("s3cr3t"), want{files: one("out", []byte("s3cr3t"))}},
		{"plain/pfx/none", Request{Format: "pfx"}, plainSecret("s3cr3t"), want{files: one("out", []byte("s3cr3t"))}},
		{"plain/pem/base64", Request{Format: "pem", Encoding: "base64"}, plainSecret(b64(raw)), want{files: one("out", raw)}},
		{"plain/pfx/base64", Request{Format: "pfx", Encoding: "base64"}, plainSecret(b64(raw)), want{files: one("out", raw)}},
		{"plain/none/base64 with line breaks", Request{Encoding: "base64"}, plainSecret("aGVs\r\nbG8=\n"), want{files: one("out", []byte("hello"))}},
		{"plain/none/hex", Request{Encoding: "hex"}, plainSecret(hex.EncodeToString(raw)), want{files: one("out", raw)}},
		{"plain/none/HEX upper-case", Request{Encoding: "HEX"}, plainSecret("DEADbeef"), want{files: one("out", []byte{0xde, 0xad, 0xbe, 0xef})}},
		{"plain/none/base64 invalid", Request{Encoding: "base64"}, plainSecret(marker + "!"), want{err: "illegal base64 data at input byte 12"}},
		{"plain/none/hex invalid", Request{Encoding: "hex"}, plainSecret("00" + marker), want{err: "invalid hex data at input byte 2"}},
		{"plain/none/hex odd", Request{Encoding: "hex"}, plainSecret("abc"), want{err: "odd length hex data"}},
		{"plain pkcs12 content type, no kid: base64 text as is (#273)", Request{}, Fetched{Type: vocab.Secret, Name: "app", Value: ptr(pfxText), ContentType: ptr(ContentTypePKCS12)}, want{files: one("out", []byte(pfxText))}},
		{"plain pem content type, no kid: as is", Request{}, Fetched{Type: vocab.Secret, Name: "app", Value: ptr(storedPEM), ContentType: ptr(ContentTypePEM)}, want{files: one("out", []byte(storedPEM))}},
		{"plain, empty kid", Request{}, Fetched{Type: vocab.Secret, Name: "app", Value: ptr("v"), ContentType: ptr("weird"), KID: ptr("")}, want{files: one("out", []byte("v"))}},

		// secret (cert, PEM): stored PEM as is whatever the format; decoding PEM text fails.
		{"certPEM/none/none", Request{}, certSecret(ContentTypePEM, storedPEM), want{files: one("out", []byte(storedPEM))}},
		{"certPEM/pem/utf-8", Request{Format: "pem", Encoding: "utf-8"}, certSecret(ContentTypePEM, storedPEM), want{files: one("out", []byte(storedPEM))}},
		{"certPEM/pfx/none", Request{Format: "pfx"}, certSecret(ContentTypePEM, storedPEM), want{files: one("out", []byte(storedPEM))}},
		{"certPEM/none/base64", Request{Encoding: "base64"}, certSecret(ContentTypePEM, storedPEM), want{err: "illegal base64 data at input byte 0"}},
		{"certPEM/none/hex", Request{Encoding: "hex"}, certSecret(ContentTypePEM, storedPEM), want{err: "invalid hex data at input byte 0"}},

		// secret (cert, PFX) + pem: keys (PKCS#8) then the chain.
		{"certPFX/none/none", Request{}, certSecret(ContentTypePKCS12, pfxText), want{files: one("out", converted)}},
		{"certPFX/pem/utf-8", Request{Format: "pem", Encoding: "utf-8"}, certSecret(ContentTypePKCS12, pfxText), want{files: one("out", converted)}},
		{"certPFX/PEM upper-case", Request{Format: "PEM"}, certSecret(ContentTypePKCS12, pfxText), want{files: one("out", converted)}},
		{"certPFX/pem/base64", Request{Format: "pem", Encoding: "base64"}, certSecret(ContentTypePKCS12, pfxText), want{err: "illegal base64 data at input byte 0"}},
		{"certPFX/pem/hex", Request{Format: "pem", Encoding: "hex"}, certSecret(ContentTypePKCS12, pfxText), want{err: "invalid hex data at input byte 0"}},

		// secret (cert, PFX) + pfx: the base64 text; base64 gives the binary; hex fails.
		{"certPFX/pfx/none", Request{Format: "pfx"}, certSecret(ContentTypePKCS12, pfxText), want{files: one("out", []byte(pfxText))}},
		{"certPFX/pfx/utf-8", Request{Format: "pfx", Encoding: "utf-8"}, certSecret(ContentTypePKCS12, pfxText), want{files: one("out", []byte(pfxText))}},
		{"certPFX/pfx/base64", Request{Format: "pfx", Encoding: "base64"}, certSecret(ContentTypePKCS12, pfxText), want{files: one("out", pfx)}},
		{"certPFX/pfx/hex", Request{Format: "pfx", Encoding: "hex"}, certSecret(ContentTypePKCS12, pfxText), want{err: "cannot decode the value"}},

		// cert: pem only, no encoding.
		{"cert/none/none", Request{}, Fetched{Type: vocab.Cert, Name: "c", CER: p.leaf.Raw}, want{files: one("out", certsPEM(p.leaf))}},
		{"cert/pem/utf-8", Request{Format: "pem", Encoding: "utf-8"}, Fetched{Type: vocab.Cert, Name: "c", CER: p.leaf.Raw}, want{files: one("out", certsPEM(p.leaf))}},
		{"cert/pfx", Request{Format: "pfx"}, Fetched{Type: vocab.Cert, Name: "c", CER: p.leaf.Raw}, want{err: "PFX format only supported for objectType: secret"}},
		{"cert/base64", Request{Encoding: "base64"}, Fetched{Type: vocab.Cert, Name: "c", CER: p.leaf.Raw}, want{err: "objectEncoding only supported for objectType: secret"}},
		{"cert/hex", Request{Encoding: "hex"}, Fetched{Type: vocab.Cert, Name: "c", CER: p.leaf.Raw}, want{err: "objectEncoding only supported for objectType: secret"}},

		// key: pem only, no encoding.
		{"key/none/none", Request{}, Fetched{Type: vocab.Key, Name: "k", Key: &jwk}, want{files: one("out", pemOf("PUBLIC KEY", rootPub))}},
		{"key/pem/utf-8", Request{Format: "pem", Encoding: "utf-8"}, Fetched{Type: vocab.Key, Name: "k", Key: &jwk}, want{files: one("out", pemOf("PUBLIC KEY", rootPub))}},
		{"key/pfx", Request{Format: "pfx"}, Fetched{Type: vocab.Key, Name: "k", Key: &jwk}, want{err: "PFX format only supported for objectType: secret"}},
		{"key/base64", Request{Encoding: "base64"}, Fetched{Type: vocab.Key, Name: "k", Key: &jwk}, want{err: "objectEncoding only supported for objectType: secret"}},
		{"key/hex", Request{Encoding: "hex"}, Fetched{Type: vocab.Key, Name: "k", Key: &jwk}, want{err: "objectEncoding only supported for objectType: secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Path = "out"
			runRender(t, tc.req, tc.f, chainOn, tc.want)
		})
	}
}

// TestSplit covers --write-cert-and-key-in-separate-files and the per-object split.
func TestSplit(t *testing.T) {
	p := mustPKI(t)
	pfxText := b64(mustPFX(t, pkcs12.LegacyDES, p.leafKey, p.leaf, p.inter, p.root))
	key := pkcs8PEM(t, p.leafKey)
	chain := certsPEM(p.leaf, p.inter, p.root)
	// Stored PEM with text around blocks and an odd line length: companions are
	// re-encoded blocks, the main file stays as stored.
	stored := "subject=leaf\n" + string(certsPEM(p.leaf)) + "junk\n" + string(key) + string(certsPEM(p.root))
	ecKey, _ := x509.MarshalECPrivateKey(p.leafECKey)
	withEC := string(pemOf("EC PRIVATE KEY", ecKey)) + string(certsPEM(p.leafEC))

	files := func(crt, k, main []byte) []vocab.File {
		return []vocab.File{fileOf("tls.crt", 0o600, crt), fileOf("tls.key", 0o600, k), fileOf("tls", 0o600, main)}
	}
	for _, tc := range []struct {
		name string
		req  Request
		f    Fetched
		opts Options
		want want
	}{
		{"global flag, PFX", Request{}, certSecret(ContentTypePKCS12, pfxText), Options{true, true},
			want{files: files(chain, key, cat(key, chain))}},
		{"per object, PFX", Request{Split: true}, certSecret(ContentTypePKCS12, pfxText), chainOn,
			want{files: files(chain, key, cat(key, chain))}},
		{"global flag, PEM stored", Request{}, certSecret(ContentTypePEM, stored), Options{WriteCertAndKeySeparately: true},
			want{files: files(certsPEM(p.leaf, p.root), key, []byte(stored))}},
		{"EC PRIVATE KEY block goes to .key", Request{Split: true}, certSecret(ContentTypePEM, withEC), Options{},
			want{files: files(certsPEM(p.leafEC), pemOf("EC PRIVATE KEY", ecKey), []byte(withEC))}},
		{"PEM without key: empty .key as upstream", Request{Split: true}, certSecret(ContentTypePEM, string(chain)), Options{},
			want{files: files(chain, nil, chain)}},
		{"pfx format: main only (#1277)", Request{Format: "pfx"}, certSecret(ContentTypePKCS12, pfxText), Options{true, true},
			want{files: []vocab.File{fileOf("tls", 0o600, []byte(pfxText))}}},
		{"pfx format per object: main only", Request{Format: "pfx", Split: true}, certSecret(ContentTypePKCS12, pfxText), chainOn,
			want{files: []vocab.File{fileOf("tls", 0o600, []byte(pfxText))}}},
		{"pfx format + base64: binary main only", Request{Format: "pfx", Encoding: "base64"}, certSecret(ContentTypePKCS12, pfxText), Options{true, true},
			want{files: []vocab.File{fileOf("tls", 0o600, mustB64Decode(t, pfxText))}}},
		{"encoding applies to companions: base64 of PEM fails", Request{Encoding: "base64"}, certSecret(ContentTypePKCS12, pfxText), Options{true, true},
			want{err: "cannot decode the .crt companion"}},
		{"plain secret: global flag gives no companions", Request{}, plainSecret("v"), Options{true, true},
			want{files: []vocab.File{fileOf("tls", 0o600, []byte("v"))}}},
		{"plain secret: per-object split is an error", Request{Split: true}, plainSecret("v"), chainOn,
			want{err: "apply only to a certificate's secret"}},
		{"cert object: per-object split is an error", Request{Split: true}, Fetched{Type: vocab.Cert, Name: "c", CER: p.leaf.Raw}, chainOn,
			want{err: "only apply to objectType: secret"}},
		{"cert object: global flag ignored", Request{}, Fetched{Type: vocab.Cert, Name: "c", CER: p.leaf.Raw}, Options{true, true},
			want{files: []vocab.File{fileOf("tls", 0o600, certsPEM(p.leaf))}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Path, tc.req.Mode = "tls", 0o600
			runRender(t, tc.req, tc.f, tc.opts, tc.want)
		})
	}
}

func mustB64Decode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := Decode([]byte(s), "base64")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRenderErrors covers every error Render returns for a bad object or request,
// including the nil fields on which the Azure provider panics.
func TestRenderErrors(t *testing.T) {
	p := mustPKI(t)
	pfxText := b64(mustPFX(t, pkcs12.Modern2023, p.leafKey, p.leaf))
	for _, tc := range []struct {
		name string
		req  Request
		f    Fetched
		err  string
	}{
		{"unknown kind", Request{}, Fetched{Name: "x"}, "invalid vaultObjectTypes"},
		{"empty path", Request{Path: "-"}, plainSecret("v"), "file name must not be empty"},
		{"unknown format", Request{Format: "der"}, plainSecret("v"), "invalid objectFormat: der, should be PEM or PFX"},
		{"unknown encoding", Request{Encoding: "utf-16"}, plainSecret("v"), "invalid objectEncoding: utf-16, should be hex, base64 or utf-8"},
		{"unknown cert part", Request{CertPart: "leaf"}, certSecret(ContentTypePKCS12, pfxText), "invalid certificatePart: leaf"},
		{"secret: nil value", Request{}, Fetched{Type: vocab.Secret, Name: "s"}, "secret value is nil"},
		{"cert secret: nil value", Request{}, Fetched{Type: vocab.Secret, Name: "s", KID: ptr("k"), ContentType: ptr(ContentTypePEM)}, "secret value is nil"},
		{"cert secret: nil content type", Request{}, Fetched{Type: vocab.Secret, Name: "s", KID: ptr("k"), Value: ptr(marker)}, "has no content type"},
		{"cert secret: unknown content type", Request{}, certSecret("text/plain", marker), "failed to get certificate. unknown content type 'text/plain'"},
		{"cert secret: empty content type", Request{}, certSecret("", marker), "failed to get certificate. unknown content type ''"},
		{"cert secret: content type is case-sensitive", Request{}, certSecret("Application/X-PKCS12", marker), "unknown content type"},
		{"cert secret: PFX not base64", Request{}, certSecret(ContentTypePKCS12, marker+"!"), "the PFX is not valid base64"},
		{"cert secret: PFX garbage", Request{}, certSecret(ContentTypePKCS12, b64([]byte(marker))), "converting the PFX to PEM"},
		{"key: nil key", Request{}, Fetched{Type: vocab.Key, Name: "k"}, "key value is nil"},
		{"key: nil kty", Request{}, Fetched{Type: vocab.Key, Name: "k", Key: &JWK{}}, "key type (kty) is missing"},
		{"key: nil crv", Request{}, Fetched{Type: vocab.Key, Name: "k", Key: &JWK{Kty: ptr("EC-HSM")}}, "EC key has no curve (crv)"},
		{"key: oct", Request{}, Fetched{Type: vocab.Key, Name: "k", Key: &JWK{Kty: ptr("oct")}}, "failed to get key. key type 'oct' currently not supported"},
		{"key: P-256K", Request{}, Fetched{Type: vocab.Key, Name: "k", Key: &JWK{Kty: ptr("EC"), Crv: ptr("P-256K")}}, "curve P-256K is not supported"},
		{"cert: nil CER", Request{}, Fetched{Type: vocab.Cert, Name: "c"}, "certificate value is nil"},
		{"cert: empty CER", Request{}, Fetched{Type: vocab.Cert, Name: "c", CER: []byte{}}, "certificate value is nil"},
		{"key: cert part", Request{CertPart: vocab.CertPartKey}, Fetched{Type: vocab.Key, Name: "k"}, "only apply to objectType: secret"},
		{"cert: convert", Request{ConvertPFX: true}, Fetched{Type: vocab.Cert, Name: "c"}, "only apply to objectType: secret"},
		{"part and split", Request{CertPart: vocab.CertPartChain, Split: true}, certSecret(ContentTypePKCS12, pfxText), "cannot be combined"},
		{"part on plain secret", Request{CertPart: vocab.CertPartKey}, plainSecret(marker), "apply only to a certificate's secret"},
		{"part with pfx format", Request{CertPart: vocab.CertPartKey, Format: "pfx"}, certSecret(ContentTypePKCS12, pfxText), "certificatePart needs PEM output"},
		{"part absent: key", Request{CertPart: vocab.CertPartKey}, certSecret(ContentTypePEM, string(certsPEM(p.leaf))), "the certificate has no such part"},
		{"part absent: chain", Request{CertPart: vocab.CertPartChain}, certSecret(ContentTypePEM, string(pkcs8PEM(t, p.leafKey))), "the certificate has no such part"},
		{"convert: nil content type", Request{ConvertPFX: true}, plainSecret(marker), "convertPFXToPEM is set but the secret has no content type"},
		{"convert: other content type", Request{ConvertPFX: true}, Fetched{Type: vocab.Secret, Name: "s", Value: ptr(marker), ContentType: ptr("text/plain")}, "convertPFXToPEM is set but the secret's content type is 'text/plain'"},
		{"json on a cert", Request{JSON: []JSONExtract{{Path: "a", Alias: "a"}}}, Fetched{Type: vocab.Cert, Name: "c", CER: p.leaf.Raw}, "jmesPath only apply to objectType: secret"},
		{"json: no alias", Request{JSON: []JSONExtract{{Path: "a"}}}, plainSecret(`{"a":1}`), `jmesPath "a" has no objectAlias`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.Path == "-" {
				tc.req.Path = ""
			} else {
				tc.req.Path = "out"
			}
			runRender(t, tc.req, tc.f, chainOn, want{err: tc.err})
		})
	}
}

// TestErrorFixes checks that errors say what to change, for the cases users meet.
func TestErrorFixes(t *testing.T) {
	p := mustPKI(t)
	pfxText := b64(mustPFX(t, pkcs12.LegacyDES, p.leafECKey, p.leafEC))
	a := mustCert(t, &x509.Certificate{SubjectKeyId: []byte("a"), AuthorityKeyId: []byte("b")}, nil, p.rootKey.Public(), p.rootKey)
	b := mustCert(t, &x509.Certificate{SubjectKeyId: []byte("b"), AuthorityKeyId: []byte("a")}, nil, p.rootKey.Public(), p.rootKey)
	loop := b64(mustPFX(t, pkcs12.LegacyDES, p.leafECKey, a, b))
	for _, tc := range []struct {
		name string
		req  Request
		f    Fetched
		want string
	}{
		{"PEM output with base64", Request{Encoding: "base64"}, certSecret(ContentTypePKCS12, pfxText),
			`secret "tls": objectEncoding base64 cannot decode the value: illegal base64 data at input byte 0; fix: a certificate is written as PEM text, which is not base64: remove objectEncoding, or set objectFormat: pfx with objectEncoding: base64 for a binary PFX`},
		{"PFX with hex", Request{Format: "pfx", Encoding: "hex"}, certSecret(ContentTypePKCS12, pfxText),
			"; fix: Key Vault stores a PFX as base64: use objectEncoding: base64"},
		{"plain secret with base64", Request{Encoding: "base64"}, plainSecret("%"),
			`secret "plain": objectEncoding base64 cannot decode the value: illegal base64 data at input byte 0; fix: store the value base64-encoded, or remove objectEncoding`},
		{"chain loop", Request{}, certSecret(ContentTypePKCS12, loop),
			`secret "tls": converting the PFX to PEM: no leaf found; fix: the certificates' authority and subject key identifiers form a loop: fix the chain in the PFX, or run the provider with --construct-pem-chain=false`},
		{"unknown content type", Request{}, certSecret("application/json", "{}"),
			`secret "tls": failed to get certificate. unknown content type 'application/json'; fix: re-import the certificate as application/x-pem-file or application/x-pkcs12`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Path = "out"
			_, err := Render(tc.req, tc.f, chainOn)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestPFXPasswordError(t *testing.T) {
	p := mustPKI(t)
	pfx, err := pkcs12.Modern2023.Encode(p.leafECKey, p.leafEC, nil, "hunter2")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Render(Request{Path: "out"}, certSecret(ContentTypePKCS12, b64(pfx)), chainOn)
	if !errors.Is(err, ErrPFXPassword) || !strings.Contains(err.Error(), "without a password") {
		t.Fatalf("got %v, want ErrPFXPassword with a fix", err)
	}
}

func TestRenderModes(t *testing.T) {
	files, err := Render(Request{Path: "a/b", Mode: fs.FileMode(0o400)}, plainSecret("v"), Options{})
	if err != nil || len(files) != 1 || files[0].Mode != 0o400 || files[0].Path != "a/b" {
		t.Fatalf("got %+v, %v", files, err)
	}
}
