package config

import (
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/test/spctest"
)

// spcParams is a SecretProviderClass's parameters as kubectl would apply them; kv pairs
// override ("" value deletes).
func spcParams(kv ...string) map[string]string {
	return spctest.With(map[string]string{
		ParamKeyvaultName: "kv-prod-01",
		ParamTenantID:     "72f988bf-86f1-41af-91ab-2d7cd011db47",
		ParamClientID:     "00000000-0000-0000-0000-000000000001",
		ParamObjects:      objectsYAML("objectName: db-password\nobjectType: secret"),
	}, kv...)
}

func TestLintClean(t *testing.T) {
	for name, p := range map[string]map[string]string{
		"workload identity": spcParams(),
		"with driver keys":  attrs(ParamClientID, "cid"),
		"legacy keys":       spcParams("resourceGroup", "rg", "subscriptionId", "sub", "enableSecretRotation", "true", "cloudName", "AzurePublicCloud"),
		"docs example":      spcParams(ParamObjects, docsSPC),
		"service principal": spcParams(ParamClientID, ""),
		"uami":              spcParams(ParamClientID, "", ParamUseVMManagedIdentity, "true", ParamUserAssignedIdentityID, "x"),
	} {
		if f, _ := Lint(p, nil); len(f) != 0 {
			t.Errorf("%s: findings %v", name, f)
		}
	}
}

