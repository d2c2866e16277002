package format

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/provider/vocab"
)

// Seeds built at fuzz time; testdata/fuzz/<FuzzName>/ holds a committed corpus.

func pfxSeeds(t testing.TB) [][]any {
	p := mustECPKI(t)
	trust, err := pkcs12.Passwordless.EncodeTrustStore([]*x509.Certificate{p.inter, p.root}, "")
	if err != nil {
		t.Fatal(err)
	}
	// One iteration keeps the key derivations from dominating each execution.
	return [][]any{
		{mustPFX(t, pkcs12.LegacyRC2.WithIterations(1), p.leafECKey, p.root, p.leafEC, p.inter), true},
		{mustPFX(t, pkcs12.LegacyDES.WithIterations(1), p.leafECKey, p.leafEC), false},
		{mustPFX(t, pkcs12.Modern2023.WithIterations(1), p.leafECKey, p.leafEC, p.inter), false},
		{mustPFX(t, pkcs12.Modern2026.WithIterations(1), p.leafECKey, p.leafEC), true},
		{mustPFX(t, pkcs12.Passwordless, p.leafECKey, p.leafEC), true},
		{trust, true},
		{[]byte{}, true},
	}
}

func FuzzPFXToPEM(f *testing.F) {
	addSeeds(f, pfxSeeds(f))
	f.Fuzz(func(t *testing.T, pfx []byte, construct bool) {
		out, err := PFXToPEM(pfx, construct)
		if err != nil {
			return
		}
		// Success means keys (PKCS#8) first, then certificates, nothing else.
		seenCert := false
		for len(out) > 0 {
			b, rest := pem.Decode(out)
			if b == nil {
				t.Fatalf("output is not all PEM: %q", out)
			}
			switch b.Type {
			case "PRIVATE KEY":
				if seenCert {
					t.Fatal("key after a certificate")
				}
				if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
					t.Fatalf("key block does not parse: %v", err)
				}
			case "CERTIFICATE":
				seenCert = true
			default:
				t.Fatalf("unexpected block %q", b.Type)
			}
			out = rest
		}
	})
}

// FuzzOrderChain feeds OrderChain certificates parsed from fuzzed DER or, when the
// input is not DER, synthetic ones whose key identifiers come from byte pairs.
func orderChainSeeds(t testing.TB) [][]any {
	p := mustECPKI(t)
	return [][]any{
		{cat(p.root.Raw, p.leafEC.Raw, p.inter.Raw)},
		{cat(p.leafEC.Raw, p.root.Raw)},
		{[]byte{1, 2, 2, 3, 3, 0}},       // 1←2←3: ordered chain
		{[]byte{3, 0, 1, 2, 2, 3}},       // same, shuffled
		{[]byte{1, 2, 2, 1}},             // mutual parents: no leaf
		{[]byte{9, 1, 1, 2, 2, 1}},       // cycle below a leaf
		{[]byte{0, 0, 0, 0, 5, 5, 5, 5}}, // no identifiers, duplicates
	}
}

