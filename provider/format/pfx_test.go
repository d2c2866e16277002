package format

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"os"
	"strings"
	"testing"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

var encoders = []struct {
	name string
	enc  *pkcs12.Encoder
}{
	{"LegacyRC2", pkcs12.LegacyRC2},
	{"LegacyDES", pkcs12.LegacyDES},
	{"Modern2023", pkcs12.Modern2023},
	{"Modern2026", pkcs12.Modern2026},
}

func TestPFXToPEM(t *testing.T) {
	p := mustPKI(t)
	rsaKey, ecKey := pkcs8PEM(t, p.leafKey), pkcs8PEM(t, p.leafECKey)
	for _, e := range encoders {
		for _, tc := range []struct {
			name         string
			key          any
			certs        []*x509.Certificate // as stored in the PFX
			chain, plain []byte              // with and without constructChain
			partial      bool                // the chain cannot be completed
		}{
			{"RSA leaf first", p.leafKey, []*x509.Certificate{p.leaf, p.inter, p.root},
				cat(rsaKey, certsPEM(p.leaf, p.inter, p.root)), cat(rsaKey, certsPEM(p.leaf, p.inter, p.root)), false},
			{"RSA shuffled", p.leafKey, []*x509.Certificate{p.root, p.leaf, p.inter},
				cat(rsaKey, certsPEM(p.leaf, p.inter, p.root)), cat(rsaKey, certsPEM(p.root, p.leaf, p.inter)), false},
			{"EC reversed", p.leafECKey, []*x509.Certificate{p.root, p.inter, p.leafEC},
				cat(ecKey, certsPEM(p.leafEC, p.inter, p.root)), cat(ecKey, certsPEM(p.root, p.inter, p.leafEC)), false},
			{"EC leaf only", p.leafECKey, []*x509.Certificate{p.leafEC},
				cat(ecKey, certsPEM(p.leafEC)), cat(ecKey, certsPEM(p.leafEC)), false},
			{"incomplete chain keeps the stored order", p.leafKey, []*x509.Certificate{p.root, p.leaf},
				cat(rsaKey, certsPEM(p.root, p.leaf)), cat(rsaKey, certsPEM(p.root, p.leaf)), true},
			{"two leaves keep the stored order", p.leafKey, []*x509.Certificate{p.inter, p.leafEC, p.leaf},
				cat(rsaKey, certsPEM(p.inter, p.leafEC, p.leaf)), cat(rsaKey, certsPEM(p.inter, p.leafEC, p.leaf)), true},
		} {
			t.Run(e.name+"/"+tc.name, func(t *testing.T) {
				pfx := mustPFX(t, e.enc, tc.key, tc.certs[0], tc.certs[1:]...)
				for _, c := range []struct {
					construct bool
					want      []byte
				}{{true, tc.chain}, {false, tc.plain}} {
					got, err := PFXToPEM(pfx, c.construct)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, c.want) {
						t.Fatalf("constructChain=%v:\n got %s\nwant %s", c.construct, got, c.want)
					}
					checkLines(t, got)
					checkKeyMatchesFirstCert(t, got, c.construct && !tc.partial)
				}
			})
		}
	}
}

// checkKeyMatchesFirstCert parses the output with crypto/x509: every block is a
// PKCS#8 key or a certificate, keys first, and with a constructed chain the first
// certificate is the leaf of the (first) key.
func checkKeyMatchesFirstCert(t *testing.T, content []byte, leafFirst bool) {
	t.Helper()
	var keys []crypto.Signer
	var certs []*x509.Certificate
	for _, b := range pemBlocks(t, content) {
		if len(b.Headers) != 0 {
			t.Fatalf("block %s has headers %v", b.Type, b.Headers)
		}
		switch b.Type {
		case "PRIVATE KEY":
			if len(certs) > 0 {
				t.Fatal("key after a certificate")
			}
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k.(crypto.Signer))
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			certs = append(certs, c)
		default:
			t.Fatalf("unexpected block %s", b.Type)
		}
	}
	if leafFirst && len(keys) > 0 && len(certs) > 0 {
		if !keys[0].Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(certs[0].PublicKey) {
			t.Fatal("the key does not match the first certificate")
		}
	}
}

