package mount

import (
	"context"
	"fmt"
	"sync"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/format"
	"github.com/kvcsi/kvcsi/provider/keyvault"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// fetcher shares one Key Vault request among the objects of a mount that name the same
// vault object and version (aliases of one secret, say).
type fetcher struct {
	noDedup bool
	mu      sync.Mutex
	calls   map[string]*fetchCall
}

type fetchCall struct {
	done    chan struct{}
	fetched format.Fetched
	version string
	err     error
}

func newFetcher(noDedup bool) *fetcher {
	return &fetcher{noDedup: noDedup, calls: map[string]*fetchCall{}}
}

func (f *fetcher) get(ctx context.Context, v *keyvault.Vault, o *config.Object, version string) (format.Fetched, string, error) {
	if f.noDedup {
		return fetchObject(ctx, v, o, version)
	}
	key := o.VaultName + "\x00" + string(o.Type) + "\x00" + o.Name + "\x00" + version
	f.mu.Lock()
	c, ok := f.calls[key]
	if !ok {
		c = &fetchCall{done: make(chan struct{})}
		f.calls[key] = c
	}
	f.mu.Unlock()
	if !ok {
		c.fetched, c.version, c.err = fetchObject(ctx, v, o, version)
		close(c.done)
	} else {
		select {
		case <-c.done:
		case <-ctx.Done():
			return format.Fetched{}, "", ctx.Err()
		}
	}
	return c.fetched, c.version, c.err
}

func fetchObject(ctx context.Context, v *keyvault.Vault, o *config.Object, version string) (format.Fetched, string, error) {
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
	return format.Fetched{}, "", fmt.Errorf("Invalid vaultObjectTypes. Should be secret, key, or cert")
}
