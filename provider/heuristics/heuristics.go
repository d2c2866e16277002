// Package heuristics is the one place where kvcsi reads meaning out of third-party error
// texts: the Azure SDK's, net/http's and the YAML parser's. Each heuristic is a named
// function here, pinned by a test that produces the real error with the real library and
// breaks when the upstream text changes. kvcsi's own errors are typed and inspected with
// errors.Is/As instead; nothing outside this package matches error text.
package heuristics

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// --- YAML parser (go.yaml.in/yaml/v3) ---

// YAMLErrorLine is the line number a YAML error names, or 0. The parser has no typed
// error for syntax errors: its text is "yaml: line <n>: <problem>". A *yaml.TypeError
// is typed, but its entries are texts too: "line <n>: cannot unmarshal …"; the first
// one's line is returned.
func YAMLErrorLine(err error) int {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			if n := lineNumber(e); n > 0 {
				return n
			}
		}
		return 0
	}
	if err == nil {
		return 0
	}
	return lineNumber(strings.TrimPrefix(err.Error(), "yaml: "))
}

// lineNumber reads "line <n>: …".
func lineNumber(s string) int {
	rest, ok := strings.CutPrefix(s, "line ")
	if !ok {
		return 0
	}
	digits, _, ok := strings.Cut(rest, ":")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// --- JMESPath (github.com/jmespath-community/go-jmespath) ---

// JMESPathArgumentType reports whether a JMESPath evaluation error is the interpreter's
// "invalid type for: <value>" — a function argument of the wrong type. Its text quotes
// the offending value, which is secret content, so callers replace it.
func JMESPathArgumentType(err error) bool {
	return err != nil && strings.Contains(err.Error(), "invalid type for:")
}

// --- Azure SDK (azcore, azidentity) and net/http ---

// ChallengeResourceMismatch reports whether err is the Key Vault clients' refusal of a
// 401 challenge whose resource is not the vault's domain (a vault answering with the
// challenge of another cloud): `challenge resource "…" doesn't match the requested
// domain`. The SDK returns it as a plain error.
func ChallengeResourceMismatch(err error) bool {
	return err != nil && strings.Contains(err.Error(), "challenge resource")
}

// ManagedIdentityCredential reports whether err is azidentity's managed identity
// credential speaking in text: some IMDS answers (a system-assigned identity that is not
// there) come back as "credential unavailable", a plain error prefixed
// "ManagedIdentityCredential", with no response attached.
func ManagedIdentityCredential(err error) bool {
	return err != nil && strings.Contains(err.Error(), "ManagedIdentityCredential")
}

// ManagedIdentityAnswer returns the JSON that IMDS answered, as azidentity quotes it in
// such an error: "… The endpoint responded with {"error":…}".
func ManagedIdentityAnswer(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	const marker = "responded with "
	s := err.Error()
	i := strings.Index(s, marker)
	if i < 0 {
		return "", false
	}
	return s[i+len(marker):], true
}

// ProxyRefusal returns the status text of a proxy's refusal of a CONNECT: net/http
// reports it as an error whose text is the bare status text of the proxy's answer
// ("Bad Gateway"), with no cause of its own.
func ProxyRefusal(err error) (string, bool) {
	if err == nil || errors.Unwrap(err) != nil {
		return "", false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return "", false
	}
	text := err.Error()
	for code := 400; code < 600; code++ {
		if t := http.StatusText(code); t != "" && t == text {
			return text, true
		}
	}
	return "", false
}

// TLSVerificationFailed reports whether err is about a server certificate that did not
// verify. crypto/tls's error is typed where the chain keeps it (net/http); azidentity's
// errors keep only its text ("tls: failed to verify certificate: x509: …").
func TLSVerificationFailed(err error) bool {
	if err == nil {
		return false
	}
	var cve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "x509:") || strings.Contains(s, "failed to verify certificate")
}

var aadstsRE = regexp.MustCompile(`AADSTS(\d+)`)

