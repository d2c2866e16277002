package config

import (
	"fmt"
	"io/fs"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kvcsi/kvcsi/provider/format"
	"github.com/kvcsi/kvcsi/provider/suggest"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// Bounds of the files parameter.
const (
	// MaxRenderedFiles bounds the entries of the files parameter.
	MaxRenderedFiles = 64
	// MaxRenderedInputs bounds the inputs one entry names (a directory input counts
	// once, and brings at most MaxSelectorMatches files).
	MaxRenderedInputs = 256
)

// Values of RenderedFile.KeyCase.
const (
	KeyCaseAsIs  = ""
	KeyCaseUpper = "upper"
	KeyCaseLower = "lower"
)

// RenderedFile is one entry of the files parameter: a file built from files the class
// produces (kvcsi extension).
type RenderedFile struct {
	Index int    // position in the files list
	Path  string // relative to the mount
	Mode  fs.FileMode
	// Format is one of format.FileKinds, or format.FileTemplate with Template set.
	Format   string
	Template *format.Template
	Inputs   []Input
	// HideInputs writes only the rendered file: the inputs' own files are left out of
	// the volume (their versions still drive rotation).
	HideInputs bool
	// SkipMissingInputs renders without the inputs of an optional object that was
	// skipped; without it a missing optional input fails the mount.
	SkipMissingInputs bool
	KeyCase           string
	// Definition is the entry as written, for the rendered file's version: a changed
	// template or key changes it even when no input did.
	Definition string
}

// Field is how messages name the entry: "files[2]".
func (f *RenderedFile) Field() string { return fmt.Sprintf("files[%d]", f.Index) }

// Input is one input of a rendered file.
type Input struct {
	// File is a file the class produces, or (Dir) the directory of a selector's
	// matches or of a version history, standing for every file in it.
	File string
	Dir  bool
	// Key is the input's key in the rendered file; "" derives it from the file name
	// (KeyFor).
	Key string
	// Base64 writes the value base64-encoded (encoding: base64).
	Base64 bool
	// Object is the index in objects.array of the entry producing the file.
	Object int
}

// KeyFor is the key of the file p ("/"-separated, relative to the mount) brought by
// input in: the input's key, else the file's name relative to a directory input (or
// the file itself), made a shell variable name for dotenv, then cased by KeyCase.
func (f *RenderedFile) KeyFor(in Input, p string) string {
	if in.Key != "" && !in.Dir {
		return in.Key
	}
	k := p
	if in.Dir {
		k = strings.TrimPrefix(p, in.File+"/")
		if in.Key != "" {
			k = in.Key + k // a directory's key is a prefix
		}
	}
	if f.Format == format.FileDotenv {
		k = format.DotenvKey(k)
	}
	switch f.KeyCase {
	case KeyCaseUpper:
		k = strings.ToUpper(k)
	case KeyCaseLower:
		k = strings.ToLower(k)
	}
	return k
}

// filesEntry is one files entry as written.
type filesEntry struct {
	Path              string       `yaml:"path"`
	FilePermission    string       `yaml:"filePermission"`
	Format            string       `yaml:"format"`
	Template          string       `yaml:"template"`
	Inputs            []inputEntry `yaml:"inputs"`
	HideInputs        bool         `yaml:"hideInputs"`
	SkipMissingInputs bool         `yaml:"skipMissingInputs"`
	KeyCase           string       `yaml:"keyCase"`
}

// inputEntry is an input: a file name, or {file, key, encoding}.
type inputEntry struct {
	File     string `yaml:"file"`
	Key      string `yaml:"key"`
	Encoding string `yaml:"encoding"`
}

func (in *inputEntry) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		in.File = n.Value
		return nil
	}
	type plain inputEntry
	return n.Decode((*plain)(in))
}

var (
	knownFilesFields = []string{"path", "filePermission", "format", "template", "inputs", "hideInputs", "skipMissingInputs", "keyCase"}
	knownInputFields = []string{"file", "key", "encoding"}
)

const filesExample = "write files as a YAML list of {path, format: dotenv|json|yaml|properties (or template), inputs: [<file>, ...]}"

