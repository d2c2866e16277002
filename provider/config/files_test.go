package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/provider/format"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// composeObjects are the objects the files tests render from.
var composeObjects = objectsYAML(
	"objectName: db-user\nobjectType: secret",
	"objectName: db-password\nobjectType: secret\noptional: true",
	"objectName: db-json\nobjectType: secret\njmesPath:\n  - path: host\n    objectAlias: db-host",
	"objectType: secret\nselector:\n  namePrefix: shop-\n  tags: {app: shop}\nstripPrefix: true\nobjectAlias: shop",
	"objectName: tls\nobjectType: secret\nsplitCertAndKey: true",
	"objectName: history\nobjectType: secret\nobjectVersionHistory: 3",
)

func TestParseFiles(t *testing.T) {
	files := `
- path: app.env
  format: dotenv
  keyCase: upper
  hideInputs: true
  skipMissingInputs: true
  inputs: [db-user, db-password, {file: db-host, key: HOST}, shop]
- path: conf/app.json
  format: JSON
  filePermission: "0600"
  inputs: [{file: tls.crt, encoding: base64}, history]
- path: dsn.txt
  template: "postgres://{{.user}}:{{input \"pw\" | trim}}@{{.host}}/app"
  inputs: [{file: db-user, key: user}, {file: db-password, key: pw}, {file: db-host, key: host}]
`
	m := mustParse(t, attrs(ParamObjects, composeObjects, ParamFiles, files), spSecrets())
	if len(m.Files) != 3 {
		t.Fatalf("files: %+v", m.Files)
	}
	env := m.Files[0]
	if env.Path != "app.env" || env.Format != format.FileDotenv || !env.HideInputs || !env.SkipMissingInputs || env.Mode != 0o644 || len(env.Inputs) != 4 {
		t.Fatalf("app.env: %+v", env)
	}
	if in := env.Inputs[3]; !in.Dir || in.File != "shop" || in.Object != 3 {
		t.Errorf("selector input: %+v", in)
	}
	if k := env.KeyFor(env.Inputs[0], "db-user"); k != "DB_USER" {
		t.Errorf("derived key %q", k)
	}
	if k := env.KeyFor(env.Inputs[2], "db-host"); k != "HOST" {
		t.Errorf("explicit key %q", k)
	}
	if k := env.KeyFor(env.Inputs[3], "shop/db-url"); k != "DB_URL" {
		t.Errorf("directory key %q", k)
	}
	js := m.Files[1]
	if js.Format != format.FileJSON || js.Mode != 0o600 || !js.Inputs[0].Base64 || !js.Inputs[1].Dir {
		t.Fatalf("conf/app.json: %+v", js)
	}
	if k := js.KeyFor(js.Inputs[1], "history/0"); k != "0" {
		t.Errorf("history key %q", k)
	}
	if m.Files[2].Format != format.FileTemplate || m.Files[2].Template == nil {
		t.Fatalf("template: %+v", m.Files[2])
	}
	sel := m.Objects[3]
	if sel.Selector == nil || sel.Selector.NamePrefix != "shop-" || sel.Selector.Tags["app"] != "shop" || !sel.Selector.StripPrefix || sel.Alias != "shop" || sel.Name != "" {
		t.Fatalf("selector: %+v", sel)
	}
	if !m.Objects[1].Optional {
		t.Error("optional not parsed")
	}
}

