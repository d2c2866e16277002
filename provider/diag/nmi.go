package diag

import (
	"net/http"
	"regexp"
	"strconv"
)

// The aad-pod-identity (NMI) credential's error texts, kept from the Azure provider
// (users grep for them); the credential returns them as plain errors.
const (
	nmiStatusText    = "nmi response failed with status code: "
	nmiMissingValues = "nmi did not return expected values in response"
)

var nmiStatusRE = regexp.MustCompile(`nmi response failed with status code: (\d{3})`)

// nmiStatus finds the HTTP status of an NMI answer in err's text.
func nmiStatus(err error) (int, bool) {
	m := nmiStatusRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	n, convErr := strconv.Atoi(m[1])
	return n, convErr == nil
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
