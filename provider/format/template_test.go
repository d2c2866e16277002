package format

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTemplateExecute(t *testing.T) {
	entries := []Entry{
		{Key: "user", Input: "db-user", Value: []byte("app")},
		{Key: "password", Input: "db-password", Value: []byte("p@ss'\"\n")},
		{Key: "db-host", Input: "db-host", Value: []byte(" db.internal \n")},
		{Key: "cert", Input: "tls", Value: []byte("line1\nline2")},
		{Key: "empty", Input: "e", Value: nil},
		{Key: "bin", Input: "bin", Value: []byte{0xff, 0x00}, Base64: true},
	}
	keys := []string{"user", "password", "db-host", "cert", "empty", "bin"}
	for _, tc := range []struct{ name, text, want string }{
		{"fields and input", `{{.user}}@{{input "db-host" | trim}}`, "app@db.internal"},
		{"root variable", `{{$.user}}`, "app"},
		{"jsonQuote", `{"password": {{.password | jsonQuote}}}`, `{"password": "p@ss'\"\n"}`},
		{"shellQuote", `PW={{.password | shellQuote}}`, "PW='p@ss'\\''\"\n'"},
		{"b64 round trip", `{{.user | b64enc | b64dec}}`, "app"},
		{"base64 input", `{{.bin}}`, "/wA="},
		{"default", `{{.empty | default "none"}} {{.user | default "none"}}`, "none app"},
		{"indent", "cert:\n{{.cert | indent 2}}", "cert:\n  line1\n  line2"},
		{"nindent", "cert:{{.cert | nindent 4}}", "cert:\n    line1\n    line2"},
		{"replace upper lower", `{{.user | replace "a" "A" | upper}}{{"X" | lower}}`, "APPx"},
		{"prefix suffix", `{{.user | trimPrefix "a"}}{{.user | trimSuffix "p"}}`, "ppap"},
		{"conditions", `{{if and (eq .user "app") (ne .user "x") (contains "p" .user) (hasPrefix "a" .user) (hasSuffix "p" .user) (not (eq .empty "x"))}}ok{{end}}`, "ok"},
		{"range over the inputs", `{{range $k, $v := $}}{{if eq $k "user"}}{{$k}}={{$v}};{{end}}{{end}}`, "user=app;"},
		{"len and index", `{{len .user}}{{index $ "user"}}`, "3app"},
		{"print", `{{print .user "-" .user}}`, "app-app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := CompileTemplate(tc.text, keys)
			if err != nil {
				t.Fatal(err)
			}
			out, err := tmpl.Execute("f", entries)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Fatalf("got %q, want %q", out, tc.want)
			}
		})
	}
}

// TestTemplateRefused: everything that could read the environment, files or the
// network, recurse, loop without bound or name an undeclared input is refused at compile
// time, with the position.
func TestTemplateRefused(t *testing.T) {
	keys := []string{"a", "b"}
	for _, tc := range []struct{ name, text, want string }{
		{"printf", `{{printf "%0999999999d" 1}}`, "function printf is not supported"},
		{"call", `{{call .a}}`, "function call is not supported"},
		{"html", `{{html .a}}`, "function html is not supported"},
		{"unknown function", `{{env "HOME"}}`, `function "env" not defined`},
		{"template call", `{{template "x"}}`, "{{template}} is not supported"},
		{"define", `{{define "x"}}{{template "x"}}{{end}}`, "{{define}} and {{block}} are not supported"},
		{"block", `{{block "x" .}}y{{end}}`, "not supported"},
		{"range over int", `{{range 1000000000}}{{end}}`, "range is only supported over $"},
		{"range over field", `{{range .a}}{{end}}`, "range is only supported over $"},
		{"nested range", `{{range $}}{{range $}}{{end}}{{end}}`, "range inside range is not supported"},
		{"undeclared field", `{{.c}}`, `input "c" is not among this file's inputs`},
		{"undeclared input", `{{input "c"}}`, `input "c" is not among this file's inputs`},
		{"undeclared root field", `{{with .a}}{{$.c}}{{end}}`, `input "c" is not among this file's inputs`},
		{"field of an input", `{{.a.b}}`, "has no fields"},
		{"syntax", `{{.a`, "invalid template"},
		{"too long", strings.Repeat("x", MaxTemplateBytes+1), "more than the 16384 allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileTemplate(tc.text, keys)
			if !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestTemplateBounds: output, work and loops stay bounded whatever the template does
// with its inputs, and fail with a clear error well within a second.
func TestTemplateBounds(t *testing.T) {
	big := strings.Repeat("x", 512<<10)
	var entries []Entry
	var keys []string
	for i := 0; i < 64; i++ {
		k := "k" + strings.Repeat("x", i)
		entries = append(entries, Entry{Key: k, Input: k, Value: []byte(big)})
		keys = append(keys, k)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"output", `{{range $}}{{.}}{{end}}`, "the output would be more than the 1048576 bytes allowed"},
		{"doubling", `{{$x := "ab"}}{{range $}}{{$x = print $x $x}}{{end}}{{len $x}}`, "more than the 1048576 bytes allowed"},
		{"work", `{{range $}}{{$y := trim . | upper | lower | trim | upper | lower}}{{end}}`, "processed more than"},
		{"replace growth", `{{$.k | replace "x" "yyyyyyyyyy"}}`, "more than the 1048576 bytes allowed"},
		{"indent growth", `{{$.k | replace "x" "\n" | indent 64}}`, "more than the 1048576 bytes allowed"},
		{"indent width", `{{$.k | indent 1000}}`, "indent width 1000 is not between 0 and 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := CompileTemplate(tc.text, keys)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = tmpl.Execute("f", entries)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), `rendered file "f": `) {
				t.Errorf("error does not name the file: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// TestTemplateErrorsHoldNoValue: a failing template names the input, never its value.
func TestTemplateErrorsHoldNoValue(t *testing.T) {
	tmpl, err := CompileTemplate(`{{.a | b64dec}}`, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Execute("f", []Entry{{Key: "a", Value: []byte("s3cr3t-value!")}})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("err = %v", err)
	}
	tmpl, _ = CompileTemplate(`{{with .a}}{{.x}}{{end}}`, []string{"a"})
	_, err = tmpl.Execute("f", []Entry{{Key: "a", Value: []byte("s3cr3t-value!")}})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("err = %v", err)
	}
}
