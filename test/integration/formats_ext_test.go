package integration

// kvcsi's extension fields, end to end: certificatePart, splitCertAndKey,
// convertPFXToPEM, jmesPath and an object's own keyvaultName.

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
	"github.com/kvcsi/kvcsi/test/pki"
)

// formatsCertificateParts: certificatePart full|chain|key and per-object
// splitCertAndKey, with the provider's defaults (no global split flag).
func formatsCertificateParts(t *testing.T, h *harness.Harness) {
	f := pkiFx(t)
	v := h.Vault
	key := keyPEM(t, f.leaf.Key)
	ordered := certsPEM(f.leaf, f.inter1, f.inter2, f.root)
	pfx := buildPFX(t, pki.PFXModern, f.leaf.Key, f.leaf, f.root, f.inter2, f.inter1)
	pfxVer := v.SetCertificate("parts-web", emulator.CertificateInput{Leaf: f.leaf.Cert, ContentType: emulator.ContentTypePFX, PFX: pfx})
	storedPEM := key + certsPEM(f.root, f.leaf, f.inter1)
	pemVer := v.SetCertificate("parts-pem", emulator.CertificateInput{Leaf: f.leaf.Cert, ContentType: emulator.ContentTypePEM, PEM: storedPEM})
	v.SetCertificate("parts-no-key", emulator.CertificateInput{Leaf: f.looseLeaf.Cert, ContentType: emulator.ContentTypePEM})
	v.SetSecret("parts-plain", "just text", emulator.SecretOptions{})

	for _, c := range []struct {
		name string
		objs []string
		want []fileWant
	}{
		{"full is the default output", []string{"objectName: parts-web\nobjectType: secret\ncertificatePart: full"}, []fileWant{
			{"parts-web", key + ordered, 0o644, "secret/parts-web", pfxVer},
		}},
		{"chain, ordered", []string{"objectName: parts-web\nobjectType: secret\ncertificatePart: chain\nobjectAlias: chain.pem"}, []fileWant{
			{"chain.pem", ordered, 0o644, "secret/parts-web", pfxVer},
		}},
		{"key, own mode", []string{"objectName: parts-web\nobjectType: secret\ncertificatePart: key\nobjectAlias: private/tls.key\nfilePermission: \"0400\""}, []fileWant{
			{"private/tls.key", key, 0o400, "secret/parts-web", pfxVer},
		}},
		{"case-insensitive value", []string{"objectName: parts-web\nobjectType: secret\ncertificatePart: Chain"}, []fileWant{
			{"parts-web", ordered, 0o644, "secret/parts-web", pfxVer},
		}},
		{"PEM content type: chain as stored", []string{"objectName: parts-pem\nobjectType: secret\ncertificatePart: chain"}, []fileWant{
			{"parts-pem", certsPEM(f.root, f.leaf, f.inter1), 0o644, "secret/parts-pem", pemVer},
		}},
		{"PEM content type: key", []string{"objectName: parts-pem\nobjectType: secret\ncertificatePart: key"}, []fileWant{
			{"parts-pem", key, 0o644, "secret/parts-pem", pemVer},
		}},
		{"one certificate, three files", []string{
			"objectName: parts-web\nobjectType: secret\ncertificatePart: chain\nobjectAlias: tls.crt",
			"objectName: parts-web\nobjectType: secret\ncertificatePart: key\nobjectAlias: tls.key\nfilePermission: \"0600\"",
			"objectName: parts-web\nobjectType: secret\nobjectFormat: pfx\nobjectEncoding: base64\nobjectAlias: tls.pfx",
		}, []fileWant{
			{"tls.crt", ordered, 0o644, "secret/parts-web", pfxVer},
			{"tls.key", key, 0o600, "secret/parts-web", pfxVer},
			{"tls.pfx", string(pfx), 0o644, "secret/parts-web", pfxVer},
		}},

		// splitCertAndKey per object, without the global flag.
		{"splitCertAndKey", []string{"objectName: parts-web\nobjectType: secret\nsplitCertAndKey: true\nobjectAlias: tls\nfilePermission: \"0640\""}, []fileWant{
			{"tls.crt", ordered, 0o640, "secret/parts-web", pfxVer},
			{"tls.key", key, 0o640, "secret/parts-web", pfxVer},
			{"tls", key + ordered, 0o640, "secret/parts-web", pfxVer},
		}},
		{"splitCertAndKey only where asked", []string{
			"objectName: parts-pem\nobjectType: secret\nsplitCertAndKey: true",
			"objectName: parts-web\nobjectType: secret",
		}, []fileWant{
			{"parts-pem.crt", certsPEM(f.root, f.leaf, f.inter1), 0o644, "secret/parts-pem", pemVer},
			{"parts-pem.key", key, 0o644, "secret/parts-pem", pemVer},
			{"parts-pem", storedPEM, 0o644, "secret/parts-pem", pemVer},
			{"parts-web", key + ordered, 0o644, "secret/parts-web", pfxVer},
		}},
		{"certificatePart full with splitCertAndKey", []string{"objectName: parts-web\nobjectType: secret\ncertificatePart: full\nsplitCertAndKey: true"}, []fileWant{
			{"parts-web.crt", ordered, 0o644, "secret/parts-web", pfxVer},
			{"parts-web.key", key, 0o644, "secret/parts-web", pfxVer},
			{"parts-web", key + ordered, 0o644, "secret/parts-web", pfxVer},
		}},
		{"splitCertAndKey false", []string{"objectName: parts-web\nobjectType: secret\nsplitCertAndKey: false"}, []fileWant{
			{"parts-web", key + ordered, 0o644, "secret/parts-web", pfxVer},
		}},
		{"splitCertAndKey with objectFormat pfx: only the PFX", []string{"objectName: parts-web\nobjectType: secret\nsplitCertAndKey: true\nobjectFormat: pfx"}, []fileWant{
			{"parts-web", b64Text(pfx), 0o644, "secret/parts-web", pfxVer},
		}},
		{"splitCertAndKey with objectVersionHistory", []string{"objectName: parts-web\nobjectType: secret\nsplitCertAndKey: true\nobjectVersionHistory: 3"}, []fileWant{
			{"parts-web/0.crt", ordered, 0o644, "secret/parts-web/0", pfxVer},
			{"parts-web/0.key", key, 0o644, "secret/parts-web/0", pfxVer},
			{"parts-web/0", key + ordered, 0o644, "secret/parts-web/0", pfxVer},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := wiMount(t, h, c.objs...)
			checkFiles(t, resp, c.want)
		})
	}

	t.Run("key and chain files make a pair", func(t *testing.T) {
		resp := wiMount(t, h, "objectName: parts-web\nobjectType: secret\nsplitCertAndKey: true")
		if len(resp.GetFiles()) != 3 {
			t.Fatalf("got %d files", len(resp.GetFiles()))
		}
		checkPEMPair(t, append(append([]byte(nil), resp.Files[1].Contents...), resp.Files[0].Contents...), true)
	})

	for _, c := range []struct {
		name, obj string
		code      codes.Code
		contains  []string
	}{
		{"key of a certificate stored without one", "objectName: parts-no-key\nobjectType: secret\ncertificatePart: key",
			anyFailure, []string{"objectName:parts-no-key,", "certificatePart key"}},
		{"certificatePart on a plain secret", "objectName: parts-plain\nobjectType: secret\ncertificatePart: chain",
			anyFailure, []string{"objectName:parts-plain,", "certificatePart"}},
		{"splitCertAndKey on a plain secret", "objectName: parts-plain\nobjectType: secret\nsplitCertAndKey: true",
			anyFailure, []string{"objectName:parts-plain,", "splitCertAndKey"}},
		{"unknown certificatePart", "objectName: parts-web\nobjectType: secret\ncertificatePart: leaf",
			codes.InvalidArgument, []string{"objectName:parts-web,", "certificatePart: leaf"}},
		{"certificatePart chain with objectFormat pfx", "objectName: parts-web\nobjectType: secret\ncertificatePart: chain\nobjectFormat: pfx",
			codes.InvalidArgument, []string{"objectName:parts-web,", "objectFormat: pfx"}},
		{"certificatePart on a cert object", "objectName: parts-web\nobjectType: cert\ncertificatePart: chain",
			codes.InvalidArgument, []string{"objectName:parts-web,", "certificatePart only supported for objectType: secret"}},
		{"splitCertAndKey on a key object", "objectName: parts-web\nobjectType: key\nsplitCertAndKey: true",
			codes.InvalidArgument, []string{"objectName:parts-web,", "splitCertAndKey only supported for objectType: secret"}},
		{"certificatePart chain with splitCertAndKey", "objectName: parts-web\nobjectType: secret\ncertificatePart: chain\nsplitCertAndKey: true",
			codes.InvalidArgument, []string{"objectName:parts-web,", "certificatePart", "splitCertAndKey"}},
		{"certificatePart key with splitCertAndKey", "objectName: parts-web\nobjectType: secret\ncertificatePart: key\nsplitCertAndKey: true",
			codes.InvalidArgument, []string{"objectName:parts-web,", "certificatePart", "splitCertAndKey"}},
		{"splitCertAndKey quoted", "objectName: parts-web\nobjectType: secret\nsplitCertAndKey: \"maybe\"",
			codes.InvalidArgument, []string{"splitCertAndKey"}},
		{"split companion collides with another file", "objectName: parts-web\nobjectType: secret\nsplitCertAndKey: true\nobjectAlias: tls",
			codes.InvalidArgument, []string{"tls.key"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := []string{c.obj}
			if c.name == "split companion collides with another file" {
				objs = append(objs, "objectName: parts-plain\nobjectType: secret\nobjectAlias: tls.key")
			}
			before := h.Emu.Counts().KeyVaultRequests
			st := wiMountErr(t, h, objs...)
			wantFailure(t, st, c.code, c.contains, "BEGIN", "just text")
			checkNoFetch(t, h, c.code, before)
		})
	}
}

