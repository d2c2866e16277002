// Package mount is the use case: a validated config.Mount → credential → fetch from Key
// Vault (bounded parallel, deduplicated) → files and object versions. Every object is
// attempted and every failing one reported; any failure fails the whole mount, so the
// driver never writes a partial file set.
//
// Its dependencies are the small interfaces below (Credentials, Vaults, Vault),
// implemented by auth and keyvault and wired in provider/daemon; anything that sits
// between a mount and Key Vault (a shared content cache, say) is a Vaults of its own.
package mount

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"golang.org/x/sync/semaphore"

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

// Vault reads the objects of one vault with one credential (implemented by
// *keyvault.Vault). Version "" is the latest.
type Vault interface {
	Secret(ctx context.Context, name, version string) (keyvault.Secret, error)
	Key(ctx context.Context, name, version string) (keyvault.Key, error)
	Certificate(ctx context.Context, name, version string) (keyvault.Certificate, error)
	Versions(ctx context.Context, objectType vocab.ObjectType, name string) ([]keyvault.VersionInfo, error)
	// ListSecrets lists the vault's secrets (a selector's matches are chosen from it).
	ListSecrets(ctx context.Context) ([]keyvault.SecretProperties, error)
}

// Vaults opens the Vault at vaultURL for a credential; credKey names the credential's
// material (never the material itself), so that whatever Vaults shares is shared only
// among requests with the same material and options (the api-version a
// SecretProviderClass asks for). A mount opens each of its vaults once.
type Vaults interface {
	Vault(vaultURL, credKey string, cred azcore.TokenCredential, opts keyvault.VaultOptions) (Vault, error)
}

// VaultsFunc adapts a function to Vaults.
type VaultsFunc func(vaultURL, credKey string, cred azcore.TokenCredential, opts keyvault.VaultOptions) (Vault, error)

// Vault calls f.
func (f VaultsFunc) Vault(vaultURL, credKey string, cred azcore.TokenCredential, opts keyvault.VaultOptions) (Vault, error) {
	return f(vaultURL, credKey, cred, opts)
}

// PoolVaults opens Vaults from a keyvault.Pool.
func PoolVaults(p *keyvault.Pool) Vaults {
	return VaultsFunc(func(vaultURL, credKey string, cred azcore.TokenCredential, opts keyvault.VaultOptions) (Vault, error) {
		v, err := p.VaultWith(vaultURL, credKey, cred, opts)
		if err != nil {
			return nil, err
		}
		return v, nil
	})
}

// Defaults for zero Options fields.
const (
	// DefaultParallelism bounds the Key Vault requests of one mount (--parallelism).
	DefaultParallelism = 32
	// DefaultMaxInFlight bounds the object fetches across mounts: four times the
	// default per-vault limit.
	DefaultMaxInFlight = 128
)

// Options wire the mounter. Clouds resolves cloudName/cloudEnvFileName.
type Options struct {
	Credentials Credentials
	Vaults      Vaults
	Clouds      func(cloudName, cloudEnvFileName string) (cloud.Environment, error)
	Format      format.Options
	// Parallelism bounds concurrent Key Vault requests within one mount (default
	// DefaultParallelism; 1 fetches sequentially like the Azure provider).
	Parallelism int
	// MaxInFlight bounds the object fetches running at once across all mounts
	// (default DefaultMaxInFlight). Under a burst of mounts the vaults' limits let
	// only so many requests through; the other fetches wait in their mount's
	// goroutine instead of each holding a goroutine and its stack.
	MaxInFlight int
	// ExpiryWarning is how far ahead an object's expiry is reported in
	// Result.Expiring (default DefaultExpiryWarning; negative reports none).
	ExpiryWarning time.Duration
	// Observer, if set, is told about skipped optional objects and the expiry of the
	// mounted objects (metrics).
	Observer Observer
	// Now is the clock for expiry (default time.Now).
	Now func() time.Time
}

// DefaultExpiryWarning is how far ahead an expiry is reported (--expiry-warning).
const DefaultExpiryWarning = 30 * 24 * time.Hour

// Observer is told what a successful mount mounted and skipped; bounded values only.
type Observer interface {
	// OptionalSkipped: n optional objects were skipped for reason
	// (diag.MissingNotFound or diag.MissingDisabled).
	OptionalSkipped(reason string, n int)
	// ObjectsMounted: the expiry of each mounted object version (zero: none) at now.
	ObjectsMounted(expiries []time.Time, now time.Time)
}

// Mounter runs mounts; safe for concurrent use.
type Mounter struct {
	opts     Options
	inFlight *semaphore.Weighted // one unit per running object fetch, across mounts
}

