package mount

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/kvcsi/kvcsi/provider/cloud"
	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/provider/keyvault"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// The Mounter against in-memory implementations of its interfaces: a vault that holds
// secrets (name → version → value), counts every request and can hold requests until
// released, and a credential source that hands out one fake credential.

type fakeCred struct{}

func (fakeCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

type fakeCreds struct{ err error }

func (f fakeCreds) Credential(id config.Identity, _ config.Pod, _, _ string) (azcore.TokenCredential, string, error) {
	if f.err != nil {
		return nil, "", f.err
	}
	return fakeCred{}, "key-" + id.ClientID, nil
}

// fakeVault is one vault. Versions are listed newest last in versions[name]; a secret
// with no version asked for is its newest.
type fakeVault struct {
	mu       sync.Mutex
	versions map[string][]string          // name → versions, oldest first
	values   map[string]map[string]string // name → version → value
	errs     map[string]error             // name → the error every request for it gets ("" the listing)
	tags     map[string]map[string]string // name → tags
	disabled map[string]bool
	expires  map[string]time.Time
	requests map[string]int // "op name version" → requests
	gate     chan struct{}  // when set, every request waits for it (or its ctx)
	started  chan struct{}  // when set, told of every request that starts
	running  int
	peak     int
}

func newFakeVault() *fakeVault {
	return &fakeVault{versions: map[string][]string{}, values: map[string]map[string]string{}, errs: map[string]error{}, requests: map[string]int{},
		tags: map[string]map[string]string{}, disabled: map[string]bool{}, expires: map[string]time.Time{}}
}

// set adds versions of secret name, oldest first, each valued "<name>@<version>".
func (f *fakeVault) set(name string, versions ...string) *fakeVault {
	f.versions[name] = append(f.versions[name], versions...)
	if f.values[name] == nil {
		f.values[name] = map[string]string{}
	}
	for _, v := range versions {
		f.values[name][v] = name + "@" + v
	}
	return f
}

func (f *fakeVault) count(op, name, version string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[op+" "+name+" "+version]
}

func (f *fakeVault) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.requests {
		n += c
	}
	return n
}