// formatsConvertPFX: convertPFXToPEM on a PFX stored as a plain secret (content type
// application/x-pkcs12, no kid, e.g. App Service certificates). Without it, the base64
// text as the Azure provider writes it (#273).
func formatsConvertPFX(t *testing.T, h *harness.Harness) {
	f := pkiFx(t)
	v := h.Vault
	legacy := buildPFX(t, pki.PFXLegacy, f.ecLeaf.Key, f.ecLeaf, f.ecRoot, f.ecInter)
	modern := buildPFX(t, pki.PFXModern, f.leaf.Key, f.leaf, f.inter2, f.root, f.inter1)
	appsvc := v.SetSecret("appsvc-cert", b64Text(legacy), emulator.SecretOptions{ContentType: emulator.ContentTypePFX})
	modernVer := v.SetSecret("appsvc-modern", b64Text(modern), emulator.SecretOptions{ContentType: emulator.ContentTypePFX})
	v.SetSecret("not-pfx", "plain text", emulator.SecretOptions{ContentType: "text/plain"})
	v.SetSecret("no-content-type", b64Text(legacy), emulator.SecretOptions{})
	v.SetSecret("garbage-pfx", b64Text([]byte("this is not a PKCS#12 file")), emulator.SecretOptions{ContentType: emulator.ContentTypePFX})
	ecKey := keyPEM(t, f.ecLeaf.Key)
	ecPEM := ecKey + certsPEM(f.ecLeaf, f.ecInter, f.ecRoot)
	rsaPEM := keyPEM(t, f.leaf.Key) + certsPEM(f.leaf, f.inter1, f.inter2, f.root)

	for _, c := range []struct {
		name string
		objs []string
		want []fileWant
		pair bool
	}{
		{"without convertPFXToPEM: base64 text, as upstream", []string{"objectName: appsvc-cert\nobjectType: secret"}, []fileWant{
			{"appsvc-cert", b64Text(legacy), 0o644, "secret/appsvc-cert", appsvc},
		}, false},
		{"without convertPFXToPEM, objectFormat pem is ignored", []string{"objectName: appsvc-cert\nobjectType: secret\nobjectFormat: pem"}, []fileWant{
			{"appsvc-cert", b64Text(legacy), 0o644, "secret/appsvc-cert", appsvc},
		}, false},
		{"without convertPFXToPEM, base64: the PFX binary", []string{"objectName: appsvc-cert\nobjectType: secret\nobjectEncoding: base64"}, []fileWant{
			{"appsvc-cert", string(legacy), 0o644, "secret/appsvc-cert", appsvc},
		}, false},
		{"legacy PFX converted", []string{"objectName: appsvc-cert\nobjectType: secret\nconvertPFXToPEM: true\nfilePermission: \"0600\""}, []fileWant{
			{"appsvc-cert", ecPEM, 0o600, "secret/appsvc-cert", appsvc},
		}, true},
		{"modern PFX converted, chain ordered", []string{"objectName: appsvc-modern\nobjectType: secret\nconvertPFXToPEM: true\nobjectAlias: site.pem"}, []fileWant{
			{"site.pem", rsaPEM, 0o644, "secret/appsvc-modern", modernVer},
		}, true},
		{"converted and split", []string{"objectName: appsvc-cert\nobjectType: secret\nconvertPFXToPEM: true\nsplitCertAndKey: true"}, []fileWant{
			{"appsvc-cert.crt", certsPEM(f.ecLeaf, f.ecInter, f.ecRoot), 0o644, "secret/appsvc-cert", appsvc},
			{"appsvc-cert.key", ecKey, 0o644, "secret/appsvc-cert", appsvc},
			{"appsvc-cert", ecPEM, 0o644, "secret/appsvc-cert", appsvc},
		}, false},
		{"converted, key only", []string{"objectName: appsvc-cert\nobjectType: secret\nconvertPFXToPEM: true\ncertificatePart: key"}, []fileWant{
			{"appsvc-cert", ecKey, 0o644, "secret/appsvc-cert", appsvc},
		}, false},
		{"converted, chain only", []string{"objectName: appsvc-modern\nobjectType: secret\nconvertPFXToPEM: true\ncertificatePart: chain"}, []fileWant{
			{"appsvc-modern", certsPEM(f.leaf, f.inter1, f.inter2, f.root), 0o644, "secret/appsvc-modern", modernVer},
		}, false},
		{"convertPFXToPEM false", []string{"objectName: appsvc-cert\nobjectType: secret\nconvertPFXToPEM: false"}, []fileWant{
			{"appsvc-cert", b64Text(legacy), 0o644, "secret/appsvc-cert", appsvc},
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := wiMount(t, h, c.objs...)
			checkFiles(t, resp, c.want)
			if c.pair && len(resp.GetFiles()) == 1 {
				checkPEMPair(t, resp.Files[0].Contents, true)
			}
		})
	}

	for _, c := range []struct {
		name, obj string
		code      codes.Code
		contains  []string
	}{
		{"another content type", "objectName: not-pfx\nobjectType: secret\nconvertPFXToPEM: true",
			anyFailure, []string{"objectName:not-pfx,", "convertPFXToPEM", "text/plain", "application/x-pkcs12"}},
		{"no content type", "objectName: no-content-type\nobjectType: secret\nconvertPFXToPEM: true",
			anyFailure, []string{"objectName:no-content-type,", "convertPFXToPEM", "no content type"}},
		{"not a PKCS#12 file", "objectName: garbage-pfx\nobjectType: secret\nconvertPFXToPEM: true",
			anyFailure, []string{"objectName:garbage-pfx,", "PFX"}},
		{"with objectFormat pfx", "objectName: appsvc-cert\nobjectType: secret\nconvertPFXToPEM: true\nobjectFormat: pfx",
			codes.InvalidArgument, []string{"objectName:appsvc-cert,", "convertPFXToPEM cannot be combined with objectFormat: pfx"}},
		{"on a cert object", "objectName: appsvc-cert\nobjectType: cert\nconvertPFXToPEM: true",
			codes.InvalidArgument, []string{"objectName:appsvc-cert,", "convertPFXToPEM only supported for objectType: secret"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := h.Emu.Counts().KeyVaultRequests
			st := wiMountErr(t, h, c.obj)
			wantFailure(t, st, c.code, c.contains, b64Text(legacy)[:32], "this is not", "plain text")
			checkNoFetch(t, h, c.code, before)
		})
	}
}

