package config

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kvcsi/kvcsi/provider/format"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// objectsDoc is the objects parameter: a YAML document whose array holds one YAML string
// per object (the Azure provider's double encoding).
type objectsDoc struct {
	Array []string `yaml:"array"`
}

// keyVaultObject is one objects.array entry as written; field names are exact-case tags.
type keyVaultObject struct {
	ObjectName           string `yaml:"objectName"`
	ObjectType           string `yaml:"objectType"`
	ObjectAlias          string `yaml:"objectAlias"`
	ObjectVersion        string `yaml:"objectVersion"`
	ObjectVersionHistory int32  `yaml:"objectVersionHistory"`
	ObjectFormat         string `yaml:"objectFormat"`
	ObjectEncoding       string `yaml:"objectEncoding"`
	FilePermission       string `yaml:"filePermission"`

	// kvcsi extensions
	KeyvaultName    string          `yaml:"keyvaultName"`
	CertificatePart string          `yaml:"certificatePart"`
	SplitCertAndKey bool            `yaml:"splitCertAndKey"`
	ConvertPFXToPEM bool            `yaml:"convertPFXToPEM"`
	JMESPath        []jmesPathEntry `yaml:"jmesPath"`
	Optional        bool            `yaml:"optional"`
	Selector        *selectorEntry  `yaml:"selector"`
	StripPrefix     bool            `yaml:"stripPrefix"`
	RefuseExpired   bool            `yaml:"refuseExpired"`
	PFXPasswordFile string          `yaml:"pfxPasswordFile"`
}

// selectorEntry is an objects entry's selector (kvcsi extension).
type selectorEntry struct {
	NamePrefix  string            `yaml:"namePrefix"`
	Tags        map[string]string `yaml:"tags"`
	ContentType string            `yaml:"contentType"`
}

type jmesPathEntry struct {
	Path           string `yaml:"path"`
	ObjectAlias    string `yaml:"objectAlias"`
	FilePermission string `yaml:"filePermission"`
}

func (o *keyVaultObject) trim() {
	for _, p := range []*string{&o.ObjectName, &o.ObjectType, &o.ObjectAlias, &o.ObjectVersion,
		&o.ObjectFormat, &o.ObjectEncoding, &o.FilePermission, &o.KeyvaultName, &o.CertificatePart, &o.PFXPasswordFile} {
		*p = strings.TrimSpace(*p)
	}
	for i := range o.JMESPath {
		j := &o.JMESPath[i]
		j.Path = strings.TrimSpace(j.Path)
		j.ObjectAlias = strings.TrimSpace(j.ObjectAlias)
		j.FilePermission = strings.TrimSpace(j.FilePermission)
	}
}

func (o *keyVaultObject) fileName() string {
	if o.ObjectAlias != "" {
		return o.ObjectAlias
	}
	return o.ObjectName
}

func (o *keyVaultObject) fileNameField() string {
	if o.ObjectAlias != "" {
		return FieldObjectAlias
	}
	return FieldObjectName
}

const objectsExample = "write objects as 'array:' followed by one '- |' item per object, each holding that object's YAML (objectName: ..., objectType: ...)"

// splitObjects decodes the objects parameter into its per-object YAML strings.
func splitObjects(raw string) ([]string, *Error) {
	var doc objectsDoc
	if err := yaml.Unmarshal([]byte(raw), &doc); err != nil {
		fix := objectsExample
		if itemsAreMappings(raw) {
			fix = "each array item must be a YAML string, not a mapping: " + objectsExample
		}
		return nil, &Error{Param: ParamObjects,
			Msg: fmt.Sprintf("failed to yaml unmarshal objects, error: %v", err), Fix: fix, Err: err}
	}
	return doc.Array, nil
}

// itemsAreMappings reports whether an objects parameter that failed to decode has
// mappings where the array's strings belong: objects written with '- objectName: …'
// instead of '- |'. The fix is chosen from the document's structure, not from the
// parser's message.
func itemsAreMappings(raw string) bool {
	var probe struct {
		Array []yaml.Node `yaml:"array"`
	}
	if yaml.Unmarshal([]byte(raw), &probe) != nil {
		return false
	}
	for _, n := range probe.Array {
		if resolve(&n).Kind == yaml.MappingNode {
			return true
		}
	}
	return false
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n.Kind == yaml.AliasNode && n.Alias != nil && depth < 100; depth++ {
		n = n.Alias
	}
	return n
}

