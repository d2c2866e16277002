package config

import (
	"errors"
	"io/fs"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/provider/sensitive"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// obj is a shorthand for a single-object objects parameter.
func obj(lines ...string) string { return objectsYAML(strings.Join(lines, "\n")) }

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		attrs   map[string]string
		secrets map[string]string
		want    string // kept text; a fix hint must follow it after "; fix: "
		noFix   bool
		// nilSecrets sends a nil secrets map; otherwise a nil secrets field means spSecrets().
		nilSecrets bool
	}{
		// pod keys
		{name: "no pod name", attrs: attrs(AttrPodName, ""), want: "pod name is not provided"},
		{name: "blank pod name", attrs: attrs(AttrPodName, "  "), want: "pod name is not provided"},
		{name: "no pod namespace", attrs: attrs(AttrPodNamespace, ""), want: "pod namespace is not provided"},

		// identity flags
		{name: "bad usePodIdentity", attrs: attrs(ParamUsePodIdentity, "yes"),
			want: `failed to parse usePodIdentity flag, error: strconv.ParseBool: parsing "yes": invalid syntax`},
		{name: "bad useVMManagedIdentity", attrs: attrs(ParamUseVMManagedIdentity, "on"),
			want: `failed to parse useVMManagedIdentity flag, error: strconv.ParseBool: parsing "on": invalid syntax`},
		{name: "bad useAzureTokenProxy", attrs: attrs(ParamUseAzureTokenProxy, "tRUE"),
			want: `failed to parse useAzureTokenProxy flag, error: strconv.ParseBool: parsing "tRUE": invalid syntax`},
		{name: "flag parsed after trim", attrs: attrs(ParamUsePodIdentity, " nope "),
			want: `strconv.ParseBool: parsing "nope": invalid syntax`},
		{name: "two modes", attrs: attrs(ParamUsePodIdentity, "true", ParamUseVMManagedIdentity, "1"),
			want: "only one identity mode can be enabled at a time: usePodIdentity, useVMManagedIdentity, or useAzureTokenProxy"},
		{name: "three modes", attrs: attrs(ParamUsePodIdentity, "T", ParamUseVMManagedIdentity, "TRUE", ParamUseAzureTokenProxy, "True"),
			want: "only one identity mode can be enabled at a time"},
		{name: "flags before keyvaultName", attrs: attrs(ParamKeyvaultName, "", ParamUsePodIdentity, "x"),
			want: "failed to parse usePodIdentity flag"},

		// vault and tenant
		{name: "no keyvaultName", attrs: attrs(ParamKeyvaultName, ""), want: "keyvaultName is not provided"},
		{name: "blank keyvaultName", attrs: attrs(ParamKeyvaultName, " \t"), want: "keyvaultName is not provided"},
		{name: "no tenant", attrs: attrs(ParamTenantID, ""), want: "tenantId is not provided"},
		{name: "keyvaultName before tenant", attrs: attrs(ParamKeyvaultName, "", ParamTenantID, ""), want: "keyvaultName is not provided"},
		{name: "vault too short", attrs: attrs(ParamKeyvaultName, "kv"),
			want: `failed to get vault: Invalid vault name: "kv", must be between 3 and 24 chars`},
		{name: "vault too long", attrs: attrs(ParamKeyvaultName, "abcdefghijklmnopqrstuvwxy"),
			want: `failed to get vault: Invalid vault name: "abcdefghijklmnopqrstuvwxy", must be between 3 and 24 chars`},
		{name: "vault is a URL", attrs: attrs(ParamKeyvaultName, "kv.vault.azure.net"),
			want: `failed to get vault: Invalid vault name: "kv.vault.azure.net", must match [-a-zA-Z0-9]{3,24}`},

		// identity material
		{name: "sp nil secrets", attrs: attrs(), nilSecrets: true,
			want: "failed to build auth config for mode None: failed to get credentials, nodePublishSecretRef secret is not set"},
		{name: "sp empty secrets", attrs: attrs(), secrets: map[string]string{},
			want: "failed to build auth config for mode None: could not find clientid in secrets"},
		{name: "sp only driver token in secrets", attrs: attrs(), secrets: map[string]string{AttrServiceAccountToken: tokensJSON("x")},
			want: "failed to build auth config for mode None: could not find clientid in secrets"},
		{name: "sp no clientid", attrs: attrs(), secrets: map[string]string{"clientsecret": testSecret},
			want: "failed to build auth config for mode None: could not find clientid in secrets"},
		{name: "sp empty clientid", attrs: attrs(), secrets: map[string]string{"clientid": " ", "clientsecret": testSecret},
			want: "could not find clientid in secrets"},
		{name: "sp no clientsecret", attrs: attrs(), secrets: map[string]string{"ClientID": "abc"},
			want: "failed to build auth config for mode None: could not find clientsecret in secrets"},
		{name: "wi no tokens", attrs: attrs(ParamClientID, "cid"), secrets: spSecrets(),
			want: "failed to build auth config for mode None: failed to parse workload identity tokens, error: service account tokens not found"},
		{name: "wi bad tokens json", attrs: attrs(ParamClientID, "cid", AttrServiceAccountToken, `{"api://AzureADTokenExchange":`+testToken),
			want: "failed to build auth config for mode None: failed to parse workload identity tokens, error: failed to unmarshal service account tokens, error: "},
		{name: "wi tokens wrong shape", attrs: attrs(ParamClientID, "cid", AttrServiceAccountToken, `{"api://AzureADTokenExchange":"`+testToken+`"}`),
			want: "failed to unmarshal service account tokens, error: "},
		{name: "wi wrong audience", attrs: attrs(ParamClientID, "cid", AttrServiceAccountToken, tokensJSON("api://AKSIdentityBinding")),
			want: "failed to build auth config for mode None: failed to parse workload identity tokens, error: token for audience api://AzureADTokenExchange not found"},
		{name: "wi empty token", attrs: attrs(ParamClientID, "cid", AttrServiceAccountToken, `{"api://AzureADTokenExchange":{"token":""}}`),
			want: "token for audience api://AzureADTokenExchange not found"},
		{name: "ib no clientID", attrs: attrs(ParamUseAzureTokenProxy, "true"), want: "clientID is required for identity binding"},
		{name: "ib no tokens", attrs: attrs(ParamUseAzureTokenProxy, "true", ParamClientID, "cid"),
			want: "service account tokens are required for identity binding"},
		{name: "ib wrong audience", attrs: attrs(ParamUseAzureTokenProxy, "true", ParamClientID, "cid", AttrServiceAccountToken, tokensJSON(vocab.WorkloadIdentityAudience)),
			want: "failed to parse service account token for identity binding, error: token for audience api://AKSIdentityBinding not found"},
		{name: "ib bad json", attrs: attrs(ParamUseAzureTokenProxy, "true", ParamClientID, "cid", AttrServiceAccountToken, "["+testToken),
			want: "failed to parse service account token for identity binding, error: failed to unmarshal service account tokens, error: "},

		// objects parameter
		{name: "no objects", attrs: attrs(ParamObjects, ""), want: "objects is not set"},
		{name: "blank objects", attrs: attrs(ParamObjects, "\n  \n"), want: "objects is not set"},
		{name: "identity before objects", attrs: attrs(ParamObjects, ""), nilSecrets: true, want: "nodePublishSecretRef secret is not set"},
		{name: "objects items are maps", attrs: attrs(ParamObjects, "array:\n  - objectName: a\n    objectType: secret\n"),
			want: "failed to yaml unmarshal objects, error: yaml: unmarshal errors:"},
		{name: "objects bare list", attrs: attrs(ParamObjects, "- |\n  objectName: a\n"),
			want: "failed to yaml unmarshal objects, error: yaml: unmarshal errors:"},
		{name: "objects not yaml", attrs: attrs(ParamObjects, "array: [\"a\""), want: "failed to yaml unmarshal objects, error: yaml: "},
		{name: "history quoted", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", `objectVersionHistory: "5"`)),
			want: "unmarshal failed for keyVaultObjects at index 0, error: yaml: unmarshal errors:\n  line 3: cannot unmarshal !!str `5` into int32"},
		{name: "second object bad yaml", attrs: attrs(ParamObjects, objectsYAML("objectName: a\nobjectType: secret", "objectName: [b")),
			want: "unmarshal failed for keyVaultObjects at index 1, error: yaml: "},
		{name: "split quoted", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", `splitCertAndKey: "true"`)),
			want: "unmarshal failed for keyVaultObjects at index 0, error: "},
		{name: "jmesPath not a list", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "jmesPath: username")),
			want: "unmarshal failed for keyVaultObjects at index 0, error: "},
		{name: "object is a list", attrs: attrs(ParamObjects, obj("- a")),
			want: "unmarshal failed for keyVaultObjects at index 0, error: yaml: unmarshal errors:"},

		// object validation, upstream texts
		{name: "empty file name", attrs: attrs(ParamObjects, obj("objectType: secret")),
			want: "failed to get objectType:secret, objectName:, objectVersion:: file name must not be empty"},
		{name: "absolute alias", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectAlias: /etc/passwd")),
			want: "failed to get objectType:secret, objectName:a, objectVersion:: file name must be a relative path"},
		{name: "absolute name", attrs: attrs(ParamObjects, obj("objectName: /a", "objectType: secret")),
			want: "failed to get objectType:secret, objectName:/a, objectVersion:: file name must be a relative path"},
		{name: "dotdot element", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectAlias: ../evil")),
			want: "failed to get objectType:secret, objectName:a, objectVersion:: file name must not contain '..'"},
		{name: "dotdot inner", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectAlias: x/../../y")),
			want: "file name must not contain '..'"},
		{name: "dotdot substring", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectAlias: a..b")),
			want: "file name must not contain '..'"},
		{name: "bad format", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectFormat: der", "objectVersion: v1")),
			want: "failed to get objectType:secret, objectName:a, objectVersion:v1: invalid objectFormat: der, should be PEM or PFX"},
		{name: "pfx for cert", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: cert", "objectFormat: pfx")),
			want: "failed to get objectType:cert, objectName:a, objectVersion:: PFX format only supported for objectType: secret"},
		{name: "PFX for key (case-insensitive)", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: key", "objectFormat: PFX")),
			want: "failed to get objectType:key, objectName:a, objectVersion:: PFX format only supported for objectType: secret"},
		{name: "encoding for cert", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: cert", "objectEncoding: base64")),
			want: "failed to get objectType:cert, objectName:a, objectVersion:: objectEncoding only supported for objectType: secret"},
		{name: "encoding for Secret", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: Secret", "objectEncoding: hex")),
			want: "objectEncoding only supported for objectType: secret"},
		{name: "bad encoding", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectEncoding: base32")),
			want: "failed to get objectType:secret, objectName:a, objectVersion:: invalid objectEncoding: base32, should be hex, base64 or utf-8"},
		{name: "format before encoding", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: key", "objectFormat: x", "objectEncoding: y")),
			want: "invalid objectFormat: x, should be PEM or PFX"},
		{name: "encoding before file name", attrs: attrs(ParamObjects, obj("objectType: key", "objectEncoding: y")),
			want: "objectEncoding only supported for objectType: secret"},
		{name: "second object fails", attrs: attrs(ParamObjects, objectsYAML("objectName: a\nobjectType: secret", "objectName: b\nobjectType: secret\nobjectAlias: /b")),
			want: "failed to get objectType:secret, objectName:b, objectVersion:: file name must be a relative path"},
		{name: "object errors before vault name", attrs: attrs(ParamKeyvaultName, "x", ParamObjects, obj("objectType: secret")),
			want: "file name must not be empty"},

		// kvcsi: object type up front
		{name: "type Secret", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: Secret")),
			want: "failed to get objectType:Secret, objectName:a, objectVersion:: Invalid vaultObjectTypes. Should be secret, key, or cert"},
		{name: "type missing", attrs: attrs(ParamObjects, obj("objectName: a")),
			want: "failed to get objectType:, objectName:a, objectVersion:: Invalid vaultObjectTypes. Should be secret, key, or cert"},
		{name: "type certificate", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: certificate")),
			want: "Invalid vaultObjectTypes. Should be secret, key, or cert"},
		{name: "alias without name", attrs: attrs(ParamObjects, obj("objectAlias: a", "objectType: secret")),
			want: "failed to get objectType:secret, objectName:, objectVersion:: objectName must not be empty"},

		// kvcsi: file permission
		{name: "perm not octal", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "filePermission: 0855")),
			want: `failed to get objectType:secret, objectName:a, objectVersion:: invalid filePermission "0855": must be an octal mode such as 0644`},
		{name: "perm words", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "filePermission: rw-r--r--")),
			want: `invalid filePermission "rw-r--r--": must be an octal mode such as 0644`},
		{name: "perm setuid", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "filePermission: 4755")),
			want: `invalid filePermission "4755": must be an octal mode such as 0644`},
		{name: "perm 0o prefix", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "filePermission: 0o644")),
			want: `invalid filePermission "0o644"`},
		{name: "history negative", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectVersionHistory: -1")),
			want: "failed to get objectType:secret, objectName:a, objectVersion:: invalid objectVersionHistory -1: must not be negative"},

		// kvcsi: clean paths
		{name: "backslash", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", `objectAlias: 'dir\file'`)),
			want: `file name must not contain '\'`},
		{name: "drive letter", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", `objectAlias: 'C:/x'`)),
			want: "file name must be a relative path"},
		{name: "dot slash", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectAlias: ./a")),
			want: "file name must not contain '.' path elements"},
		{name: "inner dot", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectAlias: a/./b")),
			want: "file name must not contain '.' path elements"},
		{name: "lone dot", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectAlias: '.'")),
			want: "file name must not contain '.' path elements"},
		{name: "double slash", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectAlias: a//b")),
			want: "file name must not contain empty path elements"},
		{name: "trailing slash", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectAlias: a/")),
			want: "file name must not end with '/'"},
		{name: "long element", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectAlias: d/"+strings.Repeat("x", 256))),
			want: "file name element is longer than 255 bytes"},
		{name: "long path", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectAlias: "+strings.Repeat("abcdefgh/", 456)+"z")),
			want: "file name is longer than 4096 bytes"},

		// kvcsi: duplicates
		{name: "duplicate names", attrs: attrs(ParamObjects, objectsYAML("objectName: a\nobjectType: secret", "objectName: a\nobjectType: cert")),
			want: `failed to get objectType:cert, objectName:a, objectVersion:: duplicate output path "a": objectName of objects.array[0] (objectType:secret, objectName:a) uses it too`},
		{name: "alias equals other name", attrs: attrs(ParamObjects, objectsYAML("objectName: tls\nobjectType: secret", "objectName: other\nobjectType: secret\nobjectAlias: tls")),
			want: `duplicate output path "tls": objectName of objects.array[0]`},
		{name: "history vs file", attrs: attrs(ParamObjects, objectsYAML("objectName: a\nobjectType: secret\nobjectVersionHistory: 3", "objectName: b\nobjectType: secret\nobjectAlias: a/2")),
			want: `failed to get objectType:secret, objectName:b, objectVersion:: duplicate output path "a/2": objectName of objects.array[0]`},
		{name: "history dir vs file", attrs: attrs(ParamObjects, objectsYAML("objectName: a\nobjectType: secret\nobjectVersionHistory: 3", "objectName: a\nobjectType: key")),
			want: `output path "a" is needed both as a file and as a directory`},
		{name: "file vs dir", attrs: attrs(ParamObjects, objectsYAML("objectName: a\nobjectType: secret", "objectName: b\nobjectType: secret\nobjectAlias: a/b")),
			want: `output path "a" is needed both as a file and as a directory`},
		{name: "two histories", attrs: attrs(ParamObjects, objectsYAML("objectName: a\nobjectType: secret\nobjectVersionHistory: 2", "objectName: a\nobjectType: key\nobjectVersionHistory: 5")),
			want: `duplicate output path "a/0"`},
		{name: "jmesPath alias vs object", attrs: attrs(ParamObjects, objectsYAML("objectName: user\nobjectType: secret",
			"objectName: db\nobjectType: secret\njmesPath:\n  - path: username\n    objectAlias: user")),
			want: `failed to get objectType:secret, objectName:db, objectVersion:: duplicate output path "user": objectName of objects.array[0]`},
		{name: "jmesPath aliases duplicate", attrs: attrs(ParamObjects, obj("objectName: db", "objectType: secret", "jmesPath:",
			"  - path: username", "    objectAlias: u", "  - path: password", "    objectAlias: u")),
			want: `duplicate output path "u": jmesPath[0].objectAlias and jmesPath[1].objectAlias of this object both use it`},
		{name: "jmesPath alias equals own file", attrs: attrs(ParamObjects, obj("objectName: db", "objectType: secret", "jmesPath:",
			"  - path: username", "    objectAlias: db")),
			want: `duplicate output path "db": objectName and jmesPath[0].objectAlias of this object both use it`},
		{name: "split companion", attrs: attrs(ParamObjects, objectsYAML("objectName: tls\nobjectType: secret\nsplitCertAndKey: true", "objectName: other\nobjectType: secret\nobjectAlias: tls.key")),
			want: `failed to get objectType:secret, objectName:other, objectVersion:: duplicate output path "tls.key": objects.array[0] (objectType:secret, objectName:tls) has splitCertAndKey`},
		{name: "split companion earlier", attrs: attrs(ParamObjects, objectsYAML("objectName: other\nobjectType: secret\nobjectAlias: tls.crt", "objectName: tls\nobjectType: secret\nsplitCertAndKey: true")),
			want: `objectName:other, objectVersion:: duplicate output path "tls.crt"`},
		{name: "split history companion", attrs: attrs(ParamObjects, objectsYAML("objectName: tls\nobjectType: secret\nsplitCertAndKey: true\nobjectVersionHistory: 2", "objectName: other\nobjectType: secret\nobjectAlias: tls/1.crt")),
			want: `duplicate output path "tls/1.crt"`},

		// kvcsi: extension fields
		{name: "per-object vault short", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "keyvaultName: ab")),
			want: `failed to get objectType:secret, objectName:a, objectVersion:: failed to get vault: Invalid vault name: "ab", must be between 3 and 24 chars`},
		{name: "per-object vault chars", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "keyvaultName: kv_1")),
			want: `failed to get vault: Invalid vault name: "kv_1", must match [-a-zA-Z0-9]{3,24}`},
		{name: "certificatePart bad", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "certificatePart: leaf")),
			want: "invalid certificatePart: leaf, should be full, chain, key or ca"},
		{name: "certificatePart on cert", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: cert", "certificatePart: key")),
			want: "certificatePart only supported for objectType: secret"},
		{name: "certificatePart with pfx", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "certificatePart: key", "objectFormat: pfx")),
			want: "certificatePart key cannot be combined with objectFormat: pfx"},
		{name: "split on key", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: key", "splitCertAndKey: true")),
			want: "splitCertAndKey only supported for objectType: secret"},
		{name: "convert on cert", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: cert", "convertPFXToPEM: true")),
			want: "convertPFXToPEM only supported for objectType: secret"},
		{name: "convert with pfx", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "convertPFXToPEM: true", "objectFormat: PFX")),
			want: "convertPFXToPEM cannot be combined with objectFormat: pfx"},
		{name: "jmesPath on key", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: key", "jmesPath:", "  - path: x", "    objectAlias: y")),
			want: "jmesPath only supported for objectType: secret"},
		{name: "jmesPath with history", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectVersionHistory: 2", "jmesPath:", "  - path: x", "    objectAlias: y")),
			want: "jmesPath cannot be combined with objectVersionHistory > 1"},
		{name: "jmesPath empty path", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "jmesPath:", "  - objectAlias: y")),
			want: "failed to get objectType:secret, objectName:a, objectVersion:: jmesPath[0]: path must not be empty"},
		{name: "jmesPath bad syntax", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "jmesPath:", "  - path: 'a.['", "    objectAlias: y")),
			want: `jmesPath[0]: invalid path "a.[": `},
		{name: "jmesPath unbounded function", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "jmesPath:", "  - path: \"pad_left(password, `1000000000`)\"", "    objectAlias: y")),
			want: "jmesPath[0]: invalid path \"pad_left(password, `1000000000`)\": unsupported JMESPath expression: function pad_left is not supported"},
		{name: "jmesPath doubling", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "jmesPath:", "  - path: '[@,@][] | [@,@][] | [@,@][] | [@,@][] | [@,@][] | [@,@][] | [@,@][]'", "    objectAlias: y")),
			want: "more than 64 times the size of the secret"},
		{name: "jmesPath no alias", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "jmesPath:", "  - path: x", "  - path: y", "    objectAlias: ''")),
			want: "jmesPath[0]: file name must not be empty"},
		{name: "jmesPath alias traversal", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "jmesPath:", "  - path: x", "    objectAlias: ../x")),
			want: "jmesPath[0]: file name must not contain '..'"},
		{name: "jmesPath alias absolute", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "jmesPath:", "  - path: x", "    objectAlias: /x")),
			want: "jmesPath[0]: file name must be a relative path"},
		{name: "jmesPath bad perm", attrs: attrs(ParamObjects, obj("objectName: a", "objectType: secret", "jmesPath:", "  - path: x", "    objectAlias: y", "    filePermission: 999")),
			want: `jmesPath[0]: invalid filePermission "999": must be an octal mode such as 0644`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secrets := tt.secrets
			if secrets == nil && !tt.nilSecrets {
				secrets = spSecrets()
			}
			m, err := Parse(tt.attrs, secrets, 0o644)
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error containing %q", m, tt.want)
			}
			checkLintAgrees(t, tt.attrs, secrets, 0o644, err)
			if m != nil {
				t.Errorf("Parse returned a Mount with an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("error\n  %s\nwant it to contain\n  %s", msg, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			if !tt.noFix {
				rest := msg[strings.Index(msg, tt.want)+len(tt.want):]
				if !strings.Contains(rest, FixSeparator) || len(strings.TrimSpace(rest)) < 10 {
					t.Errorf("no fix hint after the kept text: %q", msg)
				}
			}
			for _, leak := range []string{testToken, testSecret} {
				if strings.Contains(msg, leak) {
					t.Errorf("error leaks a credential: %s", msg)
				}
			}
			if strings.HasPrefix(msg, "failed to get objectType:") {
				var oe *vocab.ObjectError
				if !errors.As(err, &oe) {
					t.Errorf("object error is not an *vocab.ObjectError: %T", err)
				}
			}
		})
	}
}

