// Package pki generates keys, certificates and chains for tests, and encodes
// them the ways Key Vault stores them (PEM bundles and PKCS#12).
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// KeyType selects the algorithm of a generated key.
type KeyType string

// Key types.
const (
	RSA2048 KeyType = "RSA2048"
	RSA3072 KeyType = "RSA3072"
	RSA4096 KeyType = "RSA4096"
	P256    KeyType = "P256"
	P384    KeyType = "P384"
	P521    KeyType = "P521"
)

// NewKey generates a private key.
func NewKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case RSA2048, "":
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case P256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case P384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case P521:
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	}
	return nil, fmt.Errorf("pki: unknown key type %q", t)
}

// MustKey is NewKey that panics on error.
func MustKey(t KeyType) crypto.Signer {
	k, err := NewKey(t)
	if err != nil {
		panic(err)
	}
	return k
}

// Cert is a certificate with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// DER is the certificate's DER encoding.
func (c *Cert) DER() []byte { return c.Cert.Raw }

// Options describe a certificate to issue. Zero fields get test defaults.
type Options struct {
	CommonName  string
	DNSNames    []string
	IPAddresses []net.IP
	KeyType     KeyType       // default RSA2048
	Key         crypto.Signer // use this key instead of generating one
	NotBefore   time.Time     // default now - 1h
	NotAfter    time.Time     // default NotBefore + 1 year (CA: 10 years)
	IsCA        bool
	// NoKeyIDs leaves out the subject key identifier and, for a
	// certificate issued by a parent, the authority key identifier (to test
	// chain building without AKI/SKI). CA certificates still get an SKI.
	NoKeyIDs bool
}

// NewCA issues a self-signed root CA.
func NewCA(cn string, opts ...Options) (*Cert, error) {
	o := first(opts)
	o.CommonName, o.IsCA = orDefault(o.CommonName, cn), true
	return issue(o, nil)
}

// MustCA is NewCA that panics on error.
func MustCA(cn string, opts ...Options) *Cert {
	c, err := NewCA(cn, opts...)
	if err != nil {
		panic(err)
	}
	return c
}

// MustIssue is Issue that panics on error.
func (parent *Cert) MustIssue(o Options) *Cert {
	c, err := parent.Issue(o)
	if err != nil {
		panic(err)
	}
	return c
}

// PEM is the certificate as a PEM CERTIFICATE block.
func (c *Cert) PEM() []byte { return CertPEM(c.Cert) }

// TLS is the certificate and its key for a tls.Config.
func (c *Cert) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}

// Issue issues a certificate signed by parent (an intermediate CA when
// o.IsCA, else a TLS server/client leaf).
func (parent *Cert) Issue(o Options) (*Cert, error) { return issue(o, parent) }

// Chain is a leaf with its issuing chain, leaf first, root last.
type Chain struct {
	Leaf          *Cert
	Intermediates []*Cert
	Root          *Cert
}

// NewChain issues root -> n intermediates -> leaf (for cn/dnsNames) with the
// given key type for every key.
func NewChain(cn string, intermediates int, kt KeyType) (*Chain, error) {
	root, err := NewCA("Test Root CA "+cn, Options{KeyType: kt})
	if err != nil {
		return nil, err
	}
	ch := &Chain{Root: root}
	parent := root
	for i := 0; i < intermediates; i++ {
		ic, err := parent.Issue(Options{CommonName: fmt.Sprintf("Test Intermediate CA %d %s", i+1, cn), IsCA: true, KeyType: kt})
		if err != nil {
			return nil, err
		}
		ch.Intermediates = append([]*Cert{ic}, ch.Intermediates...)
		parent = ic
	}
	if ch.Leaf, err = parent.Issue(Options{CommonName: cn, DNSNames: []string{cn}, KeyType: kt}); err != nil {
		return nil, err
	}
	return ch, nil
}

// MustChain is NewChain that panics on error.
func MustChain(cn string, intermediates int, kt KeyType) *Chain {
	c, err := NewChain(cn, intermediates, kt)
	if err != nil {
		panic(err)
	}
	return c
}

// Certs returns leaf, intermediates (nearest first), root.
func (c *Chain) Certs() []*x509.Certificate {
	out := []*x509.Certificate{c.Leaf.Cert}
	for _, i := range c.Intermediates {
		out = append(out, i.Cert)
	}
	return append(out, c.Root.Cert)
}

// CAs returns the DER of the intermediates (nearest first) and the root.
func (c *Chain) CAs() [][]byte {
	var out [][]byte
	for _, x := range c.Certs()[1:] {
		out = append(out, x.Raw)
	}
	return out
}