func TestLint(t *testing.T) {
	// want is matched by Object (the entry's label), Field, Invalid (SeverityInvalid), and
	// substrings of Message and Fix.
	type want struct {
		Object, Field, Message, Fix string
		Invalid                     bool
	}
	tests := []struct {
		name   string
		params map[string]string
		want   []want
	}{
		{"unknown parameter near miss", spcParams("keyVaultName", "kv"),
			[]want{{Field: "keyVaultName", Message: `unknown parameter "keyVaultName" is ignored`, Fix: "did you mean keyvaultName? Parameter names are case-sensitive"}}},
		{"unknown parameter typo", spcParams("clientId2", "x", "usePodIdentit", "true"),
			[]want{
				{Field: "clientId2", Message: "unknown parameter", Fix: "did you mean clientID?"},
				{Field: "usePodIdentit", Message: "unknown parameter", Fix: "did you mean usePodIdentity?"},
			}},
		{"unknown parameter far", spcParams("objectsList", "x"),
			[]want{{Field: "objectsList", Message: "unknown parameter", Fix: "known parameters are keyvaultName"}}},
		{"tenant lowercase", spcParams(ParamTenantID, "", "tenantid", "t"),
			[]want{
				{Field: "tenantid", Fix: "did you mean tenantID?"},
				{Field: ParamTenantID, Message: "tenantId is not provided", Fix: "set parameters.tenantID", Invalid: true},
			}},
		{"tenantId deprecated", spcParams(ParamTenantID, "", ParamTenantIDDeprecated, "t"),
			[]want{{Field: ParamTenantIDDeprecated, Message: "tenantId is deprecated", Fix: "tenantID"}}},
		{"all flag errors at once", spcParams(ParamUsePodIdentity, "yes", ParamUseAzureTokenProxy, "on", ParamKeyvaultName, ""),
			[]want{
				{Field: ParamUsePodIdentity, Message: "failed to parse usePodIdentity flag", Invalid: true},
				{Field: ParamUseAzureTokenProxy, Message: "failed to parse useAzureTokenProxy flag", Invalid: true},
				{Field: ParamKeyvaultName, Message: "keyvaultName is not provided", Invalid: true},
			}},
		{"two modes", spcParams(ParamClientID, "", ParamUseVMManagedIdentity, "true", ParamUseAzureTokenProxy, "true"),
			[]want{
				{Message: "only one identity mode can be enabled at a time", Invalid: true},
				{Field: ParamClientID, Message: "clientID is required for identity binding", Invalid: true},
			}},
		{"ignored identity settings", spcParams(ParamUserAssignedIdentityID, "x"),
			[]want{{Field: ParamUserAssignedIdentityID, Message: "ignored unless useVMManagedIdentity"}}},
		{"clientID with MI", spcParams(ParamUseVMManagedIdentity, "true"),
			[]want{{Field: ParamClientID, Message: "clientID is ignored"}}},
		{"pod identity", spcParams(ParamClientID, "", ParamUsePodIdentity, "true"),
			[]want{{Field: ParamUsePodIdentity, Message: "deprecated", Fix: "workload identity"}}},
		{"no objects", spcParams(ParamObjects, ""),
			[]want{{Field: ParamObjects, Message: "objects is not set", Invalid: true}}},
		{"objects not strings", spcParams(ParamObjects, "array:\n  - objectName: a\n"),
			[]want{{Field: ParamObjects, Message: "failed to yaml unmarshal objects", Fix: "not a mapping", Invalid: true}}},
		{"objects key typo", spcParams(ParamObjects, "Array:\n  - |\n    objectName: a\n"),
			[]want{
				{Field: ParamObjects, Message: `unknown key "Array" in objects is ignored`, Fix: "did you mean array?"},
				{Field: ParamObjects, Message: "objects has no entries"},
			}},
		{"object field near misses", spcParams(ParamObjects, objectsYAML("objectName: a\nobjectType: secret\nobjectVersionhistory: 3\nobjectAlais: b\nfilePermissions: '0600'\ncolor: blue")),
			[]want{
				{Object: "objects.array[0]", Field: "objectVersionhistory", Message: `unknown field "objectVersionhistory" is ignored`, Fix: "did you mean objectVersionHistory? Field names are case-sensitive"},
				{Object: "objects.array[0]", Field: "objectAlais", Fix: "did you mean objectAlias?"},
				{Object: "objects.array[0]", Field: "filePermissions", Fix: "did you mean filePermission?"},
				{Object: "objects.array[0]", Field: "color", Fix: "remove it; known fields are objectName"},
			}},
		{"jmesPath field typo", spcParams(ParamObjects, objectsYAML("objectName: a\nobjectType: secret\njmesPath:\n  - path: x\n    objectalias: y")),
			[]want{
				{Object: "objects.array[0]", Field: "jmesPath[0].objectalias", Fix: "did you mean objectAlias?"},
				{Object: "objects.array[0] (objectType:secret, objectName:a)", Field: "jmesPath[0].objectAlias", Message: "jmesPath[0]: file name must not be empty", Invalid: true},
			}},
		{"every object error", spcParams(ParamObjects, objectsYAML(
			"objectName: a\nobjectType: Secret",
			"objectName: b\nobjectType: secret\nobjectVersionHistory: \"2\"",
			"objectName: c\nobjectType: secret\nfilePermission: 888",
			"objectName: d\nobjectType: secret\nobjectAlias: e",
			"objectName: e\nobjectType: secret",
		)),
			[]want{
				{Object: "objects.array[0] (objectType:Secret, objectName:a)", Field: FieldObjectType, Message: "Invalid vaultObjectTypes", Fix: "write secret, not Secret", Invalid: true},
				{Object: "objects.array[1]", Message: "unmarshal failed for keyVaultObjects at index 1", Fix: "unquoted integer", Invalid: true},
				{Object: "objects.array[2] (objectType:secret, objectName:c)", Field: FieldFilePermission, Message: `invalid filePermission "888"`, Invalid: true},
				{Object: "objects.array[4] (objectType:secret, objectName:e)", Field: FieldObjectName, Message: `duplicate output path "e": objectAlias of objects.array[3]`, Invalid: true},
			}},
		{"vault name checked with objects", spcParams(ParamKeyvaultName, "https://kv.vault.azure.net"),
			[]want{{Field: ParamKeyvaultName, Message: "Invalid vault name", Fix: "not its URL", Invalid: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := Lint(tt.params, nil)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d findings, want %d:\n%s", len(got), len(tt.want), findingsText(got))
			}
			for i, w := range tt.want {
				g := got[i]
				label := ""
				if g.Object != nil {
					label = g.Object.String()
				}
				if label != w.Object || g.Field != w.Field || (g.Severity == SeverityInvalid) != w.Invalid ||
					!strings.Contains(g.Message, w.Message) || !strings.Contains(g.Fix, w.Fix) || g.Fix == "" {
					t.Errorf("finding %d:\n got %#v\nwant %#v", i, g, w)
				}
			}
		})
	}
}