// decodeObject unmarshals and trims objects.array[i].
func decodeObject(i int, s string) (*keyVaultObject, *Error) {
	var o keyVaultObject
	if err := yaml.Unmarshal([]byte(s), &o); err != nil {
		return nil, &Error{Param: ParamObjects,
			Msg: fmt.Sprintf("unmarshal failed for keyVaultObjects at index %d, error: %v", i, err), Fix: decodeFix(i, s), Err: err}
	}
	o.trim()
	return &o, nil
}

// decodeFix says how to fix objects.array[i] when it does not decode: the typed fields
// are decoded one at a time to find the one of the wrong type (a quoted number or
// boolean, a jmesPath that is not a list of mappings).
func decodeFix(i int, s string) string {
	fix := fmt.Sprintf("objects.array[%d] must be a YAML mapping such as 'objectName: my-secret' and 'objectType: secret'", i)
	var probe struct {
		History  yaml.Node `yaml:"objectVersionHistory"`
		Split    yaml.Node `yaml:"splitCertAndKey"`
		Convert  yaml.Node `yaml:"convertPFXToPEM"`
		JMESPath yaml.Node `yaml:"jmesPath"`
		Optional yaml.Node `yaml:"optional"`
		Strip    yaml.Node `yaml:"stripPrefix"`
		Refuse   yaml.Node `yaml:"refuseExpired"`
		Selector yaml.Node `yaml:"selector"`
	}
	if yaml.Unmarshal([]byte(s), &probe) != nil {
		return fix // not a mapping, or not YAML
	}
	fails := func(n *yaml.Node, v any) bool { return n.Kind != 0 && n.Decode(v) != nil }
	var history int32
	var b bool
	var entries []struct{} // any mapping decodes into struct{}; anything else does not
	switch {
	case fails(&probe.History, &history):
		return "objectVersionHistory must be an unquoted integer, e.g. objectVersionHistory: 5"
	case fails(&probe.Split, &b) || fails(&probe.Convert, &b):
		return "splitCertAndKey and convertPFXToPEM must be unquoted true or false"
	case fails(&probe.Optional, &b) || fails(&probe.Strip, &b) || fails(&probe.Refuse, &b):
		return "optional, stripPrefix and refuseExpired must be unquoted true or false"
	case fails(&probe.Selector, &selectorEntry{}):
		return "selector must be a mapping with namePrefix, tags (a mapping of strings) and contentType"
	case fails(&probe.JMESPath, &entries):
		return "jmesPath must be a list of mappings with path, objectAlias and optional filePermission"
	}
	return fix
}

// secretTypeFix is fix, unless objectType is secret in the wrong case.
func secretTypeFix(objectType, fix string) string {
	if strings.EqualFold(objectType, string(vocab.Secret)) {
		return fmt.Sprintf("objectType is case-sensitive: write secret, not %s", objectType)
	}
	return fix
}

var vaultNameChars = regexp.MustCompile(`^[-A-Za-z0-9]+$`)

// checkVaultName applies the Azure provider's vault-name rules.
func checkVaultName(param, name string) *Error {
	if len(name) < 3 || len(name) > 24 {
		return invalid(param, fmt.Sprintf("failed to get vault: Invalid vault name: %q, must be between 3 and 24 chars", name),
			fmt.Sprintf("set %s to the vault's name (the first label of https://<name>.vault.azure.net), not its URL", param))
	}
	if !vaultNameChars.MatchString(name) {
		return invalid(param, fmt.Sprintf("failed to get vault: Invalid vault name: %q, must match [-a-zA-Z0-9]{3,24}", name),
			fmt.Sprintf("set %s to the vault's name (the first label of https://<name>.vault.azure.net), not its URL", param))
	}
	return nil
}

// buildObject validates objects.array[i] on its own and turns it into an Object. The
// Azure provider's checks come first, in its order, so any object it rejects gets its
// message; kvcsi's stricter checks follow.
func buildObject(i int, o *keyVaultObject, topVault string, defaultMode fs.FileMode) (Object, *vocab.ObjectError) {
	obj, err := buildObjectErr(i, o, topVault, defaultMode)
	if err != nil {
		return Object{}, objectErr(i, o, err)
	}
	return obj, nil
}

