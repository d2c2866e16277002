package emulator

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

var b64 = base64.RawURLEncoding

// jwtSigner signs RS256 JWTs with one RSA key named by kid.
type jwtSigner struct {
	key *rsa.PrivateKey
	kid string
}

func newJWTSigner(ids *idSource) (*jwtSigner, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &jwtSigner{key: key, kid: b64.EncodeToString(ids.bytes(20))}, nil
}

func (s *jwtSigner) sign(claims map[string]any) string {
	header := map[string]any{"alg": "RS256", "typ": "JWT", "kid": s.kid}
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	signing := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err) // only on a broken key
	}
	return signing + "." + b64.EncodeToString(sig)
}

// jwks is the JSON Web Key Set publishing the signer's public key.
func (s *jwtSigner) jwks() map[string]any {
	pub := &s.key.PublicKey
	return map[string]any{"keys": []any{map[string]any{
		"kty": "RSA",
		"use": "sig",
		"alg": "RS256",
		"kid": s.kid,
		"n":   b64.EncodeToString(pub.N.Bytes()),
		"e":   b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}}
}

// parsedJWT is a JWT split into its parts; the signature is not yet checked.
type parsedJWT struct {
	header  map[string]any
	claims  map[string]any
	signing string
	sig     []byte
}

var errMalformedJWT = errors.New("malformed JWT")

func parseJWT(tok string) (*parsedJWT, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errMalformedJWT
	}
	p := &parsedJWT{signing: parts[0] + "." + parts[1]}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, errMalformedJWT
	}
	cb, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, errMalformedJWT
	}
	if p.sig, err = b64.DecodeString(parts[2]); err != nil {
		return nil, errMalformedJWT
	}
	if json.Unmarshal(hb, &p.header) != nil || json.Unmarshal(cb, &p.claims) != nil {
		return nil, errMalformedJWT
	}
	return p, nil
}

func (p *parsedJWT) verify(pub *rsa.PublicKey) error {
	if alg, _ := p.header["alg"].(string); alg != "RS256" {
		return fmt.Errorf("unsupported alg %q", alg)
	}
	sum := sha256.Sum256([]byte(p.signing))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], p.sig)
}

func (p *parsedJWT) str(name string) string {
	s, _ := p.claims[name].(string)
	return s
}

// num returns a numeric claim (exp, nbf, iat) and whether it is present.
func (p *parsedJWT) num(name string) (int64, bool) {
	switch v := p.claims[name].(type) {
	case float64:
		return int64(v), true
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	}
	return 0, false
}

// audiences returns the aud claim as a list (it may be a string or an array).
func (p *parsedJWT) audiences() []string {
	switch v := p.claims["aud"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, a := range v {
			if s, ok := a.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
