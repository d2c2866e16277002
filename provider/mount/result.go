package mount

import (
	"strings"

	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// ObjectVersion is the Azure provider's per-file version record: ID "<type>/<name>[/<i>]"
// and the Key Vault version.
type ObjectVersion struct {
	ID      string
	Version string
}

// Result is the whole volume for one mount.
type Result struct {
	Files    []vocab.File
	Versions []ObjectVersion
}

// Errors is every object that failed in one mount; the mount fails as a whole.
type Errors []*vocab.ObjectError

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
