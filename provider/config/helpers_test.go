package config

import (
	"fmt"
	"testing"

	"github.com/kvcsi/kvcsi/test/spctest"
)

const (
	testToken  = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.U0lHTkFUVVJF"
	testSecret = "p@ss-w0rd~secret-value"
)

// objectsYAML renders objects the way users write them in a SecretProviderClass: an
// array of block scalars (`- |`), each holding one object's YAML.
func objectsYAML(objects ...string) string { return spctest.Objects(objects...) }

// attrs returns a valid service-principal attribute map with one secret object; kv
// pairs override ("" value deletes).
func attrs(kv ...string) map[string]string {
	return spctest.With(map[string]string{
		AttrPodName:                    "web-0",
		AttrPodNamespace:               "default",
		AttrPodUID:                     "ab34757f-cb2d-406c-a6d0-3e993ee83bd6",
		AttrServiceAccountName:         "web",
		"secretProviderClass":          "azure-kv",
		"csi.storage.k8s.io/ephemeral": "true",
		ParamKeyvaultName:              "kv-prod-01",
		ParamTenantID:                  "72f988bf-86f1-41af-91ab-2d7cd011db47",
		ParamObjects:                   objectsYAML("objectName: db-password\nobjectType: secret"),
	}, kv...)
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
