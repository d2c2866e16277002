package lint

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/test/spctest"
)

func goodSPC() *SecretProviderClass {
	return &SecretProviderClass{
		APIVersion: "secrets-store.csi.x-k8s.io/v1", Name: "web", Namespace: "shop",
		Spec: &Spec{Provider: "azure", Parameters: map[string]string{
			"keyvaultName": "shop-vault",
			"tenantID":     "72f988bf-86f1-41af-91ab-2d7cd011db47",
			"clientID":     "1b6e3a4e-0c6f-4a8f-9d0e-5f7a4b7c2d11",
			"objects": spctest.Objects(
				"objectName: web-tls\nobjectType: secret\nobjectAlias: tls\nsplitCertAndKey: true",
				"objectName: ring\nobjectType: secret\nobjectVersionHistory: 3",
				"objectName: db\nobjectType: secret\njmesPath:\n  - path: user\n    objectAlias: db-user",
				"objectName: cert\nobjectType: secret"),
		}},
	}
}

// A webhook builds the class from JSON, with no keys as written and no lines: every
// finding still has its path and its line of text.
func TestCheckWithoutSource(t *testing.T) {
	spc := goodSPC()
	if f := Check(spc, Options{}); len(f) != 0 {
		t.Fatalf("clean class: %v", f)
	}
	spc.Spec.Parameters["keyVaultName"] = "x"
	spc.Spec.Parameters["cloudName"] = "AzureUSGovernmnetCloud"
	spc.Spec.SecretObjects = []SecretObject{{SecretName: "web-tls", Type: "kubernetes.io/tls", Data: []SecretData{
		{ObjectName: "tls.crt", Key: "tls.crt"}, {ObjectName: "tls.key", Key: "tls.key"},
		{ObjectName: "ring/4", Key: "old"}, {ObjectName: "cert.crt", Key: "ca"}, {ObjectName: "db-usr", Key: "user"},
	}}}
	spc.Spec.Parameters["objects"] = strings.Replace(spc.Spec.Parameters["objects"], "objectAlias: db-user", "objectAlias: tls.key", 1)
	got := Check(spc, Options{})
	want := []struct {
		sev     config.Severity
		path    Path
		key     bool
		subject string
		text    string
	}{
		{config.SeverityError, "spec.parameters.keyVaultName", true, "parameters.keyVaultName",
			`error: SC: parameters.keyVaultName: unknown parameter "keyVaultName" is ignored; fix: did you mean keyvaultName? Parameter names are case-sensitive`},
		{config.SeverityInvalid, "spec.parameters.objects.array[2].jmesPath[0].objectAlias", true, "objects.array[2] (objectType:secret, objectName:db): jmesPath[0].objectAlias",
			`error: SC: objects.array[2] (objectType:secret, objectName:db): jmesPath[0].objectAlias: duplicate output path "tls.key": objects.array[0] (objectType:secret, objectName:web-tls) has splitCertAndKey and writes its certificate or key there; fix: give this file a different objectAlias`},
		{config.SeverityInvalid, "spec.parameters.cloudName", true, "parameters.cloudName",
			`error: SC: parameters.cloudName: cloudName AzureUSGovernmnetCloud is not valid: no such cloud; fix: did you mean AzureUSGovernmentCloud?`},
		{config.SeverityInvalid, "spec.secretObjects[0].data[2].objectName", false, "secretObjects[0] (secretName web-tls): data[2]",
			`error: SC: secretObjects[0] (secretName web-tls): data[2]: objectName "ring/4" is not a file the objects produce: the driver fails with "file matching objectName ring/4 not found in the pod"; fix: objects.array[1] has objectVersionHistory 3 and writes ring/0 … ring/3 (4 is not among them)`},
		{config.SeverityInvalid, "spec.secretObjects[0].data[3].objectName", false, "secretObjects[0] (secretName web-tls): data[3]",
			`fix: set splitCertAndKey: true on objects.array[3] (a certificate's secret), or lint with --write-cert-and-key-in-separate-files`},
		{config.SeverityInvalid, "spec.secretObjects[0].data[4].objectName", false, "secretObjects[0] (secretName web-tls): data[4]",
			`; fix: name one of the files the objects produce (objectAlias, else objectName): cert, db, ring/0, ring/1, ring/2, ring/3, tls, tls.crt, tls.key`},
		{config.SeverityError, "spec.secretObjects[0].data", false, "secretObjects[0] (secretName web-tls)",
			`key "ca" in a kubernetes.io/tls Secret: the driver converts only tls.crt and tls.key`},
		{config.SeverityError, "spec.secretObjects[0].data", false, "secretObjects[0] (secretName web-tls)",
			`key "old" in a kubernetes.io/tls Secret`},
		{config.SeverityError, "spec.secretObjects[0].data", false, "secretObjects[0] (secretName web-tls)",
			`key "user" in a kubernetes.io/tls Secret`},
	}
	if len(got) != len(want) {
		t.Fatalf("%d findings, want %d:\n%s", len(got), len(want), texts(got))
	}
	for i, w := range want {
		g := got[i]
		if g.Severity != w.sev || g.Path != w.path || g.Key != w.key || g.Subject != w.subject || !strings.Contains(g.Text("SC"), w.text) {
			t.Errorf("finding %d:\n got %v %q key=%v %q\n     %s\nwant %v %q key=%v %q\n     %s", i, g.Severity, g.Path, g.Key, g.Subject, g.Text("SC"), w.sev, w.path, w.key, w.subject, w.text)
		}
	}
	// With the provider flag, cert.crt exists.
	for _, f := range Check(spc, Options{WriteCertAndKeySeparately: true}) {
		if f.Path == "spec.secretObjects[0].data[3].objectName" {
			t.Errorf("with the flag: %s", f.Text(""))
		}
	}
}

