package mount

import (
	"context"
	"errors"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/format"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// fetchObject gets one object version from its vault.
func fetchObject(ctx context.Context, v Vault, o *config.Object, version string) (format.Fetched, string, error) {
	switch o.Type {
	case vocab.Secret:
		s, err := v.Secret(ctx, o.Name, version)
		if err != nil {
			return format.Fetched{}, "", err
		}
		return format.Fetched{Type: vocab.Secret, Name: o.Name, Value: s.Value, ContentType: s.ContentType, KID: s.KID}, s.Version, nil
	case vocab.Key:
		k, err := v.Key(ctx, o.Name, version)
		if err != nil {
			return format.Fetched{}, "", err
		}
		return format.Fetched{Type: vocab.Key, Name: o.Name, Key: &format.JWK{Kty: k.Kty, Crv: k.Crv, N: k.N, E: k.E, X: k.X, Y: k.Y}}, k.Version, nil
	case vocab.Cert:
		c, err := v.Certificate(ctx, o.Name, version)
		if err != nil {
			return format.Fetched{}, "", err
		}
		return format.Fetched{Type: vocab.Cert, Name: o.Name, CER: c.CER}, c.Version, nil
	}
	//lint:ignore ST1005 the Azure provider's text, which users grep for
	return format.Fetched{}, "", errors.New("Invalid vaultObjectTypes. Should be secret, key, or cert")
}
