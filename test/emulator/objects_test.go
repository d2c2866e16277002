package emulator

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/test/pki"
)

func keysClient(t *testing.T, e *Emulator, vaultURL string, cred azcore.TokenCredential) *azkeys.Client {
	t.Helper()
	c, err := azkeys.NewClient(vaultURL, cred, &azkeys.ClientOptions{ClientOptions: clientOpts(e)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func certsClient(t *testing.T, e *Emulator, vaultURL string, cred azcore.TokenCredential) *azcertificates.Client {
	t.Helper()
	c, err := azcertificates.NewClient(vaultURL, cred, &azcertificates.ClientOptions{ClientOptions: clientOpts(e)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKeys(t *testing.T) {
	t.Parallel()
	e := newEmulator(t)
	e.AddTenant(tenantA)
	e.SetClientSecret(tenantA, appSecret, secretVal)
	v := e.Vault("kv-keys")
	v.Grant(appSecret, KeyGet, KeyList)

	rsaKey := pki.MustKey(pki.RSA2048).(*rsa.PrivateKey)
	ecKey := pki.MustKey(pki.P384).(*ecdsa.PrivateKey)
	rsaJWK, err := JWKFromPublicKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaJWK.Kty = "RSA-HSM"
	ecJWK, err := JWKFromPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	k1 := v.SetKey("signing", ecJWK, KeyOptions{})
	k2 := v.SetKey("signing", rsaJWK, KeyOptions{})
	k3 := v.SetKey("signing", rsaJWK, KeyOptions{})
	v.DisableVersion(ObjectKey, "signing", k3)
	v.SetKey("aes", JWK{Kty: "oct-HSM"}, KeyOptions{})

	ctx := ctxT(t)
	c := keysClient(t, e, "https://kv-keys.vault.azure.net/", secretCred(t, e, tenantA, appSecret, secretVal))

	got, err := c.GetKey(ctx, "signing", k2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Key.Kty != azkeys.KeyTypeRSAHSM || new(big.Int).SetBytes(got.Key.N).Cmp(rsaKey.N) != 0 ||
		new(big.Int).SetBytes(got.Key.E).Int64() != int64(rsaKey.E) || got.Key.KID.Version() != k2 {
		t.Fatalf("rsa key: %+v", got.Key)
	}
	got, err = c.GetKey(ctx, "signing", k1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Key.Kty != azkeys.KeyTypeEC || *got.Key.Crv != azkeys.CurveNameP384 ||
		new(big.Int).SetBytes(got.Key.X).Cmp(ecKey.X) != 0 || new(big.Int).SetBytes(got.Key.Y).Cmp(ecKey.Y) != 0 {
		t.Fatalf("ec key: %+v", got.Key)
	}
	got, err = c.GetKey(ctx, "aes", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Key.Kty != azkeys.KeyTypeOctHSM || got.Key.N != nil {
		t.Fatalf("oct key: %+v", got.Key)
	}
	// The latest version is disabled.
	_, err = c.GetKey(ctx, "signing", "", nil)
	respErr(t, err, http.StatusForbidden, "Forbidden")
	if !strings.Contains(err.Error(), "KeyDisabled") {
		t.Fatal(err)
	}
	_, err = c.GetKey(ctx, "nope", "", nil)
	respErr(t, err, http.StatusNotFound, "KeyNotFound")

	var versions []string
	pager := c.NewListKeyPropertiesVersionsPager("signing", nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Value {
			versions = append(versions, it.KID.Version())
		}
	}
	if len(versions) != 3 || !slices.Contains(versions, k1) || !slices.Contains(versions, k3) {
		t.Fatalf("versions %v", versions)
	}
	if n := e.Counts().KeyVaultByOp["ListKeyVersions"]; n != 2 {
		t.Fatalf("list pages %d", n)
	}

	// Without KeyGet.
	v.Revoke(appSecret)
	_, err = c.GetKey(ctx, "aes", "", nil)
	respErr(t, err, http.StatusForbidden, "Forbidden")
	if !strings.Contains(err.Error(), "Microsoft.KeyVault/vaults/keys/read") {
		t.Fatal(err)
	}
}

func TestCertificates(t *testing.T) {
	t.Parallel()
	e := newEmulator(t)
	e.AddTenant(tenantA)
	e.SetClientSecret(tenantA, appSecret, secretVal)
	v := e.Vault("kv-certs")
	v.Grant(appSecret, AllPermissions...)

	rsaChain := pki.MustChain("web.contoso.test", 1, pki.RSA2048)
	ecChain := pki.MustChain("api.contoso.test", 2, pki.P256)
	modernPFX, err := pki.PFX(pki.PFXModern, ecChain.Leaf.Key, ecChain.Leaf.Cert, ecChain.Certs()[1:], "")
	if err != nil {
		t.Fatal(err)
	}

	pemVer := v.SetCertificate("web-pem", CertificateInput{Leaf: rsaChain.Leaf.Cert, Chain: rsaChain.CAs(), Key: rsaChain.Leaf.Key})
	pfxVer := v.SetCertificate("web-pfx", CertificateInput{LeafDER: rsaChain.Leaf.DER(), Chain: rsaChain.CAs(), Key: rsaChain.Leaf.Key, ContentType: ContentTypePFX})
	modVer := v.SetCertificate("api-modern", CertificateInput{Leaf: ecChain.Leaf.Cert, Chain: ecChain.CAs(), ContentType: ContentTypePFX, PFX: modernPFX})
	pemVer2 := v.SetCertificate("web-pem", CertificateInput{Leaf: rsaChain.Leaf.Cert, Key: rsaChain.Leaf.Key})

	ctx := ctxT(t)
	cred := secretCred(t, e, tenantA, appSecret, secretVal)
	cc := certsClient(t, e, "https://kv-certs.vault.azure.net/", cred)
	sc := secretsClient(t, e, "https://kv-certs.vault.azure.net/", cred)
	kc := keysClient(t, e, "https://kv-certs.vault.azure.net/", cred)

	// Certificate: leaf DER only, ids, x5t, policy.
	got, err := cc.GetCertificate(ctx, "web-pem", pemVer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.CER, rsaChain.Leaf.DER()) || got.ID.Version() != pemVer ||
		string(*got.KID) != "https://kv-certs.vault.azure.net/keys/web-pem/"+pemVer ||
		string(*got.SID) != "https://kv-certs.vault.azure.net/secrets/web-pem/"+pemVer ||
		len(got.X509Thumbprint) != 20 || *got.Policy.SecretProperties.ContentType != ContentTypePEM ||
		!got.Attributes.Expires.Equal(rsaChain.Leaf.Cert.NotAfter) {
		t.Fatalf("certificate: %+v", got.Certificate)
	}
	latest, err := cc.GetCertificate(ctx, "web-pem", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if latest.ID.Version() != pemVer2 {
		t.Fatalf("latest %s want %s", latest.ID.Version(), pemVer2)
	}
	_, err = cc.GetCertificate(ctx, "nope", "", nil)
	respErr(t, err, http.StatusNotFound, "CertificateNotFound")
	var certVersions int
	for p := cc.NewListCertificatePropertiesVersionsPager("web-pem", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		certVersions += len(page.Value)
	}
	if certVersions != 2 {
		t.Fatalf("cert versions %d", certVersions)
	}

	// PEM backing secret: key, leaf, chain.
	s, err := sc.GetSecret(ctx, "web-pem", pemVer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.KID == nil || string(*s.KID) != "https://kv-certs.vault.azure.net/keys/web-pem/"+pemVer || !*s.Managed || *s.ContentType != ContentTypePEM {
		t.Fatalf("pem secret: %+v", s.Secret)
	}
	var types []string
	var certs [][]byte
	for rest := []byte(*s.Value); ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		types = append(types, b.Type)
		if b.Type == "CERTIFICATE" {
			certs = append(certs, b.Bytes)
		}
	}
	if !slices.Equal(types, []string{"PRIVATE KEY", "CERTIFICATE", "CERTIFICATE", "CERTIFICATE"}) ||
		!bytes.Equal(certs[0], rsaChain.Leaf.DER()) || !bytes.Equal(certs[2], rsaChain.Root.DER()) {
		t.Fatalf("pem blocks %v", types)
	}

	// PFX backing secret: base64 of a passwordless legacy PKCS#12.
	s, err = sc.GetSecret(ctx, "web-pfx", pfxVer, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(*s.Value)
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, cas, err := pkcs12.DecodeChain(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.Equal(rsaChain.Leaf.Cert) || len(cas) != 2 || !key.(*rsa.PrivateKey).Equal(rsaChain.Leaf.Key) || *s.ContentType != ContentTypePFX {
		t.Fatal("pfx content mismatch")
	}

	// A pre-built (modern, AES) PFX is stored verbatim.
	s, err = sc.GetSecret(ctx, "api-modern", modVer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *s.Value != base64.StdEncoding.EncodeToString(modernPFX) {
		t.Fatal("modern pfx not stored verbatim")
	}

	// Backing key: public part of the leaf, managed.
	k, err := kc.GetKey(ctx, "api-modern", modVer, nil)
	if err != nil {
		t.Fatal(err)
	}
	point, err := ecChain.Leaf.Cert.PublicKey.(*ecdsa.PublicKey).Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	if !*k.Managed || *k.Key.Crv != azkeys.CurveNameP256 || !bytes.Equal(k.Key.X, point[1:33]) {
		t.Fatalf("backing key %+v", k.Key)
	}
	leafParsed, err := x509.ParseCertificate(got.CER)
	if err != nil || leafParsed.Subject.CommonName != "web.contoso.test" {
		t.Fatal(leafParsed, err)
	}
}
