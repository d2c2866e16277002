// Package diag classifies failures into a small set of kinds, each with a gRPC code,
// a bounded metrics label and, where one is known, the fix to suggest to the user.
package diag

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"google.golang.org/grpc/codes"

	"github.com/kvcsi/kvcsi/provider/format"
)

// Kind is what went wrong, independent of where.
type Kind int

const (
	KindUnknown Kind = iota
	KindInvalid
	KindUnauthenticated
	KindPermissionDenied
	KindNotFound
	KindThrottled
	KindUnavailable
	KindDeadline
	KindInternal
)

var kindNames = map[Kind]string{
	KindUnknown:          "unknown",
	KindInvalid:          "invalid_argument",
	KindUnauthenticated:  "unauthenticated",
	KindPermissionDenied: "permission_denied",
	KindNotFound:         "not_found",
	KindThrottled:        "throttled",
	KindUnavailable:      "unavailable",
	KindDeadline:         "deadline_exceeded",
	KindInternal:         "internal",
}

// String is a bounded label value for metrics and MountResponse.Error.Code.
func (k Kind) String() string { return kindNames[k] }

// Code is the gRPC status code for the kind.
func (k Kind) Code() codes.Code {
	switch k {
	case KindInvalid:
		return codes.InvalidArgument
	case KindUnauthenticated:
		return codes.Unauthenticated
	case KindPermissionDenied:
		return codes.PermissionDenied
	case KindNotFound:
		return codes.NotFound
	case KindThrottled:
		return codes.ResourceExhausted
	case KindUnavailable:
		return codes.Unavailable
	case KindDeadline:
		return codes.DeadlineExceeded
	case KindInternal:
		return codes.Internal
	}
	return codes.Unknown
}

// Error attaches a kind (and optionally a fix and a server-requested wait) to an error.
type Error struct {
	Kind Kind
	Err  error
	// Msg, when set, is what went wrong in one line, shown instead of Err's text (which
	// for Azure SDK errors spans many lines); Err stays reachable with errors.As.
	Msg        string
	Fix        string        // one sentence telling the user what to change; may be empty
	RetryAfter time.Duration // for KindThrottled: the wait the service asked for
}

func (e *Error) Error() string {
	msg := e.Msg
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Fix != "" {
		msg += "; fix: " + e.Fix
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// New wraps err with a kind and a fix.
func New(kind Kind, err error, fix string) error {
	return &Error{Kind: kind, Err: err, Fix: fix}
}

// Classify returns the kind of err: an explicit *Error wins, then context, Entra ID and
// IMDS token failures, Key Vault HTTP status, rendering failures and transport
// failures. A host name that does not resolve is KindNotFound (retrying will not make
// it exist); other transport failures are KindUnavailable. Credential failures that
// only Explain reads (aad-pod-identity's NMI answers, which the credential has already
// retried) stay KindUnknown here, so that callers deciding on retries leave them alone.
func Classify(err error) Kind {
	if err == nil {
		return KindUnknown
	}
	var de *Error
	if errors.As(err, &de) && de.Kind != KindUnknown {
		return de.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindDeadline
	}
	if errors.Is(err, context.Canceled) {
		return KindUnavailable
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		if afe.RawResponse != nil && afe.RawResponse.StatusCode == http.StatusTooManyRequests {
			return KindThrottled
		}
		return KindUnauthenticated
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return kindForStatus(re.StatusCode)
	}
	var fe *format.Error
	if errors.As(err, &fe) {
		return KindInvalid
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return KindNotFound
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return KindDeadline
		}
		return KindUnavailable
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return KindUnavailable
	}
	return KindUnknown
}

func kindForStatus(status int) Kind {
	switch {
	case status == http.StatusBadRequest:
		return KindInvalid
	case status == http.StatusUnauthorized:
		return KindUnauthenticated
	case status == http.StatusForbidden:
		return KindPermissionDenied
	case status == http.StatusNotFound:
		return KindNotFound
	case status == http.StatusTooManyRequests:
		return KindThrottled
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return KindDeadline
	case status >= 500:
		return KindUnavailable
	}
	return KindUnknown
}
