package diag

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/kvcsi/kvcsi/provider/heuristics"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// The tenant in a 401 challenge (a header, not error text):
// authorization="https://<login host>/<tenant>".
var challengeTenantRE = regexp.MustCompile(`(?:authorization|authorization_uri)="https://[^/"]+/([^/"]+)`)

// role is the built-in role with the data actions a mount needs for an object type.
func role(objectType vocab.ObjectType) string {
	switch objectType {
	case vocab.Key:
		return "Key Vault Crypto User"
	case vocab.Cert:
		return "Key Vault Certificate User"
	}
	return "Key Vault Secrets User"
}

// explainKeyVault explains a Key Vault error answer.
func explainKeyVault(re *azcore.ResponseError, c Context) *Error {
	code, inner, text := kvDetails(re)
	first := firstLine(text)
	list, listAll := false, false
	if re.RawResponse != nil && re.RawResponse.Request != nil {
		p := re.RawResponse.Request.URL.Path
		list = strings.HasSuffix(strings.TrimSuffix(p, "/"), "/versions")
		listAll = isListAll(p)
		list = list || listAll
	}
	answer := condenseStatus(re.StatusCode, code, inner, first)
	x := &Error{Kind: kindForStatus(re.StatusCode)}
	switch re.StatusCode {
	case http.StatusUnauthorized:
		x.Msg = fmt.Sprintf("Key Vault %s rejected the token of %s: %s", c.Vault, c.who(), answer)
		x.Fix = c.rejectedTokenFix(re, first)
	case http.StatusForbidden:
		x.Msg, x.Fix = c.forbidden(code, inner, text, answer, list, listAll)
	case http.StatusNotFound:
		x.Msg, x.Fix = c.notFound(code, answer, list)
	case http.StatusTooManyRequests:
		wait, _ := retryAfterOf(re, c.now())
		x.Msg = fmt.Sprintf("Key Vault %s is throttling requests: %s", c.Vault, answer)
		x.Fix = "reduce the load on this vault: fewer pods or objects reading it, or a longer rotation poll interval of the driver"
		if wait > 0 {
			x.Msg += fmt.Sprintf(" (it asked to retry after %s)", wait)
			x.Fix = fmt.Sprintf("retry after %s, and %s", wait, x.Fix)
			x.RetryAfter = wait
		}
	case http.StatusBadRequest:
		x.Msg = fmt.Sprintf("Key Vault %s refused the request for %s: %s", c.Vault, c.object(), answer)
		x.Fix = "check objectName and objectVersion (names are 1–127 characters [0-9a-zA-Z-], versions 32 hex characters)"
		if sent, latest, ok := heuristics.KeyVaultUnsupportedAPIVersion(first); ok {
			x.Fix = fmt.Sprintf("the vault does not serve the Key Vault api-version %s that kvcsi sent: set the SecretProviderClass parameter keyvaultAPIVersion to one it serves (it names %s as its latest; Azure Stack Hub serves 7.1)", sent, latest)
		}
	default:
		x.Msg = fmt.Sprintf("Key Vault %s answered %s", c.Vault, answer)
		if re.StatusCode >= 500 || re.StatusCode == http.StatusRequestTimeout {
			x.Fix = "Key Vault had a transient failure; kubelet retries the mount"
		}
	}
	return x
}

// condenseStatus is "<status> <code> (<inner>): <message>".
func condenseStatus(status int, code, inner, msg string) string {
	s := strconv.Itoa(status)
	if code != "" {
		s += " " + code
	}
	if inner != "" && inner != code {
		s += " (" + inner + ")"
	}
	if msg != "" {
		s += ": " + msg
	}
	return s
}

// firstLine is the first line of a Key Vault message, without its help link.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(clean(heuristics.KeyVaultMessageCut(s)), ".")
}

func (c Context) rejectedTokenFix(re *azcore.ResponseError, msg string) string {
	akv := heuristics.KeyVaultTokenError(msg)
	vaultTenant := ""
	if re.RawResponse != nil {
		if m := challengeTenantRE.FindStringSubmatch(re.RawResponse.Header.Get("WWW-Authenticate")); m != nil {
			vaultTenant = m[1]
		}
	}
	switch akv {
	case "AKV10032":
		where := "another tenant"
		if vaultTenant != "" {
			where = "tenant " + vaultTenant
		}
		if c.IdentityMode == vocab.VMManagedIdentity || c.IdentityMode == vocab.PodIdentity {
			return fmt.Sprintf("vault %s is in %s, but a managed identity only gets tokens from its own tenant: use an identity of that tenant, or workload identity with a multi-tenant app that has a service principal there", c.Vault, where)
		}
		return fmt.Sprintf("vault %s is in %s and the token was issued by another: the identity must exist in the vault's tenant", c.Vault, where)
	case "AKV10022":
		return fmt.Sprintf("the token is for another cloud's Key Vault: check cloudName (this mount uses %s)", c.vaultSuffix())
	case "[TokenExpired]":
		return "Key Vault found the access token expired: check the node's clock"
	}
	return "check that the identity's tenant is the vault's and that cloudName matches the vault's cloud"
}

