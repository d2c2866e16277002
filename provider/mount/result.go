package mount

import (
	"io/fs"
	"strings"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/diag"
)

// File is one file of the volume, relative to the mount.
type File struct {
	Path     string
	Mode     fs.FileMode
	Contents []byte
}

// ObjectVersion is the Azure provider's per-file version record: ID "<type>/<name>[/<i>]"
// and the Key Vault version.
type ObjectVersion struct {
	ID      string
	Version string
}

// Result is the whole volume for one mount.
type Result struct {
	Files    []File
	Versions []ObjectVersion
}

// ObjectError is the failure of one object, in the Azure provider's wording.
type ObjectError struct {
	Type, Name, Version string
	Err                 error
}

func (e *ObjectError) Error() string {
	return "failed to get objectType:" + config.Abbreviate(e.Type) + ", objectName:" + config.Abbreviate(e.Name) +
		", objectVersion:" + config.Abbreviate(e.Version) + ": " + e.Err.Error()
}

func (e *ObjectError) Unwrap() error { return e.Err }

// Errors is every object that failed in one mount; the mount fails as a whole.
type Errors []*ObjectError

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts, "; ")
}

// Kind is the kind of the first failing object: the one users fix first.
func (es Errors) Kind() diag.Kind {
	if len(es) == 0 {
		return diag.KindUnknown
	}
	return diag.Classify(es[0])
}
