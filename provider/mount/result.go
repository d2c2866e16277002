package mount

import (
	"strings"
	"time"

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
	Files []vocab.File
	// Versions[i] is the version of Files[i].
	Versions []ObjectVersion
	// HiddenVersions are the versions of the inputs a rendered file hides: not in the
	// volume, they still make the driver see a change when one of them changes.
	HiddenVersions []ObjectVersion
	// Skipped are the optional objects left out because they are missing or disabled.
	Skipped []Skipped
	// Expiring are the mounted object versions that expire within the warning window
	// (or have expired).
	Expiring []Expiring
	// Selected says, per selector, what it matched and what it left out.
	Selected []Selected
}

// Skipped is an optional object that was not mounted.
type Skipped struct {
	Index  int // objects.array index
	Type   vocab.ObjectType
	Name   string
	Vault  string
	Reason string // diag.MissingNotFound or diag.MissingDisabled
}

// Expiring is a mounted object version that expires soon, or has expired.
type Expiring struct {
	Type    vocab.ObjectType
	Name    string
	Vault   string
	Version string
	Expires time.Time
}

// Selected is what one selector entry matched.
type Selected struct {
	Index    int // objects.array index
	Vault    string
	Matched  int
	Disabled []string // matching secrets left out: disabled
	Expired  []string // matching secrets left out: expired by their exp attribute
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
