package format

import (
	"errors"
	"testing"
)

func composeSeeds(testing.TB) [][]any {
	return [][]any{
		{uint8(0), "{{.a}}={{.b}}", "alice", "s3cret"},
		{uint8(1), "", "it's \"quoted\"\n", `back\slash`},
		{uint8(2), `{{range $k, $v := $}}{{$k}}: {{$v | jsonQuote}}{{"\n"}}{{end}}`, "yes", "0777"},
		{uint8(3), `{{$x := .a}}{{range $}}{{$x = print $x $x}}{{end}}{{$x}}`, "ab", "cd"},
		{uint8(4), `{{.a | replace "a" "aaaaaaaa" | indent 64 | b64enc}}`, "aaaaaaaaaaaaaaaa", ""},
		{uint8(0), `{{if eq .a .b}}{{.a | upper}}{{else}}{{.b | default "x" | trim}}{{end}}`, " k ", ""},
		{uint8(1), `{{range 10}}{{end}}`, "\x00\xff", "#!=:"},
	}
}

// FuzzCompose drives the rendered files: a fuzzed template over two fuzzed inputs, and
// every format over the same inputs. Nothing panics, every failure is a *RenderError
// naming the file (or ErrTemplate at compile time), and the output stays within
// MaxRenderedBytes and proportional to the input: escaping at most sextuples a value,
// and a template writes at most its text, once per range iteration (two inputs), with
// each action's value at most 65 times an input (indent 64) plus the template's own text.
func FuzzCompose(f *testing.F) {
	addSeeds(f, composeSeeds(f))
	f.Fuzz(func(t *testing.T, kind uint8, text, a, b string) {
		entries := []Entry{{Key: "a", Input: "in-a", Value: []byte(a)}, {Key: "b", Input: "in-b", Value: []byte(b), Base64: kind&8 != 0}}
		in := len(a) + len(b)
		kinds := FileKinds()
		out, err := RenderFile("f", kinds[int(kind)%len(kinds)], entries)
		if err != nil {
			var re *RenderError
			if !errors.As(err, &re) || re.File != "f" {
				t.Fatalf("error is not a *RenderError naming the file: %v", err)
			}
		} else if len(out) > MaxRenderedBytes || len(out) > 6*(in+4*len(b)/3+4)+64 {
			t.Fatalf("%d input bytes rendered as %d", in, len(out))
		}

		tmpl, err := CompileTemplate(text, []string{"a", "b"})
		if err != nil {
			if !errors.Is(err, ErrTemplate) {
				t.Fatalf("compile error is not ErrTemplate: %v", err)
			}
			return
		}
		out, err = tmpl.Execute("f", entries)
		if err != nil {
			var re *RenderError
			if !errors.As(err, &re) || re.File != "f" {
				t.Fatalf("error is not a *RenderError naming the file: %v", err)
			}
			return
		}
		bound := 3 * len(text) * (65*(in+4*len(b)/3+4) + len(text) + 64)
		if len(out) > MaxRenderedBytes || len(out) > bound+64 {
			t.Fatalf("template of %d bytes over %d input bytes wrote %d", len(text), in, len(out))
		}
	})
}
