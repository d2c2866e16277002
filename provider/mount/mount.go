// Package mount is the use case: a validated config.Mount → credential → fetch from Key
// Vault (bounded parallel, deduplicated) → files and object versions. Every object is
// attempted and every failing one reported; any failure fails the whole mount, so the
// driver never writes a partial file set.
package mount

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/kvcsi/kvcsi/provider/auth"
	"github.com/kvcsi/kvcsi/provider/cloud"
	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/provider/format"
	"github.com/kvcsi/kvcsi/provider/keyvault"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// Credentials hands out a token credential per identity, with a key naming the
// credential material (implemented by auth.Manager).
type Credentials interface {
	Credential(id config.Identity, pod config.Pod, authorityHost, kvResource string) (azcore.TokenCredential, string, error)
}

// Options wire the mounter. Clouds resolves cloudName/cloudEnvFileName.
type Options struct {
	Credentials Credentials
	Vaults      *keyvault.Pool
	Clouds      func(cloudName, cloudEnvFileName string) (cloud.Environment, error)
	Format      format.Options
	// Parallelism bounds concurrent Key Vault requests within one mount (default 32;
	// 1 fetches sequentially like the Azure provider).
	Parallelism int
	// NoDedup disables sharing one fetch among objects that name the same vault
	// object and version (benchmark baseline).
	NoDedup bool
	// MaxInFlight bounds the object fetches running at once across all mounts
	// (default 128, four times the default per-vault limit). Under a burst of
	// mounts the vaults' limits let only so many requests through; the other
	// fetches wait in their mount's goroutine instead of each holding a goroutine
	// and its stack.
	MaxInFlight int
}

// Mounter runs mounts; safe for concurrent use.
type Mounter struct {
	opts     Options
	inFlight chan struct{} // one token per running object fetch, across mounts
}

// New returns a Mounter.
func New(opts Options) *Mounter {
	if opts.Parallelism <= 0 {
		opts.Parallelism = 32
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 128
	}
	return &Mounter{opts: opts, inFlight: make(chan struct{}, opts.MaxInFlight)}
}

// task is one object version to fetch and render into files.
type task struct {
	obj   *config.Object
	path  string // output base path
	id    string // ObjectVersion id
	ver   string // version to request ("" = latest)
	files []vocab.File
	got   string // version Key Vault returned
	err   error
}

