package mount

import (
	"context"
	"crypto/x509"
	"errors"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/provider/format"
	"github.com/kvcsi/kvcsi/provider/keyvault"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// fetchObject gets one object version from its vault, with its validity window.
func fetchObject(ctx context.Context, v Vault, o *config.Object, version string) (format.Fetched, string, diag.Validity, error) {
	switch o.Type {
	case vocab.Secret:
		s, err := v.Secret(ctx, o.Name, version)
		if err != nil {
			return format.Fetched{}, "", diag.Validity{}, err
		}
		return format.Fetched{Type: vocab.Secret, Name: o.Name, Value: s.Value, ContentType: s.ContentType, KID: s.KID}, s.Version, validity(s.Attributes), nil
	case vocab.Key:
		k, err := v.Key(ctx, o.Name, version)
		if err != nil {
			return format.Fetched{}, "", diag.Validity{}, err
		}
		return format.Fetched{Type: vocab.Key, Name: o.Name, Key: &format.JWK{Kty: k.Kty, Crv: k.Crv, N: k.N, E: k.E, X: k.X, Y: k.Y}}, k.Version, validity(k.Attributes), nil
	case vocab.Cert:
		c, err := v.Certificate(ctx, o.Name, version)
		if err != nil {
			return format.Fetched{}, "", diag.Validity{}, err
		}
		val := validity(c.Attributes)
		// The certificate itself is the authority on its own window.
		if leaf, err := x509.ParseCertificate(c.CER); err == nil {
			if val.Expires.IsZero() || leaf.NotAfter.Before(val.Expires) {
				val.Expires = leaf.NotAfter
			}
			if val.NotBefore.IsZero() || leaf.NotBefore.After(val.NotBefore) {
				val.NotBefore = leaf.NotBefore
			}
		}
		return format.Fetched{Type: vocab.Cert, Name: o.Name, CER: c.CER}, c.Version, val, nil
	}
	//lint:ignore ST1005 the Azure provider's text, which users grep for
	return format.Fetched{}, "", diag.Validity{}, errors.New("Invalid vaultObjectTypes. Should be secret, key, or cert")
}

func validity(a keyvault.Attributes) diag.Validity {
	var v diag.Validity
	if a.NotBefore != nil {
		v.NotBefore = *a.NotBefore
	}
	if a.Expires != nil {
		v.Expires = *a.Expires
	}
	return v
}