func TestParseFilesErrors(t *testing.T) {
	tests := []struct{ name, files, want string }{
		{"not a list", "path: x", "files is not a YAML list"},
		{"no path", "- format: json\n  inputs: [db-user]", "files[0]: path must not be empty"},
		{"bad path", "- path: ../x\n  format: json\n  inputs: [db-user]", "files[0]: file name must not contain '..'"},
		{"both", "- path: x\n  format: json\n  template: y\n  inputs: [db-user]", "format and template cannot be combined"},
		{"neither", "- path: x\n  inputs: [db-user]", "neither format nor template is set"},
		{"bad format", "- path: x\n  format: jsn\n  inputs: [db-user]", `did you mean json?`},
		{"no inputs", "- path: x\n  format: json", "inputs is empty"},
		{"unknown input", "- path: x\n  format: json\n  inputs: [db-usr]", `input "db-usr" is not a file the objects produce: no object writes it; fix: did you mean "db-user"?`},
		{"maybe companion", "- path: x\n  format: json\n  inputs: [db-user.crt]", "--write-cert-and-key-in-separate-files"},
		{"dup key", "- path: x\n  format: json\n  inputs: [db-user, {file: db-password, key: db-user}]", `inputs[0] and inputs[1] both have the key "db-user"`},
		{"dotenv key", "- path: x\n  format: dotenv\n  inputs: [{file: db-user, key: 1-x}]", "is not a shell variable name"},
		{"encoding", "- path: x\n  format: json\n  inputs: [{file: db-user, encoding: hex}]", `invalid encoding "hex"`},
		{"key case", "- path: x\n  format: json\n  keyCase: camel\n  inputs: [db-user]", `invalid keyCase "camel"`},
		{"template undeclared", "- path: x\n  template: '{{.nope}}'\n  inputs: [db-user]", `input "nope" is not among this file's inputs`},
		{"template dir", "- path: x\n  template: 'x'\n  inputs: [shop]", "is a directory: a template names each of its inputs"},
		{"template printf", "- path: x\n  template: '{{printf \"%d\" 1}}'", "function printf is not supported"},
		{"path clash with object", "- path: db-user\n  format: json\n  inputs: [db-password]", `files[0]: path "db-user" is also written by objects.array[0]`},
		{"path in selector dir", "- path: shop/x\n  format: json\n  inputs: [db-user]", "inside the directory of objects.array[3] (objectType:secret, selector)'s selector matches"},
		{"path clash with file", "- path: a\n  format: json\n  inputs: [db-user]\n- path: a/b\n  format: json\n  inputs: [db-user]", `files[1]: path "a/b" clashes with files[0]'s path "a"`},
		{"rendered input", "- path: a\n  format: json\n  inputs: [db-user]\n- path: b\n  format: json\n  inputs: [a]", `input "a" is not a file the objects produce`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := attrs(ParamObjects, composeObjects, ParamFiles, tc.files)
			_, err := Parse(a, spSecrets(), 0o644)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
			checkLintAgrees(t, a, spSecrets(), 0o644, err)
		})
	}
}

