package mount

import (
	"context"
	"fmt"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/provider/keyvault"
)

// expandSelectors returns the mount's objects with every selector entry replaced by the
// objects it matches (config.Expand), each vault listed at most once, and what each
// selector matched. Disabled matches and matches past their exp are left out. A
// selector matching more than config.MaxSelectorMatches secrets, a failed listing and a
// match colliding with another file fail the mount.
func (mt *Mounter) expandSelectors(ctx context.Context, vaults map[string]Vault, m *config.Mount, explain func(*config.Object, error) error) ([]config.Object, []Selected, error) {
	has := false
	for i := range m.Objects {
		if m.Objects[i].Selector != nil {
			has = true
			break
		}
	}
	if !has {
		return m.Objects, nil, nil
	}
	lists := map[string][]keyvault.SecretProperties{}
	listErrs := map[string]error{}
	var (
		out      []config.Object
		selected []Selected
		errs     Errors
	)
	now := mt.opts.Now()
	for i := range m.Objects {
		o := &m.Objects[i]
		if o.Selector == nil {
			out = append(out, *o)
			continue
		}
		list, listed := lists[o.VaultName]
		err := listErrs[o.VaultName]
		if !listed && err == nil {
			list, err = vaults[o.VaultName].ListSecrets(ctx)
			lists[o.VaultName], listErrs[o.VaultName] = list, err
		}
		if err != nil {
			errs = append(errs, objectError(o, explain(o, err)))
			continue
		}
		sel := Selected{Index: o.Index, Vault: o.VaultName}
		var names []string
		for _, p := range list {
			if !o.Selector.Matches(p.Name, p.Tags, p.ContentType) {
				continue
			}
			switch {
			case p.Attributes.Enabled != nil && !*p.Attributes.Enabled:
				sel.Disabled = append(sel.Disabled, p.Name)
			case p.Attributes.Expires != nil && !now.Before(*p.Attributes.Expires):
				sel.Expired = append(sel.Expired, p.Name)
			default:
				names = append(names, p.Name)
			}
		}
		if len(names) > config.MaxSelectorMatches {
			errs = append(errs, objectError(o, diag.New(diag.KindInvalid,
				fmt.Errorf("the selector matches %d secrets in vault %s, more than the %d a selector may mount", len(names), o.VaultName, config.MaxSelectorMatches),
				"narrow the selector with a longer namePrefix, tags or contentType, or split it into several entries")))
			continue
		}
		sel.Matched = len(names)
		selected = append(selected, sel)
		out = append(out, config.Expand(o, names)...)
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	if err := config.CheckExpanded(out, m.Files); err != nil {
		return nil, nil, diag.New(diag.KindInvalid, err, "")
	}
	return out, selected, nil
}