// walkFiles decodes and validates the files parameter against the objects that are
// valid on their own. It returns the entries that are valid, and false where c says to
// stop.
func walkFiles(raw string, objects []Object, defaultMode fs.FileMode, c *checker) ([]RenderedFile, bool) {
	var entries []yaml.Node
	if err := yaml.Unmarshal([]byte(raw), &entries); err != nil {
		return nil, !c.fail(nil, &Error{Param: ParamFiles, Msg: fmt.Sprintf("files is not a YAML list: %v", err), Fix: filesExample, Err: err})
	}
	if len(entries) > MaxRenderedFiles {
		return nil, !c.fail(nil, invalid(ParamFiles, fmt.Sprintf("files has %d entries, more than the %d allowed", len(entries), MaxRenderedFiles),
			"render fewer files, each from more inputs"))
	}
	if c.all && len(entries) == 0 {
		c.note(SeverityWarning, nil, ParamFiles, "files has no entries", filesExample)
	}
	prod := newProduced(objects)
	var files []RenderedFile
	for i := range entries {
		n := &entries[i]
		field := fmt.Sprintf("files[%d]", i)
		if c.all {
			c.unknownFileKeys(field, n)
		}
		var e filesEntry
		if err := n.Decode(&e); err != nil {
			if c.fail(nil, &Error{Param: field, Msg: fmt.Sprintf("%s: %v", field, err),
				Fix: "each entry is a mapping: path, format or template, inputs (file names or {file, key, encoding}), hideInputs, skipMissingInputs, keyCase, filePermission", Err: err}) {
				return nil, false
			}
			continue
		}
		f, err := buildRenderedFile(i, &e, prod, defaultMode)
		if err != nil {
			err.Msg = field + ": " + err.Msg
			if c.fail(nil, err) {
				return nil, false
			}
			continue
		}
		if c.all {
			c.renderedNotes(&f, objects)
		}
		files = append(files, f)
	}
	if err := checkRenderedPaths(objects, files); err != nil && c.fail(nil, err) {
		return nil, false
	}
	return files, true
}

func (c *checker) unknownFileKeys(field string, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		if !contains(knownFilesFields, key) {
			c.note(SeverityError, nil, field+"."+key, fmt.Sprintf("unknown field %q in %s is ignored", key, field), suggest.Fix(key, knownFilesFields, "field"))
			continue
		}
		if key == "inputs" && val.Kind == yaml.SequenceNode {
			for j, item := range val.Content {
				if item.Kind != yaml.MappingNode {
					continue
				}
				for k := 0; k+1 < len(item.Content); k += 2 {
					if ik := item.Content[k].Value; !contains(knownInputFields, ik) {
						f := fmt.Sprintf("%s.inputs[%d].%s", field, j, ik)
						c.note(SeverityError, nil, f, fmt.Sprintf("unknown field %q in %s.inputs[%d] is ignored", ik, field, j), suggest.Fix(ik, knownInputFields, "field"))
					}
				}
			}
		}
	}
}

// renderedNotes are Lint's findings about a valid entry: inputs of optional objects.
func (c *checker) renderedNotes(f *RenderedFile, objects []Object) {
	if f.SkipMissingInputs {
		return
	}
	for j, in := range f.Inputs {
		o := objectAt(objects, in.Object)
		if o == nil || !o.Optional {
			continue
		}
		c.note(SeverityWarning, nil, fmt.Sprintf("%s.inputs[%d]", f.Field(), j),
			fmt.Sprintf("%s: input %q comes from an optional object (objects.array[%d]): when it is missing, the mount fails on this file", f.Field(), in.File, in.Object),
			"set skipMissingInputs: true on the entry to render it without the missing input, or remove optional from the object")
	}
}

func objectAt(objects []Object, index int) *Object {
	for i := range objects {
		if objects[i].Index == index {
			return &objects[i]
		}
	}
	return nil
}