func TestParseObjectExtras(t *testing.T) {
	tests := []struct{ name, object, want string }{
		{"selector on key", "objectType: key\nselector: {namePrefix: a}", "selector only supported for objectType: secret"},
		{"selector with name", "objectName: a\nobjectType: secret\nselector: {namePrefix: a}", "selector cannot be combined with objectName"},
		{"selector with history", "objectType: secret\nselector: {namePrefix: a}\nobjectVersionHistory: 2", "selector cannot be combined with objectVersion"},
		{"selector with optional", "objectType: secret\nselector: {namePrefix: a}\noptional: true", "selector cannot be combined with optional"},
		{"empty selector", "objectType: secret\nselector: {}", "selector has no condition"},
		{"bad prefix", "objectType: secret\nselector: {namePrefix: a_b}", "invalid namePrefix"},
		{"strip without prefix", "objectType: secret\nselector: {tags: {a: b}}\nstripPrefix: true", "stripPrefix needs selector.namePrefix"},
		{"strip on named", "objectName: a\nobjectType: secret\nstripPrefix: true", "stripPrefix only applies to a selector"},
		{"selector bad format", "objectType: secret\nselector: {namePrefix: a}\nobjectFormat: der", "invalid objectFormat"},
		{"selector bool quoted", "objectType: secret\nselector: {namePrefix: a}\nstripPrefix: \"maybe\"", "optional, stripPrefix and refuseExpired must be unquoted true or false"},
		{"pfx password without pfx", "objectName: a\nobjectType: secret\npfxPasswordFile: pw", "pfxPasswordFile needs objectType: secret and objectFormat: pfx"},
		{"pfx password encoding", "objectName: a\nobjectType: secret\nobjectFormat: pfx\nobjectEncoding: base64\npfxPasswordFile: pw", "cannot be combined with objectEncoding"},
		{"pfx password missing", "objectName: a\nobjectType: secret\nobjectFormat: pfx\npfxPasswordFile: pw", `pfxPasswordFile "pw" is not a file the objects produce`},
		{"ca with pfx", "objectName: a\nobjectType: secret\nobjectFormat: pfx\ncertificatePart: ca", "certificatePart ca cannot be combined with objectFormat: pfx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := attrs(ParamObjects, objectsYAML(tc.object))
			_, err := Parse(a, spSecrets(), 0o644)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
			checkLintAgrees(t, a, spSecrets(), 0o644, err)
		})
	}
	m := mustParse(t, attrs(ParamObjects, objectsYAML(
		"objectName: pw\nobjectType: secret",
		"objectName: web\nobjectType: secret\nobjectFormat: pfx\npfxPasswordFile: pw\nrefuseExpired: true",
		"objectName: web\nobjectType: secret\nobjectAlias: ca.crt\ncertificatePart: ca",
	)), spSecrets())
	if o := m.Objects[1]; o.PFXPasswordFile != "pw" || !o.RefuseExpired {
		t.Errorf("extras: %+v", o)
	}
	if m.Objects[2].CertPart != vocab.CertPartCA {
		t.Errorf("ca: %+v", m.Objects[2])
	}
}

// TestSelectorCollisions: the directory of a selector's matches belongs to it; a
// selector at the root collides once expanded.
func TestSelectorCollisions(t *testing.T) {
	_, err := Parse(attrs(ParamObjects, objectsYAML(
		"objectType: secret\nselector: {namePrefix: app-}\nobjectAlias: app",
		"objectName: x\nobjectType: secret\nobjectAlias: app/x",
	)), spSecrets(), 0o644)
	if err == nil || !strings.Contains(err.Error(), `clashes with the directory "app" of a selector's matches`) {
		t.Fatalf("err = %v", err)
	}
	m := mustParse(t, attrs(ParamObjects, objectsYAML(
		"objectName: db\nobjectType: secret",
		"objectType: secret\nselector: {namePrefix: app-}\nstripPrefix: true",
	)), spSecrets())
	expanded := append([]Object{m.Objects[0]}, Expand(&m.Objects[1], []string{"app-web", "app-db", "app-"})...)
	if got := []string{expanded[1].Alias, expanded[2].Alias, expanded[3].Alias}; strings.Join(got, ",") != "app-,db,web" {
		t.Fatalf("expanded file names %v", got)
	}
	if err := CheckExpanded(expanded, nil); err == nil || !strings.Contains(err.Error(), `duplicate output path "db"`) {
		t.Fatalf("CheckExpanded = %v", err)
	}
}

func TestLintFilesOptional(t *testing.T) {
	files := "- path: a.env\n  format: dotenv\n  inputs: [db-password]"
	findings, _ := Lint(spcParams(ParamObjects, composeObjects, ParamFiles, files), nil)
	var found bool
	for _, f := range findings {
		if f.Severity == SeverityWarning && strings.Contains(f.Message, "comes from an optional object") && f.Field == "files[0].inputs[0]" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no warning about the optional input: %v", findings)
	}
	findings, _ = Lint(spcParams(ParamObjects, composeObjects, ParamFiles, "- path: a\n  format: json\n  inputz: [x]\n  inputs: [{file: db-user, kee: X}]"), nil)
	var fields []string
	for _, f := range findings {
		fields = append(fields, f.Field)
	}
	if j := strings.Join(fields, ","); !strings.Contains(j, "files[0].inputz") || !strings.Contains(j, "files[0].inputs[0].kee") {
		t.Fatalf("unknown fields not reported: %v", findings)
	}
}