// TestPFXFallbackDecoders covers files go-pkcs12's ToPEM refuses: they are read
// with DecodeChain or DecodeTrustStore and written the same way.
func TestPFXFallbackDecoders(t *testing.T) {
	p := mustPKI(t)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edLeaf := mustCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ed"}}, p.inter, edKey.Public(), p.interKey)

	t.Run("unencrypted key bag (Passwordless)", func(t *testing.T) {
		pfx := mustPFX(t, pkcs12.Passwordless, p.leafKey, p.root, p.leaf, p.inter)
		//lint:ignore SA1019 the test shows when PFXToPEM falls back from ToPEM
		if _, err := pkcs12.ToPEM(pfx, ""); err == nil {
			t.Fatal("ToPEM accepts this file: the fallback is not exercised")
		}
		got, err := PFXToPEM(pfx, true)
		if err != nil {
			t.Fatal(err)
		}
		if want := cat(pkcs8PEM(t, p.leafKey), certsPEM(p.leaf, p.inter, p.root)); !bytes.Equal(got, want) {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("Ed25519 key", func(t *testing.T) {
		pfx := mustPFX(t, pkcs12.Modern2023, edKey, edLeaf, p.inter)
		got, err := PFXToPEM(pfx, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := cat(pkcs8PEM(t, edKey), certsPEM(edLeaf, p.inter)); !bytes.Equal(got, want) {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("trust store: certificates only", func(t *testing.T) {
		pfx, err := pkcs12.Passwordless.EncodeTrustStore([]*x509.Certificate{p.root, p.leaf, p.inter}, "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := PFXToPEM(pfx, true)
		if err != nil {
			t.Fatal(err)
		}
		if want := certsPEM(p.leaf, p.inter, p.root); !bytes.Equal(got, want) {
			t.Fatalf("got %s", got)
		}
	})
}

// TestPFXSeveralKeys builds a PFX with two shrouded key bags, which go-pkcs12 cannot
// encode, by splicing the key bag of one file into another.
func TestPFXSeveralKeys(t *testing.T) {
	p := mustPKI(t)
	for _, e := range encoders {
		t.Run(e.name, func(t *testing.T) {
			a := mustPFX(t, e.enc, p.leafKey, p.root, p.leaf, p.leafEC, p.inter)
			b := mustPFX(t, e.enc, p.leafECKey, p.leafEC)
			pfx := spliceKeyBags(t, a, b)
			got, err := PFXToPEM(pfx, false)
			if err != nil {
				t.Fatal(err)
			}
			want := cat(pkcs8PEM(t, p.leafKey), pkcs8PEM(t, p.leafECKey), certsPEM(p.root, p.leaf, p.leafEC, p.inter))
			if !bytes.Equal(got, want) {
				t.Fatalf("got %s\nwant %s", got, want)
			}
			// Two leaves: the constructed chain falls back to the stored order.
			if got, err := PFXToPEM(pfx, true); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("constructChain: %v\n%s", err, got)
			}
		})
	}
}

type asnContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type asnPFX struct {
	Version  int
	AuthSafe asnContentInfo
	MacData  asn1.RawValue `asn1:"optional"`
}

// spliceKeyBags returns a MAC-less PFX holding a's safe contents with b's key bags
// appended to a's key safe. Files from go-pkcs12's Encode hold [certificates
// (encrypted), keys (data)]; with the empty password no MAC is needed.
func spliceKeyBags(t *testing.T, a, b []byte) []byte {
	t.Helper()
	safes := func(pfx []byte) []asnContentInfo {
		var p asnPFX
		mustUnmarshal(t, pfx, &p)
		var inner []byte
		mustUnmarshal(t, p.AuthSafe.Content.Bytes, &inner)
		var cis []asnContentInfo
		mustUnmarshal(t, inner, &cis)
		return cis
	}
	bags := func(ci asnContentInfo) []asn1.RawValue {
		var data []byte
		mustUnmarshal(t, ci.Content.Bytes, &data)
		var out []asn1.RawValue
		mustUnmarshal(t, data, &out)
		return out
	}
	sa, sb := safes(a), safes(b)
	keyBags := append(bags(sa[1]), bags(sb[1])...)
	data := mustMarshal(t, keyBags)
	sa[1].Content = asn1.RawValue{Class: 2, Tag: 0, IsCompound: true, Bytes: mustMarshal(t, data)}
	authSafe := mustMarshal(t, sa)
	return mustMarshal(t, struct {
		Version  int
		AuthSafe asnContentInfo
	}{3, asnContentInfo{ContentType: sa[1].ContentType, Content: asn1.RawValue{Class: 2, Tag: 0, IsCompound: true, Bytes: mustMarshal(t, authSafe)}}})
}

func mustUnmarshal(t *testing.T, der []byte, v any) {
	t.Helper()
	if rest, err := asn1.Unmarshal(der, v); err != nil || len(rest) != 0 {
		t.Fatalf("asn1: %v (%d trailing bytes)", err, len(rest))
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	der, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestPFXErrors(t *testing.T) {
	p := mustPKI(t)
	cycleA := mustCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "a"}, SubjectKeyId: []byte("a"), AuthorityKeyId: []byte("b")}, nil, p.rootKey.Public(), p.rootKey)
	cycleB := mustCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "b"}, SubjectKeyId: []byte("b"), AuthorityKeyId: []byte("a")}, nil, p.interKey.Public(), p.interKey)
	cycleLeaf := mustCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "l"}, SubjectKeyId: []byte("l"), AuthorityKeyId: []byte("a")}, nil, p.leafECKey.Public(), p.leafECKey)
	if !bytes.Equal(cycleA.AuthorityKeyId, []byte("b")) {
		t.Fatal("test certificate lacks its authority key id")
	}
	withPassword, err := pkcs12.LegacyDES.Encode(p.leafECKey, p.leafEC, nil, "pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pfx  []byte
		is   error
		text string
	}{
		{"cycle", mustPFX(t, pkcs12.Modern2023, p.leafECKey, cycleLeaf, cycleA, cycleB), ErrChainCycle, "constructing chain resulted in cycle"},
		{"no leaf", mustPFX(t, pkcs12.Modern2023, p.leafECKey, cycleA, cycleB), ErrNoLeaf, "no leaf found"},
		{"password", withPassword, ErrPFXPassword, "password"},
		{"garbage", []byte("not a pfx"), nil, "pkcs12"},
		{"empty", nil, nil, "pkcs12"},
		{"truncated", mustPFX(t, pkcs12.Modern2023, p.leafECKey, p.leafEC)[:100], nil, "pkcs12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PFXToPEM(tc.pfx, true)
			if err == nil {
				t.Fatalf("no error; got %s", got)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q does not contain %q", err, tc.text)
			}
		})
	}
	// Without chain construction the cyclic file converts in stored order.
	pfx := mustPFX(t, pkcs12.Modern2023, p.leafECKey, cycleA, cycleB)
	if got, err := PFXToPEM(pfx, false); err != nil || !bytes.Equal(got, cat(pkcs8PEM(t, p.leafECKey), certsPEM(cycleA, cycleB))) {
		t.Fatalf("got %v\n%s", err, got)
	}
}

