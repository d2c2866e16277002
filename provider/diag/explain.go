package diag

import "time"

// Context is what is known about a failing object when explaining its error. It holds
// no secret: token claims only, never the token.
type Context struct {
	ObjectType, ObjectName, ObjectVersion string
	Vault                                 string // vault name
	VaultURL                              string
	IdentityMode                          string // "workload identity", "service principal", …
	ClientID                              string
	TenantID                              string
	// Token holds the claims of the pod's service-account token (workload identity and
	// identity binding); nil otherwise.
	Token *TokenClaims
}

// TokenClaims are the service-account token's non-secret claims.
type TokenClaims struct {
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time
}

// Explain classifies err and attaches the fix the user needs, in one line. It keeps the
// substrings users grep for and never adds a secret.
func Explain(err error, c Context) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*Error); ok {
		return err
	}
	return &Error{Kind: Classify(err), Err: err}
}
