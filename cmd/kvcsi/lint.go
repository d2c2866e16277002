package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/heuristics"
	"github.com/kvcsi/kvcsi/provider/lint"
)

const lintUsage = `usage: kvcsi lint [flags] FILE.yaml... ("-" reads standard input)

Checks SecretProviderClass manifests (provider: azure) offline, the way the provider
validates them at mount time, and more: unknown parameters and object fields (with a
did-you-mean), invalid values, several identity modes at once, duplicate output paths,
and secretObjects that name files the objects do not produce. A file may hold several
YAML documents; documents of other kinds, or for other providers, are skipped.

Prints one line per finding, file:line: severity: which SecretProviderClass (and its
document index), which parameter or object, what is wrong, and the fix. Exits 1 if
anything is wrong (warnings, such as deprecated settings, only with -strict), 2 if a
file cannot be read.

`

// lintOptions are kvcsi lint's flags.
type lintOptions struct {
	check  lint.Options
	strict bool
}

func runLint(args []string, stdout io.Writer) error {
	var o lintOptions
	fset := flag.NewFlagSet("kvcsi lint", flag.ContinueOnError)
	fset.SetOutput(stdout)
	fset.Usage = func() {
		fmt.Fprint(fset.Output(), lintUsage)
		fset.PrintDefaults()
	}
	fset.BoolVar(&o.check.WriteCertAndKeySeparately, "write-cert-and-key-in-separate-files", false, "lint for a provider started with this flag (secretObjects may name <file>.crt and <file>.key of any objectType secret)")
	fset.BoolVar(&o.strict, "strict", false, "exit 1 on warnings too (deprecated settings, an empty objects array)")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitStatus{code: 2, err: err}
	}
	if fset.NArg() == 0 {
		fset.Usage()
		return &exitStatus{code: 2, err: errors.New("lint: no files given")}
	}

	var all []lintLine
	checked := 0
	for _, name := range fset.Args() {
		var data []byte
		var err error
		if name == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			return &exitStatus{code: 2, err: fmt.Errorf("lint: %w", err)}
		}
		lines, n := lintFile(name, data, o.check)
		all = append(all, lines...)
		checked += n
	}

	errs, warns := 0, 0
	for _, l := range all {
		if _, err := fmt.Fprintln(stdout, l.String()); err != nil {
			return err
		}
		if l.finding.Severity == config.SeverityWarning {
			warns++
		} else {
			errs++
		}
	}
	if len(all) == 0 {
		_, err := fmt.Fprintf(stdout, "%s checked: no problems found\n", plural(checked, "SecretProviderClass", "SecretProviderClasses"))
		return err
	}
	if errs > 0 || (o.strict && warns > 0) {
		return &exitStatus{code: 1, err: fmt.Errorf("lint: %s, %s in %s",
			plural(errs, "error", "errors"), plural(warns, "warning", "warnings"), plural(checked, "SecretProviderClass", "SecretProviderClasses"))}
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// lintLine is one line of kvcsi lint's output: file:line: and the finding's text.
type lintLine struct {
	file    string
	line    int    // 0 if unknown
	class   string // "SecretProviderClass shop/web (document 2)", or "document 2"
	finding lint.Finding
}

func (l lintLine) String() string {
	where := l.file
	if l.line > 0 {
		where += ":" + strconv.Itoa(l.line)
	}
	return where + ": " + l.finding.Text(l.class)
}

// lintFile lints every document of one file and returns its lines and the number of
// SecretProviderClasses checked.
func lintFile(name string, data []byte, opts lint.Options) ([]lintLine, int) {
	var out []lintLine
	dec := yaml.NewDecoder(bytes.NewReader(data))
	checked := 0
	for doc := 1; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			out = append(out, lintLine{file: name, line: heuristics.YAMLErrorLine(err), class: "document " + strconv.Itoa(doc),
				finding: lint.Finding{Severity: config.SeverityInvalid, Message: "not valid YAML: " + err.Error(),
					Fix: "fix the YAML syntax; nothing after this point was checked"}})
			break
		}
		if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
			continue
		}
		roots := []*yaml.Node{n.Content[0]}
		if scalar(roots[0], "kind") == "List" {
			roots = nil
			if items := child(n.Content[0], "items"); items != nil && items.Kind == yaml.SequenceNode {
				roots = items.Content
			}
		}
		for _, root := range roots {
			if scalar(root, "kind") != "SecretProviderClass" {
				continue
			}
			spc := decodeSPC(root)
			if !lint.Applies(spc) {
				continue
			}
			checked++
			lines := newLineIndex(root)
			class := fmt.Sprintf("%s (document %d)", spc, doc)
			for _, f := range lint.Check(spc, opts) {
				out = append(out, lintLine{file: name, line: lines.line(f.Path, f.Key), class: class, finding: f})
			}
		}
	}
	return out, checked
}