// AADSTSCode finds the first Entra ID error code ("AADSTS<n>") in a text: an error
// description, or the text of an azidentity error that carries no response (MSAL's
// authority resolution quotes Entra ID's answer in its message).
func AADSTSCode(text string) (int, bool) {
	m := aadstsRE.FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

var aadstsPrefixRE = regexp.MustCompile(`^AADSTS\d+:\s*`)

// EntraFirstSentence is what an Entra ID error description says before its advice:
// without the leading "AADSTS<n>: ", cut at " Trace ID:" (then correlation ID and
// timestamp) and after the first sentence, without its final period.
func EntraFirstSentence(desc string) string {
	s := aadstsPrefixRE.ReplaceAllString(strings.TrimSpace(desc), "")
	if i := strings.Index(s, " Trace ID:"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

// IMDSIdentityNotFound reports whether an IMDS error description says that the identity
// asked for is not on the node ("Identity not found").
func IMDSIdentityNotFound(desc string) bool {
	return strings.Contains(strings.ToLower(desc), "identity not found")
}

// IMDSMultipleIdentities reports whether an IMDS error description says that the node
// has several user-assigned identities and the request chose none ("Multiple user
// assigned identities exist, please specify the clientId / resourceId of the identity
// in the token request").
func IMDSMultipleIdentities(desc string) bool {
	return strings.Contains(strings.ToLower(desc), "multiple user assigned identities exist")
}

// rulesRE matches the lines of dashes that separate the sections of azcore's and
// azidentity's multi-line error texts.
var rulesRE = regexp.MustCompile(`-{8,}`)

// StripSDKRules replaces the separator lines of azcore's and azidentity's error texts
// with a space.
func StripSDKRules(s string) string {
	return rulesRE.ReplaceAllString(s, " ")
}

// KeyVaultMessageCut is a Key Vault error message up to its usual advice (" If you
// recently deleted…", " For help resolving this issue…", " If role assignments…").
func KeyVaultMessageCut(msg string) string {
	for _, cut := range []string{" If you recently deleted", " For help resolving this issue", " If role assignments"} {
		if i := strings.Index(msg, cut); i >= 0 {
			msg = msg[:i]
		}
	}
	return msg
}

var (
	kvAppIDRE  = regexp.MustCompile(`appid=([0-9A-Za-z-]+)`)
	kvActionRE = regexp.MustCompile(`Action: '([^']+)'`)
	kvAuthRE   = regexp.MustCompile(`AKV\d+|\[TokenExpired\]`)
)

// KeyVaultCaller is the client ID a Key Vault 403 message names as the caller
// ("Caller: appid=<client ID>;oid=…", for RBAC and access policies alike).
func KeyVaultCaller(msg string) (string, bool) {
	m := kvAppIDRE.FindStringSubmatch(msg)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// KeyVaultDataAction is the data action an RBAC 403 message names ("Action: '…'").
func KeyVaultDataAction(msg string) (string, bool) {
	m := kvActionRE.FindStringSubmatch(msg)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// KeyVaultTokenError is the reason code of a Key Vault 401 message ("AKV10032",
// "[TokenExpired]"), "" if it has none.
func KeyVaultTokenError(msg string) string {
	return kvAuthRE.FindString(msg)
}

// kvAPIVersionRE matches Key Vault's answer to an api-version it does not serve.
var kvAPIVersionRE = regexp.MustCompile(`The specified version \(([^)]*)\) is not recognized\. Consider using the latest supported version \(([^)]*)\)`)

// KeyVaultUnsupportedAPIVersion reads Key Vault's 400 BadParameter for an api-version
// it does not serve ("The specified version (7.3) is not recognized. Consider using the
// latest supported version (7.1)."): the version sent and the latest the vault names.
func KeyVaultUnsupportedAPIVersion(msg string) (sent, latest string, ok bool) {
	m := kvAPIVersionRE.FindStringSubmatch(msg)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// KeyVaultObjectDisabled reports whether a Key Vault 403 is about a disabled object:
// an inner error code ending in "Disabled" (SecretDisabled, …), or a message that says so.
func KeyVaultObjectDisabled(innerCode, msg string) bool {
	return strings.HasSuffix(innerCode, "Disabled") || strings.Contains(strings.ToLower(innerCode+" "+msg), "disabled")
}

// KeyVaultNetworkBlocked reports whether a Key Vault 403 comes from the vault's network
// rules: inner code ForbiddenByFirewall or ForbiddenByConnection, or "Client address is
// not authorized" in the message.
func KeyVaultNetworkBlocked(innerCode, msg string) bool {
	return innerCode == "ForbiddenByFirewall" || innerCode == "ForbiddenByConnection" ||
		strings.Contains(strings.ToLower(innerCode+" "+msg), "client address is not authorized")
}
