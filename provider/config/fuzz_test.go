package config

import (
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/provider/vocab"
)

// FuzzParse feeds Parse arbitrary objects YAML and parameters with a known token and
// client secret, and checks that it never panics, that every error is a validation
// error, that no error quotes the token or the secret, and that what it accepts is
// what the driver will accept. Lint is its oracle: with the same inputs it has a
// SeverityInvalid finding exactly when Parse fails, the first one being Parse's error,
// and of the manifest alone it finds nothing invalid that Parse accepts.
func FuzzParse(f *testing.F) {
	f.Add(docsSPC, "kv-prod-01", "", uint8(0), "", "eyJhbGciOi", "s3cr3t", uint8(0), uint32(0o644))
	f.Add(objectsYAML("objectName: a\nobjectType: secret\njmesPath:\n  - path: a.b\n    objectAlias: b"), "kv1", "cid", uint8(0), "", "eyJ", "", uint8(7), uint32(0o644))
	f.Add(`array: ["objectName: a\nobjectType: cert\nobjectAlias: ../x"]`, "kv1", "cid", uint8(3), "true", "tok", "", uint8(0), uint32(0o600))
	f.Add("array:\n  - objectName: a\n", "kv", "", uint8(2), "yes", "", "x", uint8(1), uint32(0))

	f.Fuzz(func(t *testing.T, objects, vault, clientID string, mode uint8, flagValue, tokenValue, secretValue string, mangle uint8, perm uint32) {
		token := "tok:" + tokenValue + ":end"
		secret := "sec:" + secretValue + ":end"

		audience := vocab.WorkloadIdentityAudience
		a := map[string]string{
			AttrPodName:       "p",
			AttrPodNamespace:  "ns",
			ParamKeyvaultName: vault,
			ParamTenantID:     "t",
			ParamObjects:      objects,
			ParamClientID:     clientID,
		}
		flag := []string{"", ParamUsePodIdentity, ParamUseVMManagedIdentity, ParamUseAzureTokenProxy}[mode%4]
		if flag != "" {
			a[flag] = flagValue
			if flag == ParamUseAzureTokenProxy {
				audience = vocab.IdentityBindingAudience
			}
		}
		tokens, _ := json.Marshal(map[string]map[string]string{audience: {"token": token, "expirationTimestamp": "2030-01-01T00:00:00Z"}})
		raw := string(tokens)
		if mangle%3 == 1 { // truncated JSON
			raw = raw[:int(mangle)%len(raw)]
		} else if mangle%3 == 2 { // the token where an object belongs
			raw = `{"` + audience + `":"` + token + `"}`
		}
		a[AttrServiceAccountToken] = raw
		secrets := map[string]string{"clientid": clientID, "clientsecret": secret}
		if mode&4 != 0 {
			secrets[AttrServiceAccountToken] = raw
		}

		m, err := Parse(a, secrets, fs.FileMode(perm))
		checkLintAgrees(t, a, secrets, fs.FileMode(perm), err)
		inputs := objects + vault + clientID + flagValue
		if err != nil {
			if m != nil {
				t.Fatal("a Mount with an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("not ErrInvalid: %v", err)
			}
			msg := err.Error()
			if !strings.Contains(inputs, token) && strings.Contains(msg, token) {
				t.Fatalf("error leaks the token: %s", msg)
			}
			if !strings.Contains(inputs, secret) && strings.Contains(msg, secret) {
				t.Fatalf("error leaks the client secret: %s", msg)
			}
			return
		}
		seen := map[string]bool{}
		for _, o := range m.Objects {
			switch o.Type {
			case vocab.Secret, vocab.Key, vocab.Cert:
			default:
				t.Fatalf("accepted objectType %q", o.Type)
			}
			paths := []string{o.FileName()}
			if o.VersionHistory > 1 {
				paths = []string{o.FileName() + "/0", o.FileName() + "/1"}
			}
			for _, jp := range o.JSONPaths {
				paths = append(paths, jp.ObjectAlias)
			}
			for _, p := range paths {
				if !driverAccepts(p) {
					t.Fatalf("accepted a path the driver rejects: %q", p)
				}
				if seen[p] {
					t.Fatalf("accepted duplicate path %q", p)
				}
				seen[p] = true
			}
			if o.Mode > 0o777 && o.ModeSet {
				t.Fatalf("accepted mode %o", o.Mode)
			}
		}
	})
}

// checkLintAgrees is the oracle: Lint with the driver's inputs fails where Parse does,
// first with Parse's error, and Lint of the manifest alone finds nothing invalid that
// Parse accepts.
func checkLintAgrees(t *testing.T, attributes, secrets map[string]string, mode fs.FileMode, parseErr error) {
	t.Helper()
	findings, _ := Lint(attributes, &Driver{Secrets: secrets, DefaultMode: mode})
	var first *Finding
	for i := range findings {
		if findings[i].Severity == SeverityInvalid {
			first = &findings[i]
			break
		}
	}
	switch {
	case parseErr == nil && first != nil:
		t.Fatalf("Parse accepts, Lint finds %s", first)
	case parseErr != nil && first == nil:
		t.Fatalf("Parse fails with %v, Lint finds nothing invalid in %v", parseErr, findings)
	case parseErr != nil && first.err.Error() != parseErr.Error():
		t.Fatalf("Parse fails with\n  %v\nLint's first invalid finding is\n  %v", parseErr, first.err)
	}
	if parseErr != nil {
		return
	}
	manifest, _ := Lint(attributes, nil)
	for _, f := range manifest {
		if f.Severity == SeverityInvalid {
			t.Fatalf("Parse accepts, Lint of the manifest finds %s", f)
		}
	}
}

// driverAccepts restates the driver's path rules (fileutil.WritePayloads) independently.
func driverAccepts(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "..") || len(p) > 4096 {
		return false
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." || el == "." || el == "" || len(el) > 255 {
			return false
		}
	}
	return true
}
