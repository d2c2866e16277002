package auth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/provider/sensitive"
)

func fakeJWT(t *testing.T, claims map[string]any) sensitive.String {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return sensitive.String(enc([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + enc(b) + ".c2lnbmF0dXJlLXNlY3JldA")
}

func TestServiceAccountTokenClaims(t *testing.T) {
	tok := fakeJWT(t, map[string]any{
		"iss": "https://oidc.example/cluster",
		"sub": "system:serviceaccount:shop:web",
		"aud": []string{"api://AzureADTokenExchange"},
		"exp": 1900000000,
		"iat": 1899996400,
		"kubernetes.io": map[string]any{
			"namespace":      "shop",
			"pod":            map[string]any{"name": "web-0", "uid": "u1"},
			"serviceaccount": map[string]any{"name": "web", "uid": "u2"},
		},
	})
	c, err := ServiceAccountTokenClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{
		Issuer: "https://oidc.example/cluster", Subject: "system:serviceaccount:shop:web",
		Audience: []string{"api://AzureADTokenExchange"}, Expiry: time.Unix(1900000000, 0), IssuedAt: time.Unix(1899996400, 0),
		PodName: "web-0", PodNamespace: "shop", ServiceAccountName: "web",
	}
	if c.Issuer != want.Issuer || c.Subject != want.Subject || strings.Join(c.Audience, ",") != want.Audience[0] ||
		!c.Expiry.Equal(want.Expiry) || !c.IssuedAt.Equal(want.IssuedAt) || c.PodName != want.PodName ||
		c.PodNamespace != want.PodNamespace || c.ServiceAccountName != want.ServiceAccountName {
		t.Fatalf("claims %+v", c)
	}

	// A single-string audience and no kubernetes.io claim.
	c, err = ServiceAccountTokenClaims(fakeJWT(t, map[string]any{"aud": "api://AKSIdentityBinding", "sub": "s"}))
	if err != nil || len(c.Audience) != 1 || c.Audience[0] != "api://AKSIdentityBinding" || c.PodName != "" || !c.Expiry.IsZero() {
		t.Fatalf("claims %+v, %v", c, err)
	}
}

func TestServiceAccountTokenClaimsErrorsDoNotQuoteTheToken(t *testing.T) {
	for _, tok := range []string{
		"not-a-jwt-secret-value",
		"a.b!!!secret-value.c",
		"eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"aud":5,"x":"secret-value"}`)) + ".sig",
		"eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`secret-value`)) + ".sig",
	} {
		_, err := ServiceAccountTokenClaims(sensitive.String(tok))
		if err == nil {
			t.Fatalf("%q: no error", tok)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("error quotes the token: %v", err)
		}
	}
}