func TestObjectErrorFields(t *testing.T) {
	a := attrs(ParamObjects, objectsYAML("objectName: a\nobjectType: secret", "objectName: b\nobjectType: key\nobjectVersion: ' v2 '\nobjectFormat: pfx"))
	_, err := Parse(a, spSecrets(), 0o644)
	var oe *vocab.ObjectError
	if !errors.As(err, &oe) {
		t.Fatalf("want *vocab.ObjectError, got %T %v", err, err)
	}
	if oe.Index != 1 || oe.Type != "key" || oe.Name != "b" || oe.Version != "v2" {
		t.Errorf("vocab.ObjectError = %+v", oe)
	}
	var ve *Error
	if !errors.As(err, &ve) || ve.Param != FieldObjectFormat || ve.Fix == "" {
		t.Errorf("inner *Error = %+v", ve)
	}
	if got := errors.Unwrap(err); got != oe.Err {
		t.Errorf("Unwrap = %v", got)
	}
}

func TestErrorUnwrapsCause(t *testing.T) {
	_, err := Parse(attrs(ParamUsePodIdentity, "maybe"), spSecrets(), 0o644)
	var ve *Error
	if !errors.As(err, &ve) || ve.Param != ParamUsePodIdentity || ve.Err == nil {
		t.Fatalf("got %#v", err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatal("not ErrInvalid")
	}
}

func TestParseServicePrincipal(t *testing.T) {
	a := attrs(ParamTenantID, "  tenant-1  ")
	m := mustParse(t, a, map[string]string{"ClientId": " app-1\n", "CLIENTSECRET": testSecret, "other": "x"})
	id := m.Identity
	if id.Mode != vocab.ServicePrincipal || id.ClientID != "app-1" || id.ClientSecret.Reveal() != testSecret || id.TenantID != "tenant-1" {
		t.Fatalf("identity = %+v", id)
	}
	if !id.ServiceAccountToken.IsEmpty() {
		t.Error("SP mode carries a token")
	}
}

func TestParseServicePrincipalPrefersLowercaseKey(t *testing.T) {
	m := mustParse(t, attrs(), map[string]string{"ClientID": "upper", "clientid": "lower", "clientsecret": "s"})
	if m.Identity.ClientID != "lower" {
		t.Fatalf("ClientID = %q", m.Identity.ClientID)
	}
}

func TestParseWorkloadIdentity(t *testing.T) {
	for _, where := range []string{"attributes", "secrets", "both"} {
		t.Run(where, func(t *testing.T) {
			a := attrs(ParamClientID, " cid ")
			s := map[string]string{}
			if where != "secrets" {
				a[AttrServiceAccountToken] = tokensJSON(vocab.WorkloadIdentityAudience)
			}
			if where != "attributes" {
				s[AttrServiceAccountToken] = tokensJSON(vocab.WorkloadIdentityAudience)
			}
			m := mustParse(t, a, s)
			id := m.Identity
			if id.Mode != vocab.WorkloadIdentity || id.ClientID != "cid" || id.ServiceAccountToken.Reveal() != testToken {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
}

func TestParseWorkloadIdentityManyAudiences(t *testing.T) {
	tok := `{"":{"token":"default-aud","expirationTimestamp":"x"},"api://AKSIdentityBinding":{"token":"ib"},"api://AzureADTokenExchange":{"token":"wi"}}`
	m := mustParse(t, attrs(ParamClientID, "cid", AttrServiceAccountToken, tok), nil)
	if m.Identity.ServiceAccountToken.Reveal() != "wi" {
		t.Fatalf("token = %q", m.Identity.ServiceAccountToken.Reveal())
	}
}

func TestParseIdentityBinding(t *testing.T) {
	m := mustParse(t, attrs(ParamUseAzureTokenProxy, "true", ParamClientID, "uami", AttrServiceAccountToken, tokensJSON(vocab.IdentityBindingAudience)), nil)
	id := m.Identity
	if id.Mode != vocab.IdentityBinding || id.ClientID != "uami" || id.ServiceAccountToken.Reveal() != testToken {
		t.Fatalf("identity = %+v", id)
	}
}

func TestParseVMManagedIdentity(t *testing.T) {
	tests := []struct {
		name string
		a    map[string]string
		uami string
	}{
		{"system assigned", attrs(ParamUseVMManagedIdentity, "true"), ""},
		{"user assigned", attrs(ParamUseVMManagedIdentity, "1", ParamUserAssignedIdentityID, " 1111-2222 "), "1111-2222"},
		// Deliberate difference: clientID without a token is fine in this mode.
		{"clientID without token", attrs(ParamUseVMManagedIdentity, "True", ParamClientID, "cid"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.a, nil)
			if m.Identity.Mode != vocab.VMManagedIdentity || m.Identity.UserAssignedIdentityID != tt.uami {
				t.Fatalf("identity = %+v", m.Identity)
			}
		})
	}
}

func TestParsePodIdentity(t *testing.T) {
	m := mustParse(t, attrs(ParamUsePodIdentity, "t", ParamClientID, "cid", ParamUserAssignedIdentityID, "ignored"), nil)
	if m.Identity.Mode != vocab.PodIdentity || m.Identity.UserAssignedIdentityID != "" {
		t.Fatalf("identity = %+v", m.Identity)
	}
}

func TestParseBoolVariants(t *testing.T) {
	for _, v := range []string{"1", "t", "T", "TRUE", "true", "True", " true "} {
		m := mustParse(t, attrs(ParamUseVMManagedIdentity, v), nil)
		if m.Identity.Mode != vocab.VMManagedIdentity {
			t.Errorf("%q: mode %v", v, m.Identity.Mode)
		}
	}
	for _, v := range []string{"0", "f", "F", "FALSE", "false", "False", "  "} {
		m := mustParse(t, attrs(ParamUseVMManagedIdentity, v, ParamUsePodIdentity, v, ParamUseAzureTokenProxy, v), spSecrets())
		if m.Identity.Mode != vocab.ServicePrincipal {
			t.Errorf("%q: mode %v", v, m.Identity.Mode)
		}
	}
}

func TestParseTenantPrecedence(t *testing.T) {
	tests := []struct{ tenantID, tenantId, want string }{
		{"new", "old", "new"},
		{"", "old", "old"},
		{"  ", " old ", "old"},
		{"adfs", "", "adfs"},
	}
	for _, tt := range tests {
		a := attrs(ParamTenantID, tt.tenantID, ParamTenantIDDeprecated, tt.tenantId)
		if tt.tenantID == "  " {
			a[ParamTenantID] = "  "
		}
		m := mustParse(t, a, spSecrets())
		if m.Identity.TenantID != tt.want {
			t.Errorf("%+v: TenantID = %q", tt, m.Identity.TenantID)
		}
	}
}

func TestParseKeysAreCaseSensitive(t *testing.T) {
	a := attrs(ParamKeyvaultName, "")
	a["keyVaultName"] = "kv-prod-01"
	if _, err := Parse(a, spSecrets(), 0o644); err == nil || !strings.Contains(err.Error(), "keyvaultName is not provided") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseMountFields(t *testing.T) {
	a := attrs(ParamCloudName, " AzureUSGovernmentCloud ", ParamCloudEnvFileName, " /etc/kubernetes/custom.json ",
		ParamKeyvaultName, " kv-prod-01 ", "resourceGroup", "legacy", "someUnknown", "x")
	m := mustParse(t, a, spSecrets())
	want := Pod{Name: "web-0", Namespace: "default", UID: "ab34757f-cb2d-406c-a6d0-3e993ee83bd6", ServiceAccount: "web"}
	if m.Pod != want {
		t.Errorf("Pod = %+v", m.Pod)
	}
	if m.CloudName != "AzureUSGovernmentCloud" || m.CloudEnvFileName != "/etc/kubernetes/custom.json" || m.VaultName != "kv-prod-01" {
		t.Errorf("mount = %+v", m)
	}
	if m.DefaultMode != 0o644 {
		t.Errorf("DefaultMode = %v", m.DefaultMode)
	}
}

func TestParseZeroObjects(t *testing.T) {
	for _, objects := range []string{"array: []", "array:", "other: 1", "{}"} {
		// An invalid vault name is only checked when there is at least one object.
		m := mustParse(t, attrs(ParamObjects, objects, ParamKeyvaultName, "x"), spSecrets())
		if len(m.Objects) != 0 {
			t.Errorf("%q: objects = %+v", objects, m.Objects)
		}
	}
}

// The example from the Azure provider's docs, as users paste it.
const docsSPC = `array:
  - |
    objectName: secret1
    objectType: secret              # object types: secret, key or cert
    objectVersion: ""               # [OPTIONAL] object versions, default to latest if empty
  - |
    objectName: key1
    objectType: key
    objectVersion: ""
  - |
    objectName: cert1
    objectType: cert
    objectAlias: tls.crt
  - |
    objectName: cert1
    objectType: secret
    objectAlias: tls.key
    objectFormat: PEM
  - |
    objectName: pfx1
    objectType: secret
    objectFormat: pfx
    objectEncoding: base64
    filePermission: 0600
  - |
    objectName: storage-key
    objectType: secret
    objectVersionHistory: 5
`

func TestParseObjects(t *testing.T) {
	m := mustParse(t, attrs(ParamObjects, docsSPC), spSecrets())
	want := []Object{
		{Index: 0, Name: "secret1", Type: vocab.Secret, Mode: 0o644, VaultName: "kv-prod-01"},
		{Index: 1, Name: "key1", Type: vocab.Key, Mode: 0o644, VaultName: "kv-prod-01"},
		{Index: 2, Name: "cert1", Type: vocab.Cert, Alias: "tls.crt", Mode: 0o644, VaultName: "kv-prod-01"},
		{Index: 3, Name: "cert1", Type: vocab.Secret, Alias: "tls.key", Format: "pem", Mode: 0o644, VaultName: "kv-prod-01"},
		{Index: 4, Name: "pfx1", Type: vocab.Secret, Format: "pfx", Encoding: "base64", Mode: 0o600, ModeSet: true, VaultName: "kv-prod-01"},
		{Index: 5, Name: "storage-key", Type: vocab.Secret, VersionHistory: 5, Mode: 0o644, VaultName: "kv-prod-01"},
	}
	if len(m.Objects) != len(want) {
		t.Fatalf("got %d objects: %+v", len(m.Objects), m.Objects)
	}
	for i := range want {
		if !objectEqual(m.Objects[i], want[i]) {
			t.Errorf("object %d\n got %+v\nwant %+v", i, m.Objects[i], want[i])
		}
	}
	if m.Objects[2].FileName() != "tls.crt" || m.Objects[0].FileName() != "secret1" {
		t.Error("FileName")
	}
}

func objectEqual(a, b Object) bool { return reflect.DeepEqual(a, b) }

func TestParseObjectsEncodings(t *testing.T) {
	tests := []struct {
		name, objects string
	}{
		{"block scalars", objectsYAML("objectName: a\nobjectType: secret")},
		{"folded block with strip", "array:\n  - |-\n    objectName: a\n    objectType: secret\n"},
		{"flow list of quoted strings", `array: ["objectName: a\nobjectType: secret"]`},
		{"flow mapping inside string", `array: ["{objectName: a, objectType: secret}"]`},
		{"json", `{"array": ["{\"objectName\": \"a\", \"objectType\": \"secret\"}"]}`},
		{"whitespace everywhere", "\n  array:\n    - |\n      objectName: '  a  '\n      objectType: \" secret \"\n      objectVersion:   \n"},
		{"tabs inside values", "array:\n  - \"objectName: \\ta\\t\\nobjectType: secret\""},
		{"unknown fields ignored", objectsYAML("objectName: a\nobjectType: secret\nobjectVersionhistory: 3\nfoo: bar")},
		{"crlf", "array:\r\n  - |\r\n    objectName: a\r\n    objectType: secret\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, attrs(ParamObjects, tt.objects), spSecrets())
			if len(m.Objects) != 1 || m.Objects[0].Name != "a" || m.Objects[0].Type != vocab.Secret ||
				m.Objects[0].Version != "" || m.Objects[0].VersionHistory != 0 {
				t.Fatalf("objects = %+v", m.Objects)
			}
		})
	}
}

func TestParseFormatEncodingCase(t *testing.T) {
	m := mustParse(t, attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectFormat: Pfx", "objectEncoding: UTF-8")), spSecrets())
	if o := m.Objects[0]; o.Format != "pfx" || o.Encoding != "utf-8" {
		t.Fatalf("%+v", o)
	}
	m = mustParse(t, attrs(ParamObjects, obj("objectName: a", "objectType: cert", "objectFormat: PEM")), spSecrets())
	if o := m.Objects[0]; o.Format != "pem" {
		t.Fatalf("%+v", o)
	}
}

func TestParseVersionHistoryValues(t *testing.T) {
	for _, n := range []int32{0, 1, 2, 1000} {
		m := mustParse(t, attrs(ParamObjects, obj("objectName: a", "objectType: secret", "objectVersionHistory: "+itoa(n))), spSecrets())
		if m.Objects[0].VersionHistory != n {
			t.Errorf("n=%d got %d", n, m.Objects[0].VersionHistory)
		}
	}
	// Very large histories are described, not expanded, when checking for duplicates.
	m := mustParse(t, attrs(ParamObjects, objectsYAML("objectName: a\nobjectType: secret\nobjectVersionHistory: 2147483647",
		"objectName: b\nobjectType: secret\nobjectAlias: a/notanindex", "objectName: c\nobjectType: secret\nobjectAlias: a/01")), spSecrets())
	if len(m.Objects) != 3 {
		t.Fatal(m.Objects)
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func TestParseNoDuplicateFalsePositives(t *testing.T) {
	objects := objectsYAML(
		"objectName: a\nobjectType: secret\nobjectVersionHistory: 3",
		"objectName: b\nobjectType: secret\nobjectAlias: a/4",      // beyond the history (a/0 … a/3)
		"objectName: c\nobjectType: secret\nobjectAlias: a/latest", // not an index
		"objectName: ab\nobjectType: secret",                       // shares a prefix, not a directory
		"objectName: d\nobjectType: secret\nobjectAlias: dir/one",  // siblings in a directory
		"objectName: e\nobjectType: secret\nobjectAlias: dir/two",
		"objectName: tls\nobjectType: secret\nsplitCertAndKey: true", // companions tls.crt/tls.key
		"objectName: tls-crt\nobjectType: secret\nobjectAlias: tls.pem",
		"objectName: f\nobjectType: secret\nobjectAlias: a.crt", // companion of a history dir would be a/0.crt
	)
	mustParse(t, attrs(ParamObjects, objects), spSecrets())
}

// objectVersionHistory 3 writes a/0 … a/3 (N+1, like the Azure provider), so a/3 is
// taken.
func TestParseHistoryWritesNPlusOne(t *testing.T) {
	objects := objectsYAML(
		"objectName: a\nobjectType: secret\nobjectVersionHistory: 3",
		"objectName: b\nobjectType: secret\nobjectAlias: a/3",
	)
	_, err := Parse(attrs(ParamObjects, objects), spSecrets(), 0o644)
	if err == nil || !strings.Contains(err.Error(), `duplicate output path "a/3"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseFilePermissionAndDefaultMode(t *testing.T) {
	objects := objectsYAML(
		"objectName: a\nobjectType: secret",
		"objectName: b\nobjectType: secret\nfilePermission: 0755",
		"objectName: c\nobjectType: secret\nfilePermission: '600'",
		"objectName: d\nobjectType: secret\nfilePermission: \" 0440 \"",
		"objectName: e\nobjectType: secret\nfilePermission: 0",
	)
	m, err := Parse(attrs(ParamObjects, objects), spSecrets(), 0o640)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		mode fs.FileMode
		set  bool
	}{{0o640, false}, {0o755, true}, {0o600, true}, {0o440, true}, {0, true}}
	for i, w := range want {
		if o := m.Objects[i]; o.Mode != w.mode || o.ModeSet != w.set {
			t.Errorf("object %d: mode %o set %v, want %o %v", i, o.Mode, o.ModeSet, w.mode, w.set)
		}
	}
}

func TestParseExtensions(t *testing.T) {
	objects := objectsYAML(
		"objectName: app-cert\nobjectType: secret\nkeyvaultName: kv-certs\ncertificatePart: chain\nobjectAlias: ca.pem",
		"objectName: app-cert\nobjectType: secret\ncertificatePart: KEY\nobjectAlias: tls.key",
		"objectName: app-cert\nobjectType: secret\ncertificatePart: full\nobjectAlias: full.pem\nsplitCertAndKey: true",
		"objectName: legacy-pfx\nobjectType: secret\nconvertPFXToPEM: true",
		`objectName: db
objectType: secret
filePermission: "0600"
jmesPath:
  - path: username
    objectAlias: db-user
  - path: '"connection-string"'
    objectAlias: db-conn
    filePermission: "0400"
  - path: hosts[0].name
    objectAlias: db-host`,
	)
	m := mustParse(t, attrs(ParamObjects, objects), spSecrets())
	o := m.Objects
	if o[0].VaultName != "kv-certs" || o[0].CertPart != vocab.CertPartChain || o[1].VaultName != "kv-prod-01" || o[1].CertPart != vocab.CertPartKey {
		t.Errorf("vault/certpart: %+v %+v", o[0], o[1])
	}
	if o[2].CertPart != vocab.CertPartFull || !o[2].SplitCertAndKey || o[2].ConvertPFX {
		t.Errorf("split: %+v", o[2])
	}
	if !o[3].ConvertPFX || o[3].SplitCertAndKey {
		t.Errorf("convert: %+v", o[3])
	}
	want := []JSONPath{
		{Path: "username", ObjectAlias: "db-user", Mode: 0o600},
		{Path: `"connection-string"`, ObjectAlias: "db-conn", Mode: 0o400},
		{Path: "hosts[0].name", ObjectAlias: "db-host", Mode: 0o600},
	}
	if len(o[4].JSONPaths) != len(want) {
		t.Fatalf("jmesPath: %+v", o[4].JSONPaths)
	}
	for i := range want {
		got := o[4].JSONPaths[i]
		if got.Query == nil {
			t.Errorf("jmesPath[%d] was not compiled", i)
		}
		if got.Query = nil; got != want[i] {
			t.Errorf("jmesPath[%d] = %+v, want %+v", i, got, want[i])
		}
	}
}

func TestParseJMESPathUsesDefaultModeWhenUnset(t *testing.T) {
	m, err := Parse(attrs(ParamObjects, obj("objectName: db", "objectType: secret", "jmesPath:", "  - path: a", "    objectAlias: a")), spSecrets(), 0o440)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Objects[0].JSONPaths[0].Mode; got != 0o440 {
		t.Fatalf("mode %o", got)
	}
}

func TestIdentityNeverPrintsCredentials(t *testing.T) {
	m := mustParse(t, attrs(), spSecrets())
	for _, s := range []string{sprint(m), sprint(*m), sprint(m.Identity)} {
		if strings.Contains(s, testSecret) {
			t.Fatalf("printed: %s", s)
		}
	}
	var _ sensitive.String = m.Identity.ClientSecret
}

func TestParseFixHintsForMiscasedSecret(t *testing.T) {
	for _, field := range []string{"objectEncoding: base64", "objectFormat: pfx", "splitCertAndKey: true", "certificatePart: key"} {
		_, err := Parse(attrs(ParamObjects, obj("objectName: a", "objectType: SECRET", field)), spSecrets(), 0o644)
		if err == nil || !strings.HasSuffix(err.Error(), "objectType is case-sensitive: write secret, not SECRET") {
			t.Errorf("%s: %v", field, err)
		}
	}
}

func TestParseKeyvaultAPIVersion(t *testing.T) {
	for _, v := range []string{"", "7.1", " 7.1 ", "2016-10-01", "2025-07-01", "7.6-preview.2", "2025-07-01-preview"} {
		m := mustParse(t, attrs(ParamKeyvaultAPIVersion, v), spSecrets())
		if m.KeyVaultAPIVersion != strings.TrimSpace(v) {
			t.Errorf("%q: KeyVaultAPIVersion = %q", v, m.KeyVaultAPIVersion)
		}
	}
	for _, v := range []string{"latest", "v7.1", "7", "2016-10", "7.1; drop"} {
		_, err := Parse(attrs(ParamKeyvaultAPIVersion, v), spSecrets(), 0o644)
		if err == nil || !strings.Contains(err.Error(), "is not a Key Vault api-version") || !strings.Contains(err.Error(), `"7.1"`) {
			t.Errorf("%q: err = %v", v, err)
		}
		if f, _ := Lint(attrs(ParamKeyvaultAPIVersion, v), nil); len(f) == 0 || f[0].Severity != SeverityInvalid {
			t.Errorf("%q: lint findings %v", v, f)
		}
	}
}
