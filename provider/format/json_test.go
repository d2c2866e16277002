package format

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestCompileJSONPathBounds(t *testing.T) {
	doubling := func(n int) string { return strings.TrimSuffix(strings.Repeat("[@,@][] | ", n), " | ") }
	for _, tc := range []struct {
		expr   string
		refuse string // "" = accepted
	}{
		// What users write: accepted.
		{"username", ""},
		{`"db-password"`, ""},
		{"hosts[0].url", ""},
		{"join(', ', hosts)", ""},
		{"to_string(port)", ""},
		{"{user: username, pass: password}", ""},
		{"[username, password, host, port]", ""},
		{"servers[?env=='production-database-in-west-europe-2'].url | [0]", ""},
		{"sort_by(items, &name)[*].name", ""},
		{"length(hosts)", ""},
		{"lower(region)", ""},
		{"keys(@)", ""},
		{doubling(6), ""}, // 64 times
		{"'" + strings.Repeat("x", 200) + "'", ""},
		// What can grow without bound: refused, saying why.
		{"pad_left('a', `1000000000`)", "function pad_left is not supported"},
		{"pad_right(@, `1000000000`)", "function pad_right is not supported"},
		{"replace(@, 'a', 'aaaaaaaa')", "function replace is not supported"},
		{"no_such_function(@)", "function no_such_function is not supported"},
		{doubling(7), "more than 64 times"},
		{"[@,@,@,@,@,@,@,@] | [@,@,@,@,@,@,@,@] | [@,@]", "more than 64 times"},
		{"to_string(to_string(to_string(@)))", "more than 64 times"},
		{"[*].['" + strings.Repeat("x", 300) + "']", "more than 64 times"},
		{"join(sep, hosts)", "separator must be a literal"},
		{"join('" + strings.Repeat("-", 300) + "', hosts)", "more than 64 times"},
		{"a[*].[$]", "root reference"},
		{"$.a", "root reference"},
		{"let $a = @ in [$a, $a]", "let expressions"},
		{strings.Repeat("a.", 600) + "a", "more than the 1024 allowed"},
	} {
		t.Run(abbreviate(tc.expr), func(t *testing.T) {
			_, err := CompileJSONPath(tc.expr)
			if tc.refuse == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.refuse) || !errors.Is(err, ErrUnsupportedJSONPath) {
				t.Fatalf("got %v, want ErrUnsupportedJSONPath containing %q", err, tc.refuse)
			}
		})
	}
}

// TestJSONPathMemoryIsBounded evaluates the most growing expressions that are
// accepted on a secret at Key Vault's 25 KB limit and measures what the
// evaluation allocated: bounded, where pad_left alone used to allocate gigabytes.
func TestJSONPathMemoryIsBounded(t *testing.T) {
	var doc strings.Builder
	doc.WriteString(`{"a":[`)
	for i := 0; doc.Len() < 25<<10; i++ {
		fmt.Fprintf(&doc, `"<%d>",`, i%10)
	}
	doc.WriteString(`"end"]}`)
	content := []byte(doc.String())
	for _, expr := range []string{
		"[@,@][] | [@,@][] | [@,@][] | [@,@][] | [@,@][] | [@,@][]",
		"a[*].['" + strings.Repeat("x", 200) + "']",
		"to_string(to_string(@))",
		"join('" + strings.Repeat("-", 60) + "', a)",
		"split(to_string(@), '')",
		"items(@)[*][*][*]",
	} {
		t.Run(abbreviate(expr), func(t *testing.T) {
			q, err := CompileJSONPath(expr)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			out, err := q.Extract(content)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes out, %d bytes allocated", len(out), allocated)
			if limit := uint64(256 << 20); allocated > limit {
				t.Fatalf("allocated %d bytes for a %d-byte secret, more than %d", allocated, len(content), limit)
			}
		})
	}
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
