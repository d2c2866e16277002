package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func TestChainVerifies(t *testing.T) {
	for _, kt := range []KeyType{RSA2048, P256, P384} {
		t.Run(string(kt), func(t *testing.T) {
			ch := MustChain("leaf.test", 2, kt)
			roots, inter := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(ch.Root.Cert)
			for _, i := range ch.Intermediates {
				inter.AddCert(i.Cert)
			}
			chains, err := ch.Leaf.Cert.Verify(x509.VerifyOptions{DNSName: "leaf.test", Roots: roots, Intermediates: inter})
			if err != nil {
				t.Fatal(err)
			}
			if len(chains[0]) != 4 {
				t.Fatalf("chain length %d", len(chains[0]))
			}
			// Certs() is leaf first, root last, each issued by the next.
			certs := ch.Certs()
			for i := 0; i+1 < len(certs); i++ {
				if !bytes.Equal(certs[i].AuthorityKeyId, certs[i+1].SubjectKeyId) {
					t.Fatalf("cert %d AKI does not match cert %d SKI", i, i+1)
				}
			}
			if len(ch.CAs()) != 3 {
				t.Fatal("CAs")
			}
		})
	}
}

func TestNoKeyIDs(t *testing.T) {
	ca, err := NewCA("root")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(Options{CommonName: "x", NoKeyIDs: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.Cert.SubjectKeyId) != 0 || len(leaf.Cert.AuthorityKeyId) != 0 {
		t.Fatal("key IDs present")
	}
	if err := leaf.Cert.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatal(err)
	}
}

func TestEncodings(t *testing.T) {
	ch := MustChain("enc.test", 1, RSA2048)
	p, err := KeyVaultPEM(ch.Leaf.Key, ch.Leaf.Cert, ch.Certs()[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for rest := p; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		types = append(types, b.Type)
	}
	if len(types) != 4 || types[0] != "PRIVATE KEY" {
		t.Fatalf("types %v", types)
	}
	for _, enc := range []PFXEncoding{PFXLegacy, PFXLegacyRC2, PFXModern} {
		pfx, err := PFX(enc, ch.Leaf.Key, ch.Leaf.Cert, ch.Certs()[1:], "")
		if err != nil {
			t.Fatal(enc, err)
		}
		key, leaf, cas, err := pkcs12.DecodeChain(pfx, "")
		if err != nil {
			t.Fatal(enc, err)
		}
		if !leaf.Equal(ch.Leaf.Cert) || len(cas) != 2 || !key.(*rsa.PrivateKey).Equal(ch.Leaf.Key) {
			t.Fatal(enc, "mismatch")
		}
	}
	ec := MustKey(P256).(*ecdsa.PrivateKey)
	if b, err := SEC1PEM(ec); err != nil || !bytes.Contains(b, []byte("EC PRIVATE KEY")) {
		t.Fatal(err)
	}
	if b, err := PublicKeyPEM(ec.Public()); err != nil || !bytes.Contains(b, []byte("PUBLIC KEY")) {
		t.Fatal(err)
	}
	if b := PKCS1PEM(ch.Leaf.Key.(*rsa.PrivateKey)); !bytes.Contains(b, []byte("RSA PRIVATE KEY")) {
		t.Fatal("pkcs1")
	}
}