// The class as an admission webhook would get it: JSON, decoded with encoding/json.
func TestCheckFromJSON(t *testing.T) {
	const review = `{"apiVersion":"secrets-store.csi.x-k8s.io/v1","kind":"SecretProviderClass",
	 "metadata":{"name":"typos","namespace":"shop"},
	 "spec":{"provider":"azure","parameters":{"keyvaultName":"shop-vault","tenantId":"t","clientID":"c",
	   "objects":"array:\n  - |\n    objectName: db\n    objectType: secret\n    objectVersionhistory: 3\n"},
	   "secretObjects":[{"secretName":"db","type":"Opaque","data":[{"objectName":"db","key":"password"}]}]}}`
	var obj struct {
		APIVersion string `json:"apiVersion"`
		Metadata   struct{ Name, Namespace string }
		Spec       struct {
			Provider      string            `json:"provider"`
			Parameters    map[string]string `json:"parameters"`
			SecretObjects []struct {
				SecretName string `json:"secretName"`
				Type       string `json:"type"`
				Data       []struct{ ObjectName, Key string }
			} `json:"secretObjects"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(review), &obj); err != nil {
		t.Fatal(err)
	}
	spc := &SecretProviderClass{APIVersion: obj.APIVersion, Name: obj.Metadata.Name, Namespace: obj.Metadata.Namespace,
		Spec: &Spec{Provider: obj.Spec.Provider, Parameters: obj.Spec.Parameters}}
	for _, so := range obj.Spec.SecretObjects {
		o := SecretObject{SecretName: so.SecretName, Type: so.Type}
		for _, d := range so.Data {
			o.Data = append(o.Data, SecretData{ObjectName: d.ObjectName, Key: d.Key})
		}
		spc.Spec.SecretObjects = append(spc.Spec.SecretObjects, o)
	}
	var lines []string
	for _, f := range Check(spc, Options{}) {
		lines = append(lines, f.Text(spc.String()))
	}
	want := []string{
		`warning: SecretProviderClass shop/typos: parameters.tenantId: tenantId is deprecated; fix: rename the parameter to tenantID`,
		`error: SecretProviderClass shop/typos: objects.array[0]: unknown field "objectVersionhistory" is ignored; fix: did you mean objectVersionHistory? Field names are case-sensitive`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckClass(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*SecretProviderClass)
		want   []string // substrings of each finding's text, in order
	}{
		{"another provider", func(s *SecretProviderClass) { s.Spec.Provider = "vault"; s.Name = "" }, nil},
		{"no name, old version", func(s *SecretProviderClass) { s.Name = ""; s.APIVersion = "secrets-store.csi.x-k8s.io/v1alpha1" },
			[]string{"error: C: metadata.name: the SecretProviderClass has no name"}},
		{"no spec", func(s *SecretProviderClass) { s.Spec = nil }, []string{"spec: the SecretProviderClass has no spec"}},
		{"provider case", func(s *SecretProviderClass) { s.Spec.Provider = "AZURE" }, []string{`provider "AZURE" does not match the socket azure.sock`}},
		{"unknown spec key", func(s *SecretProviderClass) { s.Spec.Keys = []string{"provider", "parameter"} },
			[]string{`spec.parameter: unknown field "parameter": the API server drops it; fix: did you mean parameters?`}},
		{"no parameters", func(s *SecretProviderClass) { s.Spec.Parameters = nil }, []string{"spec.parameters: spec.parameters is not set"}},
		{"written", func(s *SecretProviderClass) {
			s.Spec.Parameters["useVMManagedIdentity"] = "off"
			s.Spec.Parameters["usePodIdentity"] = "false"
			s.Spec.Written = []Written{{Key: "useVMManagedIdentity", Plain: true}, {Key: "usePodIdentity", Type: "bool", Plain: true}, {Key: "extra", Type: "map"}, {Key: "clientID", Plain: true}}
		}, []string{
			`parameters.useVMManagedIdentity: kubectl reads the unquoted off as a boolean, not a string: the API server rejects the SecretProviderClass; fix: quote it: useVMManagedIdentity: "off"`,
			`parameters.usePodIdentity: the value false is a YAML bool, not a string`,
			`parameters.extra: the value is not a string: parameters is a map of strings`,
			`parameters.useVMManagedIdentity: failed to parse useVMManagedIdentity flag`,
		}},
		{"secretObjects not a list", func(s *SecretProviderClass) { s.Spec.SecretObjectsNotList = true }, []string{"spec.secretObjects: secretObjects is not a list"}},
		{"secretObjects shapes", func(s *SecretProviderClass) {
			s.Spec.SecretObjects = []SecretObject{{NotMapping: true}, {Keys: []string{"secretName", "typ"}, SecretName: "a", Data: []SecretData{{NotMapping: true}, {Keys: []string{"objectName", "kee"}, ObjectName: "tls"}}}}
		}, []string{
			"secretObjects[0]: not a mapping",
			`secretObjects[1] (secretName a): unknown field "typ": the API server drops it; fix: did you mean type?`,
			"secretObjects[1] (secretName a): type is not set",
			"secretObjects[1] (secretName a): data[0]: not a mapping",
			`secretObjects[1] (secretName a): data[1]: unknown field "kee"`,
			"secretObjects[1] (secretName a): data[1]: key is not set",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spc := goodSPC()
			tt.mutate(spc)
			got := Check(spc, Options{})
			if len(got) != len(tt.want) {
				t.Fatalf("%d findings, want %d:\n%s", len(got), len(tt.want), texts(got))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i].Text("C"), w) {
					t.Errorf("finding %d: %s\nwant it to contain %s", i, got[i].Text("C"), w)
				}
			}
		})
	}
}

func TestPath(t *testing.T) {
	p := Path("").Key("spec").Key("secretObjects").Index(0).Key("data").Index(12).Key("objectName")
	if p != "spec.secretObjects[0].data[12].objectName" {
		t.Fatalf("path %q", p)
	}
	var chain []Path
	for q, ok := p, true; ok; q, ok = q.Parent() {
		chain = append(chain, q)
	}
	want := []Path{p, "spec.secretObjects[0].data[12]", "spec.secretObjects[0].data", "spec.secretObjects[0]", "spec.secretObjects", "spec", ""}
	if len(chain) != len(want) {
		t.Fatalf("parents %q", chain)
	}
	for i := range want {
		if chain[i] != want[i] {
			t.Errorf("parent %d = %q, want %q", i, chain[i], want[i])
		}
	}
}

func TestText(t *testing.T) {
	f := Finding{Severity: config.SeverityWarning, Subject: "parameters.tenantId", Message: "tenantId is\n  deprecated", Fix: "rename it"}
	if got := f.Text("SecretProviderClass a/b (document 1)"); got != "warning: SecretProviderClass a/b (document 1): parameters.tenantId: tenantId is deprecated; fix: rename it" {
		t.Errorf("Text = %q", got)
	}
	f = Finding{Severity: config.SeverityInvalid, Message: "broken"}
	if got := f.Text(""); got != "error: broken" {
		t.Errorf("Text = %q", got)
	}
}

func texts(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + string(f.Path) + " " + f.Text("") + "\n")
	}
	return b.String()
}

// TestCheckRenderedFiles: secretObjects may name rendered files; a hidden input is an
// error, a file of an optional object or a selector's match a warning; the findings of
// the files parameter point at it.
func TestCheckRenderedFiles(t *testing.T) {
	spc := goodSPC()
	spc.Spec.Parameters["objects"] = spctest.Objects(
		"objectName: db-user\nobjectType: secret",
		"objectName: db-password\nobjectType: secret",
		"objectName: extra\nobjectType: secret\noptional: true",
		"objectType: secret\nselector: {namePrefix: shop-}\nobjectAlias: shop")
	spc.Spec.Parameters["files"] = "- {path: app.env, format: dotenv, hideInputs: true, inputs: [db-user, db-password]}\n- {path: x.json, format: json, inputs: [extra]}"
	spc.Spec.SecretObjects = []SecretObject{{SecretName: "app", Type: "Opaque", Data: []SecretData{
		{ObjectName: "app.env", Key: ".env"}, {ObjectName: "db-user", Key: "user"}, {ObjectName: "extra", Key: "extra"}, {ObjectName: "shop-db", Key: "db"}, {ObjectName: "shop/shop-db", Key: "db2"},
	}}}
	var got []string
	for _, f := range Check(spc, Options{}) {
		got = append(got, f.Severity.String()+" "+string(f.Path)+" "+f.Text(""))
	}
	want := []string{
		`warning spec.parameters.files warning: parameters.files[1].inputs[0]: files[1]: input "extra" comes from an optional object (objects.array[2]): when it is missing, the mount fails on this file`,
		`invalid spec.secretObjects[0].data[1].objectName error: secretObjects[0] (secretName app): data[1]: objectName "db-user" is an input that files[0] hides (hideInputs)`,
		`warning spec.secretObjects[0].data[2].objectName warning: secretObjects[0] (secretName app): data[2]: objectName "extra" comes from an optional object (objects.array[2])`,
		`invalid spec.secretObjects[0].data[3].objectName error: secretObjects[0] (secretName app): data[3]: objectName "shop-db" is not a file the objects produce`,
		`warning spec.secretObjects[0].data[4].objectName warning: secretObjects[0] (secretName app): data[4]: objectName "shop/shop-db" is only there if the selector of objects.array[3] matches such a secret`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d findings:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("finding %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}
