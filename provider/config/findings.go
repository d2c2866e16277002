package config

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kvcsi/kvcsi/provider/suggest"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// Severity says what a finding means for the volume. It is decided where the finding is
// made.
type Severity int

const (
	// SeverityWarning: the setting works, but is deprecated or has no effect worth
	// fixing now (an empty objects array).
	SeverityWarning Severity = iota + 1
	// SeverityError: a mistake the mount does not fail on, so the volume silently differs
	// from what the manifest says: an unknown (misspelt) parameter or field, a setting
	// the selected identity mode ignores.
	SeverityError
	// SeverityInvalid: the mount fails on it. Parse returns the first of these.
	SeverityInvalid
)

func (s Severity) String() string {
	switch s {
	case SeverityWarning:
		return "warning"
	case SeverityError:
		return "error"
	case SeverityInvalid:
		return "invalid"
	}
	return "unknown severity"
}

// ObjectRef names the objects.array entry a finding is about.
type ObjectRef struct {
	Index int
	// Decoded is true once the entry decoded; Type and Name are then its objectType and
	// objectName as written. Findings made before (a YAML error, an unknown field) have
	// only the index.
	Decoded bool
	Type    vocab.ObjectType
	Name    string
}

// String is "objects.array[1] (objectType:secret, objectName:db)", or
// "objects.array[1]" before the entry decoded.
func (r *ObjectRef) String() string {
	if !r.Decoded {
		return fmt.Sprintf("objects.array[%d]", r.Index)
	}
	return fmt.Sprintf("objects.array[%d] (objectType:%s, objectName:%s)", r.Index, vocab.Abbreviate(string(r.Type)), vocab.Abbreviate(r.Name))
}

// Finding is one result of the validation walk.
type Finding struct {
	Severity Severity
	// Object is the objects.array entry at fault; nil for a parameter.
	Object *ObjectRef
	// Field is the parameter or object field at fault ("keyvaultName", "objectAlias",
	// "jmesPath[0].objectAlias"); "" when no single one is.
	Field   string
	Message string
	Fix     string
	// err is what Parse returns for a SeverityInvalid finding.
	err error
}

// Subject is what the finding is about: the field for a parameter, the entry and the
// field (unless the message already names it) for an object.
func (f Finding) Subject() string {
	if f.Object == nil {
		return f.Field
	}
	s := f.Object.String()
	if f.Field != "" && !strings.Contains(f.Message, f.Field) {
		s += ": " + f.Field
	}
	return s
}

// String is "subject: message; fix: fix".
func (f Finding) String() string {
	var b strings.Builder
	if s := f.Subject(); s != "" {
		b.WriteString(s + ": ")
	}
	b.WriteString(f.Message)
	if f.Fix != "" {
		b.WriteString(FixSeparator + f.Fix)
	}
	return b.String()
}

// Driver is what the Secrets Store CSI Driver adds to a SecretProviderClass's
// parameters at mount time, besides the attributes (pod and service-account token
// keys): the nodePublishSecretRef data and the default file mode.
type Driver struct {
	Secrets     map[string]string
	DefaultMode fs.FileMode
}

// Lint runs Parse's validation walk to the end and returns every finding, in the walk's
// order, and the objects that are valid on their own (for checks of the files they
// produce). It adds what Parse cannot fail on: unknown parameters and object fields
// (with a did-you-mean for near misses such as objectVersionhistory), the deprecated
// tenantId, settings that the selected identity mode ignores, an empty objects array.
//
// With a nil driver, Lint judges a manifest's parameters alone: the checks that need the
// pod, the service-account tokens or nodePublishSecretRef are skipped. With the driver's
// inputs (attributes then being what the driver sends), it judges exactly what Parse
// judges: Parse fails if and only if Lint has a SeverityInvalid finding, and Parse's error
// is the first one's. Lint does not check cloudName (see package cloud).
func Lint(attributes map[string]string, driver *Driver) ([]Finding, []Object) {
	findings, m := LintMount(attributes, driver)
	return findings, m.Objects
}

// LintMount is Lint, returning the objects and the rendered files (the files
// parameter's entries) that are valid on their own, for checks of the files the volume
// holds. The Mount is never nil.
func LintMount(attributes map[string]string, driver *Driver) ([]Finding, *Mount) {
	c := &checker{all: true}
	in := input{attributes: attributes, mode: 0o644}
	if driver != nil {
		in.secrets, in.mode, in.mount = driver.Secrets, driver.DefaultMode, true
	}
	m := walk(nil, in, c)
	if m == nil {
		m = &Mount{}
	}
	return c.findings, m
}

