package format

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kvcsi/kvcsi/provider/vocab"
)

// Error is what Render returns when an object cannot be written as requested. It
// names the object, says what is wrong and, where there is one, what to change.
// It never carries any part of the object's content.
type Error struct {
	Type   vocab.ObjectType
	Object string // Fetched.Name
	Reason string // what is wrong
	Fix    string // what to change; may be empty
	Err    error  // the underlying cause, if any; its text holds no content either
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q: %s", e.Type, e.Object, e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Fix != "" {
		// The one format of a fix across kvcsi's messages (diag.Error's).
		b.WriteString("; fix: ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Sentinel causes, for errors.Is.
var (
	// ErrNotJSON: the secret value is not a JSON document (ExtractJSON).
	ErrNotJSON = errors.New("the secret value is not valid JSON")
	// ErrNoMatch: a JMESPath expression evaluated to null (ExtractJSON).
	ErrNoMatch = errors.New("the expression matched nothing (null)")
	// ErrPFXPassword: the PFX is protected by a password other than the empty one.
	ErrPFXPassword = errors.New("the PFX is protected by a password")
	// ErrChainCycle: the certificates' key identifiers form a cycle (OrderChain).
	ErrChainCycle = errors.New("constructing chain resulted in cycle")
	// ErrNoLeaf: every certificate is the issuer of another one, or there is none (OrderChain).
	ErrNoLeaf = errors.New("no leaf found")
)
