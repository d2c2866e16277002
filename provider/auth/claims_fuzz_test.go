package auth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/provider/sensitive"
)

// FuzzServiceAccountTokenClaims reads the claims of arbitrary tokens: either the raw
// string, or a JWT built around an arbitrary payload. It must never panic, never quote
// the token or its signature in an error, and report exactly the issuer and subject the
// payload holds when it accepts one.
func FuzzServiceAccountTokenClaims(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	f.Add("", []byte(`{"iss":"https://oidc.example/","sub":"system:serviceaccount:ns:sa","aud":"api://AzureADTokenExchange","exp":1900000000}`), uint8(1))
	f.Add("", []byte(`{"aud":["a","b"],"iat":1.5e9,"kubernetes.io":{"namespace":"ns","pod":{"name":"p"},"serviceaccount":{"name":"sa"}}}`), uint8(1))
	f.Add("", []byte(`{"aud":42,"exp":"soon"}`), uint8(1))
	f.Add("", []byte(`{"exp":1e300,"iat":-1e300,"kubernetes.io":null}`), uint8(1))
	f.Add("eyJhbGciOiJSUzI1NiJ9."+enc([]byte(`{"sub":"x"}`))+"==.c2ln", []byte(nil), uint8(0))
	f.Add("not-a-jwt", []byte(nil), uint8(0))
	f.Add("a.b.c.d", []byte(nil), uint8(0))
	f.Add("e30.%%%.sig", []byte(nil), uint8(0))
	f.Fuzz(func(t *testing.T, raw string, payload []byte, mode uint8) {
		const sig = "c2lnbmF0dXJlLXNlY3JldC1mdXp6"
		token := raw
		if mode%2 == 1 {
			token = enc([]byte(`{"alg":"RS256"}`)) + "." + enc(payload) + "." + sig
		}
		c, err := ServiceAccountTokenClaims(sensitive.String(token))
		if err != nil {
			msg := err.Error()
			if len(token) >= 8 && strings.Contains(msg, token) {
				t.Fatalf("error quotes the token: %s", msg)
			}
			if mode%2 == 1 && strings.Contains(msg, sig) {
				t.Fatalf("error quotes the signature: %s", msg)
			}
			if c.Issuer != "" || c.Subject != "" || c.Audience != nil {
				t.Fatalf("claims with an error: %+v", c)
			}
			return
		}
		if mode%2 == 1 {
			var want struct {
				Iss string `json:"iss"`
				Sub string `json:"sub"`
			}
			if json.Unmarshal(payload, &want) == nil && (c.Issuer != want.Iss || c.Subject != want.Sub) {
				t.Fatalf("claims %+v, payload %s", c, payload)
			}
		}
		for _, ts := range []time.Time{c.Expiry, c.IssuedAt} {
			_ = ts.String() // any float maps to some time without panicking
		}
	})
}
