package mount

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/test/spctest"
)

// parsed is the Mount config.Parse makes of objects and files for vault kv1.
func parsed(t *testing.T, files string, objects ...string) *config.Mount {
	t.Helper()
	a := map[string]string{
		config.AttrPodName: "p", config.AttrPodNamespace: "ns",
		config.ParamKeyvaultName: "kv1", config.ParamTenantID: "t",
		config.ParamObjects: spctest.Objects(objects...),
	}
	if files != "" {
		a[config.ParamFiles] = files
	}
	m, err := config.Parse(a, map[string]string{"clientid": "c", "clientsecret": "s"}, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fileMap(res *Result) map[string]string {
	out := map[string]string{}
	for _, f := range res.Files {
		out[f.Path] = string(f.Contents)
	}
	return out
}

func versionOf(res *Result, id string) string {
	for _, v := range append(append([]ObjectVersion(nil), res.Versions...), res.HiddenVersions...) {
		if v.ID == id {
			return v.Version
		}
	}
	return ""
}

func TestMountRenderedFiles(t *testing.T) {
	v := newFakeVault().set("db-user", "v1").set("db-password", "v1").set("unused", "v1")
	mt, _ := newMounter(map[string]*fakeVault{"kv1": v}, nil)
	m := parsed(t, `
- path: app.env
  format: dotenv
  keyCase: upper
  hideInputs: true
  inputs: [db-user, db-password]
- path: dsn
  template: '{{.u}}:{{.p}}'
  inputs: [{file: db-user, key: u}, {file: db-password, key: p}]
`, "objectName: db-user\nobjectType: secret", "objectName: db-password\nobjectType: secret", "objectName: unused\nobjectType: secret")
	res, err := mt.Mount(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	got := fileMap(res)
	want := map[string]string{
		"app.env": "DB_USER='db-user@v1'\nDB_PASSWORD='db-password@v1'\n",
		"dsn":     "db-user@v1:db-password@v1",
		"unused":  "unused@v1",
	}
	if len(got) != len(want) {
		t.Fatalf("files %v, want %v (hidden inputs must not be written)", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	// The hidden inputs' versions still reach the driver.
	if versionOf(res, "secret/db-user") != "v1" || versionOf(res, "secret/db-password") != "v1" {
		t.Errorf("hidden versions missing: %+v %+v", res.Versions, res.HiddenVersions)
	}
	if len(res.Files) != len(res.Versions) {
		t.Fatalf("Versions do not follow Files: %d files, %d versions", len(res.Files), len(res.Versions))
	}
	envV, dsnV := versionOf(res, RenderedID("app.env")), versionOf(res, RenderedID("dsn"))
	if len(envV) != 32 || envV == dsnV {
		t.Fatalf("rendered versions %q %q", envV, dsnV)
	}

	// Same inputs, same version; one input changes, both rendered versions change.
	res2, err := mt.Mount(context.Background(), m)
	if err != nil || versionOf(res2, RenderedID("app.env")) != envV {
		t.Fatalf("remount changed the version: %v", err)
	}
	v.set("db-password", "v2")
	res3, err := mt.Mount(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if versionOf(res3, RenderedID("app.env")) == envV || versionOf(res3, RenderedID("dsn")) == dsnV {
		t.Fatal("an input changed, the rendered versions did not")
	}
	if fileMap(res3)["dsn"] != "db-user@v1:db-password@v2" {
		t.Fatalf("dsn = %q", fileMap(res3)["dsn"])
	}
	// Only the unrelated object changes: the rendered versions stay.
	v.set("unused", "v2")
	res4, _ := mt.Mount(context.Background(), m)
	if versionOf(res4, RenderedID("app.env")) != versionOf(res3, RenderedID("app.env")) {
		t.Fatal("an unrelated object changed the rendered version")
	}
}

func TestRenderedVersion(t *testing.T) {
	a := RenderedVersion("def", []string{"secret/a\x00v1\x00a", "secret/b\x00v1\x00b"})
	if b := RenderedVersion("def", []string{"secret/b\x00v1\x00b", "secret/a\x00v1\x00a"}); a != b {
		t.Error("order of inputs changes the version")
	}
	for _, other := range []string{
		RenderedVersion("def", []string{"secret/a\x00v2\x00a", "secret/b\x00v1\x00b"}),
		RenderedVersion("def2", []string{"secret/a\x00v1\x00a", "secret/b\x00v1\x00b"}),
		RenderedVersion("def", []string{"secret/a\x00v1\x00a"}),
	} {
		if other == a {
			t.Error("a different input set or definition gives the same version")
		}
	}
}

// TestMountOptional: a missing (404) or disabled optional object is skipped and said
// so; any other failure of an optional object still fails the mount; a required one
// fails as before; a rendered file with a missing optional input fails unless it
// skips missing inputs.
func TestMountOptional(t *testing.T) {
	disabled := kvError(403, "Forbidden", "ForbiddenByRbac", "Caller is not authorized to perform action on resource.")
	disabledErr := kvError(403, "Forbidden", "SecretDisabled", "Operation get is not allowed on a disabled secret.")
	for _, tc := range []struct {
		name   string
		err    error
		skip   string
		failed bool
	}{
		{"not found", nil, diag.MissingNotFound, false},
		{"disabled", disabledErr, diag.MissingDisabled, false},
		{"forbidden", disabled, "", true},
		{"throttled", kvError(429, "Throttled", "", "Request was not processed because too many requests were received."), "", true},
		{"unavailable", kvError(503, "ServiceUnavailable", "", "The service is temporarily unavailable."), "", true},
		{"transport", errors.New("connection reset"), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newFakeVault().set("db", "v1")
			if tc.err != nil {
				v.set("opt", "v1")
				v.errs["opt"] = tc.err
			}
			obs := &recordingObserver{}
			mt, _ := newMounter(map[string]*fakeVault{"kv1": v}, func(o *Options) { o.Observer = obs })
			m := parsed(t, "", "objectName: db\nobjectType: secret", "objectName: opt\nobjectType: secret\noptional: true")
			res, err := mt.Mount(context.Background(), m)
			if tc.failed {
				if err == nil || !strings.Contains(err.Error(), "objectName:opt") {
					t.Fatalf("err = %v, want the mount to fail on opt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Files) != 1 || res.Files[0].Path != "db" {
				t.Fatalf("files %v", fileMap(res))
			}
			if len(res.Skipped) != 1 || res.Skipped[0].Name != "opt" || res.Skipped[0].Reason != tc.skip || res.Skipped[0].Index != 1 {
				t.Fatalf("skipped %+v", res.Skipped)
			}
			if obs.skipped[tc.skip] != 1 {
				t.Fatalf("observer %+v", obs.skipped)
			}
			// Once it exists, the next mount has it.
			delete(v.errs, "opt")
			v.set("opt", "v2")
			res, err = mt.Mount(context.Background(), m)
			if err != nil || fileMap(res)["opt"] != "opt@v2" || len(res.Skipped) != 0 {
				t.Fatalf("after creating it: %v %v %+v", err, fileMap(res), res.Skipped)
			}
		})
	}
	// Required and missing: fails as today.
	mt, _ := newMounter(map[string]*fakeVault{"kv1": newFakeVault().set("db", "v1")}, nil)
	if _, err := mt.Mount(context.Background(), parsed(t, "", "objectName: db\nobjectType: secret", "objectName: gone\nobjectType: secret")); err == nil || err.(Errors).Kind() != diag.KindNotFound {
		t.Fatalf("required missing: %v", err)
	}
	// A rendered file over a missing optional input.
	objs := []string{"objectName: db\nobjectType: secret", "objectName: opt\nobjectType: secret\noptional: true"}
	_, err := mt.Mount(context.Background(), parsed(t, "- {path: a.json, format: json, inputs: [db, opt]}", objs...))
	if err == nil || !strings.Contains(err.Error(), `rendered file "a.json": input "opt": its object objects.array[1] is optional and was skipped (not_found)`) {
		t.Fatalf("rendered over a missing optional input: %v", err)
	}
	res, err := mt.Mount(context.Background(), parsed(t, "- {path: a.json, format: json, skipMissingInputs: true, inputs: [db, opt]}", objs...))
	if err != nil || fileMap(res)["a.json"] != "{\n  \"db\": \"db@v1\"\n}\n" {
		t.Fatalf("skipMissingInputs: %v %q", err, fileMap(res)["a.json"])
	}
}

// kvError is a Key Vault error answer as the SDK returns it, with the service's body.
func kvError(status int, code, inner, msg string) error {
	body := fmt.Sprintf(`{"error":{"code":%q,"message":%q,"innererror":{"code":%q}}}`, code, msg, inner)
	req, _ := http.NewRequest(http.MethodGet, "https://kv1.vault.azure.net/secrets/opt", nil)
	return runtime.NewResponseError(&http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), Request: req})
}

type recordingObserver struct {
	skipped  map[string]int
	expiries []time.Time
}

func (r *recordingObserver) OptionalSkipped(reason string, n int) {
	if r.skipped == nil {
		r.skipped = map[string]int{}
	}
	r.skipped[reason] += n
}

func (r *recordingObserver) ObjectsMounted(expiries []time.Time, _ time.Time) {
	r.expiries = append(r.expiries, expiries...)
}

func TestMountSelectors(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	v := newFakeVault().set("shop-db", "v1").set("shop-api", "v1").set("shop-off", "v1").set("shop-old", "v1").set("other", "v1").set("shop-untagged", "v1")
	for _, n := range []string{"shop-db", "shop-api", "shop-off", "shop-old", "other"} {
		v.tags[n] = map[string]string{"app": "shop"}
	}
	v.disabled["shop-off"] = true
	v.expires["shop-old"] = now.Add(-time.Hour)
	mt, _ := newMounter(map[string]*fakeVault{"kv1": v}, func(o *Options) { o.Now = func() time.Time { return now } })
	m := parsed(t, "- {path: .env, format: dotenv, keyCase: upper, hideInputs: true, inputs: [shop]}",
		"objectType: secret\nselector: {namePrefix: shop-, tags: {app: shop}}\nstripPrefix: true\nobjectAlias: shop")
	res, err := mt.Mount(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileMap(res); len(got) != 1 || got[".env"] != "API='shop-api@v1'\nDB='shop-db@v1'\n" {
		t.Fatalf("files %q", got)
	}
	if len(res.Selected) != 1 || res.Selected[0].Matched != 2 || strings.Join(res.Selected[0].Disabled, ",") != "shop-off" || strings.Join(res.Selected[0].Expired, ",") != "shop-old" {
		t.Fatalf("selected %+v", res.Selected)
	}
	if v.count("list", "", "") != 1 {
		t.Errorf("listed %d times", v.count("list", "", ""))
	}

	// A failing listing names the selector; past the cap is an error.
	v.errs[""] = &azcore.ResponseError{StatusCode: 403}
	if _, err := mt.Mount(context.Background(), m); err == nil || !strings.Contains(err.Error(), "objects.array") && !strings.Contains(err.Error(), "objectType:secret") {
		t.Fatalf("list failure: %v", err)
	}
	delete(v.errs, "")
	many := newFakeVault()
	for i := 0; i <= config.MaxSelectorMatches; i++ {
		many.set("app-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+strings.Repeat("y", i/26), "v1")
	}
	mt2, _ := newMounter(map[string]*fakeVault{"kv1": many}, nil)
	_, err = mt2.Mount(context.Background(), parsed(t, "", "objectType: secret\nselector: {namePrefix: app-}"))
	if err == nil || !strings.Contains(err.Error(), "more than the 256 a selector may mount") {
		t.Fatalf("cap: %v", err)
	}
	// A match colliding with a named object fails the mount, naming both.
	col := newFakeVault().set("app-db", "v1").set("db", "v1")
	mt3, _ := newMounter(map[string]*fakeVault{"kv1": col}, nil)
	_, err = mt3.Mount(context.Background(), parsed(t, "", "objectName: db\nobjectType: secret", "objectType: secret\nselector: {namePrefix: app-}\nstripPrefix: true"))
	if err == nil || !strings.Contains(err.Error(), `duplicate output path "db"`) || diag.Classify(err) != diag.KindInvalid {
		t.Fatalf("collision: %v", err)
	}
}

func TestMountExpiry(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	v := newFakeVault().set("soon", "v1").set("later", "v1").set("gone", "v1").set("never", "v1")
	v.expires["soon"] = now.Add(48 * time.Hour)
	v.expires["later"] = now.Add(90 * 24 * time.Hour)
	v.expires["gone"] = now.Add(-time.Minute)
	obs := &recordingObserver{}
	mt, _ := newMounter(map[string]*fakeVault{"kv1": v}, func(o *Options) {
		o.Now = func() time.Time { return now }
		o.Observer = obs
	})
	res, err := mt.Mount(context.Background(), parsed(t, "", "objectName: soon\nobjectType: secret", "objectName: later\nobjectType: secret",
		"objectName: gone\nobjectType: secret", "objectName: never\nobjectType: secret"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range res.Expiring {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "soon,gone" {
		t.Fatalf("expiring %v", names)
	}
	if len(obs.expiries) != 4 || !obs.expiries[3].IsZero() {
		t.Fatalf("observed %v", obs.expiries)
	}
	_, err = mt.Mount(context.Background(), parsed(t, "", "objectName: gone\nobjectType: secret\nrefuseExpired: true"))
	if err == nil || !strings.Contains(err.Error(), `secret "gone" in vault kv1 expired at 2026-05-31T23:59:00Z (refuseExpired is set); fix: add a new version`) {
		t.Fatalf("refuseExpired: %v", err)
	}
	if _, err := mt.Mount(context.Background(), parsed(t, "", "objectName: soon\nobjectType: secret\nrefuseExpired: true")); err != nil {
		t.Fatalf("refuseExpired on a valid object: %v", err)
	}
}
