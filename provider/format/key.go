package format

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"math/big"
)

// JWK is the public part of a Key Vault key, as azkeys returns it: the byte fields
// are already base64url-decoded, big-endian. Nil pointers mean the field was absent.
type JWK struct {
	Kty, Crv   *string
	N, E, X, Y []byte
}

// PublicKeyPEM writes the key as one SubjectPublicKeyInfo "PUBLIC KEY" PEM block, as
// the Azure provider does for objectType key: RSA and RSA-HSM from N and E; EC and
// EC-HSM on P-256, P-384 and P-521 from X and Y. Points that are not on the curve,
// empty moduli and out-of-range exponents are rejected.
func PublicKeyPEM(k JWK) ([]byte, error) {
	if k.Kty == nil {
		return nil, errors.New("key type (kty) is missing")
	}
	var pub any
	switch *k.Kty {
	case "RSA", "RSA-HSM":
		n := new(big.Int).SetBytes(k.N)
		if n.Sign() == 0 {
			return nil, errors.New("RSA key has no modulus (n)")
		}
		e := new(big.Int).SetBytes(k.E)
		if !e.IsInt64() || e.Int64() < 2 || e.Int64() > math.MaxInt32 {
			return nil, errors.New("RSA key has an invalid public exponent (e)")
		}
		pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
	case "EC", "EC-HSM":
		if k.Crv == nil {
			return nil, errors.New("EC key has no curve (crv)")
		}
		curve, err := curveByName(*k.Crv)
		if err != nil {
			return nil, err
		}
		p, err := ecPoint(curve, k.X, k.Y)
		if err != nil {
			return nil, err
		}
		pub = p
	default:
		return nil, fmt.Errorf("failed to get key. key type '%s' currently not supported", *k.Kty)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

func curveByName(name string) (elliptic.Curve, error) {
	switch name {
	case "P-256":
		return elliptic.P256(), nil
	case "P-384":
		return elliptic.P384(), nil
	case "P-521":
		return elliptic.P521(), nil
	}
	return nil, fmt.Errorf("curve %s is not supported", name)
}

// ecPoint builds the public key from the JWK coordinates. Like big.Int, it accepts
// coordinates with their leading zero bytes dropped or added; the result is the
// same uncompressed point the Azure provider marshals.
func ecPoint(curve elliptic.Curve, xb, yb []byte) (*ecdsa.PublicKey, error) {
	size := (curve.Params().BitSize + 7) / 8
	x, y := new(big.Int).SetBytes(xb), new(big.Int).SetBytes(yb)
	if len(xb) == 0 || len(yb) == 0 || x.BitLen() > size*8 || y.BitLen() > size*8 {
		return nil, fmt.Errorf("EC key has invalid coordinates for curve %s", curve.Params().Name)
	}
	point := make([]byte, 1+2*size)
	point[0] = 4 // uncompressed
	x.FillBytes(point[1 : 1+size])
	y.FillBytes(point[1+size:])
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("EC key is not a point on curve %s", curve.Params().Name)
	}
	return pub, nil
}
