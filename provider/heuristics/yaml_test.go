package heuristics

import (
	"bytes"
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestYAMLErrorLine builds the parser's real errors: a syntax error from the decoder
// kvcsi lint uses, and a type error, so that a parser update that changes where or how
// the line is written fails here.
func TestYAMLErrorLine(t *testing.T) {
	decode := func(src string) error {
		var n yaml.Node
		return yaml.NewDecoder(bytes.NewReader([]byte(src))).Decode(&n)
	}
	unmarshal := func(src string) error {
		var v struct {
			N int32 `yaml:"n"`
		}
		return yaml.Unmarshal([]byte(src), &v)
	}
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		// The parser names the line of the construct it was reading (its context mark).
		{"syntax error", decode("a: 1\nb:\n  c: 2\n d: 3\n"), 3},
		{"bad indentation in a manifest", decode("apiVersion: v1\nspec:\n  parameters:\n    keyvaultName: kv\n   tenantID: t\n"), 2},
		{"unclosed flow", decode("a: [1, 2\n"), 1},
		{"type error", unmarshal("x: 1\nn: abc\n"), 2},
		{"wrapped", errors.Join(errors.New("context"), unmarshal("\n\nn: [1]\n")), 3},
		{"no line", errors.New("yaml: something else"), 0},
		{"not yaml", errors.New("line 7 of something"), 0},
		{"nil", nil, 0},
	} {
		if tt.err == nil && tt.name != "nil" {
			t.Fatalf("%s: the parser accepted the input", tt.name)
		}
		if got := YAMLErrorLine(tt.err); got != tt.want {
			t.Errorf("%s: YAMLErrorLine(%q) = %d, want %d", tt.name, tt.err, got, tt.want)
		}
	}
}
