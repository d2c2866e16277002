package format

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// errNoCertificate is ErrNoLeaf for a PFX without certificates.
var errNoCertificate = fmt.Errorf("%w: the PFX holds no certificate", ErrNoLeaf)

const (
	blockCertificate = "CERTIFICATE"
	blockPrivateKey  = "PRIVATE KEY"
)

// CertificatePEM writes DER as one "CERTIFICATE" PEM block (64 columns, ending in a
// newline). The DER is not parsed, as the Azure provider does for objectType cert.
func CertificatePEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockCertificate, Bytes: der})
}

// PFXToPEM converts a binary PKCS#12 file with an empty password (what Key Vault
// exports) to PEM the way the Azure provider does: every private key first, each
// re-encoded as PKCS#8 "PRIVATE KEY", then every certificate, in the file's order
// or, with constructChain, ordered leaf → intermediates → root by OrderChain.
//
// Both legacy (3DES/RC2, SHA-1 MAC) and modern (PBES2 with AES, SHA-256 MAC) files
// decode, and files with several keys or certificates work.
func PFXToPEM(pfx []byte, constructChain bool) ([]byte, error) {
	keys, certs, err := decodePFX(pfx)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, key := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("re-encoding a private key of the PFX as PKCS#8: %w", err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: blockPrivateKey, Bytes: der})...)
	}
	if constructChain && len(certs) == 0 {
		return nil, errNoCertificate // upstream: "no leaf found"
	}
	if constructChain {
		parsed := make([]*x509.Certificate, len(certs))
		for i, der := range certs {
			if parsed[i], err = x509.ParseCertificate(der); err != nil {
				return nil, fmt.Errorf("parsing certificate %d of the PFX: %w", i, err)
			}
		}
		ordered, err := OrderChain(parsed)
		if err != nil {
			return nil, err
		}
		for i, c := range ordered {
			certs[i] = c.Raw
		}
	}
	for _, der := range certs {
		out = append(out, CertificatePEM(der)...)
	}
	return out, nil
}

// decodePFX returns the private keys and the certificates' DER of a PKCS#12 file, in
// the order of its bags. go-pkcs12's ToPEM is the one decoder of that library that
// returns every key and certificate, as x/crypto's ToPEM did for the Azure provider;
// it wants exactly two safe contents holding only certificate and shrouded-key bags.
// Files it refuses are retried with DecodeChain (one key, any number of certificates,
// other bag types skipped) and DecodeTrustStore (certificates only).
func decodePFX(pfx []byte) (keys []any, certs [][]byte, err error) {
	defer func() {
		// The PKCS#12 parser sees untrusted bytes: never let it take the process down.
		if r := recover(); r != nil {
			keys, certs, err = nil, nil, errors.New("pkcs12: malformed PFX")
		}
	}()

	if err := checkPFXIterations(pfx); err != nil {
		return nil, nil, err
	}
	// DecodeChain takes exactly one key bag; ToPEM reads every bag, and parsePrivateKey
	// accepts the raw RSA/EC encodings it labels "PRIVATE KEY".
	//lint:ignore SA1019 deliberate, see above
	blocks, errAll := pkcs12.ToPEM(pfx, "")
	if errAll == nil {
		for _, b := range blocks {
			if b.Type == blockCertificate {
				certs = append(certs, b.Bytes)
				continue
			}
			key, err := parsePrivateKey(b.Bytes)
			if err != nil {
				return nil, nil, err
			}
			keys = append(keys, key)
		}
		return keys, certs, nil
	}

	key, leaf, cas, errChain := pkcs12.DecodeChain(pfx, "")
	if errChain == nil {
		keys = []any{key}
		certs = append(certs, leaf.Raw)
		for _, c := range cas {
			certs = append(certs, c.Raw)
		}
		return keys, certs, nil
	}
	if trusted, err := pkcs12.DecodeTrustStore(pfx, ""); err == nil {
		for _, c := range trusted {
			certs = append(certs, c.Raw)
		}
		return nil, certs, nil
	}

	if errors.Is(errAll, pkcs12.ErrIncorrectPassword) || errors.Is(errChain, pkcs12.ErrIncorrectPassword) {
		return nil, nil, ErrPFXPassword
	}
	if errAll.Error() == errChain.Error() {
		return nil, nil, errAll
	}
	return nil, nil, fmt.Errorf("%w; read as a single-key file: %v", errAll, errChain)
}

// parsePrivateKey reads a key block the way the Azure provider does after ToPEM:
// PKCS#1, then PKCS#8, then SEC 1.
func parsePrivateKey(der []byte) (any, error) {
	if key, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return key, nil
	}
	if key, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return key, nil
	}
	if key, err := x509.ParseECPrivateKey(der); err == nil {
		return key, nil
	}
	return nil, errors.New("failed to parse key for type pkcs1, pkcs8 or ec")
}

// OrderChain orders certificates leaf → intermediates → root as the Azure provider's
// --construct-pem-chain does. A certificate's parent is the first other certificate
// whose SubjectKeyId equals its AuthorityKeyId (certificates without an
// AuthorityKeyId have none). The leaf is the first certificate that is nobody's
// parent; the chain is walked from it.
//
// When the walk does not reach every certificate (a missing intermediate, several
// leaves, unrelated certificates), the original order is returned, without error, as
// the Azure provider does since v1.6.1. ErrNoLeaf and ErrChainCycle are the errors.
func OrderChain(certs []*x509.Certificate) ([]*x509.Certificate, error) {
	for i, c := range certs {
		if c == nil {
			return nil, fmt.Errorf("certificate %d is nil", i)
		}
	}
	parent := make([]int, len(certs))
	isParent := make([]bool, len(certs))
	for i, c := range certs {
		parent[i] = -1
		if len(c.AuthorityKeyId) == 0 {
			continue
		}
		for j, p := range certs {
			if i != j && bytes.Equal(c.AuthorityKeyId, p.SubjectKeyId) {
				parent[i] = j
				isParent[j] = true
				break
			}
		}
	}
	leaf := -1
	for i := range certs {
		if !isParent[i] {
			leaf = i
			break
		}
	}
	if leaf < 0 {
		return nil, ErrNoLeaf
	}
	chain := make([]*x509.Certificate, 0, len(certs))
	for at := leaf; at >= 0; at = parent[at] {
		if len(chain) == len(certs) {
			return nil, ErrChainCycle
		}
		chain = append(chain, certs[at])
	}
	if len(chain) < len(certs) {
		return append([]*x509.Certificate(nil), certs...), nil
	}
	return chain, nil
}

// SplitPEM separates PEM content the way the Azure provider writes its .crt and .key
// companions: each "CERTIFICATE" block, re-encoded, goes to certs; every other block
// to keys. Text outside blocks is dropped; headers are kept.
func SplitPEM(content []byte) (certs, keys []byte) {
	for {
		block, rest := pem.Decode(content)
		if block == nil {
			return certs, keys
		}
		if block.Type == blockCertificate {
			certs = append(certs, pem.EncodeToMemory(block)...)
		} else {
			keys = append(keys, pem.EncodeToMemory(block)...)
		}
		content = rest
	}
}
