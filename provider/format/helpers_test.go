package format

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io/fs"
	"math/big"
	"sync"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/provider/vocab"
)

// pki is a root → intermediate → leaf hierarchy generated at test time.
type pki struct {
	rootKey, interKey *ecdsa.PrivateKey
	leafKey           *rsa.PrivateKey   // of leaf
	leafECKey         *ecdsa.PrivateKey // of leafEC
	root, inter, leaf *x509.Certificate
	leafEC            *x509.Certificate // a second leaf under inter, EC key
}

var (
	ecOnce, rsaOnce sync.Once
	ecPKI, fullPKI  *pki
)

// mustECPKI returns the hierarchy without the RSA leaf: cheap enough for fuzz
// workers, whose coverage instrumentation makes RSA key generation slow.
func mustECPKI(t testing.TB) *pki {
	t.Helper()
	ecOnce.Do(func() {
		p := &pki{}
		p.rootKey = mustEC(t)
		p.interKey = mustEC(t)
		p.leafECKey = mustEC(t)
		p.root = mustCert(t, &x509.Certificate{
			Subject: pkix.Name{CommonName: "test root"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign, SubjectKeyId: []byte("root-ski"),
		}, nil, p.rootKey.Public(), p.rootKey)
		p.inter = mustCert(t, &x509.Certificate{
			Subject: pkix.Name{CommonName: "test intermediate"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign, SubjectKeyId: []byte("inter-ski"),
		}, p.root, p.interKey.Public(), p.rootKey)
		p.leafEC = mustCert(t, &x509.Certificate{
			Subject: pkix.Name{CommonName: "leaf-ec.example"}, SubjectKeyId: []byte("leaf-ec-ski"),
		}, p.inter, p.leafECKey.Public(), p.interKey)
		ecPKI = p
	})
	if ecPKI == nil {
		t.Fatal("test PKI generation failed")
	}
	return ecPKI
}

// mustPKI returns the whole hierarchy, RSA leaf included.
func mustPKI(t testing.TB) *pki {
	t.Helper()
	ec := mustECPKI(t)
	rsaOnce.Do(func() {
		p := *ec
		var err error
		if p.leafKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
		p.leaf = mustCert(t, &x509.Certificate{
			Subject: pkix.Name{CommonName: "leaf.example"}, DNSNames: []string{"leaf.example"},
			SubjectKeyId: []byte("leaf-ski"),
		}, p.inter, p.leafKey.Public(), p.interKey)
		fullPKI = &p
	})
	if fullPKI == nil {
		t.Fatal("test PKI generation failed")
	}
	return fullPKI
}

func mustEC(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serial int64

// mustCert signs template with signer; a nil parent makes it self-signed.
func mustCert(t testing.TB, template, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	serial++
	template.SerialNumber = big.NewInt(serial)
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil {
		parent = template
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustPFX(t testing.TB, enc *pkcs12.Encoder, key any, first *x509.Certificate, rest ...*x509.Certificate) []byte {
	t.Helper()
	pfx, err := enc.Encode(key, first, rest, "")
	if err != nil {
		t.Fatal(err)
	}
	return pfx
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8PEM(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("PRIVATE KEY", der)
}

func certsPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pemOf("CERTIFICATE", c.Raw)...)
	}
	return out
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func ptr(s string) *string { return &s }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// pemBlocks decodes every block of content and fails on trailing garbage.
func pemBlocks(t testing.TB, content []byte) []*pem.Block {
	t.Helper()
	var blocks []*pem.Block
	for len(content) > 0 {
		b, rest := pem.Decode(content)
		if b == nil {
			t.Fatalf("trailing non-PEM data: %q", content)
		}
		blocks = append(blocks, b)
		content = rest
	}
	return blocks
}

// fileOf is a vocab.File from its fields, for compact tables.
func fileOf(path string, mode fs.FileMode, contents []byte) vocab.File {
	return vocab.File{Path: path, Mode: mode, Contents: contents}
}
