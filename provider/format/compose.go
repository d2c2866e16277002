package format

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Kinds of rendered files (the format of a files entry; kvcsi extension).
const (
	FileDotenv     = "dotenv"
	FileJSON       = "json"
	FileYAML       = "yaml"
	FileProperties = "properties"
	FileTemplate   = "template"
)

// FileKinds lists the values of a files entry's format, in the order messages name them.
func FileKinds() []string { return []string{FileDotenv, FileJSON, FileYAML, FileProperties} }

// MaxRenderedBytes bounds one rendered file: the driver syncs a file into a Kubernetes
// Secret, which is at most 1 MiB, and a SecretProviderClass author must not be able to
// make the provider build anything larger.
const MaxRenderedBytes = 1 << 20

// Entry is one input of a rendered file: a key and the bytes of the file it comes from.
type Entry struct {
	Key   string
	Input string // the input file, for messages (never its content)
	Value []byte
	// Base64 writes the value base64-encoded (standard, padded): the explicit way to put
	// binary content into a text format.
	Base64 bool
}

// RenderError is what rendering a files entry returns when it cannot be written. It
// names the rendered file and, where one is at fault, the input; never content.
type RenderError struct {
	File   string // the rendered file's path
	Input  string // the input file at fault, "" if none
	Reason string
	Fix    string
	Err    error
}

func (e *RenderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rendered file %q", e.File)
	if e.Input != "" {
		fmt.Fprintf(&b, ": input %q", e.Input)
	}
	b.WriteString(": " + e.Reason)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Fix != "" {
		b.WriteString("; fix: " + e.Fix)
	}
	return b.String()
}

func (e *RenderError) Unwrap() error { return e.Err }

const binaryFix = "set encoding: base64 on this input to write it base64-encoded, or use a template with b64enc"

// RenderFile renders the entries, in order, as one file of the given kind (dotenv,
// json, yaml or properties). Keys must be unique; dotenv keys must be shell variable
// names. A value that is not valid UTF-8 (or, for dotenv, holds a NUL byte) is an error
// naming its input unless the entry asks for base64. The output is at most
// MaxRenderedBytes.
func RenderFile(path, kind string, entries []Entry) ([]byte, error) {
	fail := func(input, reason, fix string) error {
		return &RenderError{File: path, Input: input, Reason: reason, Fix: fix}
	}
	seen := make(map[string]string, len(entries))
	values := make([]string, len(entries))
	total := 0
	for i, e := range entries {
		if prev, dup := seen[e.Key]; dup {
			return nil, fail(e.Input, fmt.Sprintf("key %q is also the key of input %q", e.Key, prev), "give one of the inputs another key")
		}
		seen[e.Key] = e.Input
		v, err := entryValue(e)
		if err != nil {
			return nil, fail(e.Input, err.Error(), binaryFix)
		}
		values[i] = v
		// Escaping at most sextuples a value (\uXXXX for one byte), so this refuses an
		// oversized file before building it.
		total += len(e.Key) + len(v)
		if total > MaxRenderedBytes {
			return nil, fail("", fmt.Sprintf("the inputs are more than the %d bytes a rendered file may have", MaxRenderedBytes),
				"render fewer inputs into this file")
		}
	}
	var (
		out []byte
		err error
	)
	switch kind {
	case FileDotenv:
		out, err = renderDotenv(entries, values)
	case FileJSON:
		out, err = renderJSON(entries, values)
	case FileYAML:
		out, err = renderYAML(entries, values)
	case FileProperties:
		out, err = renderProperties(entries, values)
	default:
		return nil, fail("", fmt.Sprintf("unknown format %q", kind), "use format: "+strings.Join(FileKinds(), ", ")+", or a template")
	}
	if err != nil {
		var re *RenderError
		if errors.As(err, &re) {
			re.File = path
			return nil, re
		}
		return nil, &RenderError{File: path, Reason: "cannot be written", Err: err}
	}
	if len(out) > MaxRenderedBytes {
		return nil, fail("", fmt.Sprintf("the file would be %d bytes, more than the %d allowed", len(out), MaxRenderedBytes),
			"render fewer or smaller inputs into this file")
	}
	return out, nil
}

// entryValue is the entry's value as text: base64 when asked for, else the bytes,
// which must then be UTF-8.
func entryValue(e Entry) (string, error) {
	if e.Base64 {
		return base64.StdEncoding.EncodeToString(e.Value), nil
	}
	if !utf8.Valid(e.Value) {
		return "", fmt.Errorf("the value is not UTF-8 text (invalid byte at offset %d)", invalidUTF8Offset(e.Value))
	}
	return string(e.Value), nil
}

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// ValidDotenvKey reports whether k is a shell variable name, [A-Za-z_][A-Za-z0-9_]*: the
// keys every dotenv reader and a POSIX shell accept.
func ValidDotenvKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// DotenvKey turns a file name into a dotenv key: every byte outside [A-Za-z0-9_]
// becomes '_', and a leading digit gets a '_' before it ("db-password" → "db_password").
func DotenvKey(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || ('0' <= b[0] && b[0] <= '9') {
		b = append([]byte{'_'}, b...)
	}
	return string(b)
}

