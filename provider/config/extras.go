package config

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/kvcsi/kvcsi/provider/vocab"
)

// MaxSelectorMatches is the most secrets one selector entry may mount: past it the mount
// fails with an error naming the selector, rather than silently mounting a subset or
// building a response the driver refuses.
const MaxSelectorMatches = 256

// Key Vault object names are 1–127 characters of [0-9a-zA-Z-].
var keyVaultNameChars = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

// buildSelectorObject validates an objects entry with a selector. Every field that
// applies to a named secret (objectFormat, objectEncoding, filePermission, keyvaultName,
// certificatePart, splitCertAndKey, convertPFXToPEM, refuseExpired) applies to each
// match; objectName, objectVersion, objectVersionHistory, jmesPath, optional and
// pfxPasswordFile name one object and cannot be combined with a selector.
func buildSelectorObject(i int, o *keyVaultObject, topVault string, defaultMode fs.FileMode) (Object, *Error) {
	sel := o.Selector
	const fixSel = "a selector lists the vault's secrets; name one object with objectName instead, or remove the field"
	switch {
	case o.ObjectType != string(vocab.Secret):
		return Object{}, invalid(FieldSelector, "selector only supported for objectType: secret",
			secretTypeFix(o.ObjectType, "use objectType: secret; keys and certificates are named one by one (a certificate's secret is a secret)"))
	case o.ObjectName != "":
		return Object{}, invalid(FieldSelector, "selector cannot be combined with objectName", fixSel)
	case o.ObjectVersion != "" || o.ObjectVersionHistory > 1:
		return Object{}, invalid(FieldSelector, "selector cannot be combined with objectVersion or objectVersionHistory", fixSel)
	case len(o.JMESPath) > 0:
		return Object{}, invalid(FieldSelector, "selector cannot be combined with jmesPath", fixSel)
	case o.PFXPasswordFile != "":
		return Object{}, invalid(FieldSelector, "selector cannot be combined with pfxPasswordFile", fixSel)
	case o.Optional:
		return Object{}, invalid(FieldSelector, "selector cannot be combined with optional",
			"remove optional: a selector mounts the secrets that exist and skips disabled ones")
	case sel.NamePrefix == "" && len(sel.Tags) == 0 && sel.ContentType == "":
		return Object{}, invalid(FieldSelector, "selector has no condition",
			"set namePrefix, tags or contentType; a selector mounting every secret of the vault must say so with a condition")
	}
	sel.NamePrefix = strings.TrimSpace(sel.NamePrefix)
	sel.ContentType = strings.TrimSpace(sel.ContentType)
	if sel.NamePrefix != "" && !keyVaultNameChars.MatchString(sel.NamePrefix) {
		return Object{}, invalid(FieldSelector+".namePrefix", fmt.Sprintf("invalid namePrefix %s: Key Vault names are 1–127 characters of 0-9, a-z, A-Z and -", quoteShort(sel.NamePrefix)),
			"use the start of the secrets' names, such as shop-")
	}
	for k := range sel.Tags {
		if strings.TrimSpace(k) == "" {
			return Object{}, invalid(FieldSelector+".tags", "a tag name must not be empty", "write tags as name: value pairs")
		}
	}
	if o.StripPrefix && sel.NamePrefix == "" {
		return Object{}, invalid(FieldStripPrefix, "stripPrefix needs selector.namePrefix", "set namePrefix, or remove stripPrefix")
	}
	if o.ObjectAlias != "" {
		if err := checkPath(FieldObjectAlias, o.ObjectAlias); err != nil {
			return Object{}, err
		}
	}
	// The other fields are validated as for a named secret.
	named := *o
	named.Selector, named.ObjectName, named.ObjectAlias, named.StripPrefix = nil, "selector-match", "", false
	obj, err := buildObjectErr(i, &named, topVault, defaultMode)
	if err != nil {
		return Object{}, err
	}
	obj.Name, obj.Alias = "", o.ObjectAlias
	tags := make(map[string]string, len(sel.Tags))
	for k, v := range sel.Tags {
		tags[strings.TrimSpace(k)] = v
	}
	obj.Selector = &Selector{NamePrefix: sel.NamePrefix, Tags: tags, ContentType: sel.ContentType, StripPrefix: o.StripPrefix}
	return obj, nil
}

// buildExtras validates the kvcsi fields of a named object that buildObjectErr does not.
func buildExtras(o *keyVaultObject, obj *Object) *Error {
	obj.Optional = o.Optional
	obj.RefuseExpired = o.RefuseExpired
	if o.StripPrefix {
		return invalid(FieldStripPrefix, "stripPrefix only applies to a selector", "remove stripPrefix")
	}
	if o.PFXPasswordFile == "" {
		return nil
	}
	if obj.Type != vocab.Secret || obj.Format != "pfx" {
		return invalid(FieldPFXPasswordFile, "pfxPasswordFile needs objectType: secret and objectFormat: pfx",
			"set objectType: secret (the certificate's name) and objectFormat: pfx to write a password-protected PFX")
	}
	if obj.Encoding != "" {
		return invalid(FieldPFXPasswordFile, "pfxPasswordFile cannot be combined with objectEncoding",
			"remove objectEncoding: a password-protected PFX is written as binary PKCS#12")
	}
	if err := checkPath(FieldPFXPasswordFile, o.PFXPasswordFile); err != nil {
		return err
	}
	obj.PFXPasswordFile = o.PFXPasswordFile
	return nil
}

// MatchFileName is the file name of the secret name under a selector: the name, without
// the selector's namePrefix when StripPrefix is set (unless nothing would be left).
func (s *Selector) MatchFileName(name string) string {
	if s.StripPrefix && len(name) > len(s.NamePrefix) && strings.EqualFold(name[:len(s.NamePrefix)], s.NamePrefix) {
		return name[len(s.NamePrefix):]
	}
	return name
}

// Matches reports whether a secret with this name, tags and content type is selected.
// Key Vault names are case-insensitive, so is the prefix; tags and content type are
// compared exactly.
func (s *Selector) Matches(name string, tags map[string]string, contentType string) bool {
	if len(name) < len(s.NamePrefix) || !strings.EqualFold(name[:len(s.NamePrefix)], s.NamePrefix) {
		return false
	}
	for k, v := range s.Tags {
		got, ok := tags[k]
		if !ok || got != v {
			return false
		}
	}
	return s.ContentType == "" || s.ContentType == contentType
}

// Expand turns a selector entry into the objects its matches are, as if each had been
// listed by hand: objectName the secret's name, the file <objectAlias>/<file name> (or
// <file name> without objectAlias), every other field the entry's. names are sorted.
func Expand(o *Object, names []string) []Object {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	out := make([]Object, 0, len(sorted))
	for _, n := range sorted {
		m := *o
		m.Selector = nil
		m.Name = n
		m.Alias = o.Selector.MatchFileName(n)
		if o.Alias != "" {
			m.Alias = path.Join(o.Alias, m.Alias)
		}
		out = append(out, m)
	}
	return out
}

// CheckExpanded checks the output paths of a mount's objects after its selectors are
// expanded (Expand): a match may collide with a file another object writes, which only
// the listing tells. Each error names the colliding objects.
func CheckExpanded(objs []Object, files []RenderedFile) error {
	if errs := checkOutputs(objs); len(errs) > 0 {
		return errs[0]
	}
	if err := checkRenderedPaths(objs, files); err != nil {
		return err
	}
	return nil
}