// Mount fetches every object of m.
func (mt *Mounter) Mount(ctx context.Context, m *config.Mount) (*Result, error) {
	if len(m.Objects) == 0 {
		return &Result{}, nil
	}
	env, err := mt.opts.Clouds(m.CloudName, m.CloudEnvFileName)
	if err != nil {
		return nil, diag.New(diag.KindInvalid, err, "")
	}
	cred, credKey, err := mt.opts.Credentials.Credential(m.Identity, m.Pod, env.ActiveDirectoryEndpoint, strings.TrimSuffix(env.KeyVaultEndpoint, "/"))
	if err != nil {
		return nil, fmt.Errorf("failed to get keyvault client: %w", err)
	}
	vaults := map[string]*keyvault.Vault{}
	for _, o := range m.Objects {
		if _, ok := vaults[o.VaultName]; ok {
			continue
		}
		v, err := mt.opts.Vaults.Vault(vaultURL(o.VaultName, env), credKey, cred)
		if err != nil {
			return nil, err
		}
		vaults[o.VaultName] = v
	}

	sem := make(chan struct{}, mt.opts.Parallelism)
	run := func(n int, f func(i int)) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			sem <- struct{}{}
			mt.inFlight <- struct{}{}
			go func(i int) {
				defer func() { <-mt.inFlight; <-sem; wg.Done() }()
				f(i)
			}(i)
		}
		wg.Wait()
	}

	// Phase 1: expand objectVersionHistory objects into their versions; only those
	// list versions in Key Vault, so only those take a fetch slot.
	expanded := make([][]*task, len(m.Objects))
	listErrs := make([]error, len(m.Objects))
	var listing []int
	for i := range m.Objects {
		if m.Objects[i].VersionHistory > 1 {
			listing = append(listing, i)
			continue
		}
		expanded[i], listErrs[i] = mt.expand(ctx, vaults[m.Objects[i].VaultName], &m.Objects[i])
	}
	run(len(listing), func(j int) {
		i := listing[j]
		expanded[i], listErrs[i] = mt.expand(ctx, vaults[m.Objects[i].VaultName], &m.Objects[i])
	})

	// Phase 2: fetch and render every object version.
	var tasks []*task
	for _, ts := range expanded {
		tasks = append(tasks, ts...)
	}
	fetch := newFetcher(mt.opts.NoDedup)
	run(len(tasks), func(i int) {
		t := tasks[i]
		t.files, t.got, t.err = mt.fetchAndRender(ctx, fetch, vaults[t.obj.VaultName], t)
	})

	var errs Errors
	res := &Result{}
	explain := explainer(m, env)
	for i := range m.Objects {
		o := &m.Objects[i]
		if listErrs[i] != nil {
			errs = append(errs, objectError(o, explain(o, listErrs[i])))
			continue
		}
		for _, t := range expanded[i] {
			if t.err != nil {
				errs = append(errs, objectError(o, explain(o, t.err)))
				continue
			}
			for _, f := range t.files {
				res.Files = append(res.Files, f)
				res.Versions = append(res.Versions, ObjectVersion{ID: t.id, Version: t.got})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return res, nil
}

// explainer returns a function that turns a raw failure into a diagnosed one; the
// service-account token's claims are read at most once, and only when something failed.
func explainer(m *config.Mount, env cloud.Environment) func(*config.Object, error) error {
	var claims *diag.TokenClaims
	var read bool
	return func(o *config.Object, err error) error {
		if !read {
			read = true
			if !m.Identity.ServiceAccountToken.IsEmpty() {
				if c, cerr := auth.ServiceAccountTokenClaims(m.Identity.ServiceAccountToken); cerr == nil {
					claims = &diag.TokenClaims{Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, Expiry: c.Expiry}
				}
			}
		}
		return diag.Explain(err, diag.Context{
			ObjectType: o.Type, ObjectName: o.Name, ObjectVersion: o.Version,
			Vault: o.VaultName, VaultURL: vaultURL(o.VaultName, env),
			IdentityMode: m.Identity.Mode, ClientID: identityClientID(m.Identity), TenantID: m.Identity.TenantID,
			Token: claims,
		})
	}
}

// identityClientID is the client ID Key Vault sees for the identity, when known up front.
func identityClientID(id config.Identity) string {
	if id.Mode == vocab.VMManagedIdentity {
		return id.UserAssignedIdentityID
	}
	return id.ClientID
}

func objectError(o *config.Object, err error) *vocab.ObjectError {
	return &vocab.ObjectError{Index: o.Index, Type: o.Type, Name: o.Name, Version: o.Version, Err: err}
}

func vaultURL(name string, env cloud.Environment) string {
	return "https://" + name + "." + strings.Trim(env.KeyVaultDNSSuffix, ".") + "/"
}

// expand returns the tasks of one object: itself, or its N newest enabled versions.
func (mt *Mounter) expand(ctx context.Context, v *keyvault.Vault, o *config.Object) ([]*task, error) {
	base := o.FileName()
	id := string(o.Type) + "/" + o.Name
	if o.VersionHistory <= 1 {
		return []*task{{obj: o, path: base, id: id, ver: o.Version}}, nil
	}
	list, err := v.Versions(ctx, o.Type, o.Name)
	if err != nil {
		return nil, err
	}
	picked, err := LatestVersions(list, o.Version, int(o.VersionHistory))
	if err != nil {
		return nil, err
	}
	tasks := make([]*task, len(picked))
	for i, ver := range picked {
		idx := strconv.Itoa(i)
		tasks[i] = &task{obj: o, path: HistoryPath(base, i, historySeparator), id: id + "/" + idx, ver: ver}
	}
	return tasks, nil
}

// HistoryPath is the file of version index i of an objectVersionHistory object. The
// separator is the node OS's (see separator_*.go): the Azure provider used filepath.Join.
func HistoryPath(base string, i int, sep string) string {
	return base + sep + strconv.Itoa(i)
}

// LatestVersions picks up to n enabled versions, newest first, starting at start
// ("" or "latest" = the newest). Unlike the Azure provider, a start version that is not
// among the enabled versions is an error rather than a silent empty mount.
func LatestVersions(list []keyvault.VersionInfo, start string, n int) ([]string, error) {
	enabled := make([]keyvault.VersionInfo, 0, len(list))
	for _, v := range list {
		if v.Enabled {
			enabled = append(enabled, v)
		}
	}
	sort.SliceStable(enabled, func(i, j int) bool { return enabled[i].Created.After(enabled[j].Created) })
	i := 0
	if start != "" && !strings.EqualFold(start, "latest") {
		for i < len(enabled) && enabled[i].Version != start {
			i++
		}
		if i == len(enabled) {
			return nil, diag.New(diag.KindNotFound, fmt.Errorf("objectVersion %s is not among the object's enabled versions", start),
				"set objectVersion to an existing enabled version, or to \"\" or latest to start from the newest")
		}
	}
	var out []string
	for ; i < len(enabled) && len(out) < n; i++ {
		out = append(out, enabled[i].Version)
	}
	if len(out) == 0 {
		return nil, diag.New(diag.KindNotFound, errors.New("the object has no enabled versions"), "enable at least one version of the object in Key Vault")
	}
	return out, nil
}

func (mt *Mounter) fetchAndRender(ctx context.Context, fetch *fetcher, v *keyvault.Vault, t *task) ([]vocab.File, string, error) {
	o := t.obj
	f, got, err := fetch.get(ctx, v, o, t.ver)
	if err != nil {
		return nil, "", err
	}
	req := format.Request{
		Path:       t.path,
		Mode:       o.Mode,
		Format:     o.Format,
		Encoding:   o.Encoding,
		CertPart:   o.CertPart,
		Split:      o.SplitCertAndKey,
		ConvertPFX: o.ConvertPFX,
	}
	for _, j := range o.JSONPaths {
		req.JSON = append(req.JSON, format.JSONExtract{Path: j.Path, Query: j.Query, Alias: j.ObjectAlias, Mode: j.Mode})
	}
	files, err := format.Render(req, f, mt.opts.Format)
	if err != nil {
		return nil, "", err
	}
	return files, got, nil
}