// New returns a Mounter.
func New(opts Options) *Mounter {
	if opts.Parallelism <= 0 {
		opts.Parallelism = DefaultParallelism
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.ExpiryWarning == 0 {
		opts.ExpiryWarning = DefaultExpiryWarning
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Mounter{opts: opts, inFlight: semaphore.NewWeighted(int64(opts.MaxInFlight))}
}

// task is one object version to render into files.
type task struct {
	obj      *config.Object
	path     string // output base path
	id       string // ObjectVersion id
	ver      string // version to request ("" = latest)
	files    []vocab.File
	got      string // version Key Vault returned
	validity diag.Validity
	err      error
}

// fetch is one Key Vault request that one or more tasks render (aliases of one secret
// share it).
type fetch struct {
	obj   *config.Object // the first object naming it
	ver   string
	tasks []*task
}

// Mount fetches every object of m. Every object is attempted; if any fails, the error
// is an Errors naming each failing object in order, and no file is returned.
func (mt *Mounter) Mount(ctx context.Context, m *config.Mount) (*Result, error) {
	if len(m.Objects) == 0 && len(m.Files) == 0 {
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
	vaults := map[string]Vault{}
	for _, o := range m.Objects {
		if _, ok := vaults[o.VaultName]; ok {
			continue
		}
		v, err := mt.opts.Vaults.Vault(vaultURL(o.VaultName, env), credKey, cred, keyvault.VaultOptions{APIVersion: m.KeyVaultAPIVersion})
		if err != nil {
			return nil, err
		}
		vaults[o.VaultName] = v
	}
	explain := explainer(m, env)

	// Phase 0: selectors become the objects they match, as if listed by hand.
	objects, selected, err := mt.expandSelectors(ctx, vaults, m, explain)
	if err != nil {
		return nil, err
	}

	// Phase 1: expand objectVersionHistory objects into their versions; only those
	// list versions in Key Vault, so only those take a fetch slot.
	expanded := make([][]*task, len(objects))
	listErrs := make([]error, len(objects))
	var listing []int
	for i := range objects {
		if objects[i].HistoryFiles() > 0 {
			listing = append(listing, i)
			continue
		}
		expanded[i], listErrs[i] = mt.expand(ctx, vaults[objects[i].VaultName], &objects[i])
	}
	mt.run(ctx, len(listing), func(j int) {
		i := listing[j]
		expanded[i], listErrs[i] = mt.expand(ctx, vaults[objects[i].VaultName], &objects[i])
	}, func(j int, err error) { listErrs[listing[j]] = err })

	// Phase 2: one request per distinct (vault, type, name, version), rendered into
	// the files of every task that names it.
	fetches := dedup(expanded)
	mt.run(ctx, len(fetches), func(j int) {
		f := fetches[j]
		fetched, got, validity, err := fetchObject(ctx, vaults[f.obj.VaultName], f.obj, f.ver)
		for _, t := range f.tasks {
			if err != nil {
				t.err = err
				continue
			}
			t.got, t.validity = got, validity
			t.files, t.err = mt.render(t, fetched)
		}
	}, func(j int, err error) {
		for _, t := range fetches[j].tasks {
			t.err = err
		}
	})

	var errs Errors
	res := &Result{Selected: selected}
	var produced []producedFile
	now := mt.opts.Now()
	skipped := map[int]string{} // objects.array index → why an optional object is missing
	var expiries []time.Time
	for i := range objects {
		o := &objects[i]
		if listErrs[i] != nil {
			if mt.skip(res, skipped, o, listErrs[i]) {
				continue
			}
			errs = append(errs, objectError(o, explain(o, listErrs[i])))
			continue
		}
		for _, t := range expanded[i] {
			if t.err != nil {
				if mt.skip(res, skipped, o, t.err) {
					continue
				}
				errs = append(errs, objectError(o, explain(o, t.err)))
				continue
			}
			if o.RefuseExpired {
				if err := diag.Refused(o.Type, o.Name, o.VaultName, t.validity, now); err != nil {
					errs = append(errs, objectError(o, err))
					continue
				}
			}
			expiries = append(expiries, t.validity.Expires)
			mt.noteExpiry(res, o, t, now)
			for _, f := range t.files {
				produced = append(produced, producedFile{file: f, version: ObjectVersion{ID: t.id, Version: t.got}, obj: o})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	produced, err = mt.compose(m, produced, skipped, res)
	if err != nil {
		return nil, err
	}
	for _, p := range produced {
		res.Files = append(res.Files, p.file)
		res.Versions = append(res.Versions, p.version)
	}
	if obs := mt.opts.Observer; obs != nil {
		counts := map[string]int{}
		for _, s := range res.Skipped {
			counts[s.Reason]++
		}
		for reason, n := range counts {
			obs.OptionalSkipped(reason, n)
		}
		obs.ObjectsMounted(expiries, now)
	}
	return res, nil
}

// skip reports whether the failure err of optional object o is one it is skipped on (the
// object is missing or disabled), and records it.
func (mt *Mounter) skip(res *Result, skipped map[int]string, o *config.Object, err error) bool {
	if !o.Optional {
		return false
	}
	reason, ok := diag.MissingObject(err)
	if !ok {
		return false
	}
	if _, seen := skipped[o.Index]; !seen {
		res.Skipped = append(res.Skipped, Skipped{Index: o.Index, Type: o.Type, Name: o.Name, Vault: o.VaultName, Reason: reason})
	}
	skipped[o.Index] = reason
	return true
}

// noteExpiry reports an object version expiring within the warning window.
func (mt *Mounter) noteExpiry(res *Result, o *config.Object, t *task, now time.Time) {
	exp := t.validity.Expires
	if exp.IsZero() || mt.opts.ExpiryWarning < 0 || exp.Sub(now) > mt.opts.ExpiryWarning {
		return
	}
	res.Expiring = append(res.Expiring, Expiring{Type: o.Type, Name: o.Name, Vault: o.VaultName, Version: t.got, Expires: exp})
}

// dedup groups the tasks by the Key Vault request they need, in the order of first use.
func dedup(expanded [][]*task) []*fetch {
	var out []*fetch
	byKey := map[string]*fetch{}
	for _, ts := range expanded {
		for _, t := range ts {
			key := t.obj.VaultName + "\x00" + string(t.obj.Type) + "\x00" + t.obj.Name + "\x00" + t.ver
			f, ok := byKey[key]
			if !ok {
				f = &fetch{obj: t.obj, ver: t.ver}
				byKey[key] = f
				out = append(out, f)
			}
			f.tasks = append(f.tasks, t)
		}
	}
	return out
}

// run calls do(0), …, do(n-1) with at most Parallelism of them at once within the mount
// and MaxInFlight across mounts. Slots are taken in order before each call starts, and
// taking one respects ctx: once ctx ends, fail(i, err) reports every call not started.
func (mt *Mounter) run(ctx context.Context, n int, do func(i int), fail func(i int, err error)) {
	if n == 0 {
		return
	}
	own := semaphore.NewWeighted(int64(mt.opts.Parallelism))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		if err := own.Acquire(ctx, 1); err != nil {
			failFrom(i, n, err, fail)
			break
		}
		if err := mt.inFlight.Acquire(ctx, 1); err != nil {
			own.Release(1)
			failFrom(i, n, nodeSlotError(err, mt.opts.MaxInFlight), fail)
			break
		}
		wg.Add(1)
		go func(i int) {
			defer func() { mt.inFlight.Release(1); own.Release(1); wg.Done() }()
			do(i)
		}(i)
	}
	wg.Wait()
}

func failFrom(i, n int, err error, fail func(int, error)) {
	for ; i < n; i++ {
		fail(i, err)
	}
}

// nodeSlotError is the error of a fetch that waited for one of the node-wide fetch
// slots until the mount's context ended.
func nodeSlotError(err error, limit int) error {
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &diag.Error{Kind: diag.KindDeadline,
		Err: fmt.Errorf("the mount's deadline passed while waiting for one of the node's %d concurrent object fetches: %w", limit, err),
		Fix: "the provider is fetching many objects for other mounts on this node at once; kubelet retries the mount"}
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
func (mt *Mounter) expand(ctx context.Context, v Vault, o *config.Object) ([]*task, error) {
	base := o.FileName()
	id := string(o.Type) + "/" + o.Name
	n := o.HistoryFiles()
	if n == 0 {
		return []*task{{obj: o, path: base, id: id, ver: o.Version}}, nil
	}
	list, err := v.Versions(ctx, o.Type, o.Name)
	if err != nil {
		return nil, err
	}
	picked, err := LatestVersions(list, o.Version, int(n))
	if err != nil {
		return nil, err
	}
	tasks := make([]*task, len(picked))
	for i, ver := range picked {
		idx := strconv.Itoa(i)
		tasks[i] = &task{obj: o, path: config.HistoryPath(base, int64(i), config.HistorySeparator), id: id + "/" + idx, ver: ver}
	}
	return tasks, nil
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

// render writes a fetched object into the files task t asks for.
func (mt *Mounter) render(t *task, f format.Fetched) ([]vocab.File, error) {
	o := t.obj
	opts := mt.opts.Format
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
	if o.PFXPasswordFile != "" {
		// Rendered as PEM here; compose protects it with the password once the password
		// object's file is there. It has no .crt/.key companions, as a PFX has none.
		req.Format, req.ConvertPFX = "", true
		opts.WriteCertAndKeySeparately = false
	}
	return format.Render(req, f, opts)
}