// begin records a request and waits for the gate; end must follow.
func (f *fakeVault) begin(ctx context.Context, op, name, version string) error {
	f.mu.Lock()
	f.requests[op+" "+name+" "+version]++
	f.running++
	f.peak = max(f.peak, f.running)
	gate, started := f.gate, f.started
	f.mu.Unlock()
	if started != nil {
		started <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *fakeVault) end() {
	f.mu.Lock()
	f.running--
	f.mu.Unlock()
}

func (f *fakeVault) Secret(ctx context.Context, name, version string) (keyvault.Secret, error) {
	defer f.end()
	if err := f.begin(ctx, "secret", name, version); err != nil {
		return keyvault.Secret{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[name]; err != nil {
		return keyvault.Secret{}, err
	}
	vs := f.versions[name]
	if len(vs) == 0 {
		return keyvault.Secret{}, notFound("Secret")
	}
	if version == "" {
		version = vs[len(vs)-1]
	}
	v, ok := f.values[name][version]
	if !ok {
		return keyvault.Secret{}, diag.New(diag.KindNotFound, fmt.Errorf("version %s of %s not found", version, name), "")
	}
	s := keyvault.Secret{Value: &v, Version: version}
	if exp, ok := f.expires[name]; ok {
		s.Attributes.Expires = &exp
	}
	return s, nil
}

func (f *fakeVault) Key(ctx context.Context, name, version string) (keyvault.Key, error) {
	defer f.end()
	if err := f.begin(ctx, "key", name, version); err != nil {
		return keyvault.Key{}, err
	}
	return keyvault.Key{}, diag.New(diag.KindNotFound, fmt.Errorf("key %s not found", name), "")
}

func (f *fakeVault) Certificate(ctx context.Context, name, version string) (keyvault.Certificate, error) {
	defer f.end()
	if err := f.begin(ctx, "cert", name, version); err != nil {
		return keyvault.Certificate{}, err
	}
	return keyvault.Certificate{}, diag.New(diag.KindNotFound, fmt.Errorf("certificate %s not found", name), "")
}

func (f *fakeVault) Versions(ctx context.Context, _ vocab.ObjectType, name string) ([]keyvault.VersionInfo, error) {
	defer f.end()
	if err := f.begin(ctx, "versions", name, ""); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[name]; err != nil {
		return nil, err
	}
	var out []keyvault.VersionInfo
	for i, v := range f.versions[name] {
		out = append(out, keyvault.VersionInfo{Version: v, Enabled: true, Created: time.Unix(int64(1_700_000_000+i), 0)})
	}
	return out, nil
}

// ListSecrets lists every secret with versions, with its tags and enabled state.
func (f *fakeVault) ListSecrets(ctx context.Context) ([]keyvault.SecretProperties, error) {
	defer f.end()
	if err := f.begin(ctx, "list", "", ""); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[""]; err != nil {
		return nil, err
	}
	var out []keyvault.SecretProperties
	for name := range f.versions {
		p := keyvault.SecretProperties{Name: name, Tags: f.tags[name]}
		enabled := !f.disabled[name]
		p.Attributes.Enabled = &enabled
		if exp, ok := f.expires[name]; ok {
			p.Attributes.Expires = &exp
		}
		out = append(out, p)
	}
	return out, nil
}

// notFound is Key Vault's 404 as the SDK returns it.
func notFound(what string) error {
	return &azcore.ResponseError{StatusCode: 404, ErrorCode: what + "NotFound"}
}

// fakeVaults serves vaults by URL and counts how often each is opened.
type fakeVaults struct {
	mu     sync.Mutex
	vaults map[string]*fakeVault // vault name → vault
	opened map[string]int
}

func (f *fakeVaults) Vault(vaultURL, _ string, _ azcore.TokenCredential, _ keyvault.VaultOptions) (Vault, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := strings.TrimSuffix(strings.TrimPrefix(vaultURL, "https://"), ".vault.azure.net/")
	v, ok := f.vaults[name]
	if !ok {
		return nil, fmt.Errorf("failed to get keyvault client: unknown vault %s", vaultURL)
	}
	f.opened[name]++
	return v, nil
}

func newMounter(vaults map[string]*fakeVault, mod func(*Options)) (*Mounter, *fakeVaults) {
	fv := &fakeVaults{vaults: vaults, opened: map[string]int{}}
	o := Options{
		Credentials: fakeCreds{},
		Vaults:      fv,
		Clouds: func(string, string) (cloud.Environment, error) {
			env, _ := cloud.Lookup("AzurePublicCloud")
			return env, nil
		},
	}
	if mod != nil {
		mod(&o)
	}
	return New(o), fv
}

// secret is a secret object of vault "kv" at index i.
func secret(i int, name, alias, version string) config.Object {
	return config.Object{Index: i, Name: name, Alias: alias, Version: version, Type: vocab.Secret, VaultName: "kv", Mode: 0o644}
}

func mountOf(objs ...config.Object) *config.Mount {
	return &config.Mount{Identity: config.Identity{Mode: vocab.WorkloadIdentity, ClientID: "c"}, VaultName: "kv", Objects: objs}
}

func files(res *Result) string {
	var parts []string
	for i, f := range res.Files {
		parts = append(parts, f.Path+"="+string(f.Contents)+"@"+res.Versions[i].ID+":"+res.Versions[i].Version)
	}
	return strings.Join(parts, " ")
}

func TestMountDedup(t *testing.T) {
	tests := []struct {
		name     string
		objects  []config.Object
		want     string            // files
		requests map[[3]string]int // {op, name, version} → requests
	}{
		{"two aliases of one secret make one GET",
			[]config.Object{secret(0, "db", "a", ""), secret(1, "db", "b", "")},
			"a=db@v2@secret/db:v2 b=db@v2@secret/db:v2",
			map[[3]string]int{{"secret", "db", ""}: 1}},
		{"the same object twice makes one GET",
			[]config.Object{secret(0, "db", "", "v1"), secret(1, "db", "copy", "v1"), secret(2, "db", "again", "v1")},
			"db=db@v1@secret/db:v1 copy=db@v1@secret/db:v1 again=db@v1@secret/db:v1",
			map[[3]string]int{{"secret", "db", "v1"}: 1}},
		{"one name at two versions makes two GETs",
			[]config.Object{secret(0, "db", "old", "v1"), secret(1, "db", "new", "v2")},
			"old=db@v1@secret/db:v1 new=db@v2@secret/db:v2",
			map[[3]string]int{{"secret", "db", "v1"}: 1, {"secret", "db", "v2"}: 1}},
		{"latest and an explicit version are separate requests",
			[]config.Object{secret(0, "db", "latest", ""), secret(1, "db", "pinned", "v2")},
			"latest=db@v2@secret/db:v2 pinned=db@v2@secret/db:v2",
			map[[3]string]int{{"secret", "db", ""}: 1, {"secret", "db", "v2"}: 1}},
		{"one name in two vaults makes two GETs",
			[]config.Object{secret(0, "db", "here", ""), func() config.Object { o := secret(1, "db", "there", ""); o.VaultName = "other"; return o }()},
			"here=db@v2@secret/db:v2 there=db@v9@secret/db:v9",
			map[[3]string]int{{"secret", "db", ""}: 1}},
	}
	for _, tc := range tests {
		for _, par := range []int{1, 8} {
			t.Run(fmt.Sprintf("%s/parallelism %d", tc.name, par), func(t *testing.T) {
				kv := newFakeVault().set("db", "v1", "v2")
				other := newFakeVault().set("db", "v9")
				mt, fv := newMounter(map[string]*fakeVault{"kv": kv, "other": other}, func(o *Options) { o.Parallelism = par })
				res, err := mt.Mount(context.Background(), mountOf(tc.objects...))
				if err != nil {
					t.Fatal(err)
				}
				if got := files(res); got != tc.want {
					t.Errorf("files %s\nwant  %s", got, tc.want)
				}
				total := 0
				for k, n := range tc.requests {
					if got := kv.count(k[0], k[1], k[2]); got != n {
						t.Errorf("%q: %d requests, want %d", k, got, n)
					}
					total += n
				}
				if kv.total() != total {
					t.Errorf("%d requests to vault kv, want %d", kv.total(), total)
				}
				wantOther := 0
				if strings.Contains(tc.want, "v9") {
					wantOther = 1
				}
				if n := other.total(); n != wantOther {
					t.Errorf("%d requests to vault other, want %d", n, wantOther)
				}
				if fv.opened["kv"] != 1 {
					t.Errorf("vault kv opened %d times in one mount", fv.opened["kv"])
				}
			})
		}
	}
}

// Every object is attempted; each failing one is reported, in the objects' order, with
// its index and identity; no file of the mount is returned.
func TestMountPartialFailure(t *testing.T) {
	kv := newFakeVault().set("a", "1").set("c", "1").set("e", "1")
	kv.errs["d"] = diag.New(diag.KindPermissionDenied, errors.New("403 Forbidden"), "")
	for _, par := range []int{1, 4} {
		mt, _ := newMounter(map[string]*fakeVault{"kv": kv}, func(o *Options) { o.Parallelism = par })
		res, err := mt.Mount(context.Background(), mountOf(
			secret(0, "a", "", ""), secret(1, "b", "", ""), secret(2, "c", "", ""), secret(3, "d", "", ""), secret(4, "e", "", ""),
			config.Object{Index: 5, Name: "k", Type: vocab.Key, VaultName: "kv"}))
		if res != nil {
			t.Fatalf("parallelism %d: a failed mount returned %d files", par, len(res.Files))
		}
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("parallelism %d: err = %T %v, want Errors", par, err, err)
		}
		var got []string
		for _, e := range es {
			got = append(got, fmt.Sprintf("%d:%s/%s:%s", e.Index, e.Type, e.Name, diag.Classify(e.Err)))
		}
		if want := "1:secret/b:not_found 3:secret/d:permission_denied 5:key/k:not_found"; strings.Join(got, " ") != want {
			t.Errorf("parallelism %d: errors %s, want %s", par, strings.Join(got, " "), want)
		}
		if es.Kind() != diag.KindNotFound {
			t.Errorf("kind %s, want the first failure's", es.Kind())
		}
		if !strings.Contains(err.Error(), "failed to get objectType:secret, objectName:b, objectVersion:: ") {
			t.Errorf("error text %q", err)
		}
	}
}

// objectVersionHistory lists the versions once and fetches the newest N+1 (like the
// Azure provider, which appends before it checks the count), newest first, into
// <file>/<i>; a failing listing fails its object only.
func TestMountHistoryExpansion(t *testing.T) {
	kv := newFakeVault().set("ring", "r1", "r2", "r3", "r4", "r5").set("plain", "p1")
	kv.errs["gone"] = diag.New(diag.KindNotFound, errors.New("404"), "")
	mt, _ := newMounter(map[string]*fakeVault{"kv": kv}, nil)
	ring := secret(0, "ring", "", "")
	ring.VersionHistory = 3
	res, err := mt.Mount(context.Background(), mountOf(ring, secret(1, "plain", "", ""), secret(2, "ring", "current", "")))
	if err != nil {
		t.Fatal(err)
	}
	want := "ring/0=ring@r5@secret/ring/0:r5 ring/1=ring@r4@secret/ring/1:r4 ring/2=ring@r3@secret/ring/2:r3 ring/3=ring@r2@secret/ring/3:r2 plain=plain@p1@secret/plain:p1 current=ring@r5@secret/ring:r5"
	if got := files(res); got != want {
		t.Errorf("files %s\nwant  %s", got, want)
	}
	if kv.count("versions", "ring", "") != 1 || kv.count("secret", "ring", "r5") != 1 || kv.count("secret", "ring", "r2") != 1 || kv.count("secret", "ring", "r1") != 0 || kv.count("versions", "plain", "") != 0 {
		t.Errorf("requests %v", kv.requests)
	}
	gone := secret(0, "gone", "", "")
	gone.VersionHistory = 2
	_, err = mt.Mount(context.Background(), mountOf(gone, secret(1, "plain", "", "")))
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].Name != "gone" || diag.Classify(es[0]) != diag.KindNotFound {
		t.Fatalf("err = %v", err)
	}
}

// Cancelling a mount ends it promptly: the requests in flight end with the context and
// the objects that never got a slot fail with it too, each reported.
func TestMountCancellation(t *testing.T) {
	kv := newFakeVault().set("a", "1").set("b", "1").set("c", "1").set("d", "1")
	kv.gate = make(chan struct{}) // never opened
	kv.started = make(chan struct{}, 16)
	mt, _ := newMounter(map[string]*fakeVault{"kv": kv}, func(o *Options) { o.Parallelism = 2 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := mt.Mount(ctx, mountOf(secret(0, "a", "", ""), secret(1, "b", "", ""), secret(2, "c", "", ""), secret(3, "d", "", "")))
		done <- err
	}()
	<-kv.started
	<-kv.started // both slots busy; c and d wait for one
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Mount did not return after its context was cancelled")
	}
	var es Errors
	if !errors.As(err, &es) || len(es) != 4 {
		t.Fatalf("err = %v, want all four objects failed", err)
	}
	for i, e := range es {
		if e.Index != i || !errors.Is(e.Err, context.Canceled) {
			t.Errorf("object %d: %v", i, e)
		}
	}
	if n := kv.total(); n != 2 {
		t.Errorf("%d requests, want 2: objects that had no slot must not be sent", n)
	}
}

// At most Parallelism requests of one mount run at once, and at most MaxInFlight across
// mounts; a mount waiting for a node-wide slot gives up when its deadline passes.
func TestMountConcurrencyBounds(t *testing.T) {
	kv := newFakeVault()
	var objs []config.Object
	for i := 0; i < 12; i++ {
		n := fmt.Sprintf("s%d", i)
		kv.set(n, "1")
		objs = append(objs, secret(i, n, "", ""))
	}
	kv.gate = make(chan struct{})
	kv.started = make(chan struct{}, 64)
	mt, _ := newMounter(map[string]*fakeVault{"kv": kv}, func(o *Options) { o.Parallelism = 3; o.MaxInFlight = 4 })
	results := make(chan error, 2)
	go func() { _, err := mt.Mount(context.Background(), mountOf(objs...)); results <- err }()
	for i := 0; i < 3; i++ {
		<-kv.started
	}
	go func() { _, err := mt.Mount(context.Background(), mountOf(objs...)); results <- err }()
	<-kv.started // the second mount got the fourth node-wide slot
	// A third mount finds every node-wide slot taken and gives up at its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := mt.Mount(ctx, mountOf(objs[0]))
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || diag.Classify(es[0]) != diag.KindDeadline || !strings.Contains(err.Error(), "4 concurrent object fetches") {
		t.Fatalf("third mount: %v", err)
	}
	close(kv.gate)
	for i := 0; i < 2; i++ {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if kv.peak > 4 {
		t.Errorf("peak %d requests at once, over MaxInFlight 4", kv.peak)
	}
	// One mount alone: never more than Parallelism at once.
	kv.peak = 0
	kv.gate = nil
	kv.started = nil
	if _, err := mt.Mount(context.Background(), mountOf(objs...)); err != nil {
		t.Fatal(err)
	}
	if kv.peak > 3 {
		t.Errorf("peak %d requests in one mount, over Parallelism 3", kv.peak)
	}
}

// A credential that cannot be built fails the mount before any request, under the Azure
// provider's text; so does a vault that cannot be opened.
func TestMountCredentialAndVaultErrors(t *testing.T) {
	kv := newFakeVault().set("a", "1")
	mt, _ := newMounter(map[string]*fakeVault{"kv": kv}, func(o *Options) { o.Credentials = fakeCreds{err: errors.New("could not find clientid in secrets")} })
	_, err := mt.Mount(context.Background(), mountOf(secret(0, "a", "", "")))
	if err == nil || err.Error() != "failed to get keyvault client: could not find clientid in secrets" || kv.total() != 0 {
		t.Fatalf("err = %v, %d requests", err, kv.total())
	}
	mt, _ = newMounter(map[string]*fakeVault{"kv": kv}, nil)
	o := secret(0, "a", "", "")
	o.VaultName = "missing"
	if _, err := mt.Mount(context.Background(), mountOf(o)); err == nil || !strings.Contains(err.Error(), "failed to get keyvault client") {
		t.Fatalf("err = %v", err)
	}
	if res, err := mt.Mount(context.Background(), mountOf()); err != nil || len(res.Files) != 0 {
		t.Fatalf("no objects: %v, %v", res, err)
	}
}
