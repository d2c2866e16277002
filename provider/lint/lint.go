package lint

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/kvcsi/kvcsi/provider/cloud"
	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/suggest"
)

// Finding is one problem of a SecretProviderClass.
type Finding struct {
	Severity config.Severity
	// Path is where the problem is, or where the missing setting belongs. Key is true
	// when the finding is about the mapping entry at Path as a whole (an unknown key, a
	// parameter) rather than about its value, so that a caller showing source lines
	// shows the key's.
	Path Path
	Key  bool
	// Subject names what is wrong, as kvcsi lint prints it: "parameters.keyvaultName",
	// "objects.array[1] (objectType:secret, objectName:db): objectAlias",
	// "secretObjects[0] (secretName shop-db): data[1]"; "" for the class as a whole.
	Subject string
	Message string
	Fix     string
}

// Text is the finding as one line, as kvcsi lint prints it after "file:line: " (an
// admission webhook has no file): "error: <class>: <subject>: <message>; fix: <fix>",
// where class names the SecretProviderClass ("SecretProviderClass shop/web (document 2)").
// Warnings print as "warning", the other severities as "error".
func (f Finding) Text(class string) string {
	var b strings.Builder
	if f.Severity == config.SeverityWarning {
		b.WriteString("warning: ")
	} else {
		b.WriteString("error: ")
	}
	if class != "" {
		b.WriteString(class + ": ")
	}
	if f.Subject != "" {
		b.WriteString(f.Subject + ": ")
	}
	b.WriteString(oneLine(f.Message))
	if f.Fix != "" {
		b.WriteString(config.FixSeparator + oneLine(f.Fix))
	}
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Options are the provider flags a check must know.
type Options struct {
	// WriteCertAndKeySeparately mirrors --write-cert-and-key-in-separate-files: the
	// .crt and .key of every certificate-backed secret exist, and secretObjects may
	// name them.
	WriteCertAndKeySeparately bool
}

const (
	group    = "secrets-store.csi.x-k8s.io"
	provider = "azure"
)

var (
	knownSpecFields         = []string{"provider", "parameters", "secretObjects"}
	knownSecretObjectFields = []string{"secretName", "type", "data", "labels", "annotations"}
	knownSecretDataFields   = []string{"objectName", "key"}
)

// Applies reports whether the class is for this provider (or so close to it that it
// must be a mistake, such as provider: Azure): the classes of other providers are not
// checked.
func Applies(spc *SecretProviderClass) bool {
	return spc.Spec == nil || spc.Spec.Provider == "" || strings.EqualFold(spc.Spec.Provider, provider)
}

// Check returns the findings of one SecretProviderClass, nil for another provider's.
func Check(spc *SecretProviderClass, opts Options) []Finding {
	if !Applies(spc) {
		return nil
	}
	c := &checker{}
	if spc.Name == "" {
		c.add(config.SeverityInvalid, "metadata.name", false, "metadata.name", "the SecretProviderClass has no name",
			"set metadata.name; pods refer to it by volumeAttributes.secretProviderClass")
	}
	g, ver, _ := strings.Cut(spc.APIVersion, "/")
	if g != group || (ver != "v1" && ver != "v1alpha1") {
		c.add(config.SeverityInvalid, "apiVersion", false, "apiVersion", fmt.Sprintf("apiVersion %q is not a SecretProviderClass version", spc.APIVersion),
			"use apiVersion: "+group+"/v1")
	}
	spec := spc.Spec
	if spec == nil {
		c.add(config.SeverityInvalid, "spec", false, "spec", "the SecretProviderClass has no spec", "add spec.provider: azure and spec.parameters")
		return c.out
	}
	switch {
	case spec.Provider == "":
		c.add(config.SeverityInvalid, "spec.provider", false, "spec.provider", "spec.provider is not set",
			"set spec.provider: azure (the driver connects to the provider's socket azure.sock)")
	case spec.Provider != provider:
		c.add(config.SeverityInvalid, "spec.provider", false, "spec.provider",
			fmt.Sprintf("provider %q does not match the socket azure.sock: the driver looks for %s.sock", spec.Provider, spec.Provider),
			"write provider: azure in lower case")
	}
	for _, k := range spec.Keys {
		if !slices.Contains(knownSpecFields, k) {
			c.add(config.SeverityError, Path("spec").Key(k), true, "spec."+k, fmt.Sprintf("unknown field %q: the API server drops it", k),
				suggest.Fix(k, knownSpecFields, "field"))
		}
	}
	if spec.Parameters == nil {
		c.add(config.SeverityInvalid, pathParameters, false, "spec.parameters", "spec.parameters is not set",
			"set spec.parameters with at least keyvaultName, tenantID and objects")
		return c.out
	}
	c.written(spec.Written, spec.Parameters)
	findings, m := config.LintMount(spec.Parameters, nil)
	for _, f := range findings {
		c.out = append(c.out, fromConfig(f, spec.Parameters))
	}
	c.cloud(spec.Parameters)
	c.secretObjects(spec, m, opts)
	return c.out
}

type checker struct{ out []Finding }

func (c *checker) add(sev config.Severity, p Path, key bool, subject, msg, fix string) {
	c.out = append(c.out, Finding{Severity: sev, Path: p, Key: key, Subject: subject, Message: msg, Fix: fix})
}

// fromConfig places a finding of the provider's validation walk in the class.
func fromConfig(f config.Finding, params map[string]string) Finding {
	out := Finding{Severity: f.Severity, Key: true, Message: f.Message, Fix: f.Fix, Path: pathParameters}
	switch {
	case f.Object != nil:
		out.Subject = f.Subject()
		out.Path = pathParameters.Key(config.ParamObjects).Key("array").Index(f.Object.Index)
		if f.Field != "" {
			out.Path = out.Path.Key(f.Field) // "jmesPath[0].objectAlias" reads as a path too
		}
	case strings.HasPrefix(f.Field, config.ParamFiles+"["):
		// "files[0].inputs[1]": a position inside the files parameter's YAML.
		out.Subject = "parameters." + f.Field
		out.Path = pathParameters.Key(config.ParamFiles)
	case f.Field != "":
		out.Subject = "parameters." + f.Field
		if _, ok := params[f.Field]; ok {
			out.Path = pathParameters.Key(f.Field)
		} // else a missing parameter, which belongs in spec.parameters
	}
	return out
}

// yaml11Bools are the plain scalars YAML 1.1 (kubectl) reads as booleans and YAML 1.2
// as strings.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "n": true, "N": true, "no": true, "No": true, "NO": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
}

