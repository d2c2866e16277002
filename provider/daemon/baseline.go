package daemon

import (
	"context"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/kvcsi/kvcsi/provider/auth"
	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/keyvault"
	"github.com/kvcsi/kvcsi/provider/mount"
)

// baselineMounter is the --no-reuse benchmark baseline, the Azure provider's way of
// mounting, put together from the production parts rather than by switches inside them:
// every mount gets a credential manager and a Key Vault pool of its own, so it pays a new
// credential (a token exchange with MSAL's authority discovery), new SDK clients for all
// three object types and a 401 challenge; its objects are fetched one after another,
// each on its own (no request shared among aliases), and nothing outlives the mount.
// The daemon also gives it no parsed-parameters cache.
type baselineMounter struct {
	auth   auth.Options
	vaults keyvault.Options
	mount  mount.Options // Credentials and Vaults are the mount's own
}

func (b *baselineMounter) Mount(ctx context.Context, m *config.Mount) (*mount.Result, error) {
	pool := keyvault.NewPool(b.vaults)
	// A closed pool runs each call on the caller's goroutine rather than on its
	// long-lived workers (a kvcsi optimisation), as the Azure provider does.
	pool.Close()
	o := b.mount
	o.Credentials = auth.NewManager(b.auth)
	o.Vaults = mount.VaultsFunc(func(vaultURL, credKey string, cred azcore.TokenCredential, vo keyvault.VaultOptions) (mount.Vault, error) {
		v, err := pool.VaultWith(vaultURL, credKey, cred, vo)
		if err != nil {
			return nil, err
		}
		return v, v.BuildClients()
	})
	o.Parallelism = 1
	mt := mount.New(o)
	res := &mount.Result{}
	var errs mount.Errors
	for i := range m.Objects {
		one := *m
		one.Objects = m.Objects[i : i+1]
		one.Files = nil // the Azure provider has no rendered files
		r, err := mt.Mount(ctx, &one)
		if es, ok := err.(mount.Errors); ok {
			errs = append(errs, es...)
			continue
		}
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, r.Files...)
		res.Versions = append(res.Versions, r.Versions...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return res, nil
}
