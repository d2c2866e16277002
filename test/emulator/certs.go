package emulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/test/pki"
)

// Certificate content types.
const (
	ContentTypePEM = "application/x-pem-file"
	ContentTypePFX = "application/x-pkcs12"
)

// CertificateInput is a certificate to store in a vault.
type CertificateInput struct {
	Leaf    *x509.Certificate // the leaf, or
	LeafDER []byte            // its DER
	Chain   [][]byte          // DER of the issuing chain, stored after the leaf in this order
	Key     crypto.Signer     // the private key; nil stores a secret without key
	// ContentType of the backing secret: application/x-pem-file (default) or
	// application/x-pkcs12.
	ContentType string
	// PFX, when set with ContentType application/x-pkcs12, is stored verbatim
	// (base64) as the secret value instead of a legacy 3DES PFX built from
	// Key, Leaf and Chain (e.g. a modern AES one).
	PFX []byte
	// PEM, when set with ContentType application/x-pem-file, is stored
	// verbatim as the secret value instead of key + leaf + chain.
	PEM     string
	Enabled *bool
	Created time.Time
	Tags    map[string]string
}

type certVersion struct {
	version     string
	der         []byte
	contentType string
	tags        map[string]string
	policy      map[string]any
	attrs
}

// SetCertificate stores a new version of a certificate together with its
// backing secret and key (same name and version), and returns the version.
// It panics on unusable input (a test bug).
func (v *Vault) SetCertificate(name string, c CertificateInput) (version string) {
	version, err := v.setCertificate(name, c)
	if err != nil {
		panic("emulator: SetCertificate " + name + ": " + err.Error())
	}
	return version
}

func (v *Vault) setCertificate(name string, c CertificateInput) (string, error) {
	leaf := c.Leaf
	if leaf == nil {
		if len(c.LeafDER) == 0 {
			return "", errors.New("no leaf certificate")
		}
		var err error
		if leaf, err = x509.ParseCertificate(c.LeafDER); err != nil {
			return "", err
		}
	}
	chain, err := pki.ParseDERs(c.Chain)
	if err != nil {
		return "", fmt.Errorf("chain: %w", err)
	}
	ct := c.ContentType
	if ct == "" {
		ct = ContentTypePEM
	}
	var value string
	switch ct {
	case ContentTypePEM:
		if c.PEM != "" {
			value = c.PEM
		} else {
			b, err := pki.KeyVaultPEM(c.Key, leaf, chain...)
			if err != nil {
				return "", err
			}
			value = string(b)
		}
	case ContentTypePFX:
		pfx := c.PFX
		if len(pfx) == 0 {
			if c.Key == nil {
				return "", errors.New("a PKCS#12 certificate needs Key or PFX")
			}
			if pfx, err = pki.PFX(pki.PFXLegacy, c.Key, leaf, chain, ""); err != nil {
				return "", err
			}
		}
		value = base64.StdEncoding.EncodeToString(pfx)
	default:
		return "", fmt.Errorf("unsupported content type %q", ct)
	}
	jwk, err := JWKFromPublicKey(leaf.PublicKey)
	if err != nil {
		return "", err
	}

	version := v.e.ids.version()
	key := strings.ToLower(name)
	attrs := newAttrs(c.Enabled, c.Created)
	attrs.notBefore, attrs.expires = leaf.NotBefore, leaf.NotAfter

	// A kid starting with "/" is rendered with the host of each request.
	sv := &secretVersion{
		version:     version,
		value:       value,
		contentType: ct,
		kid:         "/keys/" + key + "/" + version,
		tags:        c.Tags,
		attrs:       attrs,
	}
	kv := &keyVersion{version: version, jwk: jwk, managed: true, tags: c.Tags, attrs: attrs}
	kv.jwk.KeyOps = []string{"sign", "verify"}
	if strings.HasPrefix(jwk.Kty, "RSA") {
		kv.jwk.KeyOps = []string{"sign", "verify", "wrapKey", "unwrapKey", "encrypt", "decrypt"}
	}
	cv := &certVersion{
		version:     version,
		der:         leaf.Raw,
		contentType: ct,
		tags:        c.Tags,
		policy:      certPolicy(leaf, ct, attrs),
		attrs:       attrs,
	}
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	v.secrets[key] = append(v.secrets[key], sv)
	v.keys[key] = append(v.keys[key], kv)
	v.certs[key] = append(v.certs[key], cv)
	return version, nil
}

