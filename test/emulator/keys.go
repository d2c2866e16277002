package emulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"
)

// JWK is the public part of a Key Vault key. Byte fields are big-endian
// unsigned integers (N, E) or curve coordinates (X, Y); they are sent
// base64url-encoded.
type JWK struct {
	Kty    string   `json:"kty"`           // RSA, RSA-HSM, EC, EC-HSM, oct, oct-HSM
	Crv    string   `json:"crv,omitempty"` // P-256, P-384, P-521, P-256K
	N      []byte   `json:"n,omitempty"`
	E      []byte   `json:"e,omitempty"`
	X      []byte   `json:"x,omitempty"`
	Y      []byte   `json:"y,omitempty"`
	KeyOps []string `json:"key_ops,omitempty"` // default by key type
}

// KeyOptions are the optional properties of a key version.
type KeyOptions struct {
	Enabled   *bool             `json:"enabled,omitempty"`
	Created   time.Time         `json:"created,omitzero"`
	NotBefore time.Time         `json:"notBefore,omitzero"`
	Expires   time.Time         `json:"expires,omitzero"`
	Tags      map[string]string `json:"tags,omitempty"`
	// Managed marks the key as the backing key of a certificate.
	Managed bool `json:"managed,omitempty"`
}

type keyVersion struct {
	version string
	jwk     JWK
	managed bool
	tags    map[string]string
	attrs
}

// JWKFromPublicKey converts an RSA, ECDSA (P-256/384/521) public key, or the
// public key of a crypto.Signer, into a JWK.
func JWKFromPublicKey(pub crypto.PublicKey) (JWK, error) {
	if s, ok := pub.(crypto.Signer); ok {
		pub = s.Public()
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return JWK{Kty: "RSA", N: k.N.Bytes(), E: big.NewInt(int64(k.E)).Bytes()}, nil
	case *ecdsa.PublicKey:
		var crv string
		switch k.Curve {
		case elliptic.P256():
			crv = "P-256"
		case elliptic.P384():
			crv = "P-384"
		case elliptic.P521():
			crv = "P-521"
		default:
			return JWK{}, fmt.Errorf("unsupported curve %s", k.Curve.Params().Name)
		}
		point, err := k.Bytes() // 0x04 || X || Y
		if err != nil {
			return JWK{}, err
		}
		size := (len(point) - 1) / 2
		return JWK{Kty: "EC", Crv: crv, X: point[1 : 1+size], Y: point[1+size:]}, nil
	case ed25519.PublicKey:
		return JWK{}, fmt.Errorf("ed25519 keys are not supported by Key Vault")
	}
	return JWK{}, fmt.Errorf("unsupported public key type %T", pub)
}

func defaultKeyOps(kty string) []string {
	switch strings.TrimSuffix(kty, "-HSM") {
	case "RSA":
		return []string{"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"}
	case "EC":
		return []string{"sign", "verify"}
	default:
		return []string{"encrypt", "decrypt", "wrapKey", "unwrapKey"}
	}
}

// SetKey adds a new version of a key and returns its version.
func (v *Vault) SetKey(name string, jwk JWK, opts KeyOptions) (version string) {
	return v.setKeyVersion(name, v.e.ids.version(), jwk, opts)
}

func (v *Vault) setKeyVersion(name, version string, jwk JWK, opts KeyOptions) string {
	if len(jwk.KeyOps) == 0 {
		jwk.KeyOps = defaultKeyOps(jwk.Kty)
	}
	kv := &keyVersion{
		version: version,
		jwk:     jwk,
		managed: opts.Managed,
		tags:    opts.Tags,
		attrs:   newAttrs(opts.Enabled, opts.Created),
	}
	kv.notBefore, kv.expires = opts.NotBefore, opts.Expires
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	key := strings.ToLower(name)
	v.keys[key] = append(v.keys[key], kv)
	return kv.version
}

func (v *Vault) serveKey(w http.ResponseWriter, op kvOp, base string) int {
	v.e.mu.Lock()
	kv, ok := pick(v.keys[strings.ToLower(op.objName)], op.version, func(k *keyVersion) string { return k.version })
	var body map[string]any
	if ok && kv.enabled {
		body = keyBundle(kv, base, strings.ToLower(op.objName))
	}
	v.e.mu.Unlock()
	if !ok {
		return notFound(w, op)
	}
	if body == nil {
		return disabled(w, op)
	}
	writeJSON(w, http.StatusOK, body)
	return http.StatusOK
}

func keyBundle(kv *keyVersion, base, name string) map[string]any {
	kid := base + "/keys/" + name + "/" + kv.version
	key := map[string]any{
		"kid":     kid,
		"kty":     kv.jwk.Kty,
		"key_ops": slices.Clone(kv.jwk.KeyOps),
	}
	set := func(field string, b []byte) {
		if len(b) > 0 {
			key[field] = b64.EncodeToString(b)
		}
	}
	set("n", kv.jwk.N)
	set("e", kv.jwk.E)
	set("x", kv.jwk.X)
	set("y", kv.jwk.Y)
	if kv.jwk.Crv != "" {
		key["crv"] = kv.jwk.Crv
	}
	m := map[string]any{
		"key":        key,
		"attributes": kv.attrs.json(map[string]any{"exportable": false}),
	}
	if len(kv.tags) > 0 {
		m["tags"] = kv.tags
	}
	if kv.managed {
		m["managed"] = true
	}
	return m
}

func keyItem(kv *keyVersion, base, name string) map[string]any {
	m := map[string]any{
		"kid":        base + "/keys/" + name + "/" + kv.version,
		"attributes": kv.attrs.json(map[string]any{"exportable": false}),
	}
	if len(kv.tags) > 0 {
		m["tags"] = kv.tags
	}
	if kv.managed {
		m["managed"] = true
	}
	return m
}
