package config

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kvcsi/kvcsi/provider/vocab"
)

// Finding is one problem Lint reports in a SecretProviderClass's parameters.
type Finding struct {
	// Object identifies the objects.array entry, e.g.
	// "objects.array[1] (objectType:secret, objectName:db)"; "" for a top-level parameter.
	Object string
	// Field is the parameter or object field at fault ("" if none in particular).
	Field   string
	Message string
	Fix     string
	// Invalid is true when Parse rejects the configuration (the mount would fail), false
	// for warnings: ignored, misspelled or deprecated settings.
	Invalid bool
}

func (f Finding) String() string {
	var b strings.Builder
	if f.Object != "" {
		b.WriteString(f.Object + ": ")
	}
	if f.Field != "" && !strings.Contains(f.Message, f.Field) {
		b.WriteString(f.Field + ": ")
	}
	b.WriteString(f.Message)
	if f.Fix != "" {
		b.WriteString(" (fix: " + f.Fix + ")")
	}
	return b.String()
}

// Lint checks a SecretProviderClass's parameters (its spec.parameters, optionally with
// the volume attributes the driver adds) the way Parse does, but reports every problem
// rather than the first, and adds warnings Parse cannot give: unknown parameters and
// object fields (with a did-you-mean for near misses such as objectVersionhistory),
// deprecated tenantId, settings that the selected identity mode ignores.
//
// Lint has no pod, no nodePublishSecretRef and no service account tokens, so it skips
// the checks that need them. It does not check cloudName (see package cloud).
func Lint(attributes map[string]string) []Finding {
	var out []Finding
	get := getter(attributes)

	keys := make([]string, 0, len(attributes))
	for k := range attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if contains(knownParams, k) || ignoredParams[k] || strings.HasPrefix(k, driverKeyPrefix) {
			continue
		}
		out = append(out, Finding{Field: k,
			Message: fmt.Sprintf("unknown parameter %q is ignored", k),
			Fix:     unknownFix(k, knownParams, "parameter")})
	}

	var flags modeFlags
	for _, f := range []struct {
		name string
		dst  *bool
	}{
		{ParamUsePodIdentity, &flags.podIdentity},
		{ParamUseVMManagedIdentity, &flags.vmManagedIdentity},
		{ParamUseAzureTokenProxy, &flags.azureTokenProxy},
	} {
		v, err := parseBoolParam(f.name, get(f.name))
		out = appendErr(out, "", err)
		*f.dst = v
	}
	out = appendErr(out, "", flags.exclusive())
	vault := get(ParamKeyvaultName)
	if vault == "" {
		out = appendErr(out, "", missingVaultName())
	}
	if tenantID(get) == "" {
		out = appendErr(out, "", missingTenant())
	} else if get(ParamTenantID) == "" {
		out = append(out, Finding{Field: ParamTenantIDDeprecated, Message: "tenantId is deprecated",
			Fix: "rename the parameter to tenantID"})
	}
	out = append(out, lintIdentity(get, flags)...)

	raw := get(ParamObjects)
	if raw == "" {
		return appendErr(out, "", invalid(ParamObjects, "objects is not set", objectsExample))
	}
	items, perr := splitObjects(raw)
	if perr != nil {
		return appendErr(out, "", perr)
	}
	out = append(out, unknownKeys("", raw, []string{"array"}, nil)...)
	if len(items) == 0 {
		out = append(out, Finding{Field: ParamObjects, Message: "objects has no entries: the volume will be empty",
			Fix: objectsExample})
	}
	var objs []Object
	for i, s := range items {
		label := fmt.Sprintf("objects.array[%d]", i)
		out = append(out, unknownKeys(label, s, knownObjectFields, map[string][]string{FieldJMESPath: knownJMESPathFields})...)
		o, perr := decodeObject(i, s)
		if perr != nil {
			out = appendErr(out, label, perr)
			continue
		}
		obj, oerr := buildObject(i, o, vault, fs.FileMode(0o644))
		if oerr != nil {
			out = appendErr(out, "", oerr)
			continue
		}
		objs = append(objs, obj)
	}
	if len(items) > 0 && vault != "" {
		out = appendErr(out, "", checkVaultName(ParamKeyvaultName, vault))
	}
	for _, err := range checkOutputs(objs) {
		out = appendErr(out, "", err)
	}
	return out
}