// written checks that every parameter is a string, as the API server requires.
func (c *checker) written(values []Written, params map[string]string) {
	for _, w := range values {
		p, subject, v := pathParameters.Key(w.Key), "parameters."+w.Key, params[w.Key]
		switch {
		case w.Type == "map" || w.Type == "seq":
			c.add(config.SeverityInvalid, p, true, subject, "the value is not a string: parameters is a map of strings",
				"write the value as a string; objects is a YAML block string (objects: |)")
		case w.Type != "":
			c.add(config.SeverityInvalid, p, true, subject,
				fmt.Sprintf("the value %s is a YAML %s, not a string: the API server rejects the SecretProviderClass", v, w.Type),
				fmt.Sprintf("quote it: %s: %q", w.Key, v))
		case w.Plain && yaml11Bools[v]:
			c.add(config.SeverityInvalid, p, true, subject,
				fmt.Sprintf("kubectl reads the unquoted %s as a boolean, not a string: the API server rejects the SecretProviderClass", v),
				fmt.Sprintf("quote it: %s: %q", w.Key, v))
		}
	}
}

// cloud checks cloudName and cloudEnvFileName, which config leaves to the cloud package
// (resolved at mount time, when an AzureStackCloud environment file can be read).
func (c *checker) cloud(params map[string]string) {
	name := strings.TrimSpace(params[config.ParamCloudName])
	file := strings.TrimSpace(params[config.ParamCloudEnvFileName])
	stack := strings.EqualFold(name, cloud.StackCloudName)
	if name != "" && !stack {
		if _, ok := cloud.Lookup(name); !ok {
			c.add(config.SeverityInvalid, pathParameters.Key(config.ParamCloudName), true, "parameters."+config.ParamCloudName,
				fmt.Sprintf("cloudName %s is not valid: no such cloud", name), suggest.Fix(name, cloud.Names(), "cloud name"))
		}
	}
	if file != "" && !stack {
		c.add(config.SeverityError, pathParameters.Key(config.ParamCloudEnvFileName), true, "parameters."+config.ParamCloudEnvFileName,
			"cloudEnvFileName is ignored unless cloudName is "+cloud.StackCloudName,
			"set cloudName: "+cloud.StackCloudName+" to use the environment file, or remove cloudEnvFileName")
	}
	if strings.EqualFold(name, "AzureGermanCloud") {
		c.add(config.SeverityWarning, pathParameters.Key(config.ParamCloudName), true, "parameters."+config.ParamCloudName,
			"cloudName AzureGermanCloud is retired: Microsoft Cloud Deutschland closed on 29 October 2021, and its login and Key Vault hosts no longer answer",
			"move the vault to a current cloud (in Germany: the public cloud's Germany West Central or Germany North regions) and set cloudName to that cloud")
	}
	if stack && strings.TrimSpace(params[config.ParamKeyvaultAPIVersion]) == "" {
		c.add(config.SeverityWarning, pathParameters.Key(config.ParamCloudName), true, "parameters."+config.ParamKeyvaultAPIVersion,
			"an Azure Stack Hub's Key Vault serves older api-versions than kvcsi sends by default (Stack Hub answers 'The specified version (…) is not recognized. Consider using the latest supported version (7.1)')",
			`set keyvaultAPIVersion: "7.1" for an Azure Stack Hub (leave it unset for clouds that serve current api-versions)`)
	}
}