// child is the value node of key in mapping m, or nil.
func child(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(m *yaml.Node, key string) string {
	if c := child(m, key); c != nil && c.Kind == yaml.ScalarNode {
		return c.Value
	}
	return ""
}

func keys(m *yaml.Node) []string {
	var ks []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		ks = append(ks, m.Content[i].Value)
	}
	return ks
}

func resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n.Kind == yaml.AliasNode && n.Alias != nil && depth < 100; depth++ {
		n = n.Alias
	}
	return n
}

// decodeSPC reads a SecretProviderClass document as the API server would store it,
// keeping what only YAML can get wrong (keys as written, values that are not strings).
func decodeSPC(root *yaml.Node) *lint.SecretProviderClass {
	meta := child(root, "metadata")
	spc := &lint.SecretProviderClass{APIVersion: scalar(root, "apiVersion"), Name: scalar(meta, "name"), Namespace: scalar(meta, "namespace")}
	spec := child(root, "spec")
	if spec == nil || spec.Kind != yaml.MappingNode {
		return spc
	}
	s := &lint.Spec{Keys: keys(spec), Provider: scalar(spec, "provider")}
	spc.Spec = s
	if p := child(spec, "parameters"); p != nil && p.Kind == yaml.MappingNode {
		s.Parameters = map[string]string{}
		for i := 0; i+1 < len(p.Content); i += 2 {
			k, v := p.Content[i].Value, resolve(p.Content[i+1])
			w := lint.Written{Key: k}
			switch v.Kind {
			case yaml.ScalarNode:
				if v.Tag != "!!str" && v.Tag != "!!null" {
					w.Type = strings.TrimPrefix(v.Tag, "!!")
				}
				w.Plain = v.Style == 0
				s.Parameters[k] = v.Value
			case yaml.MappingNode:
				w.Type = "map"
			default:
				w.Type = "seq"
			}
			s.Written = append(s.Written, w)
		}
	}
	if sos := child(spec, "secretObjects"); sos != nil {
		if sos.Kind != yaml.SequenceNode {
			s.SecretObjectsNotList = true
			return spc
		}
		for _, so := range sos.Content {
			if so.Kind != yaml.MappingNode {
				s.SecretObjects = append(s.SecretObjects, lint.SecretObject{NotMapping: true})
				continue
			}
			o := lint.SecretObject{Keys: keys(so), SecretName: scalar(so, "secretName"), Type: scalar(so, "type")}
			if data := child(so, "data"); data != nil && data.Kind == yaml.SequenceNode {
				for _, d := range data.Content {
					if d.Kind != yaml.MappingNode {
						o.Data = append(o.Data, lint.SecretData{NotMapping: true})
						continue
					}
					o.Data = append(o.Data, lint.SecretData{Keys: keys(d), ObjectName: scalar(d, "objectName"), Key: scalar(d, "key")})
				}
			}
			s.SecretObjects = append(s.SecretObjects, o)
		}
	}
	return spc
}

// lineIndex maps the paths of one SecretProviderClass document to lines: of each node,
// and of each mapping key. It reaches into the objects parameter and its entries when
// they are YAML block strings (objects: | and - |), as usual: only a literal block
// keeps the lines.
type lineIndex struct {
	node, key map[lint.Path]int
}

func newLineIndex(root *yaml.Node) *lineIndex {
	ix := &lineIndex{node: map[lint.Path]int{}, key: map[lint.Path]int{}}
	ix.add("", root, 0)
	return ix
}

func setFirst(m map[lint.Path]int, p lint.Path, line int) {
	if _, ok := m[p]; !ok {
		m[p] = line
	}
}

// add indexes n at p; offset is the file line before the first line of the YAML text n
// comes from.
func (ix *lineIndex) add(p lint.Path, n *yaml.Node, offset int) {
	setFirst(ix.node, p, offset+n.Line)
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			kp := p.Key(n.Content[i].Value)
			setFirst(ix.key, kp, offset+n.Content[i].Line)
			ix.add(kp, n.Content[i+1], offset)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			ix.add(p.Index(i), item, offset)
		}
	case yaml.ScalarNode:
		parent, _ := p.Parent()
		if n.Style == yaml.LiteralStyle && (p == "spec.parameters.objects" || parent == "spec.parameters.objects.array") {
			// The block's first line follows the line of its "|".
			var doc yaml.Node
			if yaml.Unmarshal([]byte(n.Value), &doc) == nil && len(doc.Content) > 0 {
				ix.add(p, doc.Content[0], offset+n.Line) // p keeps its own line (setFirst)
			}
		}
	}
}

// line is the line of the node at p (of its key, if key and p is a mapping entry); for a
// path the document does not have, the line of the nearest node that holds it.
func (ix *lineIndex) line(p lint.Path, key bool) int {
	if key {
		if l, ok := ix.key[p]; ok {
			return l
		}
	}
	for {
		if l, ok := ix.node[p]; ok {
			return l
		}
		parent, ok := p.Parent()
		if !ok {
			return 0
		}
		p = parent
	}
}