func buildRenderedFile(i int, e *filesEntry, prod *produced, defaultMode fs.FileMode) (RenderedFile, *Error) {
	field := fmt.Sprintf("files[%d]", i)
	e.Path = strings.TrimSpace(e.Path)
	e.Format = strings.ToLower(strings.TrimSpace(e.Format))
	e.KeyCase = strings.ToLower(strings.TrimSpace(e.KeyCase))
	f := RenderedFile{Index: i, Path: e.Path, Mode: defaultMode, HideInputs: e.HideInputs, SkipMissingInputs: e.SkipMissingInputs, KeyCase: e.KeyCase}
	if e.Path == "" {
		return f, invalid(field+".path", "path must not be empty", "set path to the rendered file's name, e.g. app.env")
	}
	if err := checkPath(field+".path", e.Path); err != nil {
		return f, err
	}
	if e.FilePermission != "" {
		m, err := parseFilePermission(e.FilePermission)
		if err != nil {
			err.Param = field + ".filePermission"
			return f, err
		}
		f.Mode = m
	}
	switch e.KeyCase {
	case KeyCaseAsIs, KeyCaseUpper, KeyCaseLower:
	default:
		return f, invalid(field+".keyCase", fmt.Sprintf("invalid keyCase %s", quoteShort(e.KeyCase)),
			"use keyCase: upper or lower, or remove it to keep the file names' case")
	}
	switch {
	case e.Format != "" && e.Template != "":
		return f, invalid(field+".format", "format and template cannot be combined", "use format for a standard file, or template for your own layout")
	case e.Format == "" && e.Template == "":
		return f, invalid(field+".format", "neither format nor template is set", "set format: "+strings.Join(format.FileKinds(), ", ")+", or template")
	case e.Template != "":
		f.Format = format.FileTemplate
	case !contains(format.FileKinds(), e.Format):
		return f, invalid(field+".format", fmt.Sprintf("invalid format %s", quoteShort(e.Format)),
			suggest.Fix(e.Format, format.FileKinds(), "format")+"; or write a template")
	default:
		f.Format = e.Format
	}
	if len(e.Inputs) == 0 && f.Format != format.FileTemplate {
		return f, invalid(field+".inputs", "inputs is empty", "list the files to render: inputs: [<objectAlias or objectName>, ...]")
	}
	if len(e.Inputs) > MaxRenderedInputs {
		return f, invalid(field+".inputs", fmt.Sprintf("%d inputs, more than the %d allowed", len(e.Inputs), MaxRenderedInputs),
			"use a selector's directory as one input")
	}
	keys := map[string]int{}
	var templateKeys []string
	for j, ie := range e.Inputs {
		in, err := buildInput(field, j, ie, f.Format, prod)
		if err != nil {
			return f, err
		}
		f.Inputs = append(f.Inputs, in)
		if in.Dir {
			continue // its keys are known once the directory's files are
		}
		k := f.KeyFor(in, in.File)
		if prev, dup := keys[k]; dup {
			return f, invalid(fmt.Sprintf("%s.inputs[%d]", field, j), fmt.Sprintf("inputs[%d] and inputs[%d] both have the key %q", prev, j, k),
				"give one of them its own key: {file: <file>, key: <key>}")
		}
		keys[k] = j
		templateKeys = append(templateKeys, k)
	}
	if f.Format == format.FileTemplate {
		for _, in := range f.Inputs {
			if in.Dir {
				return f, invalid(field+".inputs", fmt.Sprintf("input %q is a directory: a template names each of its inputs", in.File),
					"list the directory's files one by one, or use format: dotenv, json, yaml or properties")
			}
		}
		t, err := format.CompileTemplate(e.Template, templateKeys)
		if err != nil {
			return f, &Error{Param: field + ".template", Msg: err.Error(), Err: err,
				Fix: "fix the template (docs/formats.md lists its functions and limits); inputs are {{.key}}, {{$.key}} or {{input \"key\"}}"}
		}
		f.Template = t
	}
	def, _ := yaml.Marshal(e)
	f.Definition = string(def)
	return f, nil
}

func buildInput(field string, j int, ie inputEntry, kind string, prod *produced) (Input, *Error) {
	ifield := fmt.Sprintf("%s.inputs[%d]", field, j)
	ie.File, ie.Key, ie.Encoding = strings.TrimSpace(ie.File), strings.TrimSpace(ie.Key), strings.ToLower(strings.TrimSpace(ie.Encoding))
	in := Input{File: ie.File, Key: ie.Key}
	if ie.File == "" {
		return in, invalid(ifield, "the input names no file", "write the file's name (objectAlias, else objectName), or {file: <name>, key: <key>}")
	}
	switch ie.Encoding {
	case "":
	case "base64":
		in.Base64 = true
	default:
		return in, invalid(ifield+".encoding", fmt.Sprintf("invalid encoding %s", quoteShort(ie.Encoding)), "use encoding: base64, or remove it to write the value as text")
	}
	if kind == format.FileDotenv && ie.Key != "" && !format.ValidDotenvKey(ie.Key) {
		return in, invalid(ifield+".key", fmt.Sprintf("key %s is not a shell variable name", quoteShort(ie.Key)),
			"use letters, digits and '_', not starting with a digit, e.g. DB_PASSWORD")
	}
	obj, dir, err := prod.resolve(ie.File)
	if err != "" {
		return in, invalid(ifield, fmt.Sprintf("input %s is not a file the objects produce: %s", quoteShort(ie.File), err), prod.missingFix(ie.File))
	}
	in.Object, in.Dir = obj, dir
	return in, nil
}

// produced answers "which file is this" for the files parameter, from the Outputs of
// the valid objects.
type produced struct {
	objects []Object
	outputs [][]Output
}

func newProduced(objects []Object) *produced {
	p := &produced{objects: objects}
	for i := range objects {
		p.outputs = append(p.outputs, Outputs(&objects[i], OutputFlags{}))
	}
	return p
}