// produced is what the valid objects and rendered files write, for the secretObjects
// check.
type produced struct {
	objects []config.Object
	outputs [][]config.Output // per object
	names   []string          // files certainly written (a bounded list), sorted, for suggestions
	// rendered maps a rendered file's path to its entry; hidden maps a file (or a
	// directory input) that an entry hides to that entry.
	rendered map[string]*config.RenderedFile
	hidden   map[string]*config.RenderedFile
}

// maxListed bounds the files listed per output: a version history can have millions.
const maxListed = 64

func produce(m *config.Mount, opts Options) *produced {
	objects := m.Objects
	p := &produced{objects: objects, rendered: map[string]*config.RenderedFile{}, hidden: map[string]*config.RenderedFile{}}
	for i := range m.Files {
		f := &m.Files[i]
		p.rendered[f.Path] = f
		p.names = append(p.names, f.Path)
		if f.HideInputs {
			for _, in := range f.Inputs {
				p.hidden[in.File] = f
			}
		}
	}
	flags := config.OutputFlags{WriteCertAndKeySeparately: opts.WriteCertAndKeySeparately}
	seen := map[string]bool{}
	for i := range objects {
		outs := config.Outputs(&objects[i], flags)
		p.outputs = append(p.outputs, outs)
		for _, out := range outs {
			for _, f := range out.Files(maxListed) {
				if !seen[f] {
					seen[f] = true
					p.names = append(p.names, f)
				}
			}
		}
	}
	sort.Strings(p.names)
	return p
}

// writes reports whether an object certainly writes file, and else the index (in
// objects.array) of one that might (-1 if none), and the output that writes it.
func (p *produced) writes(file string) (bool, int, *config.Output, *config.Object) {
	maybe := -1
	var maybeOut *config.Output
	var maybeObj *config.Object
	for i, outs := range p.outputs {
		for j, out := range outs {
			w, m := out.Writes(file)
			if w {
				return true, -1, &outs[j], &p.objects[i]
			}
			if m && maybe < 0 {
				maybe, maybeOut, maybeObj = p.objects[i].Index, &outs[j], &p.objects[i]
			}
		}
	}
	return false, maybe, maybeOut, maybeObj
}

// hiddenBy is the rendered file that hides file (an input named, or inside a directory
// input), nil if none.
func (p *produced) hiddenBy(file string) *config.RenderedFile {
	if f, ok := p.hidden[file]; ok {
		return f
	}
	for dir, f := range p.hidden {
		if strings.HasPrefix(file, dir+"/") {
			return f
		}
	}
	return nil
}

