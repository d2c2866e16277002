package format

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// Errors of the certificate extras.
var (
	// ErrNoCA: certificatePart ca of a certificate without issuing certificates.
	ErrNoCA = errors.New("the certificate has no issuing certificates besides the leaf")
	// ErrPFXInput: the PEM to protect lacks its private key or leaf.
	ErrPFXInput = errors.New("a password-protected PFX needs the certificate's private key and leaf")
)

// pemParts reads the certificates and the first private key of PEM content.
func pemParts(content []byte) (certs []*x509.Certificate, key crypto.Signer, err error) {
	for i := 0; ; i++ {
		block, rest := pem.Decode(content)
		if block == nil {
			return certs, key, nil
		}
		content = rest
		if block.Type == blockCertificate {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("PEM block %d is not a valid certificate", i)
			}
			certs = append(certs, c)
			continue
		}
		if key != nil {
			continue
		}
		k, err := parsePrivateKey(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("PEM block %d (%s) is not a private key", i, block.Type)
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, nil, fmt.Errorf("PEM block %d holds an unsupported key type", i)
		}
		key = signer
	}
}

// leafIndex is the certificate whose public key is the private key's, else the first
// one that issued none of the others (OrderChain's leaf).
func leafIndex(certs []*x509.Certificate, key crypto.Signer) int {
	if key != nil {
		type equaler interface{ Equal(crypto.PublicKey) bool }
		for i, c := range certs {
			if pub, ok := c.PublicKey.(equaler); ok && pub.Equal(key.Public()) {
				return i
			}
		}
	}
	ordered, err := OrderChain(certs)
	if err != nil || len(ordered) == 0 {
		return 0
	}
	for i, c := range certs {
		if c == ordered[0] {
			return i
		}
	}
	return 0
}

// CAPart returns the issuing certificates of PEM content without the leaf, in their
// order, as CERTIFICATE blocks: what a ca.crt holds (certificatePart: ca).
func CAPart(content []byte) ([]byte, error) {
	certs, key, err := pemParts(content)
	if err != nil {
		return nil, err
	}
	if len(certs) < 2 {
		return nil, ErrNoCA
	}
	leaf := leafIndex(certs, key)
	var out []byte
	for i, c := range certs {
		if i != leaf {
			out = append(out, CertificatePEM(c.Raw)...)
		}
	}
	return out, nil
}

// ProtectPFX writes PEM content (a private key, its leaf and issuing certificates) as a
// PKCS#12 file protected by password, with go-pkcs12's Modern encoder: AES-256-CBC with
// PBKDF2-HMAC-SHA-256 for the key and certificates and an HMAC-SHA-256 MAC, which
// OpenSSL 3 reads without its legacy provider. The password never appears in an error.
func ProtectPFX(content []byte, password string) ([]byte, error) {
	certs, key, err := pemParts(content)
	if err != nil {
		return nil, err
	}
	if key == nil || len(certs) == 0 {
		return nil, ErrPFXInput
	}
	leaf := leafIndex(certs, key)
	var cas []*x509.Certificate
	for i, c := range certs {
		if i != leaf {
			cas = append(cas, c)
		}
	}
	pfx, err := pkcs12.Modern.Encode(key, certs[leaf], cas, password)
	if err != nil {
		return nil, errors.New("encoding the PFX failed")
	}
	return pfx, nil
}
