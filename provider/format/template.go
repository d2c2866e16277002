package format

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/kvcsi/kvcsi/provider/vocab"
)

// Bounds on a files entry's template. A SecretProviderClass is written by whoever may
// create one in a namespace and the daemon serves every pod of the node, so a template
// must not be able to make it allocate or compute without bound.
const (
	// MaxTemplateBytes bounds the template's text (and so its parse tree).
	MaxTemplateBytes = 16 << 10
	// maxTemplateWork bounds the bytes the template's functions may read and produce in
	// one execution, on top of the output's MaxRenderedBytes: without it a loop over the
	// inputs calling trim on a 1 MiB input thousands of times would run for minutes.
	maxTemplateWork = 64 << 20
	// maxIndent bounds indent and nindent's width.
	maxIndent = 64
)

// ErrTemplate marks a template refused at compile time (syntax, size, a function or
// construct outside the allowed set, an undeclared input).
var ErrTemplate = errors.New("invalid template")

// TemplateFuncs lists the functions a template may call, for docs and messages. Besides
// these, the language's if, else, with, range (over $, the inputs), break, continue,
// variables and the builtins and, or, not, len and index work.
func TemplateFuncs() []string {
	names := make([]string, 0, len(templateFuncNames)+len(templateBuiltins))
	for name := range templateFuncNames {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// templateFuncNames are kvcsi's functions; each is metered (funcs below).
var templateFuncNames = map[string]bool{
	"input": true, "default": true, "trim": true, "trimPrefix": true, "trimSuffix": true,
	"upper": true, "lower": true, "replace": true, "b64enc": true, "b64dec": true,
	"jsonQuote": true, "shellQuote": true, "indent": true, "nindent": true,
	"contains": true, "hasPrefix": true, "hasSuffix": true, "eq": true, "ne": true, "print": true,
}

// templateBuiltins are text/template's builtins that stay: each is O(1) or O(key).
var templateBuiltins = map[string]bool{"and": true, "or": true, "not": true, "len": true, "index": true}

// Template is a compiled files entry template.
type Template struct {
	tmpl *template.Template
}

// CompileTemplate parses text as a Go text/template and checks it against the bounds
// above: at most MaxTemplateBytes; only the functions of TemplateFuncs and the builtins
// and, or, not, len and index (printf, html, js, call, slice and the rest are refused);
// no {{template}}, {{define}} or {{block}} (so no recursion and no inclusion); range only
// over $, the inputs, and never nested (so a template loops at most once per input);
// and every input named literally — {{.name}}, {{$.name}}, {{input "name"}} — among keys.
//
// The data a template sees is a map of the inputs' keys to their values as strings, and
// nothing else: no environment, no files, no network, no methods to call.
func CompileTemplate(text string, keys []string) (t *Template, err error) {
	if len(text) > MaxTemplateBytes {
		return nil, fmt.Errorf("%w: it is %d bytes long, more than the %d allowed", ErrTemplate, len(text), MaxTemplateBytes)
	}
	defer func() {
		// text/template is not written for hostile input; a panic must not take the
		// daemon down.
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("%w: cannot parse it", ErrTemplate)
		}
	}()
	stubs := template.FuncMap{}
	for name := range templateFuncNames {
		stubs[name] = func(...any) (string, error) { return "", nil }
	}
	tmpl, err := template.New("template").Option("missingkey=error").Funcs(stubs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrTemplate, cleanTemplateError(err))
	}
	for _, other := range tmpl.Templates() {
		if other != tmpl {
			return nil, fmt.Errorf("%w: {{define}} and {{block}} are not supported", ErrTemplate)
		}
	}
	if tmpl.Tree == nil || tmpl.Root == nil {
		return &Template{tmpl: tmpl}, nil // empty template
	}
	declared := make(map[string]bool, len(keys))
	for _, k := range keys {
		declared[k] = true
	}
	c := templateChecker{declared: declared, tree: tmpl.Tree}
	if err := c.node(tmpl.Root, false, true); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTemplate, err)
	}
	return &Template{tmpl: tmpl}, nil
}

type templateChecker struct {
	declared map[string]bool
	tree     *parse.Tree
}

func (c *templateChecker) errorf(n parse.Node, format string, args ...any) error {
	loc, _ := c.tree.ErrorContext(n)
	return fmt.Errorf("%s: %s", loc, fmt.Sprintf(format, args...))
}

// node checks n; inRange is true inside a range, topDot while . is still the inputs.
func (c *templateChecker) node(n parse.Node, inRange, topDot bool) error {
	switch n := n.(type) {
	case nil:
		return nil
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, child := range n.Nodes {
			if err := c.node(child, inRange, topDot); err != nil {
				return err
			}
		}
	case *parse.TextNode, *parse.CommentNode, *parse.BreakNode, *parse.ContinueNode:
	case *parse.ActionNode:
		return c.pipe(n.Pipe, topDot)
	case *parse.IfNode:
		return c.branch(&n.BranchNode, inRange, topDot, topDot)
	case *parse.WithNode:
		// Inside with, . is the pipeline's value.
		return c.branch(&n.BranchNode, inRange, topDot, false)
	case *parse.RangeNode:
		if inRange {
			return c.errorf(n, "range inside range is not supported: loop over the inputs once")
		}
		if !rangesOverInputs(n.Pipe) {
			return c.errorf(n, "range is only supported over $, the inputs: {{range $key, $value := $}}")
		}
		if err := c.pipe(n.Pipe, topDot); err != nil {
			return err
		}
		if err := c.node(n.List, true, false); err != nil {
			return err
		}
		return c.node(n.ElseList, inRange, topDot)
	case *parse.TemplateNode:
		return c.errorf(n, "{{template}} is not supported")
	default:
		return c.errorf(n, "unsupported construct %s", n)
	}
	return nil
}