func TestOrderChain(t *testing.T) {
	// Synthetic certificates: OrderChain reads only the key identifiers.
	c := func(name, ski, aki string) *x509.Certificate {
		return &x509.Certificate{Raw: []byte(name), SubjectKeyId: []byte(ski), AuthorityKeyId: []byte(aki)}
	}
	names := func(certs []*x509.Certificate) string {
		var s []string
		for _, c := range certs {
			s = append(s, string(c.Raw))
		}
		return strings.Join(s, ",")
	}
	leaf, inter, root := c("leaf", "L", "I"), c("inter", "I", "R"), c("root", "R", "")
	selfRoot := c("selfroot", "R", "R")
	noIDs1, noIDs2 := c("n1", "", ""), c("n2", "", "")
	a, b := c("a", "A", "B"), c("b", "B", "A")
	for _, tc := range []struct {
		name string
		in   []*x509.Certificate
		want string
		err  error
	}{
		{"ordered", []*x509.Certificate{leaf, inter, root}, "leaf,inter,root", nil},
		{"reversed", []*x509.Certificate{root, inter, leaf}, "leaf,inter,root", nil},
		{"shuffled", []*x509.Certificate{inter, root, leaf}, "leaf,inter,root", nil},
		{"root with AKI = own SKI", []*x509.Certificate{selfRoot, leaf, inter}, "leaf,inter,selfroot", nil},
		{"single", []*x509.Certificate{leaf}, "leaf", nil},
		{"missing intermediate keeps order", []*x509.Certificate{root, leaf}, "root,leaf", nil},
		{"unrelated keeps order", []*x509.Certificate{inter, c("x", "X", "Y")}, "inter,x", nil},
		// Certificates without key identifiers are nobody's parent (the Azure
		// provider skips empty AKI/SKI pairs), so two of them are two leaves.
		{"no key ids keeps order", []*x509.Certificate{noIDs1, noIDs2}, "n1,n2", nil},
		{"empty", nil, "", ErrNoLeaf},
		{"mutual parents: no leaf", []*x509.Certificate{a, b}, "", ErrNoLeaf},
		{"cycle below a leaf", []*x509.Certificate{a, c("l", "L", "A"), b}, "", ErrChainCycle},
		{"duplicate root is a cycle (as upstream)", []*x509.Certificate{leaf, inter, selfRoot, selfRoot}, "", ErrChainCycle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]*x509.Certificate(nil), tc.in...)
			got, err := OrderChain(in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err == nil && names(got) != tc.want {
				t.Fatalf("got %s, want %s", names(got), tc.want)
			}
			if names(in) != names(tc.in) {
				t.Fatal("input modified")
			}
		})
	}
	if _, err := OrderChain([]*x509.Certificate{leaf, nil}); err == nil {
		t.Fatal("nil certificate accepted")
	}
}

