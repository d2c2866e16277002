package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/joho/godotenv"
	"github.com/magiconair/properties"
	"go.yaml.in/yaml/v3"
	yaml11 "gopkg.in/yaml.v2"
)

// hostileValues are values every format must carry unchanged: quotes, escapes, line
// breaks, the formats' separators and comment characters, variable syntax, non-ASCII
// (BMP and beyond), leading and trailing spaces, empty.
var hostileValues = []string{
	"",
	"plain",
	" leading and trailing ",
	"'single'",
	`"double"`,
	`mixed ' and " quotes`,
	`back\slash`,
	`\n literal backslash-n`,
	"line1\nline2",
	"crlf\r\nend",
	"tab\there",
	"a=b=c",
	"key: value",
	"# not a comment",
	"! not a comment",
	"value # trailing",
	"$HOME ${HOME} $(id) `id`",
	`\$HOME`,
	"ünïcödé ✓ 日本",
	"emoji 😀 beyond the BMP",
	"yes", "no", "on", "off", "null", "~", "true", "0777", "1e3", "2001-12-14",
	"- list", "[flow]", "{map: 1}", "&anchor", "*alias", "|", ">",
	"\u2028 line separator",
	"control \x01\x1b chars",
	"trailing backslash and quote ' \\",
	`ends with a quote "`,
	"=",
	":",
	" ",
	"\\",
}

func entriesOf(values []string) []Entry {
	out := make([]Entry, len(values))
	for i, v := range values {
		out[i] = Entry{Key: fmt.Sprintf("K_%d", i), Input: fmt.Sprintf("in-%d", i), Value: []byte(v)}
	}
	return out
}

func TestRenderJSONRoundTrip(t *testing.T) {
	entries := entriesOf(hostileValues)
	entries = append(entries, Entry{Key: `key "with" \ quotes`, Input: "odd-key", Value: []byte("v")})
	out, err := RenderFile("app.json", FileJSON, entries)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("encoding/json cannot read the rendered file: %v\n%s", err, out)
	}
	checkRoundTrip(t, entries, got)
	if bytes.Contains(out, []byte(`\u003c`)) {
		t.Error("HTML escaping applied")
	}
}

func TestRenderYAMLRoundTrip(t *testing.T) {
	entries := entriesOf(hostileValues)
	entries = append(entries, Entry{Key: "key: with # chars", Input: "odd-key", Value: []byte("v")})
	out, err := RenderFile("app.yaml", FileYAML, entries)
	if err != nil {
		t.Fatal(err)
	}
	// Decoded into map[string]any, so a value read as a bool, number, null or timestamp
	// would not come back as the string.
	var doc map[string]any
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("yaml cannot read the rendered file: %v\n%s", err, out)
	}
	got := map[string]string{}
	for k, v := range doc {
		s, ok := v.(string)
		if !ok {
			t.Errorf("key %q decoded as %T, not a string", k, v)
		}
		got[k] = s
	}
	checkRoundTrip(t, entries, got)
	// kubectl and many tools read YAML 1.1, where yes, on, ~ and 0777 are no strings:
	// a YAML 1.1 parser must read the same strings.
	var doc11 map[string]any
	if err := yaml11.Unmarshal(out, &doc11); err != nil {
		t.Fatalf("a YAML 1.1 parser cannot read the rendered file: %v", err)
	}
	got11 := map[string]string{}
	for k, v := range doc11 {
		s, ok := v.(string)
		if !ok {
			t.Errorf("YAML 1.1: key %q decoded as %T, not a string", k, v)
		}
		got11[k] = s
	}
	checkRoundTrip(t, entries, got11)
}

