// Package sensitive holds the string type used for every secret-bearing value
// (tokens, client secrets, secret contents) so that no formatting path can print it.
package sensitive

import (
	"fmt"
	"log/slog"
)

const redacted = "[REDACTED]"

// String is a secret value. Every way Go, klog, slog or encoding/json has of
// printing it yields "[REDACTED]"; call Reveal to use the value.
type String string

// Reveal returns the secret value. Call it only where the value is sent to its
// rightful destination (an HTTP request body, a file's contents).
func (s String) Reveal() string { return string(s) }

// IsEmpty reports whether no value is set, without revealing it.
func (s String) IsEmpty() bool { return s == "" }

func (s String) String() string   { return redacted }
func (s String) GoString() string { return redacted }

// Format covers %v, %+v, %#v, %s, %q, %x and every other verb.
func (s String) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (s String) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (s String) LogValue() slog.Value         { return slog.StringValue(redacted) }
