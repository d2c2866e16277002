package diag_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// FuzzExplain feeds arbitrary Key Vault answers and error texts through Explain: it
// must not panic, must answer in one bounded line, and must not repeat a JWT.
func FuzzExplain(f *testing.F) {
	f.Add(403, kvBody("Forbidden", "ForbiddenByRbac", rbacMessage("Microsoft.KeyVault/vaults/secrets/getSecret/action")), "nmi response failed with status code: 403", "secret")
	f.Add(404, kvBody("SecretNotFound", "", "A secret with (name/id) db was not found in this key vault."), "", "cert")
	f.Add(429, `{"error":{"code":"Throttled"}}`, "Get \"https://x\": Bad Gateway", "key")
	f.Add(401, `not json `+saToken, "AADSTS700211: issuer "+saToken, "secret")
	f.Add(500, "", "nmi did not return expected values in response", "")
	f.Fuzz(func(t *testing.T, status int, body, text, objectType string) {
		if status < 100 || status > 599 {
			status = 500
		}
		req, _ := http.NewRequest(http.MethodGet, "https://"+testVault+".vault.azure.net/secrets/db/versions?api-version=7.6", nil)
		resp := &http.Response{StatusCode: status, Status: fmt.Sprint(status), Header: http.Header{"Retry-After": {text}},
			Body: io.NopCloser(strings.NewReader(body)), Request: req}
		c := wiContext()
		c.ObjectType = vocab.ObjectType(objectType)
		for _, err := range []error{
			runtime.NewResponseError(resp),
			errors.New(text),
			&url.Error{Op: "Get", URL: "https://" + text, Err: errors.New(text)},
		} {
			got := diag.Explain(err, c)
			msg := got.Error()
			if strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("not one line: %q", msg)
			}
			if len(msg) > 3000 {
				t.Fatalf("message of %d bytes", len(msg))
			}
			if strings.Contains(msg, saToken) {
				t.Fatalf("a token came through: %q", msg)
			}
			if diag.Classify(got).Code().String() == "" {
				t.Fatal("no code")
			}
		}
	})
}
