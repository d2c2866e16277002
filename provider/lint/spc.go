// Package lint checks a SecretProviderClass the way the API server, the Secrets Store
// CSI Driver and the provider will treat it, before it is deployed: the class itself
// (name, apiVersion, provider, fields), its parameters with the provider's own
// validation walk (config.Lint), cloudName, and secretObjects against the files the
// objects produce (config.Outputs).
//
// It is pure and source-agnostic: the caller decodes the class (kvcsi lint from YAML,
// an admission webhook from an AdmissionReview's JSON) into a SecretProviderClass, and
// gets findings that say where (a Path into the class) and what, each printable as the
// one line kvcsi lint prints. Mapping a Path to a line of a file is the caller's.
package lint

import "fmt"

// SecretProviderClass is what lint reads of one SecretProviderClass object. Fields that
// only a YAML source can get wrong (the keys as written, values that are not strings,
// lists that are not lists) are left empty by a caller decoding JSON that the API
// server has validated against the CRD schema.
type SecretProviderClass struct {
	APIVersion string
	Name       string
	Namespace  string // "" means default
	Spec       *Spec  // nil when the object has no spec, or it is not a mapping
}

// String is "SecretProviderClass <namespace>/<name>".
func (s *SecretProviderClass) String() string {
	ns := s.Namespace
	if ns == "" {
		ns = "default"
	}
	return fmt.Sprintf("SecretProviderClass %s/%s", ns, s.Name)
}

// Spec is the class's spec.
type Spec struct {
	Keys     []string // spec's keys as written, in order; nil when the source cannot have unknown ones
	Provider string
	// Parameters is spec.parameters as the API server stores it, a map of strings; nil
	// when it is missing or not a mapping. A scalar of another type (an unquoted true)
	// holds its text here; a mapping or list value is left out.
	Parameters map[string]string
	// Written says how each parameter was written, in order, for a source that keeps it
	// (YAML); nil otherwise.
	Written []Written
	// SecretObjects is spec.secretObjects; SecretObjectsNotList is set when it is
	// present but not a list.
	SecretObjects        []SecretObject
	SecretObjectsNotList bool
}

// Written is how one parameter's value was written.
type Written struct {
	Key string
	// Type is the YAML type of a value that is not a string ("bool", "int", "float",
	// "timestamp", "map", "seq", …); "" for a string or null.
	Type string
	// Plain is true for an unquoted scalar: kubectl reads manifests as YAML 1.1, where
	// an unquoted yes, no, on or off is a boolean.
	Plain bool
}

// SecretObject is one entry of spec.secretObjects: a Kubernetes Secret the driver
// syncs from the volume's files.
type SecretObject struct {
	NotMapping bool     // the entry is not a mapping; nothing else is set
	Keys       []string // the entry's keys as written; nil when the source cannot have unknown ones
	SecretName string
	Type       string
	Data       []SecretData // nil when missing, not a list, or empty
}

// SecretData is one entry of a secretObject's data.
type SecretData struct {
	NotMapping bool
	Keys       []string
	ObjectName string // the file of the volume
	Key        string // its key in the Secret
}
