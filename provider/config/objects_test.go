package config

import (
	"strings"
	"testing"
)

// The fix for an objects parameter or entry that does not decode is chosen from the
// document's structure: which typed field does not decode, whether array items are
// mappings.
func TestDecodeFixes(t *testing.T) {
	const (
		history  = "objectVersionHistory must be an unquoted integer"
		boolean  = "splitCertAndKey and convertPFXToPEM must be unquoted true or false"
		jmesPath = "jmesPath must be a list of mappings"
		mapping  = "must be a YAML mapping such as"
		notMap   = "each array item must be a YAML string, not a mapping"
	)
	for _, tt := range []struct {
		name, objects, fix string
	}{
		{"quoted history", obj("objectName: a", `objectVersionHistory: "5"`), history},
		{"history a word", obj("objectName: a", "objectVersionHistory: five"), history},
		{"history overflows int32", obj("objectName: a", "objectVersionHistory: 99999999999"), history},
		{"history before booleans", obj("objectName: a", `splitCertAndKey: "yes"`, "objectVersionHistory: [1]"), history},
		{"quoted split", obj("objectName: a", `splitCertAndKey: "true"`), boolean},
		{"convert not a bool", obj("objectName: a", "convertPFXToPEM: [true]"), boolean},
		{"jmesPath a string", obj("objectName: a", "jmesPath: username"), jmesPath},
		{"jmesPath a mapping", obj("objectName: a", "jmesPath:", "  path: x"), jmesPath},
		{"jmesPath entry a string", obj("objectName: a", "jmesPath:", "  - username"), jmesPath},
		{"jmesPath path a list: another field's type", obj("objectName: a", "jmesPath:", "  - path: [x]"), mapping},
		{"entry a list", obj("- a"), mapping},
		{"entry not YAML", obj("objectName: [a"), mapping},
		{"objectName a mapping", obj("objectName: {a: b}"), mapping},
		{"items are mappings", "array:\n  - objectName: a\n    objectType: secret\n", notMap},
		{"an alias to a mapping", "m: &m {objectName: a}\narray:\n  - *m\n", notMap},
		{"items are lists", "array:\n  - [a]\n", "write objects as 'array:'"},
		{"array a mapping", "array:\n  objectName: a\n", "write objects as 'array:'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(attrs(ParamObjects, tt.objects), spSecrets(), 0o644)
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if _, fix, _ := strings.Cut(err.Error(), FixSeparator); !strings.HasPrefix(fix, tt.fix) && !strings.Contains(fix, tt.fix) {
				t.Errorf("error %q\nwant the fix %q", err, tt.fix)
			}
		})
	}
}