func first(opts []Options) Options {
	if len(opts) > 0 {
		return opts[0]
	}
	return Options{}
}

func orDefault(s, d string) string {
	if s != "" {
		return s
	}
	return d
}

func issue(o Options, parent *Cert) (*Cert, error) {
	key := o.Key
	if key == nil {
		var err error
		if key, err = NewKey(o.KeyType); err != nil {
			return nil, err
		}
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	nb := o.NotBefore
	if nb.IsZero() {
		nb = time.Now().Add(-time.Hour).Truncate(time.Second)
	}
	na := o.NotAfter
	if na.IsZero() {
		na = nb.AddDate(1, 0, 0)
		if o.IsCA {
			na = nb.AddDate(10, 0, 0)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      pkix.Name{CommonName: orDefault(o.CommonName, "test")},
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPAddresses,
		NotBefore:    nb,
		NotAfter:     na,
	}
	if o.IsCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if _, ok := key.(*rsa.PrivateKey); ok {
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	if o.NoKeyIDs {
		// crypto/x509 still derives a subject key ID for CA templates, so
		// only leaves go entirely without key IDs.
		tmpl.SubjectKeyId = nil
	} else {
		tmpl.SubjectKeyId = keyID(key.Public())
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.Key, parent.Cert
		if o.NoKeyIDs {
			parentCert = withoutSKI(parent.Cert)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: cert, Key: key}, nil
}

func withoutSKI(c *x509.Certificate) *x509.Certificate {
	cp := *c
	cp.SubjectKeyId = nil
	return &cp
}

func keyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha1.Sum(der)
	return sum[:]
}

// CertPEM encodes certificates as consecutive CERTIFICATE blocks.
func CertPEM(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

// DERPEM encodes DER certificates as consecutive CERTIFICATE blocks.
func DERPEM(ders ...[]byte) []byte {
	var buf bytes.Buffer
	for _, d := range ders {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: d})
	}
	return buf.Bytes()
}

// KeyPEM encodes a private key as a PKCS#8 "PRIVATE KEY" block.
func KeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// PKCS1PEM encodes an RSA key as "RSA PRIVATE KEY"; SEC1PEM an EC key as
// "EC PRIVATE KEY".
func PKCS1PEM(key *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// SEC1PEM encodes an EC key as "EC PRIVATE KEY".
func SEC1PEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// PublicKeyPEM encodes a public key as a SubjectPublicKeyInfo "PUBLIC KEY".
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// KeyVaultPEM is the PEM text Key Vault keeps for a certificate with content
// type application/x-pem-file: the PKCS#8 key, then the leaf, then the chain.
func KeyVaultPEM(key crypto.Signer, leaf *x509.Certificate, chain ...*x509.Certificate) ([]byte, error) {
	var buf bytes.Buffer
	if key != nil {
		kp, err := KeyPEM(key)
		if err != nil {
			return nil, err
		}
		buf.Write(kp)
	}
	buf.Write(CertPEM(append([]*x509.Certificate{leaf}, chain...)...))
	return buf.Bytes(), nil
}

// PFXEncoding selects the PKCS#12 encryption.
type PFXEncoding string

// PKCS#12 encodings: Legacy is 3DES + SHA-1 MAC (what the x/crypto decoder
// reads), Modern is AES-256 + PBKDF2 + SHA-256 MAC.
const (
	PFXLegacy    PFXEncoding = "legacy"
	PFXLegacyRC2 PFXEncoding = "legacy-rc2"
	PFXModern    PFXEncoding = "modern"
)

// PFX encodes key, leaf and chain as PKCS#12 with the given password ("" for
// none, as Key Vault exports).
func PFX(enc PFXEncoding, key crypto.Signer, leaf *x509.Certificate, chain []*x509.Certificate, password string) ([]byte, error) {
	var e *pkcs12.Encoder
	switch enc {
	case PFXLegacy, "":
		e = pkcs12.LegacyDES
	case PFXLegacyRC2:
		e = pkcs12.LegacyRC2
	case PFXModern:
		e = pkcs12.Modern2023
	default:
		return nil, fmt.Errorf("pki: unknown PFX encoding %q", enc)
	}
	return e.Encode(key, leaf, chain, password)
}

// ParseDERs parses DER certificates.
func ParseDERs(ders [][]byte) ([]*x509.Certificate, error) {
	out := make([]*x509.Certificate, 0, len(ders))
	for _, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
