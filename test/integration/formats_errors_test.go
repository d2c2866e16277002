package integration

// Malformed Key Vault responses (issue 3 item 5): every nil or missing field the Azure
// provider dereferences — content type, kty, crv, id, value, cer, the ids in version
// lists — is an error that names the object, never a crash.

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

func formatsMalformed(t *testing.T, h *harness.Harness) {
	f := pkiFx(t)
	v := h.Vault
	const ver = "0123456789abcdef0123456789abcdef"
	base := strings.TrimSuffix(v.URL(), "/")
	id := func(kind, name string) string { return base + "/" + kind + "/" + name + "/" + ver }
	u := base64.RawURLEncoding.EncodeToString
	body := func(m map[string]any) []byte {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	enabled := map[string]any{"enabled": true, "created": 1700000000, "updated": 1700000000}
	point, err := f.p256.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	xb, yb := point[1:33], point[33:]
	offCurve := append([]byte(nil), yb...)
	offCurve[31] ^= 1

	cases := []struct {
		name, kind, objectType string // kind is the emulator's object type
		version                string // "" (latest) or "versions" (the history listing)
		body                   []byte
		obj                    string // extra object fields
		reason                 []string
	}{
		// Secrets.
		{"raw-cert-secret-no-content-type", "secret", "secret", "", body(map[string]any{
			"id": id("secrets", "raw-cert-secret-no-content-type"), "value": "x", "kid": id("keys", "raw-cert-secret-no-content-type"), "attributes": enabled,
		}), "", []string{"content type"}},
		{"raw-cert-secret-null-content-type", "secret", "secret", "", body(map[string]any{
			"id": id("secrets", "raw-cert-secret-null-content-type"), "value": "x", "contentType": nil, "kid": id("keys", "raw-cert-secret-null-content-type"), "attributes": enabled,
		}), "", []string{"content type"}},
		{"raw-cert-secret-unknown-content-type", "secret", "secret", "", body(map[string]any{
			"id": id("secrets", "raw-cert-secret-unknown-content-type"), "value": "x", "contentType": "application/json", "kid": id("keys", "raw-cert-secret-unknown-content-type"), "attributes": enabled,
		}), "", []string{"unknown content type 'application/json'"}},
		{"raw-secret-no-value", "secret", "secret", "", body(map[string]any{
			"id": id("secrets", "raw-secret-no-value"), "contentType": "text/plain", "attributes": enabled,
		}), "", []string{"value"}},
		{"raw-cert-secret-no-value", "secret", "secret", "", body(map[string]any{
			"id": id("secrets", "raw-cert-secret-no-value"), "contentType": emulator.ContentTypePFX, "kid": id("keys", "raw-cert-secret-no-value"), "attributes": enabled,
		}), "", []string{"value"}},
		{"raw-secret-no-id", "secret", "secret", "", body(map[string]any{
			"value": "x", "attributes": enabled,
		}), "", []string{"id"}},
		{"raw-secret-not-json", "secret", "secret", "", []byte("<html>gateway</html>"), "", nil},

		// Keys.
		{"raw-key-no-kty", "key", "key", "", body(map[string]any{
			"key": map[string]any{"kid": id("keys", "raw-key-no-kty"), "n": u(f.rsaKey.N.Bytes()), "e": "AQAB"}, "attributes": enabled,
		}), "", []string{"kty"}},
		{"raw-key-no-crv", "key", "key", "", body(map[string]any{
			"key": map[string]any{"kid": id("keys", "raw-key-no-crv"), "kty": "EC", "x": u(xb), "y": u(yb)}, "attributes": enabled,
		}), "", []string{"crv"}},
		{"raw-key-hsm-no-crv", "key", "key", "", body(map[string]any{
			"key": map[string]any{"kid": id("keys", "raw-key-hsm-no-crv"), "kty": "EC-HSM", "x": u(xb), "y": u(yb)}, "attributes": enabled,
		}), "", []string{"crv"}},
		{"raw-key-no-kid", "key", "key", "", body(map[string]any{
			"key": map[string]any{"kty": "RSA", "n": u(f.rsaKey.N.Bytes()), "e": "AQAB"}, "attributes": enabled,
		}), "", []string{"key id is nil"}},
		{"raw-key-no-key", "key", "key", "", body(map[string]any{
			"attributes": enabled,
		}), "", []string{"key value is nil"}},
		{"raw-key-no-modulus", "key", "key", "", body(map[string]any{
			"key": map[string]any{"kid": id("keys", "raw-key-no-modulus"), "kty": "RSA", "e": "AQAB"}, "attributes": enabled,
		}), "", []string{"modulus"}},
		{"raw-key-no-x", "key", "key", "", body(map[string]any{
			"key": map[string]any{"kid": id("keys", "raw-key-no-x"), "kty": "EC", "crv": "P-256", "y": u(yb)}, "attributes": enabled,
		}), "", []string{"P-256"}},
		{"raw-key-off-curve", "key", "key", "", body(map[string]any{
			"key": map[string]any{"kid": id("keys", "raw-key-off-curve"), "kty": "EC", "crv": "P-256", "x": u(xb), "y": u(offCurve)}, "attributes": enabled,
		}), "", []string{"curve P-256"}},

		// Certificates.
		{"raw-cert-no-cer", "cert", "cert", "", body(map[string]any{
			"id": id("certificates", "raw-cert-no-cer"), "attributes": enabled,
		}), "", []string{"certificate value is nil"}},
		{"raw-cert-empty-cer", "cert", "cert", "", body(map[string]any{
			"id": id("certificates", "raw-cert-empty-cer"), "cer": "", "attributes": enabled,
		}), "", []string{"certificate value"}},
		{"raw-cert-no-id", "cert", "cert", "", body(map[string]any{
			"cer": base64.StdEncoding.EncodeToString(f.leaf.Cert.Raw), "attributes": enabled,
		}), "", []string{"certificate id is nil"}},

		// Version listings (objectVersionHistory) whose items lack their id.
		{"raw-secret-versions-no-id", "secret", "secret", "versions", body(map[string]any{
			"value": []any{map[string]any{"attributes": enabled}},
		}), "\nobjectVersionHistory: 2", []string{"id"}},
		{"raw-key-versions-no-kid", "key", "key", "versions", body(map[string]any{
			"value": []any{map[string]any{"attributes": enabled}},
		}), "\nobjectVersionHistory: 2", []string{"id"}},
		{"raw-cert-versions-no-id", "cert", "cert", "versions", body(map[string]any{
			"value": []any{map[string]any{"attributes": enabled, "x5t": "abc"}},
		}), "\nobjectVersionHistory: 2", []string{"id"}},
	}
	good := v.SetSecret("raw-good", "fine", emulator.SecretOptions{})
	goodObj := "objectName: raw-good\nobjectType: secret"
	var all []string
	for _, c := range cases {
		v.SetRawResponse(c.kind, c.name, c.version, 200, c.body)
		obj := "objectName: " + c.name + "\nobjectType: " + c.objectType + c.obj
		all = append(all, obj)
		t.Run(c.name, func(t *testing.T) {
			st := wiMountErr(t, h, goodObj, obj)
			wantFailure(t, st, anyFailure, append([]string{"failed to mount objects, error:", "objectType:" + c.objectType + ", objectName:" + c.name + ","}, c.reason...))
			if strings.Contains(st.Message(), "objectName:raw-good,") {
				t.Errorf("the well-formed object is reported too:\n%s", st.Message())
			}
		})
	}
	t.Run("every malformed object in one mount", func(t *testing.T) {
		st := wiMountErr(t, h, append([]string{goodObj}, all...)...)
		wantFailure(t, st, anyFailure, nil)
		for _, c := range cases {
			if !strings.Contains(st.Message(), "objectName:"+c.name+",") {
				t.Errorf("%s is not reported", c.name)
			}
		}
	})
	t.Run("the provider still serves", func(t *testing.T) {
		checkFiles(t, wiMount(t, h, goodObj), []fileWant{{"raw-good", "fine", 0o644, "secret/raw-good", good}})
	})
}