func (c *templateChecker) branch(b *parse.BranchNode, inRange, topDot, listTopDot bool) error {
	if err := c.pipe(b.Pipe, topDot); err != nil {
		return err
	}
	if err := c.node(b.List, inRange, listTopDot); err != nil {
		return err
	}
	return c.node(b.ElseList, inRange, topDot)
}

// rangesOverInputs reports whether a range pipeline is exactly $ (with optional
// variable declarations).
func rangesOverInputs(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	v, ok := p.Cmds[0].Args[0].(*parse.VariableNode)
	return ok && len(v.Ident) == 1 && v.Ident[0] == "$"
}

func (c *templateChecker) pipe(p *parse.PipeNode, topDot bool) error {
	if p == nil {
		return nil
	}
	for _, cmd := range p.Cmds {
		for i, arg := range cmd.Args {
			if err := c.arg(arg, topDot); err != nil {
				return err
			}
			if id, ok := arg.(*parse.IdentifierNode); ok && i == 0 && id.Ident == "input" && len(cmd.Args) > 1 {
				if s, ok := cmd.Args[1].(*parse.StringNode); ok && !c.declared[s.Text] {
					return c.errorf(s, "input %q is not among this file's inputs", s.Text)
				}
			}
		}
	}
	return nil
}

func (c *templateChecker) arg(n parse.Node, topDot bool) error {
	switch n := n.(type) {
	case *parse.IdentifierNode:
		if !templateFuncNames[n.Ident] && !templateBuiltins[n.Ident] {
			return c.errorf(n, "function %s is not supported (the functions are %s, and, or, not, len and index)",
				n.Ident, strings.Join(TemplateFuncs(), ", "))
		}
	case *parse.FieldNode:
		if topDot && len(n.Ident) > 0 && !c.declared[n.Ident[0]] {
			return c.errorf(n, "input %q is not among this file's inputs", n.Ident[0])
		}
		if len(n.Ident) > 1 {
			return c.errorf(n, "%s: an input is a string and has no fields", n)
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" && !c.declared[n.Ident[1]] {
			return c.errorf(n, "input %q is not among this file's inputs", n.Ident[1])
		}
		if len(n.Ident) > 2 {
			return c.errorf(n, "%s: an input is a string and has no fields", n)
		}
	case *parse.ChainNode:
		return c.errorf(n, "%s: an input is a string and has no fields", n)
	case *parse.PipeNode:
		return c.pipe(n, topDot)
	case *parse.DotNode, *parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
	default:
		return c.errorf(n, "unsupported construct %s", n)
	}
	return nil
}

// cleanTemplateError drops text/template's "template: template:" prefix.
func cleanTemplateError(err error) string {
	return vocab.Abbreviate(strings.TrimPrefix(err.Error(), "template: "))
}

// meter counts the bytes a template's functions read and write in one execution.
type meter struct{ used, limit int }

var errTemplateWork = fmt.Errorf("the template's functions processed more than %d bytes", maxTemplateWork)

func (m *meter) charge(n int) error {
	m.used += n
	if m.used > m.limit {
		return errTemplateWork
	}
	return nil
}

// limitedBuffer fails a write past MaxRenderedBytes, which stops the execution.
type limitedBuffer struct{ bytes.Buffer }

var errTemplateOutput = fmt.Errorf("the output would be more than the %d bytes allowed", MaxRenderedBytes)

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxRenderedBytes {
		return 0, errTemplateOutput
	}
	return b.Buffer.Write(p)
}

// Execute renders the template over the entries (keys unique, checked by the caller's
// configuration). Errors name the rendered file and never hold an input's value.
func (t *Template) Execute(path string, entries []Entry) (out []byte, err error) {
	data := make(map[string]string, len(entries))
	for _, e := range entries {
		v := string(e.Value)
		if e.Base64 {
			v = base64.StdEncoding.EncodeToString(e.Value)
		}
		data[e.Key] = v
	}
	m := &meter{limit: maxTemplateWork}
	tmpl, err := t.tmpl.Clone()
	if err != nil {
		return nil, &RenderError{File: path, Reason: "cannot run the template", Err: err}
	}
	tmpl.Funcs(templateFuncs(m, data))
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, &RenderError{File: path, Reason: "the template failed"}
		}
	}()
	var buf limitedBuffer
	if err := tmpl.Execute(&buf, data); err != nil {
		re := &RenderError{File: path, Reason: "the template failed: " + cleanTemplateError(err),
			Fix: "check the template against its inputs (docs/formats.md lists the functions)"}
		switch {
		case errors.Is(err, errTemplateOutput):
			re.Reason, re.Fix = errTemplateOutput.Error(), "make the template write less"
		case errors.Is(err, errTemplateWork):
			re.Reason, re.Fix = errTemplateWork.Error(), "call fewer functions on large inputs"
		}
		return nil, re
	}
	return buf.Bytes(), nil
}