// formatsJMESPath: each jmesPath entry writes its own file with its own alias and
// mode, strings raw and other values as compact JSON, after the secret's own file.
func formatsJMESPath(t *testing.T, h *harness.Harness) {
	v := h.Vault
	doc := `{"user":"app","password":"p@ss\"w0rd\n","port":5432,"ratio":0.25,"tls":true,"empty":"",` +
		`"db":{"host":"db.internal","replicas":["r1","r2"],"opts":{"z":1,"a":"<x&y>"}},"my-key":"dashed","nothing":null}`
	ver := v.SetSecret("db-config", doc, emulator.SecretOptions{ContentType: "application/json"})
	encVer := v.SetSecret("db-config-b64", b64Text([]byte(doc)), emulator.SecretOptions{})
	v.SetSecret("not-json", "user=app", emulator.SecretOptions{})

	t.Run("extractions", func(t *testing.T) {
		obj := `objectName: db-config
objectType: secret
filePermission: "0640"
jmesPath:
  - path: user
    objectAlias: db/user
  - path: password
    objectAlias: db/password
    filePermission: "0600"
  - path: port
    objectAlias: db/port
    filePermission: "0444"
  - path: ratio
    objectAlias: db/ratio
  - path: tls
    objectAlias: db/tls
  - path: empty
    objectAlias: db/empty
  - path: db.host
    objectAlias: db/host
  - path: db.replicas
    objectAlias: db/replicas.json
  - path: db.replicas[1]
    objectAlias: db/replica-1
  - path: db.opts
    objectAlias: db/opts.json
  - path: '"my-key"'
    objectAlias: db/dashed
  - path: "{u: user, p: port}"
    objectAlias: db/projection.json`
		resp := wiMount(t, h, obj)
		id := "secret/db-config"
		checkFiles(t, resp, []fileWant{
			{"db-config", doc, 0o640, id, ver},
			{"db/user", "app", 0o640, id, ver},
			{"db/password", "p@ss\"w0rd\n", 0o600, id, ver},
			{"db/port", "5432", 0o444, id, ver},
			{"db/ratio", "0.25", 0o640, id, ver},
			{"db/tls", "true", 0o640, id, ver},
			{"db/empty", "", 0o640, id, ver},
			{"db/host", "db.internal", 0o640, id, ver},
			{"db/replicas.json", `["r1","r2"]`, 0o640, id, ver},
			{"db/replica-1", "r2", 0o640, id, ver},
			{"db/opts.json", `{"a":"<x&y>","z":1}`, 0o640, id, ver},
			{"db/dashed", "dashed", 0o640, id, ver},
			{"db/projection.json", `{"p":5432,"u":"app"}`, 0o640, id, ver},
		})
	})
	t.Run("after objectEncoding base64", func(t *testing.T) {
		resp := wiMount(t, h, "objectName: db-config-b64\nobjectType: secret\nobjectEncoding: base64\nobjectAlias: cfg.json\njmesPath:\n  - path: db.host\n    objectAlias: host")
		checkFiles(t, resp, []fileWant{
			{"cfg.json", doc, 0o644, "secret/db-config-b64", encVer},
			{"host", "db.internal", 0o644, "secret/db-config-b64", encVer},
		})
	})

	for _, c := range []struct {
		name, obj string
		code      codes.Code
		contains  []string
	}{
		{"missing path", "objectName: db-config\nobjectType: secret\njmesPath:\n  - path: user\n    objectAlias: u\n  - path: db.missing\n    objectAlias: m",
			anyFailure, []string{"objectName:db-config,", `"db.missing"`}},
		{"null value", "objectName: db-config\nobjectType: secret\njmesPath:\n  - path: nothing\n    objectAlias: n",
			anyFailure, []string{"objectName:db-config,", `"nothing"`}},
		{"not JSON", "objectName: not-json\nobjectType: secret\njmesPath:\n  - path: user\n    objectAlias: u",
			anyFailure, []string{"objectName:not-json,", "JSON"}},
		{"invalid expression", "objectName: db-config\nobjectType: secret\njmesPath:\n  - path: 'db.[['\n    objectAlias: x",
			codes.InvalidArgument, []string{"objectName:db-config,", "jmesPath[0]"}},
		{"no objectAlias", "objectName: db-config\nobjectType: secret\njmesPath:\n  - path: user",
			codes.InvalidArgument, []string{"objectName:db-config,", "jmesPath[0]"}},
		{"alias clashes with the secret's file", "objectName: db-config\nobjectType: secret\njmesPath:\n  - path: user\n    objectAlias: db-config",
			codes.InvalidArgument, []string{"db-config"}},
		{"invalid filePermission", "objectName: db-config\nobjectType: secret\njmesPath:\n  - path: user\n    objectAlias: u\n    filePermission: rw",
			codes.InvalidArgument, []string{"objectName:db-config,", "jmesPath[0]", "filePermission"}},
		{"on a key object", "objectName: db-config\nobjectType: key\njmesPath:\n  - path: user\n    objectAlias: u",
			codes.InvalidArgument, []string{"objectName:db-config,", "jmesPath only supported for objectType: secret"}},
		{"with objectVersionHistory", "objectName: db-config\nobjectType: secret\nobjectVersionHistory: 2\njmesPath:\n  - path: user\n    objectAlias: u",
			codes.InvalidArgument, []string{"objectName:db-config,", "objectVersionHistory"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := h.Emu.Counts().KeyVaultRequests
			st := wiMountErr(t, h, c.obj)
			// No value of the secret may appear in the message.
			wantFailure(t, st, c.code, c.contains, "p@ss", "db.internal", "5432", "user=app")
			checkNoFetch(t, h, c.code, before)
		})
	}
}