func TestRenderPropertiesRoundTrip(t *testing.T) {
	var bmp []string
	for _, v := range hostileValues {
		if !strings.ContainsFunc(v, func(r rune) bool { return r > 0xFFFF }) {
			bmp = append(bmp, v)
		}
	}
	entries := entriesOf(bmp)
	entries = append(entries,
		Entry{Key: "key with spaces = and : and # and !", Input: "odd-key", Value: []byte("v")},
		Entry{Key: "#hash-key", Input: "hash-key", Value: []byte("#v")},
		Entry{Key: "!bang-key", Input: "bang-key", Value: []byte("!v")},
		Entry{Key: " space-key", Input: "space-key", Value: []byte(" v")},
		Entry{Key: "ключ", Input: "unicode-key", Value: []byte("значение")})
	out, err := RenderFile("app.properties", FileProperties, entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range out {
		if c > 0x7e || (c < 0x20 && c != '\n') {
			t.Fatalf("the file is not printable ASCII: byte %#x\n%s", c, out)
		}
	}
	// java.util.Properties.load(InputStream) reads ISO-8859-1 and does no ${}
	// expansion; the library in that mode is the reference.
	p, err := (&properties.Loader{Encoding: properties.ISO_8859_1, DisableExpansion: true}).LoadBytes(out)
	if err != nil {
		t.Fatalf("properties cannot read the rendered file: %v\n%s", err, out)
	}
	checkRoundTrip(t, entries, p.Map())
}

// TestRenderPropertiesSurrogates checks characters beyond the BMP, which Java writes as
// UTF-16 surrogate pairs; the properties library decodes each \u escape on its own, so
// the pairs are joined here as Java's String does.
func TestRenderPropertiesSurrogates(t *testing.T) {
	out, err := RenderFile("p", FileProperties, []Entry{{Key: "k", Value: []byte("a😀b")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != `k=a\uD83D\uDE00b`+"\n" {
		t.Fatalf("got %q", got)
	}
	var units []uint16
	rest := strings.TrimSuffix(strings.TrimPrefix(string(out), "k="), "\n")
	for len(rest) > 0 {
		if strings.HasPrefix(rest, `\u`) {
			var u uint16
			fmt.Sscanf(rest[2:6], "%04X", &u)
			units, rest = append(units, u), rest[6:]
			continue
		}
		units, rest = append(units, uint16(rest[0])), rest[1:]
	}
	if got := string(utf16.Decode(units)); got != "a😀b" {
		t.Fatalf("decoded %q", got)
	}
}

func TestRenderDotenvRoundTrip(t *testing.T) {
	var ok []Entry
	for i, v := range hostileValues {
		e := Entry{Key: fmt.Sprintf("K_%d", i), Input: fmt.Sprintf("in-%d", i), Value: []byte(v)}
		if _, err := RenderFile(".env", FileDotenv, []Entry{e}); err != nil {
			continue // refused values are checked below
		}
		ok = append(ok, e)
	}
	out, err := RenderFile(".env", FileDotenv, ok)
	if err != nil {
		t.Fatal(err)
	}
	got, err := godotenv.UnmarshalBytes(out)
	if err != nil {
		t.Fatalf("godotenv cannot read the rendered file: %v\n%s", err, out)
	}
	checkRoundTrip(t, ok, got)
	if len(ok) < len(hostileValues)-2 {
		t.Errorf("only %d of %d values were written", len(ok), len(hostileValues))
	}
}

// TestRenderDotenvRefuses: what godotenv cannot read back is an error naming the input,
// and so is a key that is no shell variable name, a NUL and binary content.
func TestRenderDotenvRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		e     Entry
		want  string
		input string
	}{
		{"needs double quotes and ends with a quote", Entry{Key: "A", Input: "in", Value: []byte("it's \"")}, "ends with a double quote or a backslash", "in"},
		{"needs double quotes and ends with a backslash", Entry{Key: "A", Input: "in", Value: []byte("line\n\\")}, "ends with a double quote or a backslash", "in"},
		{"NUL", Entry{Key: "A", Input: "in", Value: []byte("a\x00b")}, "NUL byte", "in"},
		{"binary", Entry{Key: "A", Input: "bin", Value: []byte{0xff, 0xfe, 0x00}}, "not UTF-8 text (invalid byte at offset 0)", "bin"},
		{"bad key", Entry{Key: "1A-B", Input: "in", Value: []byte("v")}, "not a shell variable name", "in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RenderFile(".env", FileDotenv, []Entry{tc.e})
			var re *RenderError
			if !errors.As(err, &re) || re.Input != tc.input || re.File != ".env" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), string(tc.e.Value)) && len(tc.e.Value) > 2 {
				t.Errorf("the error holds the value: %v", err)
			}
		})
	}
	// The explicit way out: base64.
	out, err := RenderFile(".env", FileDotenv, []Entry{{Key: "BIN", Value: []byte{0xff, 0x00, '"'}, Base64: true}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := godotenv.UnmarshalBytes(out)
	if got["BIN"] != "/wAi" {
		t.Fatalf("got %q", got["BIN"])
	}
}

// TestRenderDotenvPortable: a value without quote, backslash or line break is written
// single-quoted, the form POSIX shells, docker compose, godotenv and python-dotenv all
// read literally ($ included).
func TestRenderDotenvPortable(t *testing.T) {
	out, err := RenderFile(".env", FileDotenv, []Entry{{Key: "A", Value: []byte(`$HOME "x" # y = z`)}, {Key: "B", Value: []byte("it's")}})
	if err != nil {
		t.Fatal(err)
	}
	want := "A='$HOME \"x\" # y = z'\nB=\"it's\"\n"
	if string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func TestRenderFileErrors(t *testing.T) {
	for _, kind := range FileKinds() {
		if _, err := RenderFile("f", kind, []Entry{{Key: "A", Input: "x"}, {Key: "A", Input: "y"}}); err == nil || !strings.Contains(err.Error(), `key "A" is also the key of input "x"`) {
			t.Errorf("%s: duplicate key: %v", kind, err)
		}
		if kind == FileDotenv {
			continue
		}
		_, err := RenderFile("f", kind, []Entry{{Key: "A", Input: "bin", Value: []byte{0xc3}}})
		if err == nil || !strings.Contains(err.Error(), `input "bin": the value is not UTF-8 text`) || !strings.Contains(err.Error(), "encoding: base64") {
			t.Errorf("%s: binary: %v", kind, err)
		}
	}
	if _, err := RenderFile("f", "toml", nil); err == nil || !strings.Contains(err.Error(), `unknown format "toml"`) {
		t.Errorf("unknown format: %v", err)
	}
}

// TestRenderFileBounds: a file past MaxRenderedBytes is refused, also when escaping is
// what makes it grow (one control byte is six in properties).
func TestRenderFileBounds(t *testing.T) {
	big := bytes.Repeat([]byte("a"), MaxRenderedBytes)
	for _, kind := range FileKinds() {
		if _, err := RenderFile("f", kind, []Entry{{Key: "A", Value: big}}); err == nil || !strings.Contains(err.Error(), "more than the") {
			t.Errorf("%s: %v", kind, err)
		}
	}
	escaped := bytes.Repeat([]byte{0x01}, MaxRenderedBytes/4)
	if _, err := RenderFile("f", FileProperties, []Entry{{Key: "A", Value: escaped}}); err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Errorf("escaped growth: %v", err)
	}
	ok := bytes.Repeat([]byte("a"), MaxRenderedBytes/2)
	if _, err := RenderFile("f", FileJSON, []Entry{{Key: "A", Value: ok}}); err != nil {
		t.Errorf("half the limit: %v", err)
	}
}

func TestDotenvKey(t *testing.T) {
	for in, want := range map[string]string{"db-password": "db_password", "9lives": "_9lives", "a.b/c": "a_b_c", "": "_", "ok_1": "ok_1"} {
		if got := DotenvKey(in); got != want || !ValidDotenvKey(got) {
			t.Errorf("DotenvKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func checkRoundTrip(t *testing.T, entries []Entry, got map[string]string) {
	t.Helper()
	if len(got) != len(entries) {
		t.Errorf("read %d keys, wrote %d", len(got), len(entries))
	}
	for _, e := range entries {
		if v, ok := got[e.Key]; !ok || v != string(e.Value) {
			t.Errorf("key %q: read %q (present %v), wrote %q", e.Key, v, ok, e.Value)
		}
	}
}