// checker records the findings of the validation walk: every one for Lint, only the
// first SeverityInvalid one for Parse, which then stops.
type checker struct {
	all      bool
	findings []Finding
	first    error
}

// fail records the SeverityInvalid finding of err (an *Error or a *vocab.ObjectError);
// it reports whether the walk stops. ref is the entry for an *Error about one.
func (c *checker) fail(ref *ObjectRef, err error) (stop bool) {
	if !c.all {
		c.first = err
		return true
	}
	f := Finding{Severity: SeverityInvalid, Object: ref, Message: err.Error(), err: err}
	var oe *vocab.ObjectError
	if errors.As(err, &oe) {
		f.Object = &ObjectRef{Index: oe.Index, Decoded: true, Type: oe.Type, Name: oe.Name}
	}
	var ve *Error
	if errors.As(err, &ve) {
		f.Field, f.Message, f.Fix = ve.Param, ve.Msg, ve.Fix
		if f.Object != nil && f.Field == ParamObjects {
			f.Field = ""
		}
	}
	c.findings = append(c.findings, f)
	return false
}

// note records a finding the mount does not fail on (Lint only).
func (c *checker) note(sev Severity, ref *ObjectRef, field, msg, fix string) {
	if c.all {
		c.findings = append(c.findings, Finding{Severity: sev, Object: ref, Field: field, Message: msg, Fix: fix})
	}
}

// unknownParams notes the parameters Parse does not read.
func (c *checker) unknownParams(attributes map[string]string) {
	keys := make([]string, 0, len(attributes))
	for k := range attributes {
		if !contains(knownParams, k) && !ignoredParams[k] && !strings.HasPrefix(k, driverKeyPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.note(SeverityError, nil, k, fmt.Sprintf("unknown parameter %q is ignored", k), suggest.Fix(k, knownParams, "parameter"))
	}
}

// identityNotes notes identity parameters that the selected mode ignores, and the
// deprecated pod identity.
func (c *checker) identityNotes(get func(string) string, flags modeFlags) {
	clientID, uami := get(ParamClientID), get(ParamUserAssignedIdentityID)
	if uami != "" && !flags.vmManagedIdentity {
		c.note(SeverityError, nil, ParamUserAssignedIdentityID, "userAssignedIdentityID is ignored unless useVMManagedIdentity is true",
			`set useVMManagedIdentity: "true" to use the node's managed identity, or remove userAssignedIdentityID`)
	}
	if clientID != "" && (flags.vmManagedIdentity || flags.podIdentity) {
		c.note(SeverityError, nil, ParamClientID, "clientID is ignored with useVMManagedIdentity or usePodIdentity",
			"remove clientID, or remove the flag to use workload identity with clientID")
	}
	if flags.podIdentity {
		c.note(SeverityWarning, nil, ParamUsePodIdentity, "aad-pod-identity is deprecated",
			"move to workload identity: set clientID and remove usePodIdentity")
	}
}

// unknownKeys notes mapping keys of the YAML document src that are not in known; nested
// maps a key to the known keys of the mappings in its list value. ref is nil for the
// objects document itself.
func (c *checker) unknownKeys(ref *ObjectRef, src string, known []string, nested map[string][]string) {
	var doc yaml.Node
	if yaml.Unmarshal([]byte(src), &doc) != nil || len(doc.Content) == 0 {
		return // decoding reports it
	}
	var walk func(prefix string, n *yaml.Node, known []string, nested map[string][]string)
	walk = func(prefix string, n *yaml.Node, known []string, nested map[string][]string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i].Value, n.Content[i+1]
			if !contains(known, key) {
				if ref == nil {
					c.note(SeverityError, nil, ParamObjects, fmt.Sprintf("unknown key %q in objects is ignored", key), suggest.Fix(key, known, "field"))
				} else {
					c.note(SeverityError, ref, prefix+key, fmt.Sprintf("unknown field %q is ignored", key), suggest.Fix(key, known, "field"))
				}
				continue
			}
			if sub, ok := nested[key]; ok {
				switch val.Kind {
				case yaml.SequenceNode:
					for j, item := range val.Content {
						walk(fmt.Sprintf("%s%s[%d].", prefix, key, j), item, sub, nil)
					}
				case yaml.MappingNode:
					walk(prefix+key+".", val, sub, nil)
				}
			}
		}
	}
	walk("", doc.Content[0], known, nested)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