// formatsMultiVault: objects with their own keyvaultName are fetched from that vault
// with the same identity; an identity granted on only one vault fails on the other with
// a 403 that names the object and the vault.
func formatsMultiVault(t *testing.T, h *harness.Harness) {
	f := pkiFx(t)
	const platform, restricted = "kvcsi-platform", "kvcsi-restricted"
	p := h.Emu.Vault(platform)
	p.SetTenant(harness.Tenant)
	r := h.Emu.Vault(restricted)
	r.SetTenant(harness.Tenant)
	for _, id := range []string{harness.WIClientID, harness.SPClientID} {
		p.Grant(id, emulator.SecretGet, emulator.SecretList, emulator.KeyGet, emulator.CertGet)
	}
	r.Grant(harness.WIClientID, emulator.SecretGet) // the service principal has nothing here

	appVer := h.Vault.SetSecret("shared-name", "from the app vault", emulator.SecretOptions{})
	platVer := p.SetSecret("shared-name", "from the platform vault", emulator.SecretOptions{})
	keyVer := p.SetKey("platform-key", jwkOf(t, f.p256.Public(), ""), emulator.KeyOptions{})
	certVer := p.SetCertificate("platform-tls", emulator.CertificateInput{Leaf: f.ecLeaf.Cert, Chain: chainDERs(f.ecInter, f.ecRoot), Key: f.ecLeaf.Key, ContentType: emulator.ContentTypePFX})
	restrictedVer := r.SetSecret("restricted-secret", "only for workload identity", emulator.SecretOptions{})

	objs := []string{
		"objectName: shared-name\nobjectType: secret",
		"objectName: shared-name\nobjectType: secret\nkeyvaultName: " + platform + "\nobjectAlias: platform/shared-name",
		"objectName: platform-key\nobjectType: key\nkeyvaultName: " + platform,
		"objectName: platform-tls\nobjectType: secret\nkeyvaultName: " + platform + "\nsplitCertAndKey: true",
		"objectName: restricted-secret\nobjectType: secret\nkeyvaultName: " + restricted,
	}
	ecKey := keyPEM(t, f.ecLeaf.Key)
	chain := certsPEM(f.ecLeaf, f.ecInter, f.ecRoot)
	want := []fileWant{
		{"shared-name", "from the app vault", 0o644, "secret/shared-name", appVer},
		{"platform/shared-name", "from the platform vault", 0o644, "secret/shared-name", platVer},
		{"platform-key", pubPEM(t, f.p256.Public()), 0o644, "key/platform-key", keyVer},
		{"platform-tls.crt", chain, 0o644, "secret/platform-tls", certVer},
		{"platform-tls.key", ecKey, 0o644, "secret/platform-tls", certVer},
		{"platform-tls", ecKey + chain, 0o644, "secret/platform-tls", certVer},
		{"restricted-secret", "only for workload identity", 0o644, "secret/restricted-secret", restrictedVer},
	}
	t.Run("workload identity on three vaults", func(t *testing.T) {
		checkFiles(t, wiMount(t, h, objs...), want)
	})
	t.Run("service principal on the vaults it may read", func(t *testing.T) {
		resp, err := h.Mount(ctx(t), harness.MountInput{Params: spParams(objs[:4]...), Secrets: spSecrets()})
		if err != nil {
			t.Fatalf("mount: %v", err)
		}
		checkFiles(t, resp, want[:6])
	})
	t.Run("service principal without access to one vault: 403 naming the object", func(t *testing.T) {
		_, err := h.Mount(ctx(t), harness.MountInput{Params: spParams(objs...), Secrets: spSecrets()})
		if err == nil {
			t.Fatal("mount succeeded")
		}
		st := status.Convert(err)
		wantFailure(t, st, codes.PermissionDenied,
			[]string{"failed to mount objects, error:", "objectType:secret, objectName:restricted-secret,", restricted, "403"},
			"only for workload identity", "from the platform vault", harness.SPSecret)
		for _, other := range []string{"objectName:shared-name,", "objectName:platform-key,", "objectName:platform-tls,"} {
			if strings.Contains(st.Message(), other) {
				t.Errorf("an object of a readable vault is reported as failing (%s):\n%s", other, st.Message())
			}
		}
	})
	t.Run("objectVersionHistory in another vault", func(t *testing.T) {
		now := time.Now()
		old := p.SetSecret("platform-rotating", "old", emulator.SecretOptions{Created: now.Add(-time.Hour)})
		cur := p.SetSecret("platform-rotating", "current", emulator.SecretOptions{Created: now})
		h.Vault.SetSecret("platform-rotating", "same name, app vault", emulator.SecretOptions{})
		resp := wiMount(t, h, "objectName: platform-rotating\nobjectType: secret\nkeyvaultName: "+platform+"\nobjectVersionHistory: 3")
		checkFiles(t, resp, []fileWant{
			{"platform-rotating/0", "current", 0o644, "secret/platform-rotating/0", cur},
			{"platform-rotating/1", "old", 0o644, "secret/platform-rotating/1", old},
		})
	})
	t.Run("unknown vault", func(t *testing.T) {
		st := wiMountErr(t, h, "objectName: x\nobjectType: secret\nkeyvaultName: kvcsi-nowhere")
		wantFailure(t, st, anyFailure, []string{"objectName:x,", "kvcsi-nowhere"})
	})
	t.Run("invalid keyvaultName", func(t *testing.T) {
		st := wiMountErr(t, h, "objectName: x\nobjectType: secret\nkeyvaultName: https://kvcsi-platform.vault.azure.net/")
		wantFailure(t, st, codes.InvalidArgument, []string{"objectName:x,", "keyvaultName"})
	})
}

// checkNoFetch: a configuration error (InvalidArgument in these tables) is found before
// any Key Vault request; before is the emulator's request count ahead of the mount.
func checkNoFetch(t *testing.T, h *harness.Harness, code codes.Code, before int) {
	t.Helper()
	if n := h.Emu.Counts().KeyVaultRequests - before; code == codes.InvalidArgument && n != 0 {
		t.Errorf("a configuration error made %d Key Vault requests: it must be rejected before any", n)
	}
}