// resolve finds the object producing file p: a file it certainly writes, or the
// directory of a selector's matches or a version history (dir). A problem is returned
// as a reason.
func (p *produced) resolve(file string) (object int, dir bool, problem string) {
	for i, outs := range p.outputs {
		for _, out := range outs {
			switch {
			case out.Selector:
				if out.Path == file {
					return p.objects[i].Index, true, ""
				}
			case out.History > 0 && out.Path == file:
				return p.objects[i].Index, true, ""
			}
			written, maybe := out.Writes(file)
			if written {
				return p.objects[i].Index, false, ""
			}
			if maybe {
				return 0, false, fmt.Sprintf("objects.array[%d] writes it only when the provider runs with --write-cert-and-key-in-separate-files", p.objects[i].Index)
			}
		}
	}
	for i, outs := range p.outputs {
		for _, out := range outs {
			if out.Selector && out.Path == "" {
				return 0, false, fmt.Sprintf("the matches of objects.array[%d]'s selector are only known at mount time", p.objects[i].Index)
			}
		}
	}
	return 0, false, "no object writes it"
}

func (p *produced) missingFix(file string) string {
	var names []string
	for _, outs := range p.outputs {
		for _, out := range outs {
			if out.Selector {
				if out.Path != "" {
					names = append(names, out.Path)
				}
				continue
			}
			names = append(names, out.Files(8)...)
			if out.History > 0 {
				names = append(names, out.Path)
			}
		}
	}
	if s := suggest.Closest(file, names); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return "name a file an object writes (its objectAlias, else objectName, or a jmesPath objectAlias), or the objectAlias of a selector to take all its matches"
}

// checkRenderedPaths finds rendered files whose path another output or rendered file
// uses (as a file, or as a directory).
func checkRenderedPaths(objects []Object, files []RenderedFile) *Error {
	outs := make([]output, 0, len(objects)+len(files))
	for k := range objects {
		outs = appendOutputs(outs, k, &objects[k])
	}
	for i := range files {
		f := &files[i]
		for _, a := range outs {
			if a.Selector {
				if a.Path != "" && (a.Path == f.Path || isUnder(a.Path, f.Path) || isUnder(f.Path, a.Path)) {
					return invalid(f.Field()+".path", fmt.Sprintf("%s: path %s is inside the directory of %s's selector matches", f.Field(), quoteShort(f.Path), describe(&objects[a.obj])),
						"give the rendered file a path outside the selector's objectAlias directory")
				}
				continue
			}
			if p, kind := clash(a, output{obj: -1, Output: Output{Path: f.Path}}); kind != noClash {
				return invalid(f.Field()+".path", fmt.Sprintf("%s: path %s is also written by %s (%s %s)", f.Field(), quoteShort(f.Path), describe(&objects[a.obj]), a.Field, quoteShort(p)),
					"give the rendered file its own path")
			}
		}
		for j := range files[:i] {
			g := &files[j]
			if g.Path == f.Path || isUnder(g.Path, f.Path) || isUnder(f.Path, g.Path) {
				return invalid(f.Field()+".path", fmt.Sprintf("%s: path %s clashes with %s's path %s", f.Field(), quoteShort(f.Path), g.Field(), quoteShort(g.Path)),
					"give every rendered file its own path")
			}
		}
	}
	return nil
}

func isUnder(dir, p string) bool {
	_, ok := under(dir, p)
	return ok
}

// checkPasswordFiles checks that each pfxPasswordFile is a file another object certainly
// writes (not a rendered file, not a selector's match).
func checkPasswordFiles(objects []Object, prod *produced) *vocab.ObjectError {
	for k := range objects {
		o := &objects[k]
		if o.PFXPasswordFile == "" {
			continue
		}
		obj, dir, problem := prod.resolve(o.PFXPasswordFile)
		switch {
		case problem != "":
			return objectErrFor(o, invalid(FieldPFXPasswordFile, fmt.Sprintf("pfxPasswordFile %s is not a file the objects produce: %s", quoteShort(o.PFXPasswordFile), problem),
				prod.missingFix(o.PFXPasswordFile)))
		case dir:
			return objectErrFor(o, invalid(FieldPFXPasswordFile, fmt.Sprintf("pfxPasswordFile %s is a directory", quoteShort(o.PFXPasswordFile)), "name the one file holding the password"))
		case obj == o.Index:
			return objectErrFor(o, invalid(FieldPFXPasswordFile, "pfxPasswordFile names this object's own file", "store the password in another secret and name its file"))
		}
	}
	return nil
}
