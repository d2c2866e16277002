package integration

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/status"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
	"github.com/kvcsi/kvcsi/test/netns"
	"github.com/kvcsi/kvcsi/test/pki"
)

// Leak tests: the real binary at -v=10, in klog text and in JSON, runs a representative
// set of scenarios (every identity mode, every object kind, certificates with private
// keys, JSON extraction, history, Key Vault and Entra ID faults, malformed answers,
// wrong credentials, invalid parameters). Every secret the emulator served or was
// given (secret values, client secrets, service-account tokens, private keys, PFX
// files) is collected, and none may appear in the provider's output or in any gRPC
// error message.

// leakSet collects the secrets of a run and the error messages the driver saw.
type leakSet struct {
	secrets map[string]string // secret → what it is
	errors  []string
}

func (l *leakSet) add(what string, secrets ...string) {
	for _, s := range secrets {
		if len(s) < 8 {
			panic("leak marker too short to search for: " + what)
		}
		l.secrets[s] = what
	}
}

// pemBody returns the first base64 lines of a PEM block's body: the key material.
func pemBody(t *testing.T, p []byte) []string {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatal("not PEM")
	}
	enc := base64.StdEncoding.EncodeToString(b.Bytes)
	return []string{enc[:64], enc[len(enc)/2 : len(enc)/2+64], enc[len(enc)-64:]}
}

