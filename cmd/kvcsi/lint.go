package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kvcsi/kvcsi/provider/cloud"
	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/vocab"
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
	// splitAll mirrors the provider flag --write-cert-and-key-in-separate-files: every
	// objectType secret may then also produce <file>.crt and <file>.key.
	splitAll bool
	strict   bool
}

func runLint(args []string, stdout io.Writer) error {
	var o lintOptions
	fset := flag.NewFlagSet("kvcsi lint", flag.ContinueOnError)
	fset.SetOutput(stdout)
	fset.Usage = func() {
		fmt.Fprint(fset.Output(), lintUsage)
		fset.PrintDefaults()
	}
	fset.BoolVar(&o.splitAll, "write-cert-and-key-in-separate-files", false, "lint for a provider started with this flag (secretObjects may name <file>.crt and <file>.key of any objectType secret)")
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

	var all []lintFinding
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
		findings, n := lintFile(name, data, o)
		all = append(all, findings...)
		checked += n
	}

	errs, warns := 0, 0
	for _, f := range all {
		if _, err := fmt.Fprintln(stdout, f.String()); err != nil {
			return err
		}
		if f.warning {
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

// lintFinding is one line of kvcsi lint's output.
type lintFinding struct {
	file    string
	line    int    // 0 if unknown
	doc     int    // 1-based index of the YAML document in the file
	spc     string // "SecretProviderClass <namespace>/<name>", or "" before one is known
	subject string // "parameters.keyvaultName", "objects.array[1] (…)", "secretObjects[0] (…)", …
	message string
	fix     string
	warning bool
}

func (f lintFinding) String() string {
	var b strings.Builder
	b.WriteString(f.file)
	if f.line > 0 {
		b.WriteString(":" + strconv.Itoa(f.line))
	}
	if f.warning {
		b.WriteString(": warning: ")
	} else {
		b.WriteString(": error: ")
	}
	if f.spc != "" {
		fmt.Fprintf(&b, "%s (document %d): ", f.spc, f.doc)
	} else {
		fmt.Fprintf(&b, "document %d: ", f.doc)
	}
	if f.subject != "" {
		b.WriteString(f.subject + ": ")
	}
	b.WriteString(oneLineText(f.message))
	if f.fix != "" {
		b.WriteString(" (fix: " + oneLineText(f.fix) + ")")
	}
	return b.String()
}

func oneLineText(s string) string { return strings.Join(strings.Fields(s), " ") }

// lintFile lints every document of one file and returns its findings and the number of
// SecretProviderClasses checked.
func lintFile(name string, data []byte, o lintOptions) ([]lintFinding, int) {
	var out []lintFinding
	dec := yaml.NewDecoder(bytes.NewReader(data))
	checked := 0
	for doc := 1; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			out = append(out, lintFinding{file: name, doc: doc, line: yamlErrorLine(err),
				message: "not valid YAML: " + err.Error(), fix: "fix the YAML syntax; nothing after this point was checked"})
			break
		}
		if len(n.Content) == 0 {
			continue
		}
		root := n.Content[0]
		if root.Kind != yaml.MappingNode {
			continue
		}
		if kind := scalar(root, "kind"); kind == "List" {
			if items := child(root, "items"); items != nil && items.Kind == yaml.SequenceNode {
				for _, it := range items.Content {
					f, ok := lintSPC(name, doc, it, o)
					out = append(out, f...)
					if ok {
						checked++
					}
				}
			}
			continue
		}
		f, ok := lintSPC(name, doc, root, o)
		out = append(out, f...)
		if ok {
			checked++
		}
	}
	return out, checked
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func yamlErrorLine(err error) int {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
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

// keyNode is the key node of key in mapping m, or nil.
func keyNode(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
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

const (
	spcGroup    = "secrets-store.csi.x-k8s.io"
	spcProvider = "azure"
)

var (
	knownSpecFields         = []string{"provider", "parameters", "secretObjects"}
	knownSecretObjectFields = []string{"secretName", "type", "data", "labels", "annotations"}
	knownSecretDataFields   = []string{"objectName", "key"}
)

// spcLinter lints one SecretProviderClass document.
type spcLinter struct {
	file string
	doc  int
	spc  string
	opts lintOptions
	out  []lintFinding
}

func (l *spcLinter) add(line int, subject, message, fix string, warning bool) {
	l.out = append(l.out, lintFinding{file: l.file, line: line, doc: l.doc, spc: l.spc,
		subject: subject, message: message, fix: fix, warning: warning})
}

// lintSPC lints one document if it is a SecretProviderClass for this provider; ok
// reports whether it was one.
func lintSPC(file string, doc int, root *yaml.Node, o lintOptions) (out []lintFinding, ok bool) {
	if scalar(root, "kind") != "SecretProviderClass" {
		return nil, false
	}
	meta := child(root, "metadata")
	ns := scalar(meta, "namespace")
	if ns == "" {
		ns = "default"
	}
	l := &spcLinter{file: file, doc: doc, opts: o, spc: "SecretProviderClass " + ns + "/" + scalar(meta, "name")}
	if scalar(meta, "name") == "" {
		l.add(root.Line, "metadata.name", "the SecretProviderClass has no name", "set metadata.name; pods refer to it by volumeAttributes.secretProviderClass", false)
	}
	api := scalar(root, "apiVersion")
	group, ver, _ := strings.Cut(api, "/")
	if group != spcGroup || (ver != "v1" && ver != "v1alpha1") {
		l.add(lineOf(keyNode(root, "apiVersion"), root.Line), "apiVersion", fmt.Sprintf("apiVersion %q is not a SecretProviderClass version", api),
			"use apiVersion: "+spcGroup+"/v1", false)
	}
	spec := child(root, "spec")
	if spec == nil || spec.Kind != yaml.MappingNode {
		l.add(root.Line, "spec", "the SecretProviderClass has no spec", "add spec.provider: azure and spec.parameters", false)
		return l.out, true
	}
	provider := scalar(spec, "provider")
	switch {
	case provider == spcProvider:
	case provider == "":
		l.add(lineOf(keyNode(spec, "provider"), spec.Line), "spec.provider", "spec.provider is not set", "set spec.provider: azure (the driver connects to the provider's socket azure.sock)", false)
	case strings.EqualFold(provider, spcProvider):
		l.add(lineOf(keyNode(spec, "provider"), spec.Line), "spec.provider", fmt.Sprintf("provider %q does not match the socket azure.sock: the driver looks for %s.sock", provider, provider),
			"write provider: azure in lower case", false)
	default:
		return nil, false // another provider's SecretProviderClass
	}
	for i := 0; i+1 < len(spec.Content); i += 2 {
		k := spec.Content[i]
		if !contains(knownSpecFields, k.Value) {
			l.add(k.Line, "spec."+k.Value, fmt.Sprintf("unknown field %q: the API server drops it", k.Value), suggestFix(k.Value, knownSpecFields, "field"), false)
		}
	}
	params, paramLines := l.parameters(spec)
	if params == nil {
		return l.out, true
	}
	objs := l.config(params, paramLines, lineOf(keyNode(spec, "parameters"), spec.Line), child(child(spec, "parameters"), config.ParamObjects))
	l.secretObjects(child(spec, "secretObjects"), objs)
	return l.out, true
}

func lineOf(n *yaml.Node, fallback int) int {
	if n != nil {
		return n.Line
	}
	return fallback
}

// parameters reads spec.parameters as the API server would store them: a map of strings.
func (l *spcLinter) parameters(spec *yaml.Node) (map[string]string, map[string]int) {
	p := child(spec, "parameters")
	if p == nil || p.Kind != yaml.MappingNode {
		l.add(lineOf(keyNode(spec, "parameters"), spec.Line), "spec.parameters", "spec.parameters is not set",
			"set spec.parameters with at least keyvaultName, tenantID and objects", false)
		return nil, nil
	}
	params := map[string]string{}
	lines := map[string]int{}
	for i := 0; i+1 < len(p.Content); i += 2 {
		k, v := p.Content[i], p.Content[i+1]
		lines[k.Value] = k.Line
		if v.Kind != yaml.ScalarNode {
			l.add(k.Line, "parameters."+k.Value, "the value is not a string: parameters is a map of strings", "write the value as a string; objects is a YAML block string (objects: |)", false)
			continue
		}
		switch {
		case v.Tag != "!!str" && v.Tag != "!!null":
			l.add(k.Line, "parameters."+k.Value, fmt.Sprintf("the value %s is a YAML %s, not a string: the API server rejects the SecretProviderClass", v.Value, strings.TrimPrefix(v.Tag, "!!")),
				fmt.Sprintf("quote it: %s: %q", k.Value, v.Value), false)
		case v.Style == 0 && yaml11Bools[v.Value]:
			// kubectl reads manifests as YAML 1.1, where yes/no/on/off are booleans.
			l.add(k.Line, "parameters."+k.Value, fmt.Sprintf("kubectl reads the unquoted %s as a boolean, not a string: the API server rejects the SecretProviderClass", v.Value),
				fmt.Sprintf("quote it: %s: %q", k.Value, v.Value), false)
		}
		params[k.Value] = v.Value
	}
	return params, lines
}

// yaml11Bools are the plain scalars YAML 1.1 (kubectl) reads as booleans and YAML 1.2
// as strings.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "n": true, "N": true, "no": true, "No": true, "NO": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
}

// Placeholders for what the driver adds at mount time, so that only the manifest is
// judged: a pod, a service-account token for each audience and a nodePublishSecretRef.
const lintPlaceholder = "kvcsi-lint-placeholder"

func withDriverAttributes(params map[string]string) (map[string]string, map[string]string) {
	attrs := make(map[string]string, len(params)+3)
	for k, v := range params {
		attrs[k] = v
	}
	attrs[config.AttrPodName] = lintPlaceholder
	attrs[config.AttrPodNamespace] = lintPlaceholder
	tokens, _ := json.Marshal(map[string]map[string]string{
		vocab.WorkloadIdentityAudience: {"token": lintPlaceholder},
		vocab.IdentityBindingAudience:  {"token": lintPlaceholder},
	})
	attrs[config.AttrServiceAccountToken] = string(tokens)
	return attrs, map[string]string{"clientid": lintPlaceholder, "clientsecret": lintPlaceholder}
}

var objectIndexRE = regexp.MustCompile(`objects\.array\[(\d+)\]`)

// config runs the provider's own validation: config.Lint for every finding, config.Parse
// (with the driver's attributes as placeholders) as the final word on what a mount
// would reject. It returns the objects that are valid on their own.
func (l *spcLinter) config(params map[string]string, paramLines map[string]int, paramsLine int, objectsNode *yaml.Node) []lintObject {
	loc := newObjectLocator(objectsNode)
	invalid := false
	for _, f := range config.Lint(params) {
		invalid = invalid || f.Invalid
		line, subject := 0, ""
		switch {
		case f.Object != "":
			subject = f.Object
			if f.Field != "" && !strings.Contains(f.Message, f.Field) {
				subject += ": " + f.Field
			}
			line = paramLines[config.ParamObjects]
			if m := objectIndexRE.FindStringSubmatch(f.Object); m != nil {
				i, _ := strconv.Atoi(m[1])
				line = loc.line(i, f.Field)
			}
		case strings.HasPrefix(f.Field, "csi.storage.k8s.io/"):
			subject, line = f.Field, paramLines[f.Field]
		case f.Field != "":
			subject = "parameters." + f.Field
			line = paramLines[f.Field]
		}
		if line == 0 {
			line = paramsLine // a parameter that is missing altogether
		}
		l.add(line, subject, f.Message, f.Fix, isWarning(f))
	}
	l.cloud(params, paramLines)
	attrs, secrets := withDriverAttributes(params)
	if _, err := config.Parse(attrs, secrets, 0o644); err != nil && !invalid {
		// config.Lint is meant to report everything Parse rejects; this keeps lint honest
		// if the two ever disagree.
		l.add(paramsLine, "", err.Error(), "", false)
	}
	return l.objects(params, loc)
}

// cloud checks cloudName and cloudEnvFileName, which config leaves to the cloud package
// (resolved at mount time, when an AzureStackCloud environment file can be read).
func (l *spcLinter) cloud(params map[string]string, paramLines map[string]int) {
	name := strings.TrimSpace(params[config.ParamCloudName])
	file := strings.TrimSpace(params[config.ParamCloudEnvFileName])
	stack := strings.EqualFold(name, cloud.StackCloudName)
	if name != "" && !stack {
		if _, ok := cloud.Lookup(name); !ok {
			l.add(paramLines[config.ParamCloudName], "parameters."+config.ParamCloudName,
				fmt.Sprintf("cloudName %s is not valid: no such cloud", name), suggestFix(name, cloud.Names(), "cloud name"), false)
		}
	}
	if file != "" && !stack {
		l.add(paramLines[config.ParamCloudEnvFileName], "parameters."+config.ParamCloudEnvFileName,
			"cloudEnvFileName is ignored unless cloudName is "+cloud.StackCloudName,
			"set cloudName: "+cloud.StackCloudName+" to use the environment file, or remove cloudEnvFileName", false)
	}
}

// isWarning: deprecated settings and an empty objects array work, and only warn.
func isWarning(f config.Finding) bool {
	return !f.Invalid && (strings.Contains(f.Message, "deprecated") || strings.Contains(f.Message, "has no entries"))
}

// lintObject is one valid object and the files it produces.
type lintObject struct {
	index int
	obj   config.Object
	files []string // relative paths, "/"-separated
	// maybe are the .crt/.key companions the object writes only if the provider runs
	// with --write-cert-and-key-in-separate-files and the secret is certificate-backed.
	maybe []string
}

// objects validates each objects.array entry on its own (with neutral top-level
// parameters) and lists the files it writes.
func (l *spcLinter) objects(params map[string]string, loc *objectLocator) []lintObject {
	var doc struct {
		Array []string `yaml:"array"`
	}
	if yaml.Unmarshal([]byte(params[config.ParamObjects]), &doc) != nil {
		return nil
	}
	vault := params[config.ParamKeyvaultName]
	if len(vault) < 3 || len(vault) > 24 || strings.Trim(vault, "-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		vault = "kvcsi-lint-vault"
	}
	var out []lintObject
	for i, item := range doc.Array {
		one, err := yaml.Marshal(map[string][]string{"array": {item}})
		if err != nil {
			continue
		}
		attrs, secrets := withDriverAttributes(map[string]string{
			config.ParamKeyvaultName: vault,
			config.ParamTenantID:     lintPlaceholder,
			config.ParamObjects:      string(one),
		})
		m, err := config.Parse(attrs, secrets, 0o644)
		if err != nil || len(m.Objects) != 1 {
			continue // config.Lint reported it
		}
		lo := lintObject{index: i, obj: m.Objects[0]}
		lo.files, lo.maybe = outputs(m.Objects[0], l.opts.splitAll)
		out = append(out, lo)
	}
	return out
}

// outputs lists the files an object writes on a Linux node (a version history's files
// are <file>/<i>, with the node's path separator, as the Azure provider writes them).
func outputs(o config.Object, splitAll bool) (files, maybe []string) {
	bases := []string{o.FileName()}
	if o.VersionHistory > 1 {
		bases = bases[:0]
		for i := 0; i < int(o.VersionHistory); i++ {
			bases = append(bases, o.FileName()+"/"+strconv.Itoa(i))
		}
	}
	for _, b := range bases {
		files = append(files, b)
		switch {
		case o.SplitCertAndKey:
			files = append(files, b+".crt", b+".key")
		case o.Type == vocab.Secret && o.Format != "pfx" && o.CertPart == vocab.CertPartFull:
			maybe = append(maybe, b+".crt", b+".key")
		}
	}
	for _, j := range o.JSONPaths {
		files = append(files, j.ObjectAlias)
	}
	if splitAll {
		files = append(files, maybe...)
		maybe = nil
	}
	return files, maybe
}

// secretObjects checks spec.secretObjects against the files the objects produce.
func (l *spcLinter) secretObjects(n *yaml.Node, objs []lintObject) {
	if n == nil {
		return
	}
	if n.Kind != yaml.SequenceNode {
		l.add(n.Line, "spec.secretObjects", "secretObjects is not a list", "write secretObjects as a list of {secretName, type, data}", false)
		return
	}
	produced := map[string]int{} // file -> object index
	maybe := map[string]int{}
	var names []string
	for _, o := range objs {
		for _, f := range o.files {
			if _, dup := produced[f]; !dup {
				produced[f] = o.index
				names = append(names, f)
			}
		}
		for _, f := range o.maybe {
			maybe[f] = o.index
		}
	}
	sort.Strings(names)
	secretNames := map[string]int{}
	for i, so := range n.Content {
		subject := fmt.Sprintf("secretObjects[%d]", i)
		if so.Kind != yaml.MappingNode {
			l.add(so.Line, subject, "not a mapping", "write {secretName, type, data}", false)
			continue
		}
		name := scalar(so, "secretName")
		if name != "" {
			subject += " (secretName " + name + ")"
		}
		for j := 0; j+1 < len(so.Content); j += 2 {
			if k := so.Content[j]; !contains(knownSecretObjectFields, k.Value) {
				l.add(k.Line, subject, fmt.Sprintf("unknown field %q: the API server drops it", k.Value), suggestFix(k.Value, knownSecretObjectFields, "field"), false)
			}
		}
		switch {
		case name == "":
			l.add(so.Line, subject, "secretName is not set", "set secretName to the name of the Kubernetes Secret to create", false)
		case !dnsSubdomainRE.MatchString(name) || len(name) > 253:
			l.add(lineOf(child(so, "secretName"), so.Line), subject, fmt.Sprintf("secretName %q is not a valid Secret name", name),
				"use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", false)
		default:
			if first, dup := secretNames[name]; dup {
				l.add(lineOf(child(so, "secretName"), so.Line), subject, fmt.Sprintf("secretObjects[%d] already syncs Secret %q", first, name),
					"merge the two entries, or give one another secretName", false)
			} else {
				secretNames[name] = i
			}
		}
		typ := scalar(so, "type")
		if typ == "" {
			l.add(so.Line, subject, "type is not set: the driver refuses the secretObject", "set type, for example Opaque or kubernetes.io/tls", false)
		}
		data := child(so, "data")
		if data == nil || data.Kind != yaml.SequenceNode || len(data.Content) == 0 {
			l.add(lineOf(data, so.Line), subject, "data is not set: the driver refuses the secretObject", "list the files to sync as data: [{objectName: <file>, key: <Secret key>}]", false)
			continue
		}
		keys := map[string]bool{}
		for j, d := range data.Content {
			ds := fmt.Sprintf("%s: data[%d]", subject, j)
			if d.Kind != yaml.MappingNode {
				l.add(d.Line, ds, "not a mapping", "write {objectName: <file>, key: <Secret key>}", false)
				continue
			}
			for k := 0; k+1 < len(d.Content); k += 2 {
				if kn := d.Content[k]; !contains(knownSecretDataFields, kn.Value) {
					l.add(kn.Line, ds, fmt.Sprintf("unknown field %q: the API server drops it", kn.Value), suggestFix(kn.Value, knownSecretDataFields, "field"), false)
				}
			}
			key := scalar(d, "key")
			switch {
			case key == "":
				l.add(d.Line, ds, "key is not set", "set key to the key of the file in the Secret", false)
			case keys[key]:
				l.add(lineOf(child(d, "key"), d.Line), ds, fmt.Sprintf("key %q appears twice in this Secret", key), "give every data entry its own key", false)
			default:
				keys[key] = true
			}
			file := scalar(d, "objectName")
			if file == "" {
				l.add(d.Line, ds, "objectName is not set", "set objectName to a file the objects produce (objectAlias, else objectName)", false)
				continue
			}
			if _, ok := produced[file]; ok || len(objs) == 0 {
				continue
			}
			l.add(lineOf(child(d, "objectName"), d.Line), ds, fmt.Sprintf("objectName %q is not a file the objects produce: the driver fails with \"file matching objectName %s not found in the pod\"", file, file),
				l.missingFileFix(file, names, maybe, objs), false)
		}
		if typ == "kubernetes.io/tls" {
			for k := range keys {
				if k != "tls.crt" && k != "tls.key" {
					l.add(lineOf(data, so.Line), subject, fmt.Sprintf("key %q in a kubernetes.io/tls Secret: the driver converts only tls.crt and tls.key", k),
						"use the keys tls.crt and tls.key, or type Opaque", false)
				}
			}
			for _, k := range []string{"tls.crt", "tls.key"} {
				if !keys[k] {
					l.add(lineOf(data, so.Line), subject, fmt.Sprintf("a kubernetes.io/tls Secret needs the key %s", k),
						"add data entries with keys tls.crt and tls.key (the same certificate file can feed both)", false)
				}
			}
		}
	}
}

var dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// missingFileFix says how to produce file, or which produced file was meant.
func (l *spcLinter) missingFileFix(file string, names []string, maybe map[string]int, objs []lintObject) string {
	if i, ok := maybe[file]; ok {
		return fmt.Sprintf("set splitCertAndKey: true on objects.array[%d] (a certificate's secret), or lint with --write-cert-and-key-in-separate-files if the provider runs with it", i)
	}
	for _, o := range objs {
		if o.obj.VersionHistory > 1 {
			if rest, ok := strings.CutPrefix(file, o.obj.FileName()+"/"); ok {
				return fmt.Sprintf("objects.array[%d] has objectVersionHistory %d and writes %s/0 … %s/%d (%s is not among them)",
					o.index, o.obj.VersionHistory, o.obj.FileName(), o.obj.FileName(), o.obj.VersionHistory-1, rest)
			}
			if file == o.obj.FileName() {
				return fmt.Sprintf("objects.array[%d] has objectVersionHistory %d, so %s is a directory: name one of its files, %s/0 (the newest) … %s/%d",
					o.index, o.obj.VersionHistory, file, file, file, o.obj.VersionHistory-1)
			}
		}
	}
	if s := suggest(file, names); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	shown := names
	if len(shown) > 12 {
		shown = append(shown[:12:12], "…")
	}
	return "name one of the files the objects produce (objectAlias, else objectName): " + strings.Join(shown, ", ")
}

// objectLocator maps objects.array entries (and their fields) to lines of the file,
// when objects and its entries are YAML block strings (objects: | and - |), as usual.
type objectLocator struct {
	base  int          // line of "objects: |"; 0 if lines cannot be mapped
	items []*yaml.Node // the entries' nodes in the objects document
}

func newObjectLocator(n *yaml.Node) *objectLocator {
	loc := &objectLocator{}
	if n == nil || n.Kind != yaml.ScalarNode {
		return loc
	}
	loc.base = n.Line
	if n.Style != yaml.LiteralStyle {
		return loc // only a literal block keeps line numbers
	}
	var doc yaml.Node
	if yaml.Unmarshal([]byte(n.Value), &doc) != nil || len(doc.Content) == 0 {
		return loc
	}
	if arr := child(doc.Content[0], "array"); arr != nil && arr.Kind == yaml.SequenceNode {
		loc.items = arr.Content
	}
	return loc
}

// line is the line of entry i (or of its field, e.g. "objectVersionhistory" or
// "jmesPath[0].objectalias"), or of objects itself when unknown.
func (loc *objectLocator) line(i int, field string) int {
	if loc.base == 0 || i >= len(loc.items) {
		return loc.base
	}
	item := loc.items[i]
	// The block's first line follows "objects: |".
	line := loc.base + item.Line
	if item.Kind != yaml.ScalarNode || item.Style != yaml.LiteralStyle || field == "" {
		return line
	}
	var doc yaml.Node
	if yaml.Unmarshal([]byte(item.Value), &doc) != nil || len(doc.Content) == 0 {
		return line
	}
	// Walk the field path ("jmesPath[0].objectalias") as far as it exists.
	best := 0
	n := doc.Content[0]
	for _, seg := range fieldPathRE.FindAllStringSubmatch(field, -1) {
		if seg[1] != "" {
			k := keyNode(n, seg[1])
			if k == nil {
				break
			}
			best, n = k.Line, child(n, seg[1])
			continue
		}
		i, _ := strconv.Atoi(seg[2])
		if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
			break
		}
		n = n.Content[i]
		best = n.Line
	}
	return line + best
}

// fieldPathRE splits "jmesPath[0].objectAlias" into keys and indexes.
var fieldPathRE = regexp.MustCompile(`([^.\[\]]+)|\[(\d+)\]`)

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func suggestFix(name string, known []string, what string) string {
	if s := suggest(name, known); s != "" {
		return fmt.Sprintf("did you mean %s?", s)
	}
	return fmt.Sprintf("remove it; known %ss are %s", what, strings.Join(known, ", "))
}

// suggest is the known name closest to name (case-insensitively), if close enough.
func suggest(name string, known []string) string {
	best, bestD := "", 0
	for _, k := range known {
		d := distance(strings.ToLower(name), strings.ToLower(k))
		limit := 2
		if len(k) > 10 {
			limit = 3
		}
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance in runes (bounded inputs only).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 128 || len(rb) > 128 {
		return 1 << 20
	}
	row := make([]int, len(rb)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		prev := row[0]
		row[0] = i
		for j := 1; j <= len(rb); j++ {
			cur := row[j]
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			row[j] = min(row[j]+1, row[j-1]+1, prev+cost)
			prev = cur
		}
	}
	return row[len(rb)]
}