// missingFileFix says how to produce file, or which produced file was meant.
func (p *produced) missingFileFix(file string, maybe int) string {
	if maybe >= 0 {
		return fmt.Sprintf("set splitCertAndKey: true on objects.array[%d] (a certificate's secret), or lint with --write-cert-and-key-in-separate-files if the provider runs with it", maybe)
	}
	for i, outs := range p.outputs {
		main, o := outs[0], &p.objects[i]
		if main.History == 0 {
			continue
		}
		last := main.History - 1
		if rest, ok := strings.CutPrefix(file, main.Path+"/"); ok {
			return fmt.Sprintf("objects.array[%d] has objectVersionHistory %d and writes %s/0 … %s/%d (%s is not among them)",
				o.Index, o.VersionHistory, main.Path, main.Path, last, rest)
		}
		if file == main.Path {
			return fmt.Sprintf("objects.array[%d] has objectVersionHistory %d, so %s is a directory: name one of its files, %s/0 (the newest) … %s/%d",
				o.Index, o.VersionHistory, file, file, file, last)
		}
	}
	if s := suggest.Closest(file, p.names); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	shown := p.names
	if len(shown) > 12 {
		shown = append(shown[:12:12], "…")
	}
	return "name one of the files the objects produce (objectAlias, else objectName): " + strings.Join(shown, ", ")
}

var dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// secretObjects checks spec.secretObjects against the files the objects produce.
func (c *checker) secretObjects(spec *Spec, m *config.Mount, opts Options) {
	objects := m.Objects
	if spec.SecretObjectsNotList {
		c.add(config.SeverityInvalid, pathSecretObjects, false, "spec.secretObjects", "secretObjects is not a list",
			"write secretObjects as a list of {secretName, type, data}")
		return
	}
	if len(spec.SecretObjects) == 0 {
		return
	}
	prod := produce(m, opts)
	secretNames := map[string]int{}
	for i, so := range spec.SecretObjects {
		p, subject := pathSecretObjects.Index(i), fmt.Sprintf("secretObjects[%d]", i)
		if so.NotMapping {
			c.add(config.SeverityInvalid, p, false, subject, "not a mapping", "write {secretName, type, data}")
			continue
		}
		if so.SecretName != "" {
			subject += " (secretName " + so.SecretName + ")"
		}
		for _, k := range so.Keys {
			if !slices.Contains(knownSecretObjectFields, k) {
				c.add(config.SeverityError, p.Key(k), true, subject, fmt.Sprintf("unknown field %q: the API server drops it", k),
					suggest.Fix(k, knownSecretObjectFields, "field"))
			}
		}
		switch name := so.SecretName; {
		case name == "":
			c.add(config.SeverityInvalid, p.Key("secretName"), false, subject, "secretName is not set",
				"set secretName to the name of the Kubernetes Secret to create")
		case len(name) > 253 || !dnsSubdomainRE.MatchString(name):
			c.add(config.SeverityInvalid, p.Key("secretName"), false, subject, fmt.Sprintf("secretName %q is not a valid Secret name", name),
				"use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit")
		default:
			if first, dup := secretNames[name]; dup {
				c.add(config.SeverityError, p.Key("secretName"), false, subject, fmt.Sprintf("secretObjects[%d] already syncs Secret %q", first, name),
					"merge the two entries, or give one another secretName")
			} else {
				secretNames[name] = i
			}
		}
		if so.Type == "" {
			c.add(config.SeverityInvalid, p.Key("type"), false, subject, "type is not set: the driver refuses the secretObject",
				"set type, for example Opaque or kubernetes.io/tls")
		}
		if len(so.Data) == 0 {
			c.add(config.SeverityInvalid, p.Key("data"), false, subject, "data is not set: the driver refuses the secretObject",
				"list the files to sync as data: [{objectName: <file>, key: <Secret key>}]")
			continue
		}
		keys := c.data(p.Key("data"), subject, so.Data, objects, prod)
		if so.Type == "kubernetes.io/tls" {
			c.tls(p.Key("data"), subject, keys)
		}
	}
}

