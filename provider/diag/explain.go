package diag

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/kvcsi/kvcsi/provider/format"
	"github.com/kvcsi/kvcsi/provider/heuristics"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// Context is what is known about a failing object when explaining its error. It holds
// no secret: token claims only, never the token.
type Context struct {
	ObjectType                vocab.ObjectType
	ObjectName, ObjectVersion string
	Vault                     string // vault name
	VaultURL                  string
	IdentityMode              vocab.IdentityMode
	ClientID                  string
	TenantID                  string
	// Token holds the claims of the pod's service-account token (workload identity and
	// identity binding); nil otherwise.
	Token *TokenClaims
	// Now is the clock for "the token expired … ago"; nil means time.Now.
	Now func() time.Time
}

// imdsHost is the instance metadata service's address.
const imdsHost = "169.254.169.254"

// TokenClaims are the service-account token's non-secret claims.
type TokenClaims struct {
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time
}

// Explain classifies err and says, in one line, what went wrong for the object and
// what to change: Entra ID, IMDS and NMI token failures (with the service-account
// token's issuer and subject when no federated credential matches), Key Vault answers
// (which identity lacks which permission and the role that grants it; object, version
// or vault not found; throttling with the wait asked for), unreachable or unknown hosts
// and deadlines. Multi-line SDK error dumps are condensed to status, error code and
// message. It keeps the substrings users grep for (AADSTS codes, "nmi response failed
// with status code:", Key Vault error codes) and never adds a token or a secret.
//
// The result is an *Error whose Err is err itself, so errors.Is/As still see the cause.
// An *Error already in err's chain keeps its kind, fix and wait.
func Explain(err error, c Context) error {
	if err == nil {
		return nil
	}
	var prior *Error
	if errors.As(err, &prior) && prior.Msg != "" {
		return err // already explained
	}
	x := explain(err, c)
	if prior != nil {
		if prior.Kind != KindUnknown {
			x.Kind = prior.Kind
		}
		if prior.Fix != "" {
			x.Fix = prior.Fix
		}
		x.RetryAfter = prior.RetryAfter
		if prior.Err != nil {
			// The producer's own words, condensed, naming the vault if they say "Key Vault".
			x.Msg = oneLine(prior.Err)
			if rest, ok := strings.CutPrefix(x.Msg, "Key Vault "); ok && c.Vault != "" && !strings.HasPrefix(rest, c.Vault+" ") {
				x.Msg = "Key Vault " + c.Vault + " " + rest
			}
		}
	}
	x.Err = err
	x.Msg = strings.TrimSuffix(clean(x.Msg), ".")
	x.Fix = strings.TrimSuffix(clean(x.Fix), ".")
	return x
}

// explain builds the kind, message and fix for the cause of err.
func explain(err error, c Context) *Error {
	var afe *azidentity.AuthenticationFailedError
	var re *azcore.ResponseError
	var fe *format.Error
	switch {
	case errors.As(err, &afe):
		a := parseAuth(afe)
		if c.IdentityMode == vocab.VMManagedIdentity || a.host == imdsHost {
			return explainIMDS(a, c)
		}
		return explainEntra(a, c)
	case errors.As(err, &re):
		return explainKeyVault(re, c)
	}
	if nf, ok := asNMI(err); ok {
		return explainNMI(err, nf, c)
	}
	switch {
	case errors.As(err, &fe):
		// The fix moves from the rendering error's text to the explained error's.
		msg := err.Error()
		if fe.Fix != "" {
			msg = strings.Replace(msg, fe.Error(), strings.TrimSuffix(fe.Error(), "; fix: "+fe.Fix), 1)
		}
		return &Error{Kind: KindInvalid, Msg: msg, Fix: fe.Fix}
	}
	if x := explainContext(err, c); x != nil {
		return x
	}
	if x := explainTransport(err, c); x != nil {
		return x
	}
	if heuristics.ChallengeResourceMismatch(err) {
		return &Error{Kind: KindInvalid, Msg: oneLine(err),
			Fix: fmt.Sprintf("check cloudName: vault %s answered with the authentication challenge of another cloud", c.vaultHost())}
	}
	if heuristics.ManagedIdentityCredential(err) {
		// azidentity reports some IMDS answers (a system-assigned identity that is
		// not there) as "credential unavailable", with the body in the text.
		return explainIMDS(parseIMDSText(err), c)
	}
	return &Error{Kind: Classify(err), Msg: oneLine(err)}
}

// who names the identity in a sentence.
func (c Context) who() string {
	id := func(s string) string {
		if c.ClientID == "" {
			return s
		}
		return s + " (client ID " + c.ClientID + ")"
	}
	switch c.IdentityMode {
	case vocab.WorkloadIdentity, vocab.ServicePrincipal, vocab.IdentityBinding:
		return id(c.IdentityMode.String())
	case vocab.VMManagedIdentity:
		if c.ClientID == "" {
			return "the node's system-assigned managed identity"
		}
		return "the node's user-assigned managed identity (client ID " + c.ClientID + ")"
	case vocab.PodIdentity:
		return "the pod's aad-pod-identity identity"
	}
	return id("the identity")
}

func (c Context) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// vaultHost is the vault's DNS name, from VaultURL.
func (c Context) vaultHost() string {
	if u, err := url.Parse(c.VaultURL); err == nil && u.Host != "" {
		return strings.ToLower(u.Hostname())
	}
	return c.Vault
}

// vaultSuffix is the Key Vault DNS suffix the mount resolved from cloudName.
func (c Context) vaultSuffix() string {
	h := c.vaultHost()
	if _, suffix, ok := strings.Cut(h, "."); ok {
		return suffix
	}
	return ""
}

// object is `secret "db"` (or key, certificate).
func (c Context) object() string {
	return c.ObjectType.Noun() + " " + fmt.Sprintf("%q", c.ObjectName)
}

// audience is the audience of the service-account token the identity mode presents
// (workload identity's when the mode has none, for messages about federation).
func (c Context) audience() string {
	if a := c.IdentityMode.Audience(); a != "" {
		return a
	}
	return vocab.WorkloadIdentityAudience
}

func explainContext(err error, c Context) *Error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		// A producer that knows better (keyvault's request slots) says so with a
		// *Error, whose fix Explain keeps.
		fix := fmt.Sprintf("check that the node reaches %s and Entra ID quickly (network policy, firewall, proxy settings, DNS); kubelet retries the mount", c.vaultHost())
		return &Error{Kind: KindDeadline, Msg: "the mount's deadline passed before the object was fetched: " + oneLine(err), Fix: fix}
	case errors.Is(err, context.Canceled):
		return &Error{Kind: KindUnavailable, Msg: "the mount was cancelled by the driver before the object was fetched: " + oneLine(err)}
	}
	return nil
}