func TestCertificatePEMGolden(t *testing.T) {
	der := make([]byte, 49) // 48 bytes fill one 64-column line exactly
	for i := range der {
		der[i] = byte(i)
	}
	want := "-----BEGIN CERTIFICATE-----\n" +
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\n" +
		"MA==\n" +
		"-----END CERTIFICATE-----\n"
	if got := string(CertificatePEM(der)); got != want {
		t.Fatalf("got %q", got)
	}
	if got := string(CertificatePEM(der[:48])); !strings.HasSuffix(got, "LS4v\n-----END CERTIFICATE-----\n") {
		t.Fatalf("got %q", got)
	}
}

func TestSplitPEM(t *testing.T) {
	p := mustPKI(t)
	key := pkcs8PEM(t, p.leafKey)
	headered := "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"
	for _, tc := range []struct {
		name, in, certs, keys string
	}{
		{"empty", "", "", ""},
		{"not PEM", "MIIB...", "", ""},
		{"keys then certs", string(cat(key, certsPEM(p.leaf, p.root))), string(certsPEM(p.leaf, p.root)), string(key)},
		{"interleaved with text", "x\n" + string(certsPEM(p.leaf)) + "y\n" + string(key) + "z", string(certsPEM(p.leaf)), string(key)},
		{"headers are kept", headered, "", headered},
		{"CRLF input is re-encoded with LF", strings.ReplaceAll(string(certsPEM(p.root)), "\n", "\r\n"), string(certsPEM(p.root)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certs, keys := SplitPEM([]byte(tc.in))
			if string(certs) != tc.certs || string(keys) != tc.keys {
				t.Fatalf("got certs %q keys %q", certs, keys)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in, enc, want, err string
	}{
		{"abc", "", "abc", ""},
		{"abc", "utf-8", "abc", ""},
		{"abc", "UTF-8", "abc", ""},
		{"YWJj", "base64", "abc", ""},
		{"YW\r\nJj\n", "Base64", "abc", ""},
		{"YWJ", "base64", "", "illegal base64 data at input byte"},
		{"YWJj====", "base64", "", "illegal base64 data"},
		{"YWJj", "base64url", "", "invalid objectEncoding"},
		{"616263", "hex", "abc", ""},
		{"61626", "hex", "", "odd length hex data (5 bytes)"},
		{"61 62", "hex", "", "invalid hex data at input byte 2"},
		{"", "hex", "", ""},
		{"", "base64", "", ""},
	} {
		got, err := Decode([]byte(tc.in), tc.enc)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Decode(%q, %q) = %q, %v; want error %q", tc.in, tc.enc, got, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("Decode(%q, %q) = %q, %v; want %q", tc.in, tc.enc, got, err, tc.want)
		}
	}
}

// TestOpenSSLFixtures reads PFX files made by OpenSSL 3 (testdata/openssl/gen.sh),
// one with its modern defaults and one legacy, stored leaf, root, intermediate.
// The expected PEM comes from OpenSSL too (openssl pkey and openssl x509).
func TestOpenSSLFixtures(t *testing.T) {
	for _, name := range []string{"modern-rsa", "legacy-ec"} {
		t.Run(name, func(t *testing.T) {
			pfx := readFile(t, "testdata/openssl/"+name+".pfx")
			want := readFile(t, "testdata/openssl/leaf-"+strings.TrimPrefix(strings.TrimPrefix(name, "modern-"), "legacy-")+".chain.pem")
			got, err := Render(Request{Path: "tls"}, certSecret(ContentTypePKCS12, b64(pfx)), chainOn)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[0].Contents, want) {
				t.Fatalf("got\n%s\nwant\n%s", got[0].Contents, want)
			}
			checkKeyMatchesFirstCert(t, got[0].Contents, true)
		})
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A PFX with keys but no certificate: "no leaf found" with chain construction,
// as upstream; the keys alone without it.
func TestPFXWithoutCertificates(t *testing.T) {
	p := mustPKI(t)
	a := mustPFX(t, pkcs12.LegacyDES, p.leafECKey, p.leafEC)
	// Drop the certificate safe's bags: splice the key bag into an empty-cert file.
	var outer asnPFX
	mustUnmarshal(t, spliceKeyBags(t, a, a), &outer)
	var inner []byte
	mustUnmarshal(t, outer.AuthSafe.Content.Bytes, &inner)
	var cis []asnContentInfo
	mustUnmarshal(t, inner, &cis)
	empty := asnContentInfo{ContentType: cis[1].ContentType, Content: asn1.RawValue{Class: 2, Tag: 0, IsCompound: true,
		Bytes: mustMarshal(t, mustMarshal(t, []asn1.RawValue{}))}}
	pfx := mustMarshal(t, struct {
		Version  int
		AuthSafe asnContentInfo
	}{3, asnContentInfo{ContentType: cis[1].ContentType, Content: asn1.RawValue{Class: 2, Tag: 0, IsCompound: true,
		Bytes: mustMarshal(t, mustMarshal(t, []asnContentInfo{empty, cis[1]}))}}})

	if got, err := PFXToPEM(pfx, false); err != nil || !bytes.Equal(got, cat(pkcs8PEM(t, p.leafECKey), pkcs8PEM(t, p.leafECKey))) {
		t.Fatalf("got %v\n%s", err, got)
	}
	_, err := Render(Request{Path: "out"}, certSecret(ContentTypePKCS12, b64(pfx)), chainOn)
	if !errors.Is(err, ErrNoLeaf) || !strings.Contains(err.Error(), "no leaf found: the PFX holds no certificate; fix: import a PFX that holds its certificate") {
		t.Fatalf("got %v", err)
	}
}