// templateFuncs are the functions of one execution, metered by m. The subject comes
// last, so that each works at the end of a pipeline: {{.x | trimSuffix "\n" | b64enc}}.
func templateFuncs(m *meter, data map[string]string) template.FuncMap {
	str := func(f func(string) string) func(string) (string, error) {
		return func(s string) (string, error) {
			if err := m.charge(len(s)); err != nil {
				return "", err
			}
			out := f(s)
			return out, m.charge(len(out))
		}
	}
	str2 := func(f func(a, s string) string) func(a, s string) (string, error) {
		return func(a, s string) (string, error) {
			if err := m.charge(len(a) + len(s)); err != nil {
				return "", err
			}
			out := f(a, s)
			return out, m.charge(len(out))
		}
	}
	test := func(f func(s, sub string) bool) func(a, s string) (bool, error) {
		return func(a, s string) (bool, error) {
			return f(s, a), m.charge(len(a) + len(s))
		}
	}
	indent := func(n int, s string) (string, error) {
		if n < 0 || n > maxIndent {
			return "", fmt.Errorf("indent width %d is not between 0 and %d", n, maxIndent)
		}
		size := len(s) + n*(strings.Count(s, "\n")+1)
		if size > MaxRenderedBytes {
			return "", errTemplateOutput
		}
		if err := m.charge(len(s) + size); err != nil {
			return "", err
		}
		pad := strings.Repeat(" ", n)
		return pad + strings.ReplaceAll(s, "\n", "\n"+pad), nil
	}
	return template.FuncMap{
		"input": func(key string) (string, error) {
			v, ok := data[key]
			if !ok {
				return "", fmt.Errorf("input %q is not among this file's inputs", vocab.Abbreviate(key))
			}
			return v, nil
		},
		"default": func(def, s string) (string, error) {
			if s == "" {
				return def, m.charge(len(def))
			}
			return s, nil
		},
		"trim":       str(strings.TrimSpace),
		"upper":      str(strings.ToUpper),
		"lower":      str(strings.ToLower),
		"trimPrefix": str2(func(p, s string) string { return strings.TrimPrefix(s, p) }),
		"trimSuffix": str2(func(p, s string) string { return strings.TrimSuffix(s, p) }),
		"replace": func(old, new, s string) (string, error) {
			n := strings.Count(s, old)
			if old == "" {
				n = len(s) + 1
			}
			size := len(s) + n*(len(new)-len(old))
			if size > MaxRenderedBytes {
				return "", errTemplateOutput
			}
			if err := m.charge(len(s) + size); err != nil {
				return "", err
			}
			return strings.ReplaceAll(s, old, new), nil
		},
		"b64enc": str(func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }),
		"b64dec": func(s string) (string, error) {
			if err := m.charge(2 * len(s)); err != nil {
				return "", err
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return "", errors.New("b64dec: the value is not standard padded base64")
			}
			return string(b), nil
		},
		"jsonQuote": func(s string) (string, error) {
			if err := m.charge(len(s)); err != nil {
				return "", err
			}
			var b bytes.Buffer
			if err := writeJSONString(&b, s); err != nil {
				return "", err
			}
			return b.String(), m.charge(b.Len())
		},
		"shellQuote": str(func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }),
		"indent":     indent,
		"nindent": func(n int, s string) (string, error) {
			out, err := indent(n, s)
			return "\n" + out, err
		},
		"contains":  test(strings.Contains),
		"hasPrefix": test(strings.HasPrefix),
		"hasSuffix": test(strings.HasSuffix),
		"eq":        func(a, b any) (bool, error) { return compare(m, a, b) },
		"ne": func(a, b any) (bool, error) {
			eq, err := compare(m, a, b)
			return !eq, err
		},
		"print": func(args ...any) (string, error) {
			var b strings.Builder
			for _, a := range args {
				s := fmt.Sprint(a)
				if err := m.charge(len(s)); err != nil {
					return "", err
				}
				if b.Len()+len(s) > MaxRenderedBytes {
					return "", errTemplateOutput
				}
				b.WriteString(s)
			}
			return b.String(), m.charge(b.Len())
		},
	}
}

// compare is eq for the values a template has: strings, numbers, booleans.
func compare(m *meter, a, b any) (bool, error) {
	if as, ok := a.(string); ok {
		bs, ok := b.(string)
		if !ok {
			return false, errors.New("eq: cannot compare a string with another type")
		}
		return as == bs, m.charge(min(len(as), len(bs)))
	}
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	if !av.IsValid() || !bv.IsValid() || !av.Type().Comparable() || av.Type() != bv.Type() {
		return false, errors.New("eq: the values are of different or incomparable types")
	}
	return a == b, nil
}
