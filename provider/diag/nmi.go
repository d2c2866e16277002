package diag

import (
	"errors"
	"net/http"
)

// nmiFailure is a failed token request to aad-pod-identity's NMI, as the pod-identity
// credential returns it (auth.NMIError, whose text is the Azure provider's). NMIStatus
// is the HTTP status of NMI's answer: 0 when NMI did not answer, 200 when it answered
// without a token or client ID. Declared here, where it is read, so that diag need not
// import auth.
type nmiFailure interface {
	error
	NMIStatus() int
}

// asNMI finds an NMI failure in err's chain.
func asNMI(err error) (nmiFailure, bool) {
	var nf nmiFailure
	return nf, errors.As(err, &nf)
}

func nmiKind(status int) Kind {
	switch {
	case status == http.StatusTooManyRequests:
		return KindThrottled
	case status >= 500:
		return KindUnavailable
	case status == http.StatusRequestTimeout:
		return KindDeadline
	}
	// 400 (headers missing), 403/404 (no identity assigned to the pod).
	return KindUnauthenticated
}