func buildObjectErr(i int, o *keyVaultObject, topVault string, defaultMode fs.FileMode) (Object, *Error) {
	isSecret := o.ObjectType == string(vocab.Secret)
	format := strings.ToLower(o.ObjectFormat)
	encoding := strings.ToLower(o.ObjectEncoding)

	// objectFormat (upstream order: format, encoding, file name).
	if format != "" {
		if format != "pem" && format != "pfx" {
			return Object{}, invalid(FieldObjectFormat, fmt.Sprintf("invalid objectFormat: %s, should be PEM or PFX", o.ObjectFormat),
				"use objectFormat: pem (the default) or pfx")
		}
		// Deliberate difference: case-insensitive, so "PFX" with a key or cert is caught too.
		if format == "pfx" && !isSecret {
			return Object{}, invalid(FieldObjectFormat, "PFX format only supported for objectType: secret",
				secretTypeFix(o.ObjectType, "to get the PFX of a certificate, use objectType: secret with the certificate's name; cert and key objects are always PEM"))
		}
	}
	if encoding != "" {
		if !isSecret {
			return Object{}, invalid(FieldObjectEncoding, "objectEncoding only supported for objectType: secret",
				secretTypeFix(o.ObjectType, "remove objectEncoding; cert and key objects are always PEM text"))
		}
		if encoding != "utf-8" && encoding != "base64" && encoding != "hex" {
			return Object{}, invalid(FieldObjectEncoding, fmt.Sprintf("invalid objectEncoding: %s, should be hex, base64 or utf-8", o.ObjectEncoding),
				"use objectEncoding: utf-8 (the default), base64 or hex")
		}
	}
	field := o.fileNameField()
	if o.Selector != nil {
		return buildSelectorObject(i, o, topVault, defaultMode)
	}
	if o.fileName() == "" {
		return Object{}, invalid(FieldObjectName, "file name must not be empty",
			fmt.Sprintf("set objectName of objects.array[%d]", i))
	}
	if err := checkPath(field, o.fileName()); err != nil {
		return Object{}, err
	}

	// kvcsi: objectType up front and case-sensitive, as the fetch will need it.
	switch vocab.ObjectType(o.ObjectType) {
	case vocab.Secret, vocab.Key, vocab.Cert:
	default:
		fix := "set objectType to secret, key or cert"
		if t := vocab.ObjectType(strings.ToLower(o.ObjectType)); t == vocab.Secret || t == vocab.Key || t == vocab.Cert {
			fix = fmt.Sprintf("objectType is case-sensitive: write %s, not %s", t, o.ObjectType)
		}
		return Object{}, invalid(FieldObjectType, "Invalid vaultObjectTypes. Should be secret, key, or cert", fix)
	}
	if o.ObjectName == "" {
		return Object{}, invalid(FieldObjectName, "objectName must not be empty",
			fmt.Sprintf("set objectName of objects.array[%d] to the Key Vault %s's name; objectAlias only names the file", i, o.ObjectType))
	}
	if o.ObjectVersionHistory < 0 {
		return Object{}, invalid(FieldObjectVersionHistory, fmt.Sprintf("invalid objectVersionHistory %d: must not be negative", o.ObjectVersionHistory),
			"use 0 or 1 for the current version only, or N > 1 to sync the newest N versions")
	}

	obj := Object{
		Index:          i,
		Name:           o.ObjectName,
		Type:           vocab.ObjectType(o.ObjectType),
		Alias:          o.ObjectAlias,
		Version:        o.ObjectVersion,
		VersionHistory: o.ObjectVersionHistory,
		Format:         format,
		Encoding:       encoding,
		Mode:           defaultMode,
		VaultName:      topVault,
	}
	if o.FilePermission != "" {
		m, err := parseFilePermission(o.FilePermission)
		if err != nil {
			return Object{}, err
		}
		obj.Mode, obj.ModeSet = m, true
	}

	// kvcsi extensions.
	if o.KeyvaultName != "" {
		if err := checkVaultName(FieldKeyvaultName, o.KeyvaultName); err != nil {
			return Object{}, err
		}
		obj.VaultName = o.KeyvaultName
	}
	secretOnly := func(field string) *Error {
		return invalid(field, field+" only supported for objectType: secret",
			secretTypeFix(o.ObjectType, fmt.Sprintf("remove %s, or use objectType: secret (a certificate's secret holds its key and chain)", field)))
	}
	if o.CertificatePart != "" {
		if !isSecret {
			return Object{}, secretOnly(FieldCertificatePart)
		}
		switch p := strings.ToLower(o.CertificatePart); p {
		case "full":
			obj.CertPart = vocab.CertPartFull
		case string(vocab.CertPartChain), string(vocab.CertPartKey), string(vocab.CertPartCA):
			obj.CertPart = vocab.CertPart(p)
		default:
			return Object{}, invalid(FieldCertificatePart, fmt.Sprintf("invalid certificatePart: %s, should be full, chain, key or ca", o.CertificatePart),
				"use certificatePart: full (the default), chain (certificates only), key (private key only) or ca (the chain without the leaf)")
		}
		if obj.CertPart != vocab.CertPartFull && format == "pfx" {
			return Object{}, invalid(FieldCertificatePart, "certificatePart "+string(obj.CertPart)+" cannot be combined with objectFormat: pfx",
				"remove objectFormat: pfx; certificatePart selects PEM blocks")
		}
	}
	if o.SplitCertAndKey {
		if !isSecret {
			return Object{}, secretOnly(FieldSplitCertAndKey)
		}
		if obj.CertPart != vocab.CertPartFull {
			return Object{}, invalid(FieldSplitCertAndKey, "splitCertAndKey cannot be combined with certificatePart "+string(obj.CertPart),
				"use one of them: splitCertAndKey writes the full output with .crt and .key files, certificatePart one part")
		}
		obj.SplitCertAndKey = true
	}
	if o.ConvertPFXToPEM {
		if !isSecret {
			return Object{}, secretOnly(FieldConvertPFXToPEM)
		}
		if format == "pfx" {
			return Object{}, invalid(FieldConvertPFXToPEM, "convertPFXToPEM cannot be combined with objectFormat: pfx",
				"remove one of them: objectFormat: pfx keeps the PFX, convertPFXToPEM writes PEM")
		}
		obj.ConvertPFX = true
	}
	if len(o.JMESPath) > 0 {
		if !isSecret {
			return Object{}, secretOnly(FieldJMESPath)
		}
		if HistoryFiles(o.ObjectVersionHistory) > 0 {
			return Object{}, invalid(FieldJMESPath, "jmesPath cannot be combined with objectVersionHistory > 1",
				"use a separate object without objectVersionHistory for the JSON extraction")
		}
		for j, e := range o.JMESPath {
			jp, err := buildJMESPath(j, e, obj.Mode)
			if err != nil {
				return Object{}, err
			}
			obj.JSONPaths = append(obj.JSONPaths, jp)
		}
	}
	if err := buildExtras(o, &obj); err != nil {
		return Object{}, err
	}
	return obj, nil
}