// data checks the data entries of one secretObject and returns their keys.
func (c *checker) data(p Path, subject string, data []SecretData, objects []config.Object, prod *produced) map[string]bool {
	keys := map[string]bool{}
	for j, d := range data {
		dp, ds := p.Index(j), fmt.Sprintf("%s: data[%d]", subject, j)
		if d.NotMapping {
			c.add(config.SeverityInvalid, dp, false, ds, "not a mapping", "write {objectName: <file>, key: <Secret key>}")
			continue
		}
		for _, k := range d.Keys {
			if !slices.Contains(knownSecretDataFields, k) {
				c.add(config.SeverityError, dp.Key(k), true, ds, fmt.Sprintf("unknown field %q: the API server drops it", k),
					suggest.Fix(k, knownSecretDataFields, "field"))
			}
		}
		switch {
		case d.Key == "":
			c.add(config.SeverityInvalid, dp.Key("key"), false, ds, "key is not set", "set key to the key of the file in the Secret")
		case keys[d.Key]:
			c.add(config.SeverityError, dp.Key("key"), false, ds, fmt.Sprintf("key %q appears twice in this Secret", d.Key),
				"give every data entry its own key")
		default:
			keys[d.Key] = true
		}
		file := d.ObjectName
		if file == "" {
			c.add(config.SeverityInvalid, dp.Key("objectName"), false, ds, "objectName is not set",
				"set objectName to a file the objects produce (objectAlias, else objectName)")
			continue
		}
		if len(objects) == 0 {
			continue // the objects' own findings come first
		}
		notFound := fmt.Sprintf("the driver fails with \"file matching objectName %s not found in the pod\"", file)
		if f, ok := prod.rendered[file]; ok {
			for _, in := range f.Inputs {
				if o := objectAt(objects, in.Object); o != nil && o.Optional && f.SkipMissingInputs {
					c.add(config.SeverityWarning, dp.Key("objectName"), false, ds,
						fmt.Sprintf("objectName %q is rendered by %s without the inputs of optional objects that are missing (skipMissingInputs): the Secret's value changes with them", file, f.Field()),
						"make the objects required, or accept that the synced value lacks them while they are missing")
					break
				}
			}
			continue
		}
		if f := prod.hiddenBy(file); f != nil {
			c.add(config.SeverityInvalid, dp.Key("objectName"), false, ds,
				fmt.Sprintf("objectName %q is an input that %s hides (hideInputs), so it is not in the volume: %s", file, f.Field(), notFound),
				fmt.Sprintf("sync the rendered file %s instead, or remove hideInputs from %s", f.Path, f.Field()))
			continue
		}
		ok, maybe, out, obj := prod.writes(file)
		switch {
		case ok && obj.Optional:
			c.add(config.SeverityWarning, dp.Key("objectName"), false, ds,
				fmt.Sprintf("objectName %q comes from an optional object (objects.array[%d]): while it is missing, %s and the Secret is not synced", file, obj.Index, notFound),
				"remove optional from the object, or sync it in a secretObject of its own")
		case ok:
		case out != nil && out.Selector:
			c.add(config.SeverityWarning, dp.Key("objectName"), false, ds,
				fmt.Sprintf("objectName %q is only there if the selector of objects.array[%d] matches such a secret: the vault's listing decides", file, maybe),
				"check the file name against the selector's documented naming (docs/formats.md), or name the object explicitly")
		default:
			c.add(config.SeverityInvalid, dp.Key("objectName"), false, ds,
				fmt.Sprintf("objectName %q is not a file the objects produce: %s", file, notFound),
				prod.missingFileFix(file, maybe))
		}
	}
	return keys
}

func objectAt(objects []config.Object, index int) *config.Object {
	for i := range objects {
		if objects[i].Index == index {
			return &objects[i]
		}
	}
	return nil
}

// tls checks the keys of a kubernetes.io/tls Secret.
func (c *checker) tls(p Path, subject string, keys map[string]bool) {
	var extra []string
	for k := range keys {
		if k != "tls.crt" && k != "tls.key" {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		c.add(config.SeverityError, p, false, subject, fmt.Sprintf("key %q in a kubernetes.io/tls Secret: the driver converts only tls.crt and tls.key", k),
			"use the keys tls.crt and tls.key, or type Opaque")
	}
	for _, k := range []string{"tls.crt", "tls.key"} {
		if !keys[k] {
			c.add(config.SeverityInvalid, p, false, subject, fmt.Sprintf("a kubernetes.io/tls Secret needs the key %s", k),
				"add data entries with keys tls.crt and tls.key (the same certificate file can feed both)")
		}
	}
}