func certPolicy(leaf *x509.Certificate, ct string, a attrs) map[string]any {
	keyProps := map[string]any{"exportable": true, "reuse_key": false}
	switch k := leaf.PublicKey.(type) {
	case *ecdsa.PublicKey:
		keyProps["kty"] = "EC"
		keyProps["crv"] = map[int]string{256: "P-256", 384: "P-384", 521: "P-521"}[k.Curve.Params().BitSize]
	default:
		keyProps["kty"] = "RSA"
		if pk, ok := leaf.PublicKey.(interface{ Size() int }); ok {
			keyProps["key_size"] = pk.Size() * 8
		}
	}
	var ekus []string
	for _, u := range leaf.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageServerAuth:
			ekus = append(ekus, "1.3.6.1.5.5.7.3.1")
		case x509.ExtKeyUsageClientAuth:
			ekus = append(ekus, "1.3.6.1.5.5.7.3.2")
		}
	}
	var usage []string
	for bit, n := range map[x509.KeyUsage]string{
		x509.KeyUsageDigitalSignature: "digitalSignature",
		x509.KeyUsageKeyEncipherment:  "keyEncipherment",
		x509.KeyUsageCertSign:         "keyCertSign",
	} {
		if leaf.KeyUsage&bit != 0 {
			usage = append(usage, n)
		}
	}
	months := int(leaf.NotAfter.Sub(leaf.NotBefore).Hours() / (24 * 30))
	x509Props := map[string]any{
		"subject":           leaf.Subject.String(),
		"ekus":              ekus,
		"key_usage":         usage,
		"validity_months":   months,
		"basic_constraints": map[string]any{"ca": leaf.IsCA},
		"sans":              map[string]any{"dns_names": leaf.DNSNames},
	}
	return map[string]any{
		"key_props":        keyProps,
		"secret_props":     map[string]any{"contentType": ct},
		"x509_props":       x509Props,
		"lifetime_actions": []any{map[string]any{"trigger": map[string]any{"lifetime_percentage": 80}, "action": map[string]any{"action_type": "AutoRenew"}}},
		"issuer":           map[string]any{"name": "Unknown"},
		"attributes":       map[string]any{"enabled": true, "created": a.created.Unix(), "updated": a.updated.Unix()},
	}
}

func x5t(der []byte) string {
	sum := sha1.Sum(der)
	return b64.EncodeToString(sum[:])
}

func (v *Vault) serveCertificate(w http.ResponseWriter, op kvOp, base string) int {
	name := strings.ToLower(op.objName)
	v.e.mu.Lock()
	cv, ok := pick(v.certs[name], op.version, func(c *certVersion) string { return c.version })
	var body map[string]any
	if ok {
		body = certBundle(cv, base, name)
	}
	v.e.mu.Unlock()
	if !ok {
		return notFound(w, op)
	}
	writeJSON(w, http.StatusOK, body)
	return http.StatusOK
}

func certBundle(cv *certVersion, base, name string) map[string]any {
	policy := map[string]any{"id": base + "/certificates/" + name + "/policy"}
	for k, val := range cv.policy {
		policy[k] = val
	}
	m := map[string]any{
		"id":         base + "/certificates/" + name + "/" + cv.version,
		"kid":        base + "/keys/" + name + "/" + cv.version,
		"sid":        base + "/secrets/" + name + "/" + cv.version,
		"x5t":        x5t(cv.der),
		"cer":        base64.StdEncoding.EncodeToString(cv.der),
		"attributes": cv.attrs.json(nil),
		"policy":     policy,
	}
	if len(cv.tags) > 0 {
		m["tags"] = cv.tags
	}
	return m
}

func certItem(cv *certVersion, base, name string) map[string]any {
	m := map[string]any{
		"id":         base + "/certificates/" + name + "/" + cv.version,
		"x5t":        x5t(cv.der),
		"attributes": cv.attrs.json(nil),
	}
	if len(cv.tags) > 0 {
		m["tags"] = cv.tags
	}
	return m
}
