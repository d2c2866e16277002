package diag

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/kvcsi/kvcsi/provider/heuristics"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// Reasons an optional object is skipped (bounded metric label values).
const (
	MissingNotFound = "not_found"
	MissingDisabled = "disabled"
)

// MissingObject reports whether err is Key Vault's answer that the object does not
// exist (404) or is disabled (403 with a disabled-object error), the only failures an
// optional object is skipped on; reason is MissingNotFound or MissingDisabled. Every
// other failure — a missing permission, throttling, a 5xx, a transport error, a vault
// name that does not resolve — is not.
func MissingObject(err error) (reason string, ok bool) {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return "", false
	}
	switch re.StatusCode {
	case http.StatusNotFound:
		return MissingNotFound, true
	case http.StatusForbidden:
		_, inner, text := kvDetails(re)
		if heuristics.KeyVaultObjectDisabled(inner, text) {
			return MissingDisabled, true
		}
	}
	return "", false
}

// Validity is an object's validity window as Key Vault and the certificate say; a zero
// time is no bound.
type Validity struct {
	NotBefore, Expires time.Time
}

// Refused is the error of an object that refuseExpired keeps out of the volume because
// it is expired or not yet valid at now.
func Refused(t vocab.ObjectType, name, vault string, v Validity, now time.Time) error {
	when := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	obj := fmt.Sprintf("%s %q in vault %s", t.Noun(), name, vault)
	switch {
	case !v.Expires.IsZero() && !now.Before(v.Expires):
		return &Error{Kind: KindInvalid, Err: fmt.Errorf("%s expired at %s (refuseExpired is set)", obj, when(v.Expires)),
			Fix: fmt.Sprintf("add a new version of the %s with a later expiry date (exp) in Key Vault, or remove refuseExpired to mount it anyway", t.Noun())}
	case !v.NotBefore.IsZero() && now.Before(v.NotBefore):
		return &Error{Kind: KindInvalid, Err: fmt.Errorf("%s is not valid before %s (refuseExpired is set)", obj, when(v.NotBefore)),
			Fix: fmt.Sprintf("wait until %s, set an earlier activation date (nbf) on the %s in Key Vault, or remove refuseExpired", when(v.NotBefore), t.Noun())}
	}
	return nil
}

// isListAll reports whether a Key Vault request path is a list of every object of a
// kind (a selector's listing), not of one object's versions.
func isListAll(path string) bool {
	p := strings.Trim(path, "/")
	return p == "secrets" || p == "keys" || p == "certificates"
}
