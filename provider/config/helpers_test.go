package config

import (
	"fmt"
	"strings"
	"testing"
)

const (
	testToken  = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.U0lHTkFUVVJF"
	testSecret = "p@ss-w0rd~secret-value"
)

// objectsYAML renders objects the way users write them in a SecretProviderClass: an
// array of block scalars (`- |`), each holding one object's YAML.
func objectsYAML(objects ...string) string {
	var b strings.Builder
	b.WriteString("array:\n")
	for _, o := range objects {
		b.WriteString("  - |\n")
		for _, line := range strings.Split(strings.TrimRight(o, "\n"), "\n") {
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String()
}

// attrs returns a valid service-principal attribute map with one secret object; kv
// pairs override ("" value deletes).
func attrs(kv ...string) map[string]string {
	a := map[string]string{
		AttrPodName:                    "web-0",
		AttrPodNamespace:               "default",
		AttrPodUID:                     "ab34757f-cb2d-406c-a6d0-3e993ee83bd6",
		AttrServiceAccountName:         "web",
		"secretProviderClass":          "azure-kv",
		"csi.storage.k8s.io/ephemeral": "true",
		ParamKeyvaultName:              "kv-prod-01",
		ParamTenantID:                  "72f988bf-86f1-41af-91ab-2d7cd011db47",
		ParamObjects:                   objectsYAML("objectName: db-password\nobjectType: secret"),
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(a, kv[i])
		} else {
			a[kv[i]] = kv[i+1]
		}
	}
	return a
}

func spSecrets() map[string]string {
	return map[string]string{"clientid": "00000000-0000-0000-0000-000000000001", "clientsecret": testSecret}
}

func tokensJSON(aud string) string {
	return `{"` + aud + `":{"token":"` + testToken + `","expirationTimestamp":"2026-11-22T23:37:52Z"}}`
}

func mustParse(t *testing.T, a, s map[string]string) *Mount {
	t.Helper()
	m, err := Parse(a, s, 0o644)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkLintAgrees(t, a, s, 0o644, nil)
	return m
}

func sprint(v any) string { return fmt.Sprintf("%v %+v %#v", v, v, v) }
