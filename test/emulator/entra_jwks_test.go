package emulator

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// TestOutsideIssuerJWKS trusts an issuer whose tokens the emulator does not sign (a real
// kube-apiserver): tokens signed with its key are exchanged, others are refused.
func TestOutsideIssuerJWKS(t *testing.T) {
	e, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const tenant, client, iss = "11111111-0000-0000-0000-00000000000a", "22222222-0000-0000-0000-00000000000b", "https://apiserver.local/"
	e.AddTenant(tenant)
	e.AddApp(tenant, client)
	e.AddFederatedCredential(tenant, client, FederatedCredential{Issuer: iss, Subject: "system:serviceaccount:ns:sa"})

	outside, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer := &jwtSigner{key: outside, kid: "apiserver-key-1"}
	jwks, _ := json.Marshal(signer.jwks())
	i, err := e.AddIssuerJWKS(iss, jwks)
	if err != nil {
		t.Fatal(err)
	}
	if i.MintToken("x", "y", time.Hour, nil) != "" {
		t.Fatal("an outside issuer must not mint")
	}
	claims := func() map[string]any {
		now := time.Now()
		return map[string]any{"iss": iss, "sub": "system:serviceaccount:ns:sa", "aud": []string{DefaultFederatedAudience},
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Unix()}
	}
	token := func(assertion string) error {
		cred, err := azidentity.NewClientAssertionCredential(tenant, client, func(context.Context) (string, error) { return assertion, nil },
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: e.HTTPClient()}})
		if err != nil {
			return err
		}
		_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
		return err
	}
	if err := token(signer.sign(claims())); err != nil {
		t.Fatalf("token signed by the outside key: %v", err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	err = token((&jwtSigner{key: other, kid: "apiserver-key-1"}).sign(claims()))
	if err == nil || !strings.Contains(err.Error(), "AADSTS700027") {
		t.Fatalf("a token signed by another key: %v", err)
	}
	if _, err := e.AddIssuerJWKS(iss, []byte(`{"keys":[{"kty":"EC","kid":"x"}]}`)); err == nil {
		t.Fatal("a JWKS without RSA keys must be refused")
	}
}
