// Package heuristics is the one place where kvcsi reads meaning out of third-party error
// texts: the Azure SDK's, net/http's and the YAML parser's. Each heuristic is a named
// function here, pinned by a test that produces the real error with the real library and
// breaks when the upstream text changes. kvcsi's own errors are typed and inspected with
// errors.Is/As instead; nothing outside this package matches error text.
package heuristics

import (
	"errors"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// --- YAML parser (go.yaml.in/yaml/v3) ---

// YAMLErrorLine is the line number a YAML error names, or 0. The parser has no typed
// error for syntax errors: its text is "yaml: line <n>: <problem>". A *yaml.TypeError
// is typed, but its entries are texts too: "line <n>: cannot unmarshal …"; the first
// one's line is returned.
func YAMLErrorLine(err error) int {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			if n := lineNumber(e); n > 0 {
				return n
			}
		}
		return 0
	}
	if err == nil {
		return 0
	}
	return lineNumber(strings.TrimPrefix(err.Error(), "yaml: "))
}

// lineNumber reads "line <n>: …".
func lineNumber(s string) int {
	rest, ok := strings.CutPrefix(s, "line ")
	if !ok {
		return 0
	}
	digits, _, ok := strings.Cut(rest, ":")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// --- Azure SDK (azcore, azidentity) and net/http ---
