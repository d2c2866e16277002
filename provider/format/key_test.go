package format

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"strings"
	"testing"
)

// ecXY returns the JWK x and y of pub, full width as Key Vault returns them.
func ecXY(t testing.TB, pub *ecdsa.PublicKey) (x, y []byte) {
	t.Helper()
	b, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	size := (len(b) - 1) / 2
	return b[1 : 1+size], b[1+size:]
}

// P-256 public key from OpenSSL (openssl ecparam -genkey -name prime256v1 | openssl
// ec -pubout), with its coordinates, to check the encoding against another
// implementation rather than against crypto/x509 itself.
const (
	opensslP256PEM = "-----BEGIN PUBLIC KEY-----\n" +
		"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEvAz+2DwHeYkf7rgQjgpmoAKl+WCJ\n" +
		"yRiBhXakuJiH7oEEY3gWkdLZkO4za1Ip8FI7W2ytdaw1Vukkb7RkZ6u1hQ==\n" +
		"-----END PUBLIC KEY-----\n"
)

func TestPublicKeyPEMGolden(t *testing.T) {
	// Take x and y out of the golden SPKI, then rebuild it from the JWK.
	der := mustDecodePEM(t, opensslP256PEM)
	x, y := der[len(der)-64:len(der)-32], der[len(der)-32:]
	got, err := PublicKeyPEM(JWK{Kty: ptr("EC"), Crv: ptr("P-256"), X: x, Y: y})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != opensslP256PEM {
		t.Fatalf("got\n%s\nwant\n%s", got, opensslP256PEM)
	}
}

func mustDecodePEM(t *testing.T, s string) []byte {
	t.Helper()
	blocks := pemBlocks(t, []byte(s))
	if len(blocks) != 1 {
		t.Fatalf("%d blocks", len(blocks))
	}
	return blocks[0].Bytes
}

func TestPublicKeyPEM(t *testing.T) {
	p := mustPKI(t)
	rsaPub := &p.leafKey.PublicKey
	rsaDER, _ := x509.MarshalPKIXPublicKey(rsaPub)
	e := []byte{1, 0, 1}

	keys := map[string]*ecdsa.PrivateKey{"P-256": mustEC(t)}
	for name, c := range map[string]elliptic.Curve{"P-384": elliptic.P384(), "P-521": elliptic.P521()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = k
	}
	for crv, k := range keys {
		for _, kty := range []string{"EC", "EC-HSM"} {
			t.Run(kty+"/"+crv, func(t *testing.T) {
				x, y := ecXY(t, &k.PublicKey)
				want, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
				got, err := PublicKeyPEM(JWK{Kty: ptr(kty), Crv: ptr(crv), X: x, Y: y})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, pemOf("PUBLIC KEY", want)) {
					t.Fatalf("got %s", got)
				}
				// Extra leading zero bytes change nothing (big-endian integers).
				got2, err := PublicKeyPEM(JWK{Kty: ptr(kty), Crv: ptr(crv), X: append([]byte{0}, x...), Y: y})
				if err != nil || !bytes.Equal(got, got2) {
					t.Fatalf("leading zero: %v", err)
				}
			})
		}
	}
	for _, kty := range []string{"RSA", "RSA-HSM"} {
		t.Run(kty, func(t *testing.T) {
			got, err := PublicKeyPEM(JWK{Kty: ptr(kty), N: rsaPub.N.Bytes(), E: e})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, pemOf("PUBLIC KEY", rsaDER)) {
				t.Fatalf("got %s", got)
			}
			if !strings.HasPrefix(string(got), "-----BEGIN PUBLIC KEY-----\n") || !strings.HasSuffix(string(got), "-----END PUBLIC KEY-----\n") {
				t.Fatalf("framing: %q", got)
			}
			checkLines(t, got)
		})
	}

	x, y := ecXY(t, &keys["P-256"].PublicKey)
	offCurve := append([]byte(nil), y...)
	offCurve[len(offCurve)-1] ^= 1
	for _, tc := range []struct {
		name string
		k    JWK
		err  string
	}{
		{"nil kty", JWK{}, "key type (kty) is missing"},
		{"oct", JWK{Kty: ptr("oct")}, "failed to get key. key type 'oct' currently not supported"},
		{"oct-HSM", JWK{Kty: ptr("oct-HSM")}, "failed to get key. key type 'oct-HSM' currently not supported"},
		{"lower-case rsa", JWK{Kty: ptr("rsa"), N: rsaPub.N.Bytes(), E: e}, "key type 'rsa' currently not supported"},
		{"nil crv", JWK{Kty: ptr("EC"), X: x, Y: y}, "EC key has no curve (crv)"},
		{"P-256K", JWK{Kty: ptr("EC"), Crv: ptr("P-256K"), X: x, Y: y}, "curve P-256K is not supported"},
		{"off curve", JWK{Kty: ptr("EC"), Crv: ptr("P-256"), X: x, Y: offCurve}, "not a point on curve P-256"},
		{"wrong curve", JWK{Kty: ptr("EC"), Crv: ptr("P-384"), X: x, Y: y}, "not a point on curve P-384"},
		{"coordinate too long", JWK{Kty: ptr("EC"), Crv: ptr("P-256"), X: append([]byte{1}, x...), Y: y}, "invalid coordinates"},
		{"no x", JWK{Kty: ptr("EC"), Crv: ptr("P-256"), Y: y}, "invalid coordinates"},
		{"zero point", JWK{Kty: ptr("EC"), Crv: ptr("P-256"), X: []byte{0}, Y: []byte{0}}, "not a point on curve"},
		{"no n", JWK{Kty: ptr("RSA"), E: e}, "RSA key has no modulus"},
		{"no e", JWK{Kty: ptr("RSA"), N: rsaPub.N.Bytes()}, "invalid public exponent"},
		{"e = 1", JWK{Kty: ptr("RSA"), N: rsaPub.N.Bytes(), E: []byte{1}}, "invalid public exponent"},
		{"huge e", JWK{Kty: ptr("RSA"), N: rsaPub.N.Bytes(), E: bytes.Repeat([]byte{0xff}, 9)}, "invalid public exponent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PublicKeyPEM(tc.k)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %q, %v; want error containing %q", got, err, tc.err)
			}
		})
	}
}

// checkLines asserts PEM framing: base64 lines of at most 64 columns, "\n" endings.
func checkLines(t *testing.T, content []byte) {
	t.Helper()
	if len(content) == 0 || content[len(content)-1] != '\n' {
		t.Fatalf("does not end in a newline")
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(content), "\n"), "\n") {
		if len(line) > 64 && !strings.HasPrefix(line, "-----") {
			t.Fatalf("line longer than 64 columns: %q", line)
		}
		if strings.Contains(line, "\r") || strings.Contains(line, ":") {
			t.Fatalf("unexpected line %q", line)
		}
	}
}