// lintIdentity reports identity parameters that are missing for, or ignored by, the
// selected mode.
func lintIdentity(get func(string) string, flags modeFlags) []Finding {
	var out []Finding
	clientID, uami := get(ParamClientID), get(ParamUserAssignedIdentityID)
	if flags.azureTokenProxy && clientID == "" {
		out = appendErr(out, "", invalid(ParamClientID, "clientID is required for identity binding",
			"set parameters.clientID to the client ID of the user-assigned managed identity bound to the service account"))
	}
	if uami != "" && !flags.vmManagedIdentity {
		out = append(out, Finding{Field: ParamUserAssignedIdentityID,
			Message: "userAssignedIdentityID is ignored unless useVMManagedIdentity is true",
			Fix:     `set useVMManagedIdentity: "true" to use the node's managed identity, or remove userAssignedIdentityID`})
	}
	if clientID != "" && (flags.vmManagedIdentity || flags.podIdentity) {
		out = append(out, Finding{Field: ParamClientID,
			Message: "clientID is ignored with useVMManagedIdentity or usePodIdentity",
			Fix:     "remove clientID, or remove the flag to use workload identity with clientID"})
	}
	if flags.podIdentity {
		out = append(out, Finding{Field: ParamUsePodIdentity, Message: "aad-pod-identity is deprecated",
			Fix: "move to workload identity: set clientID and remove usePodIdentity"})
	}
	return out
}

// appendErr turns a validation error into a finding; object labels an entry whose
// *Error carries no object identity of its own.
func appendErr(out []Finding, object string, err error) []Finding {
	if err == nil || isNilError(err) {
		return out
	}
	f := Finding{Object: object, Message: err.Error(), Invalid: true}
	var oe *vocab.ObjectError
	if errors.As(err, &oe) {
		f.Object = fmt.Sprintf("objects.array[%d] (objectType:%s, objectName:%s)", oe.Index, oe.Type, oe.Name)
	}
	var ve *Error
	if errors.As(err, &ve) {
		f.Field, f.Message, f.Fix = ve.Param, ve.Msg, ve.Fix
		if f.Object != "" && f.Field == ParamObjects {
			f.Field = ""
		}
	}
	return append(out, f)
}

// isNilError catches typed nil pointers passed as error.
func isNilError(err error) bool {
	switch e := err.(type) {
	case *Error:
		return e == nil
	case *vocab.ObjectError:
		return e == nil
	}
	return false
}

// unknownKeys reports mapping keys of the YAML document src that are not in known;
// nested maps a key to the known keys of the mappings in its list value.
func unknownKeys(object, src string, known []string, nested map[string][]string) []Finding {
	var doc yaml.Node
	if yaml.Unmarshal([]byte(src), &doc) != nil || len(doc.Content) == 0 {
		return nil // decoding reports it
	}
	var out []Finding
	var walk func(prefix string, n *yaml.Node, known []string, nested map[string][]string)
	walk = func(prefix string, n *yaml.Node, known []string, nested map[string][]string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i].Value, n.Content[i+1]
			if !contains(known, key) {
				f := Finding{Object: object, Field: prefix + key,
					Message: fmt.Sprintf("unknown field %q is ignored", key),
					Fix:     unknownFix(key, known, "field")}
				if object == "" { // the objects document itself
					f.Field, f.Message = ParamObjects, fmt.Sprintf("unknown key %q in objects is ignored", key)
				}
				out = append(out, f)
				continue
			}
			if sub, ok := nested[key]; ok && val.Kind == yaml.SequenceNode {
				for j, item := range val.Content {
					walk(fmt.Sprintf("%s%s[%d].", prefix, key, j), item, sub, nil)
				}
			}
		}
	}
	walk("", doc.Content[0], known, nested)
	return out
}

// unknownFix suggests the known name closest to name, if one is close enough.
func unknownFix(name string, known []string, what string) string {
	if s := suggest(name, known); s != "" {
		if strings.EqualFold(s, name) {
			return fmt.Sprintf("did you mean %s? %s names are case-sensitive", s, capitalize(what))
		}
		return fmt.Sprintf("did you mean %s?", s)
	}
	return fmt.Sprintf("remove it; known %ss are %s", what, strings.Join(known, ", "))
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func suggest(name string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	best, bestDist := "", 0
	lower := strings.ToLower(name)
	for _, k := range known {
		d := editDistance(lower, strings.ToLower(k))
		limit := 2
		if len(k) >= 12 {
			limit = 3
		}
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30 // not a near miss; keeps the cost bounded
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