func buildJMESPath(j int, e jmesPathEntry, objMode fs.FileMode) (JSONPath, *Error) {
	prefix := fmt.Sprintf("jmesPath[%d]", j)
	if e.Path == "" {
		return JSONPath{}, invalid(prefix+".path", prefix+": path must not be empty",
			"set path to a JMESPath expression such as username or db.password")
	}
	query, err := format.CompileJSONPath(e.Path)
	if err != nil {
		return JSONPath{}, &Error{Param: prefix + ".path",
			Msg: fmt.Sprintf("%s: invalid path %s: %v", prefix, quoteShort(e.Path), err),
			Fix: jmesPathFix(err), Err: err}
	}
	field := prefix + ".objectAlias"
	if e.ObjectAlias == "" {
		return JSONPath{}, invalid(field, prefix+": file name must not be empty",
			"set objectAlias to the file the extracted value is written to")
	}
	if err := checkPath(field, e.ObjectAlias); err != nil {
		err.Msg = prefix + ": " + err.Msg
		return JSONPath{}, err
	}
	jp := JSONPath{Path: e.Path, ObjectAlias: e.ObjectAlias, Mode: objMode, Query: query}
	if e.FilePermission != "" {
		m, err := parseFilePermission(e.FilePermission)
		if err != nil {
			err.Param = prefix + ".filePermission"
			err.Msg = prefix + ": " + err.Msg
			return JSONPath{}, err
		}
		jp.Mode = m
	}
	return jp, nil
}

func jmesPathFix(err error) string {
	if errors.Is(err, format.ErrUnsupportedJSONPath) {
		return "use a simpler expression: select fields, index arrays and call the JMESPath specification's functions"
	}
	return "check the expression syntax (https://jmespath.org); quote keys containing '-' like \"my-key\""
}
