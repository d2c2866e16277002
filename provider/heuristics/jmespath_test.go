package heuristics

import (
	"strings"
	"testing"

	"github.com/jmespath-community/go-jmespath/pkg/api"
)

// The interpreter's text for a function argument of the wrong type quotes the value.
func TestJMESPathArgumentType(t *testing.T) {
	_, err := api.Search("abs(name)", map[string]any{"name": "s3cr3t-value"})
	if err == nil {
		t.Fatal("abs of a string: no error")
	}
	if !JMESPathArgumentType(err) {
		t.Fatalf("the interpreter's text changed: %q", err)
	}
	if !strings.Contains(err.Error(), "s3cr3t-value") {
		t.Logf("note: the interpreter no longer quotes the value: %q", err)
	}
	if _, err := api.Search("length(name)", map[string]any{"name": "ok"}); JMESPathArgumentType(err) {
		t.Fatalf("a successful search matched: %v", err)
	}
}