// renderDotenv writes KEY='value' lines when the value holds no quote, backslash or
// line break (read the same by POSIX shells, docker compose, godotenv and
// python-dotenv), else KEY="value" with \\, \", \n, \r and \$ escapes (godotenv's and
// docker compose's double-quoted form). A value that godotenv cannot read back in
// either form — it needs double quotes and ends with a quote or a backslash, which
// godotenv takes for an escaped closing quote or strips — and a NUL byte (no
// environment variable can hold one) are errors naming the input. See docs/formats.md.
func renderDotenv(entries []Entry, values []string) ([]byte, error) {
	var b bytes.Buffer
	for i, e := range entries {
		if !ValidDotenvKey(e.Key) {
			return nil, &RenderError{Input: e.Input, Reason: fmt.Sprintf("key %q is not a shell variable name", e.Key),
				Fix: "use a key of letters, digits and '_' that does not start with a digit"}
		}
		v := values[i]
		if strings.IndexByte(v, 0) >= 0 {
			return nil, &RenderError{Input: e.Input, Reason: "the value holds a NUL byte, which no environment variable can", Fix: binaryFix}
		}
		b.WriteString(e.Key)
		b.WriteByte('=')
		if !strings.ContainsAny(v, "'\\\n\r") {
			b.WriteByte('\'')
			b.WriteString(v)
			b.WriteString("'\n")
			continue
		}
		if strings.HasSuffix(v, `"`) || strings.HasSuffix(v, `\`) {
			return nil, &RenderError{Input: e.Input,
				Reason: "the value needs double quotes (it holds a single quote, a backslash or a line break) and ends with a double quote or a backslash, which dotenv readers cannot read back",
				Fix:    "set encoding: base64 on this input, or render it as json, yaml or properties"}
		}
		b.WriteByte('"')
		for j := 0; j < len(v); j++ {
			switch c := v[j]; c {
			case '\\':
				b.WriteString(`\\`)
			case '"':
				b.WriteString(`\"`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '$':
				b.WriteString(`\$`)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteString("\"\n")
		if b.Len() > MaxRenderedBytes {
			return nil, tooLarge()
		}
	}
	return b.Bytes(), nil
}

// tooLarge stops a renderer as soon as its output passes MaxRenderedBytes.
func tooLarge() *RenderError {
	return &RenderError{Reason: fmt.Sprintf("the file would be more than the %d bytes allowed", MaxRenderedBytes),
		Fix: "render fewer or smaller inputs into this file"}
}

// renderJSON writes one JSON object, keys in input order, with encoding/json's string
// escaping (no HTML escaping), indented by two spaces.
func renderJSON(entries []Entry, values []string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{")
	for i, e := range entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n  ")
		if err := writeJSONString(&b, e.Key); err != nil {
			return nil, err
		}
		b.WriteString(": ")
		if err := writeJSONString(&b, values[i]); err != nil {
			return nil, err
		}
		if b.Len() > MaxRenderedBytes {
			return nil, tooLarge()
		}
	}
	if len(entries) > 0 {
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

func writeJSONString(b *bytes.Buffer, s string) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

// renderYAML writes one YAML mapping with every key and value double-quoted, so that no
// YAML 1.1 or 1.2 reader takes a value for a number, boolean, null or timestamp, with
// the YAML library's escaping.
func renderYAML(entries []Entry, values []string) ([]byte, error) {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	for i, e := range entries {
		doc.Content = append(doc.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: e.Key},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: values[i]})
	}
	if len(entries) == 0 {
		doc.Style = yaml.FlowStyle
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// renderProperties writes key=value lines escaped as java.util.Properties.store does:
// '\', '=', ':', '#', '!' and line breaks escaped in keys and values, spaces in keys and
// a value's leading space, and every character outside printable ASCII as \uXXXX (UTF-16
// code units, so the file is ASCII and reads the same as ISO-8859-1 or UTF-8).
func renderProperties(entries []Entry, values []string) ([]byte, error) {
	var b bytes.Buffer
	for i, e := range entries {
		writeProperty(&b, e.Key, true)
		b.WriteByte('=')
		writeProperty(&b, values[i], false)
		b.WriteByte('\n')
		if b.Len() > MaxRenderedBytes {
			return nil, tooLarge()
		}
	}
	return b.Bytes(), nil
}

func writeProperty(b *bytes.Buffer, s string, key bool) {
	for i, r := range s {
		switch {
		case r == ' ':
			if key || i == 0 {
				b.WriteString(`\ `)
			} else {
				b.WriteByte(' ')
			}
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\\' || r == '=' || r == ':' || r == '#' || r == '!':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r > 0x7e:
			writeUTF16Escapes(b, r)
		default:
			b.WriteRune(r)
		}
	}
}

func writeUTF16Escapes(b *bytes.Buffer, r rune) {
	write := func(u rune) {
		b.WriteString(`\u`)
		s := strconv.FormatInt(int64(u), 16)
		b.WriteString(strings.Repeat("0", 4-len(s)) + strings.ToUpper(s))
	}
	if r >= 0x10000 {
		r -= 0x10000
		write(0xD800 + (r >> 10))
		write(0xDC00 + (r & 0x3FF))
		return
	}
	write(r)
}