// forbidden explains a 403: disabled object, network rules, or a missing permission.
func (c Context) forbidden(code, inner, text, answer string, list, listAll bool) (msg, fix string) {
	switch {
	case heuristics.KeyVaultObjectDisabled(inner, text):
		msg = fmt.Sprintf("%s in vault %s is disabled: %s", c.object(), c.Vault, answer)
		fix = "enable the object's version in Key Vault, or set objectVersion to an enabled version"
		if c.ObjectVersion == "" {
			fix = "enable the object's latest version in Key Vault, or set objectVersion to an enabled version"
		}
		return msg, fix
	case heuristics.KeyVaultNetworkBlocked(inner, text):
		msg = fmt.Sprintf("the network rules of vault %s block this node: %s", c.Vault, answer)
		fix = fmt.Sprintf("allow the nodes' outbound IP addresses or subnet in the networking settings of vault %s, or reach it through a private endpoint", c.Vault)
		return msg, fix
	}
	clientID := c.ClientID
	if id, ok := heuristics.KeyVaultCaller(text); ok {
		clientID = id
	}
	perm := "get"
	if list {
		perm = "list"
	}
	who := c.who()
	if clientID != "" && clientID != c.ClientID {
		who += " (client ID " + clientID + ")"
	}
	action := ""
	if a, ok := heuristics.KeyVaultDataAction(text); ok {
		action = " (data action " + a + ")"
	}
	what := c.object()
	if listAll {
		what = "the secrets (a selector lists them)"
	}
	msg = fmt.Sprintf("%s lacks the %s permission on %s in vault %s: %s%s", who, perm, what, c.Vault, answer, action)
	subject := "client ID " + clientID
	if clientID == "" {
		subject = "the identity"
	}
	rbac := fmt.Sprintf("assign %s the built-in role %q on vault %s (or on the %s alone)", subject, role(c.ObjectType), c.Vault, c.ObjectType.Noun())
	policy := fmt.Sprintf("give %s the %s permission %q in the access policies of vault %s", subject, c.ObjectType.Noun(), perm, c.Vault)
	switch {
	case listAll:
		// A selector lists the secrets, then gets each match.
		rbac = fmt.Sprintf("assign %s the built-in role %q on vault %s (a selector lists the vault's secrets, so a role on single secrets is not enough)", subject, role(c.ObjectType), c.Vault)
		policy = fmt.Sprintf("give %s the %s permissions \"get\" and \"list\" in the access policies of vault %s (a selector lists the vault's secrets)", subject, c.ObjectType.Noun(), c.Vault)
	case list:
		// objectVersionHistory lists the versions, then gets each.
		policy = fmt.Sprintf("give %s the %s permissions \"get\" and \"list\" in the access policies of vault %s (objectVersionHistory lists versions)", subject, c.ObjectType.Noun(), c.Vault)
	}
	switch inner {
	case "ForbiddenByRbac":
		fix = rbac
	case "ForbiddenByPolicy", "AccessDenied":
		fix = policy
	default:
		fix = rbac + "; if the vault uses access policies instead of Azure RBAC, " + policy
	}
	return msg, fix
}

// notFound explains a 404: the object or the version does not exist.
func (c Context) notFound(code, answer string, list bool) (msg, fix string) {
	vaultFix := fmt.Sprintf("check objectName and objectType (a Key Vault certificate is objectType: cert, its private key and chain objectType: secret) and that vault %s holds it; a deleted object must be recovered first", c.Vault)
	if c.ObjectVersion != "" && !list && !strings.EqualFold(c.ObjectVersion, "latest") {
		msg = fmt.Sprintf("version %s of %s was not found in vault %s: %s", c.ObjectVersion, c.object(), c.Vault, answer)
		fix = fmt.Sprintf("set objectVersion to an existing version of the %s (its 32-character version ID), or remove objectVersion to mount the latest; if the %s itself is missing, check objectName, objectType and keyvaultName", c.ObjectType.Noun(), c.ObjectType.Noun())
		return msg, fix
	}
	msg = fmt.Sprintf("%s was not found in vault %s: %s", c.object(), c.Vault, answer)
	return msg, vaultFix
}

// retryAfterOf reads the wait Key Vault asked for, rounded for a message.
func retryAfterOf(re *azcore.ResponseError, now time.Time) (time.Duration, bool) {
	if re.RawResponse == nil {
		return 0, false
	}
	d, ok := RetryAfter(re.RawResponse.Header, now)
	return RoundWait(d), ok
}
