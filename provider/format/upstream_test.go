package format

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"testing"

	xpkcs12 "golang.org/x/crypto/pkcs12" //nolint:staticcheck // the frozen decoder the Azure provider uses, as a test oracle

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// upstreamPFXToPEM is the Azure provider's PFX → PEM pipeline (docs/formats.md, application/x-pkcs12) without
// chain construction, on the library it uses, golang.org/x/crypto/pkcs12: ToPEM,
// headers cleared, key blocks parsed as PKCS#1, PKCS#8 or SEC 1 and re-encoded as
// PKCS#8, keys before certificates.
func upstreamPFXToPEM(t *testing.T, pfx []byte) ([]byte, error) {
	t.Helper()
	blocks, err := xpkcs12.ToPEM(pfx, "")
	if err != nil {
		return nil, err
	}
	var keys, certs []byte
	for _, b := range blocks {
		b.Headers = nil
		if b.Type == "CERTIFICATE" {
			certs = append(certs, pem.EncodeToMemory(b)...)
			continue
		}
		k, err := parsePrivateKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		if b.Bytes, err = x509.MarshalPKCS8PrivateKey(k); err != nil {
			return nil, err
		}
		keys = append(keys, pem.EncodeToMemory(b)...)
	}
	return append(keys, certs...), nil
}

// TestMatchesUpstreamLibrary checks PFXToPEM against the Azure provider's library
// on legacy files, the only ones that library reads, and that modern files are
// exactly what it refuses.
func TestMatchesUpstreamLibrary(t *testing.T) {
	p := mustPKI(t)
	legacy := map[string][]byte{
		"openssl legacy EC":      readFile(t, "testdata/openssl/legacy-ec.pfx"),
		"LegacyRC2 RSA shuffled": mustPFX(t, pkcs12.LegacyRC2, p.leafKey, p.root, p.leaf, p.inter),
		"LegacyDES EC":           mustPFX(t, pkcs12.LegacyDES, p.leafECKey, p.leafEC, p.inter, p.root),
	}
	for name, pfx := range legacy {
		t.Run(name, func(t *testing.T) {
			want, err := upstreamPFXToPEM(t, pfx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := PFXToPEM(pfx, false)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got\n%s\nupstream\n%s", got, want)
			}
		})
	}
	modern := map[string][]byte{
		"openssl modern RSA": readFile(t, "testdata/openssl/modern-rsa.pfx"),
		"Modern2023 EC":      mustPFX(t, pkcs12.Modern2023, p.leafECKey, p.leafEC),
	}
	for name, pfx := range modern {
		t.Run(name, func(t *testing.T) {
			if _, err := xpkcs12.ToPEM(pfx, ""); err == nil {
				t.Fatal("x/crypto/pkcs12 reads a modern file: the compatibility note is stale")
			}
			if _, err := PFXToPEM(pfx, true); err != nil {
				t.Fatal(err)
			}
		})
	}
}