// leakScenario runs the scenarios against h and returns the secrets involved.
// withIMDS says whether the provider reaches IMDS (a binary only does inside a network
// namespace: it never proxies 169.254.169.254).
func leakScenario(t *testing.T, h *harness.Harness, withIMDS bool) *leakSet {
	t.Helper()
	l := &leakSet{secrets: map[string]string{}}
	v := h.Vault
	mount := func(in harness.MountInput, wantOK bool, want ...string) {
		t.Helper()
		c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		resp, err := h.Mount(c, in)
		if err != nil {
			l.errors = append(l.errors, status.Convert(err).Message())
			if wantOK {
				t.Fatalf("mount: %v", err)
			}
			return
		}
		if !wantOK {
			t.Fatalf("mount succeeded with %d files, want a failure", len(resp.Files))
		}
		var all strings.Builder
		for _, f := range resp.Files {
			all.Write(f.Contents)
			all.WriteByte('\n')
		}
		for _, w := range want {
			if !strings.Contains(all.String(), w) {
				t.Fatalf("the mount did not serve %.20s…: the scenario must serve every secret it checks", w)
			}
		}
	}

	// Plain, encoded and JSON secrets, with history.
	l.add("secret value", "leak-plain-value-Zx81q", "leak-old-value-Zx81q", "leak-json-password-Zx81q", "leak-b64-decoded-Zx81q")
	v.SetSecret("leak-plain", "leak-old-value-Zx81q", emulator.SecretOptions{Created: time.Now().Add(-time.Hour)})
	v.SetSecret("leak-plain", "leak-plain-value-Zx81q", emulator.SecretOptions{})
	v.SetSecret("leak-json", `{"user":"app","password":"leak-json-password-Zx81q"}`, emulator.SecretOptions{ContentType: "application/json"})
	b64 := base64.StdEncoding.EncodeToString([]byte("leak-b64-decoded-Zx81q"))
	l.add("base64 secret value", b64)
	v.SetSecret("leak-b64", b64, emulator.SecretOptions{})

	// Certificates with private keys: PEM and PFX backed.
	ch := pki.MustChain("leak.test", 1, pki.P256)
	keyPEM, err := pki.KeyPEM(ch.Leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	l.add("certificate private key", pemBody(t, keyPEM)...)
	v.SetCertificate("leak-pem-cert", emulator.CertificateInput{Leaf: ch.Leaf.Cert, Chain: ch.CAs(), Key: ch.Leaf.Key, ContentType: emulator.ContentTypePEM})
	rsaChain := pki.MustChain("leak-rsa.test", 0, pki.RSA2048)
	rsaKeyPEM, err := pki.KeyPEM(rsaChain.Leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	l.add("PFX private key", pemBody(t, rsaKeyPEM)...)
	pfx, err := pki.PFX(pki.PFXLegacy, rsaChain.Leaf.Key, rsaChain.Leaf.Cert, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	pfxB64 := base64.StdEncoding.EncodeToString(pfx)
	l.add("PFX file", pfxB64[:64], pfxB64[len(pfxB64)-64:])
	v.SetCertificate("leak-pfx-cert", emulator.CertificateInput{Leaf: rsaChain.Leaf.Cert, ContentType: emulator.ContentTypePFX, PFX: pfx})
	// A key object (public material only) and a certificate object.
	jwkKey, err := emulator.JWKFromPublicKey(ch.Leaf.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	v.SetKey("leak-key", jwkKey, emulator.KeyOptions{})

	// Credentials.
	l.add("client secret", harness.SPSecret, "leak-wrong-client-secret-Zx81q")
	tokens := h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)
	l.add("service-account token", tokens[harness.WIAudience].Token)
	sig := tokens[harness.WIAudience].Token[strings.LastIndex(tokens[harness.WIAudience].Token, ".")+1:]
	l.add("service-account token signature", sig)
	l.add("JWT (access or service-account token)", "eyJ0eXAi", "eyJhbGci", "eyJraWQi")

	all := []string{
		"objectName: leak-plain\nobjectType: secret",
		"objectName: leak-plain\nobjectType: secret\nobjectAlias: history\nobjectVersionHistory: 2",
		"objectName: leak-json\nobjectType: secret\njmesPath:\n  - path: password\n    objectAlias: pw",
		"objectName: leak-b64\nobjectType: secret\nobjectEncoding: base64",
		"objectName: leak-pem-cert\nobjectType: secret\nsplitCertAndKey: true",
		"objectName: leak-pfx-cert\nobjectType: secret",
		"objectName: leak-pfx-cert\nobjectType: secret\nobjectAlias: leak.pfx\nobjectFormat: pfx\nobjectEncoding: base64",
		"objectName: leak-pem-cert\nobjectType: cert\nobjectAlias: leaf.pem",
		"objectName: leak-key\nobjectType: key",
	}
	// Every identity mode that can be emulated.
	mount(harness.MountInput{Params: wiParams(all...), Tokens: tokens}, true,
		"leak-plain-value-Zx81q", "leak-old-value-Zx81q", "leak-json-password-Zx81q", "leak-b64-decoded-Zx81q", "PRIVATE KEY")
	mount(harness.MountInput{Params: wiParams(all...), Tokens: tokens}, true, "leak-plain-value-Zx81q") // cached token
	mount(harness.MountInput{Params: spParams(all[:3]...), Secrets: spSecrets()}, true, "leak-plain-value-Zx81q")
	mi := map[string]string{"keyvaultName": harness.VaultName, "tenantID": harness.Tenant, "useVMManagedIdentity": "true",
		"userAssignedIdentityID": harness.MIClientID, "objects": harness.Objects(all[0])}
	if withIMDS {
		mount(harness.MountInput{Params: mi}, true, "leak-plain-value-Zx81q")
	}
	podID := map[string]string{"keyvaultName": harness.VaultName, "tenantID": harness.Tenant, "usePodIdentity": "true", "objects": harness.Objects(all[0])}
	mount(harness.MountInput{Params: podID}, true, "leak-plain-value-Zx81q")

	// Failures: wrong credentials, not found, invalid, bad token.
	mount(harness.MountInput{Params: spParams(all[0]), Secrets: map[string]string{"clientid": harness.SPClientID, "clientsecret": "leak-wrong-client-secret-Zx81q"}}, false)
	mount(harness.MountInput{Params: wiParams("objectName: leak-absent\nobjectType: secret"), Tokens: tokens}, false)
	mount(harness.MountInput{Params: wiParams("objectName: leak-json\nobjectType: secret\njmesPath:\n  - path: missing\n    objectAlias: x"), Tokens: tokens}, false)
	mount(harness.MountInput{Params: wiParams("objectName: leak-plain\nobjectType: secret\nobjectEncoding: hex"), Tokens: tokens}, false)
	mount(harness.MountInput{Params: wiParams("objectName: leak-plain\nobjectType: secret\nconvertPFXToPEM: true"), Tokens: tokens}, false)
	mount(harness.MountInput{Params: map[string]string{"keyvaultName": harness.VaultName, "tenantID": harness.Tenant, "clientID": harness.WIClientID,
		"objects": harness.Objects(all[0])}, Tokens: map[string]harness.Token{harness.WIAudience: {Token: "not.a-jwt-leak-Zx81q.x", ExpirationTimestamp: "2030-01-01T00:00:00Z"}}}, false)
	l.add("malformed service-account token", "not.a-jwt-leak-Zx81q.x")
	mount(harness.MountInput{Params: map[string]string{"keyvaultName": harness.VaultName, "tenantID": harness.Tenant, "clientID": harness.WIClientID,
		"objects": "array: [" + strings.Repeat("[", 200)}, Tokens: tokens}, false)
	other := harness.Pod{Name: "leak-other", Namespace: harness.Namespace, UID: "00000000-0000-4000-b000-000000000001", ServiceAccount: "not-federated"}
	otherTok := h.WorkloadToken(other, harness.WIAudience, time.Hour)
	l.add("unfederated service-account token", otherTok[harness.WIAudience].Token)
	mount(harness.MountInput{Params: wiParams(all[0]), Pod: other, Tokens: otherTok}, false)

	// Malformed answers holding a value.
	v.SetRawResponse("secret", "leak-raw", "", 200, []byte(`{"value":"leak-raw-value-Zx81q"}`))
	v.SetRawResponse("secret", "leak-raw-bad", "", 200, []byte(`{"value":"leak-raw-trunc-Zx81q`))
	l.add("value in a malformed answer", "leak-raw-value-Zx81q", "leak-raw-trunc-Zx81q")
	mount(harness.MountInput{Params: wiParams("objectName: leak-raw\nobjectType: secret", all[0]), Tokens: tokens}, false)
	mount(harness.MountInput{Params: wiParams("objectName: leak-raw-bad\nobjectType: secret", all[0]), Tokens: tokens}, false)

	// Faults while secrets are in flight.
	for _, f := range []emulator.Faults{
		{ThrottleRate: 1, RetryAfter: 50 * time.Millisecond},
		{ErrorRate: 1, ErrorStatus: 503},
	} {
		h.Emu.SetFaults(emulator.ServiceKeyVault, f)
		mount(harness.MountInput{Params: wiParams(all[0]), Tokens: tokens}, false)
		h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{})
	}
	h.Emu.SetFaults(emulator.ServiceEntraID, emulator.Faults{ErrorRate: 1, ErrorStatus: 400})
	fresh := freshWI(h, all[0])
	l.add("service-account token (Entra ID failing)", fresh.Tokens[harness.WIAudience].Token)
	mount(fresh, false)
	h.Emu.SetFaults(emulator.ServiceEntraID, emulator.Faults{})
	return l
}

func checkNoLeak(t *testing.T, where, text string, l *leakSet) {
	t.Helper()
	for s, what := range l.secrets {
		if i := strings.Index(text, s); i >= 0 {
			from := max(0, i-120)
			t.Errorf("%s contains a %s (%.6s…) near: %q", where, what, s, text[from:min(len(text), i+len(s)+20)])
		}
	}
	for _, marker := range []string{"PRIVATE KEY", "clientsecret=", "client_secret=", "client_assertion="} {
		if strings.Contains(text, marker) {
			t.Errorf("%s contains %q", where, marker)
		}
	}
}

func TestNoSecretInLogsOrErrors(t *testing.T) {
	bin := kvcsiBinary(t)
	for _, format := range []struct {
		name string
		args []string
	}{
		{"text -v=10", []string{"-v=10"}},
		{"json -v=10", []string{"-v=10", "--log-format-json"}},
	} {
		t.Run(format.name, func(t *testing.T) {
			out := &harness.SyncBuffer{}
			opts := harness.Options{Binary: bin, Args: format.args, Output: out}
			if ns := netns.Try(t); ns != nil {
				opts.NetNS = ns
			}
			h := start(t, opts)
			l := leakScenario(t, h, opts.NetNS != nil)
			if err := h.Stop(); err != nil {
				t.Logf("stop: %v", err)
			}
			log := out.String()
			if !strings.Contains(log, `"response"`) && !strings.Contains(log, `"msg":"response"`) {
				t.Fatalf("-v=10 did not log at V(5):\n%.2000s", log)
			}
			t.Logf("%d bytes of output, %d failed mounts, %d secrets searched for", len(log), len(l.errors), len(l.secrets))
			checkNoLeak(t, "the provider's output", log, l)
			checkNoLeak(t, "a gRPC error", strings.Join(l.errors, "\n"), l)
			if len(l.errors) < 12 {
				t.Errorf("only %d failures: the scenario lost its failure cases", len(l.errors))
			}
		})
	}
}
