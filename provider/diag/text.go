package diag

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/kvcsi/kvcsi/provider/heuristics"
)

// maxMessage bounds one explained message: kubelet events and the driver's logs carry it.
const maxMessage = 1024

var (
	spaceRE = regexp.MustCompile(`\s+`)
	// jwtRE matches anything shaped like a JWT (header.payload.signature, base64url).
	jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*`)
	// tokenFieldRE matches JSON fields that carry tokens or secrets.
	tokenFieldRE = regexp.MustCompile(`"(access_token|refresh_token|id_token|token|client_secret|client_assertion|assertion)"\s*:\s*"[^"]*"`)
	// formSecretRE matches the same as form parameters.
	formSecretRE = regexp.MustCompile(`\b(client_secret|client_assertion|assertion|access_token)=[^&\s]*`)
)

// redact removes anything token- or secret-shaped from s. Messages are built only from
// non-secret fields in the first place; this is the belt to those braces.
func redact(s string) string {
	s = tokenFieldRE.ReplaceAllString(s, `"$1":"[REDACTED]"`)
	s = formSecretRE.ReplaceAllString(s, `$1=[REDACTED]`)
	return jwtRE.ReplaceAllString(s, "[REDACTED]")
}

// clean makes s one line: newlines, tabs and runs of spaces become one space, the
// separator rules of SDK error texts go, secrets are redacted and the length is bounded.
func clean(s string) string {
	s = heuristics.StripSDKRules(s)
	s = strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
	s = redact(s)
	return truncate(s, maxMessage)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// oneLine is err's text in one line, with every Azure SDK error in its chain (whose
// text is a multi-line dump of the HTTP response) replaced by its condensed form.
func oneLine(err error) string {
	s := err.Error()
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		s = strings.Replace(s, re.Error(), condenseResponse(re), 1)
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		s = strings.Replace(s, afe.Error(), condenseAuth(afe), 1)
	}
	return clean(s)
}

// kvBody is Key Vault's error shape.
type kvBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError *struct {
			Code string `json:"code"`
		} `json:"innererror"`
	} `json:"error"`
}

// kvDetails reads the error code, inner code and message of a Key Vault error answer.
func kvDetails(re *azcore.ResponseError) (code, inner, msg string) {
	code = re.ErrorCode
	if re.RawResponse == nil {
		return code, "", ""
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil || len(body) == 0 {
		return code, "", ""
	}
	var b kvBody
	if json.Unmarshal(body, &b) != nil {
		return code, "", clean(string(body))
	}
	if code == "" {
		code = b.Error.Code
	}
	if b.Error.InnerError != nil {
		inner = b.Error.InnerError.Code
	}
	return code, inner, b.Error.Message
}

// condenseResponse is an azcore.ResponseError as "<status> <code> (<inner code>): <message>".
func condenseResponse(re *azcore.ResponseError) string {
	code, inner, msg := kvDetails(re)
	var b strings.Builder
	b.WriteString(strconv.Itoa(re.StatusCode))
	if code != "" {
		b.WriteString(" " + code)
	}
	if inner != "" && inner != code {
		b.WriteString(" (" + inner + ")")
	}
	if msg = strings.TrimSuffix(heuristics.KeyVaultMessageCut(clean(msg)), "."); msg != "" {
		b.WriteString(": " + msg)
	}
	return b.String()
}

// aadBody is the OAuth error shape of Entra ID (and, with fewer fields, of IMDS).
type aadBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	TraceID     string `json:"trace_id"`
}

// aadError is what is known of a failed token request.
type aadError struct {
	status  int    // HTTP status, 0 if no response
	name    string // OAuth error, e.g. invalid_client
	code    int    // AADSTS code, 0 if none
	desc    string // first sentence of the description, without "AADSTSn: "
	traceID string
	host    string // the host that answered
	tenant  string // the tenant in the request path, if any
	text    string // the credential's own one-line message when there is no response
	tls     bool   // the request failed because a server certificate did not verify
}

// parseAuth reads a failed token request from azidentity's error.
func parseAuth(afe *azidentity.AuthenticationFailedError) aadError {
	a := aadError{tls: heuristics.TLSVerificationFailed(afe)}
	resp := afe.RawResponse
	if resp == nil {
		a.text = clean(afe.Error())
		a.code, _ = heuristics.AADSTSCode(a.text)
		return a
	}
	a.status = resp.StatusCode
	if resp.Request != nil && resp.Request.URL != nil {
		a.host = resp.Request.URL.Hostname()
		if seg, _, _ := strings.Cut(strings.TrimPrefix(resp.Request.URL.Path, "/"), "/"); seg != "" && seg != "metadata" {
			a.tenant = seg
		}
	}
	body, err := runtime.Payload(resp)
	if err != nil {
		return a
	}
	var b aadBody
	if json.Unmarshal(body, &b) != nil {
		a.desc = clean(string(body))
		return a
	}
	a.name, a.traceID = b.Error, b.TraceID
	desc := b.Description
	if len(b.Codes) > 0 {
		a.code = b.Codes[0]
	} else {
		a.code, _ = heuristics.AADSTSCode(desc)
	}
	a.desc = firstSentence(desc)
	return a
}

// firstSentence is an Entra ID (or IMDS) description in one line, up to its advice,
// links, trace and correlation IDs and timestamp.
func firstSentence(s string) string {
	return heuristics.EntraFirstSentence(clean(s))
}

// summary is "<status> <error> AADSTS<code>: <desc>" (what is known of it).
func (a aadError) summary() string {
	if a.status == 0 {
		return a.text
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(a.status))
	if a.name != "" {
		b.WriteString(" " + a.name)
	}
	switch {
	case a.code != 0:
		b.WriteString(": AADSTS" + strconv.Itoa(a.code))
		if a.desc != "" {
			b.WriteString(": " + a.desc)
		}
	case a.desc != "":
		b.WriteString(": " + a.desc)
	}
	return b.String()
}

// condenseAuth is an azidentity error in one line.
func condenseAuth(afe *azidentity.AuthenticationFailedError) string {
	a := parseAuth(afe)
	if a.status == 0 {
		return a.text
	}
	s := a.summary()
	if a.traceID != "" {
		s += " [trace ID " + a.traceID + "]"
	}
	return s
}

// quoteList quotes each of ss, comma-separated.
func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// parseIMDSText reads what azidentity's managed identity errors without a response
// say: "... The endpoint responded with {"error":…,"error_description":…}".
func parseIMDSText(err error) aadError {
	a := aadError{text: oneLine(err), tls: heuristics.TLSVerificationFailed(err)}
	if body, ok := heuristics.ManagedIdentityAnswer(err); ok {
		var b aadBody
		if json.NewDecoder(strings.NewReader(body)).Decode(&b) == nil {
			a.name, a.desc = b.Error, firstSentence(b.Description)
		}
	}
	return a
}