func TestLintAgreesWithParse(t *testing.T) {
	// Whatever Parse rejects about the SecretProviderClass, Lint reports as invalid.
	for _, objects := range []string{
		obj("objectName: a", "objectType: key", "objectFormat: PFX"),
		obj("objectName: a", "objectType: secret", "objectAlias: ./a"),
		obj("objectName: a", "objectType: secret", "jmesPath:", "  - path: '[['", "    objectAlias: b"),
		"array: {}",
	} {
		a := attrs(ParamObjects, objects)
		_, perr := Parse(a, spSecrets(), 0o644)
		if perr == nil {
			t.Fatalf("Parse accepted %q", objects)
		}
		invalid := false
		findings, _ := Lint(a, nil)
		for _, f := range findings {
			invalid = invalid || f.Severity == SeverityInvalid
		}
		if !invalid {
			t.Errorf("Parse: %v, but Lint found nothing invalid in %q", perr, objects)
		}
	}
}

func TestFindingString(t *testing.T) {
	f := Finding{Object: &ObjectRef{Index: 0}, Field: "objectAlais", Message: `unknown field "objectAlais" is ignored`, Fix: "did you mean objectAlias?"}
	if got, want := f.String(), `objects.array[0]: unknown field "objectAlais" is ignored; fix: did you mean objectAlias?`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	f = Finding{Field: "keyvaultName", Message: "x"}
	if got := f.String(); got != "keyvaultName: x" {
		t.Errorf("String() = %q", got)
	}
}

func findingsText(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

// TestLintHostile runs Lint, which kvcsi lint and an admission webhook expose to any
// manifest, on objects parameters an attacker could write: every one is answered
// quickly, with findings that grow no faster than the input (Lint goes on where Parse
// stops: one finding per bad entry or key, each of a few hundred bytes).
func TestLintHostile(t *testing.T) {
	laughs := "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		laughs += n + ": &" + n + " [*" + prev + strings.Repeat(",*"+prev, 8) + "]\n"
		prev = n
	}
	for _, tt := range []struct{ name, objects string }{
		{"deep flow sequence", "array: " + strings.Repeat("[", 1<<20)},
		{"deep YAML inside one object", "array:\n  - |\n    objectName: " + strings.Repeat("[", 100000) + "\n"},
		{"alias expansion (billion laughs)", laughs + "array: *i\n"},
		{"alias expansion inside an entry", "array:\n  - |\n    " + strings.ReplaceAll(strings.TrimSuffix(laughs, "\n"), "\n", "\n    ") + "\n    jmesPath: *i\n    objectVersionHistory: *i\n"},
		{"long object name", "array:\n  - |\n    objectName: " + strings.Repeat("n", 1<<20) + "\n    objectType: secret\n"},
		{"long unknown field", "array:\n  - |\n    " + strings.Repeat("f", 1<<20) + ": 1\n"},
		{"huge duplicate list", "array:\n" + strings.Repeat("  - |\n    objectName: same\n    objectType: secret\n", 5000)},
		{"many bad entries", "array:\n" + strings.Repeat("  - |\n    objectName: /x\n    objectTyp: secret\n", 5000)},
		{"huge version history", "array:\n  - |\n    objectName: a\n    objectType: secret\n    objectVersionHistory: 2147483647\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// No wall-clock bound (machines are noisy): a hang is caught by the test
			// timeout, growth by the size bound below.
			findings, _ := Lint(attrs(ParamObjects, tt.objects), &Driver{Secrets: spSecrets(), DefaultMode: 0o644})
			manifest, _ := Lint(spcParams(ParamObjects, tt.objects), nil)
			size := 0
			for _, f := range append(findings, manifest...) {
				size += len(f.String())
			}
			if size > 16*len(tt.objects)+16<<10 {
				t.Errorf("%d findings of %d bytes for %d bytes of input", len(findings)+len(manifest), size, len(tt.objects))
			}
		})
	}
}