func FuzzOrderChain(f *testing.F) {
	addSeeds(f, orderChainSeeds(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := x509.ParseCertificates(data)
		if err != nil || len(certs) == 0 {
			certs = nil
			for i := 0; i+1 < len(data) && len(certs) < 64; i += 2 {
				c := &x509.Certificate{Raw: []byte{byte(i / 2)}}
				if data[i] != 0 {
					c.SubjectKeyId = data[i : i+1]
				}
				if data[i+1] != 0 {
					c.AuthorityKeyId = data[i+1 : i+2]
				}
				certs = append(certs, c)
			}
		}
		in := append([]*x509.Certificate(nil), certs...)
		got, err := OrderChain(certs)
		if err != nil {
			if !errors.Is(err, ErrNoLeaf) && !errors.Is(err, ErrChainCycle) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(got) != len(in) {
			t.Fatalf("got %d certificates from %d", len(got), len(in))
		}
		same := true
		for i := range in {
			if in[i] != certs[i] {
				t.Fatal("input modified")
			}
			same = same && got[i] == in[i]
		}
		if same {
			return
		}
		// Reordered: it is a permutation and every certificate is issued by the next.
		count := map[*x509.Certificate]int{}
		for i := range in {
			count[in[i]]++
			count[got[i]]--
		}
		for _, n := range count {
			if n != 0 {
				t.Fatal("result is not a permutation of the input")
			}
		}
		for i := 0; i+1 < len(got); i++ {
			if len(got[i].AuthorityKeyId) == 0 || !bytes.Equal(got[i].AuthorityKeyId, got[i+1].SubjectKeyId) {
				t.Fatalf("certificate %d is not issued by certificate %d", i, i+1)
			}
		}
	})
}

func publicKeySeeds(t testing.TB) [][]any {
	p := mustECPKI(t)
	x, y := ecXY(t, &p.rootKey.PublicKey)
	none := []byte{}
	return [][]any{
		{"EC", "P-256", none, none, x, y, false, false},
		{"EC-HSM", "P-384", none, none, x, y, false, false},
		{"RSA", "", fakeModulus(), []byte{1, 0, 1}, none, none, false, true},
		{"RSA-HSM", "", []byte{0xff}, []byte{3}, none, none, false, true},
		{"oct", "", none, none, none, none, true, true},
	}
}

func FuzzPublicKeyPEM(f *testing.F) {
	addSeeds(f, publicKeySeeds(f))
	f.Fuzz(func(t *testing.T, kty, crv string, n, e, x, y []byte, ktyNil, crvNil bool) {
		k := JWK{N: n, E: e, X: x, Y: y}
		if !ktyNil {
			k.Kty = &kty
		}
		if !crvNil {
			k.Crv = &crv
		}
		out, err := PublicKeyPEM(k)
		if err != nil {
			return
		}
		b, rest := pem.Decode(out)
		if b == nil || len(rest) != 0 || b.Type != "PUBLIC KEY" {
			t.Fatalf("not one PUBLIC KEY block: %q", out)
		}
		pub, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		switch pub := pub.(type) {
		case *rsa.PublicKey:
			if !strings.HasPrefix(kty, "RSA") || !bytes.Equal(pub.N.Bytes(), trimZeros(n)) {
				t.Fatal("RSA key does not round-trip")
			}
		case *ecdsa.PublicKey:
			if !strings.HasPrefix(kty, "EC") || pub.Curve.Params().Name != crv {
				t.Fatal("EC key does not round-trip")
			}
			gx, gy := ecXY(t, pub)
			if !bytes.Equal(trimZeros(gx), trimZeros(x)) || !bytes.Equal(trimZeros(gy), trimZeros(y)) {
				t.Fatal("EC point does not round-trip")
			}
		default:
			t.Fatalf("unexpected key type %T", pub)
		}
	})
}

// fakeModulus is 2048 bits that PublicKeyPEM accepts as an RSA modulus; it checks
// no primality, so no key generation is needed.
func fakeModulus() []byte {
	n := bytes.Repeat([]byte{0xc5}, 256)
	n[255] |= 1
	return n
}

func trimZeros(b []byte) []byte { return bytes.TrimLeft(b, "\x00") }

func renderSeeds(t testing.TB) [][]any {
	p := mustECPKI(t)
	pfxText := b64(mustPFX(t, pkcs12.LegacyDES.WithIterations(1), p.leafECKey, p.root, p.leafEC, p.inter))
	pemText := string(cat(pkcs8PEM(t, p.leafECKey), certsPEM(p.leafEC, p.root)))
	x, y := ecXY(t, &p.rootKey.PublicKey)
	type seed struct {
		kind                             uint8
		value                            string
		valueNil                         bool
		ct                               string
		ctNil                            bool
		kid, format, encoding, part      string
		split, convert, construct, flags bool
		jsonPath                         string
		cer                              []byte
		kty, crv                         string
		a, b                             []byte
	}
	var seeds [][]any
	for _, s := range []seed{
		{kind: 1, value: "plain", ctNil: true},
		{kind: 1, value: `{"a":{"b":[1,"x"]}}`, ctNil: true, jsonPath: "a.b[1]"},
		{kind: 1, value: `{"a":["x","y"],"n":5}`, ctNil: true, jsonPath: "join(', ', a)"},
		{kind: 1, value: `{"a":["<",">"],"n":5}`, ctNil: true, jsonPath: "to_string([a, n, {k: a}])"},
		{kind: 1, value: `[{"e":"p","u":"x"},{"e":"q"}]`, ctNil: true, jsonPath: "[?e=='p'].u | [0]"},
		{kind: 1, value: `{"s":"a b"}`, ctNil: true, jsonPath: "split(s, ' ')[*].[@, upper(@)][]"},
		{kind: 1, value: "aGVsbG8=", ctNil: true, encoding: "base64"},
		{kind: 1, value: "68656c6c6f", ctNil: true, encoding: "hex"},
		{kind: 1, value: pfxText, ct: ContentTypePKCS12, kid: "k", construct: true, flags: true},
		{kind: 1, value: pfxText, ct: ContentTypePKCS12, kid: "k", format: "pfx", encoding: "base64", flags: true},
		{kind: 1, value: pfxText, ct: ContentTypePKCS12, part: "key", convert: true},
		{kind: 1, value: pemText, ct: ContentTypePEM, kid: "k", split: true},
		{kind: 1, value: pemText, ct: ContentTypePEM, kid: "k", part: "chain"},
		{kind: 2, kty: "EC", crv: "P-256", a: x, b: y},
		{kind: 2, kty: "RSA", a: fakeModulus(), b: []byte{1, 0, 1}},
		{kind: 3, cer: p.leafEC.Raw},
		{kind: 0, valueNil: true, ctNil: true},
	} {
		seeds = append(seeds, []any{s.kind, s.value, s.valueNil, s.ct, s.ctNil, s.kid, s.format, s.encoding, s.part,
			s.split, s.convert, s.construct, s.flags, s.jsonPath, nonNil(s.cer), s.kty, s.crv, nonNil(s.a), nonNil(s.b)})
	}
	return seeds
}

// addSeeds adds each seed's values; through a method value, since vet's check of
// f.Add calls cannot follow a spread slice.
func addSeeds(f *testing.F, seeds [][]any) {
	add := f.Add
	for _, s := range seeds {
		add(s...)
	}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// FuzzRender drives Render with fuzzed objects and requests: it must return files
// or an *Error, never panic.
func FuzzRender(f *testing.F) {
	addSeeds(f, renderSeeds(f))
	f.Fuzz(func(t *testing.T, kind uint8, value string, valueNil bool, ct string, ctNil bool,
		kid, format, encoding, part string, split, convert, construct, flags bool,
		jsonPath string, cer []byte, kty, crv string, a, b []byte) {
		// kind 0 and 4 are invalid types, as the old integer kinds 0 and 4 were.
		types := []vocab.ObjectType{"", vocab.Secret, vocab.Key, vocab.Cert, "bogus"}
		fetched := Fetched{Type: types[kind%5], Name: "obj", KID: &kid, CER: cer,
			Key: &JWK{Kty: &kty, Crv: &crv, N: a, E: b, X: a, Y: b}}
		if !valueNil {
			fetched.Value = &value
		}
		if !ctNil {
			fetched.ContentType = &ct
		}
		req := Request{Path: "out", Mode: 0o644, Format: format, Encoding: encoding, CertPart: vocab.CertPart(part),
			Split: split, ConvertPFX: convert}
		if jsonPath != "" {
			req.JSON = []JSONExtract{{Path: jsonPath, Alias: "extracted"}}
		}
		files, err := Render(req, fetched, Options{ConstructPEMChain: construct, WriteCertAndKeySeparately: flags})
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || fe.Object != "obj" {
				t.Fatalf("error is not a *format.Error naming the object: %v", err)
			}
			return
		}
		main := 0
		if len(files) >= 3 && files[0].Path == "out.crt" {
			if files[1].Path != "out.key" {
				t.Fatalf("companions out of order: %v", paths(files))
			}
			main = 2
		}
		if len(files) <= main || files[main].Path != "out" || len(files)-main-1 != len(req.JSON) {
			t.Fatalf("unexpected files %v", paths(files))
		}
		for _, file := range files {
			if file.Mode != 0o644 {
				t.Fatalf("mode %v", file.Mode)
			}
		}
		if len(req.JSON) > 0 {
			// The bounds of CompileJSONPath keep an extraction proportional to its input.
			in, out := len(files[main].Contents)+len(jsonPath), len(files[len(files)-1].Contents)
			if out > 8*maxJSONPathGrowth*in+4096 {
				t.Fatalf("jmesPath %q turned %d bytes into %d", jsonPath, in, out)
			}
		}
	})
}

// TestWriteFuzzCorpus writes the seeds above to testdata/fuzz/<FuzzName>/ when
// KVCSI_WRITE_FUZZ_CORPUS is set, so that a committed corpus runs with every
// go test (the keys and certificates in it are throwaway test material).
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("KVCSI_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set KVCSI_WRITE_FUZZ_CORPUS=1 to regenerate testdata/fuzz")
	}
	for name, seeds := range map[string][][]any{
		"FuzzPFXToPEM":     pfxSeeds(t),
		"FuzzOrderChain":   orderChainSeeds(t),
		"FuzzPublicKeyPEM": publicKeySeeds(t),
		"FuzzRender":       renderSeeds(t),
		"FuzzCompose":      composeSeeds(t),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, values := range seeds {
			var b strings.Builder
			b.WriteString("go test fuzz v1\n")
			for _, v := range values {
				switch v := v.(type) {
				case []byte:
					fmt.Fprintf(&b, "[]byte(%q)\n", v)
				case string:
					fmt.Fprintf(&b, "string(%q)\n", v)
				case bool:
					fmt.Fprintf(&b, "bool(%t)\n", v)
				case uint8:
					fmt.Fprintf(&b, "byte(%q)\n", rune(v))
				default:
					t.Fatalf("no corpus encoding for %T", v)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
