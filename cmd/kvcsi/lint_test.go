package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/test/spctest"
)

// lintRun runs kvcsi lint and returns its output, finding lines and exit status.
func lintRun(t *testing.T, args ...string) (string, []string, int) {
	t.Helper()
	var out bytes.Buffer
	err := runLint(args, &out)
	code := 0
	if err != nil {
		code = exitCode(err)
	}
	var findings []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, ": error: ") || strings.Contains(line, ": warning: ") {
			findings = append(findings, line)
		}
	}
	return out.String(), findings, code
}

// matchFindings checks that every want matches its own finding line, and that no
// finding is left over. A want ending in "$" must end the line.
func matchFindings(t *testing.T, output string, findings, wants []string) {
	t.Helper()
	used := make([]bool, len(findings))
	for _, w := range wants {
		found := false
		suffix, atEnd := strings.CutSuffix(w, "$")
		for i, f := range findings {
			if !used[i] && (atEnd && strings.HasSuffix(f, suffix) && strings.Contains(f, suffix) || !atEnd && strings.Contains(f, w)) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no finding matches %q", w)
		}
	}
	for i, f := range findings {
		if !used[i] {
			t.Errorf("unexpected finding: %s", f)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", output)
	}
}

func TestLintTestdata(t *testing.T) {
	const td = "testdata/"
	tests := []struct {
		file  string
		args  []string
		code  int
		wants []string
	}{
		{"good-multi.yaml", nil, 0, nil},
		{"bad-typos.yaml", nil, 1, []string{
			td + `bad-typos.yaml:8: error: SecretProviderClass shop/typos (document 1): spec.secretObject: unknown field "secretObject": the API server drops it; fix: did you mean secretObjects?$`,
			td + `bad-typos.yaml:11: error: SecretProviderClass shop/typos (document 1): parameters.keyVaultName: unknown parameter "keyVaultName" is ignored; fix: did you mean keyvaultName? Parameter names are case-sensitive$`,
			td + `bad-typos.yaml:20: error: SecretProviderClass shop/typos (document 1): objects.array[0]: unknown field "objectVersionhistory" is ignored; fix: did you mean objectVersionHistory?`,
			td + `bad-typos.yaml:24: error: SecretProviderClass shop/typos (document 1): objects.array[1]: unknown field "objectAlais" is ignored; fix: did you mean objectAlias?$`,
			td + `bad-typos.yaml:27: error: SecretProviderClass shop/typos (document 1): objects.array[1]: jmesPath[0].objectalias: unknown field "objectalias" is ignored; fix: did you mean objectAlias?`,
			td + `bad-typos.yaml:26: error: SecretProviderClass shop/typos (document 1): objects.array[1] (objectType:secret, objectName:api-key): jmesPath[0].objectAlias: jmesPath[0]: file name must not be empty`,
			td + `bad-typos.yaml:32: error: SecretProviderClass shop/typos (document 1): secretObjects[0] (secretName shop-db): data[0]: unknown field "objectname": the API server drops it; fix: did you mean objectName?`, // the one did-you-mean adds "Field names are case-sensitive"
			td + `bad-typos.yaml:32: error: SecretProviderClass shop/typos (document 1): secretObjects[0] (secretName shop-db): data[0]: objectName is not set`,
		}},
		{"bad-values.yaml", nil, 1, []string{
			td + `bad-values.yaml:8: error: SecretProviderClass default/values (document 1): parameters.keyvaultName: failed to get vault: Invalid vault name: "https://shop-vault.vault.azure.net/", must be between 3 and 24 chars; fix: set keyvaultName to the vault's name`,
			td + `bad-values.yaml:9: warning: SecretProviderClass default/values (document 1): parameters.tenantId: tenantId is deprecated; fix: rename the parameter to tenantID$`,
			td + `bad-values.yaml:10: error: SecretProviderClass default/values (document 1): parameters.usePodIdentity: kubectl reads the unquoted yes as a boolean, not a string`,
			td + `bad-values.yaml:10: error: SecretProviderClass default/values (document 1): parameters.usePodIdentity: failed to parse usePodIdentity flag, error: strconv.ParseBool: parsing "yes": invalid syntax; fix: set usePodIdentity to "true" or "false"$`,
			td + `bad-values.yaml:11: error: SecretProviderClass default/values (document 1): parameters.useVMManagedIdentity: the value true is a YAML bool, not a string: the API server rejects the SecretProviderClass; fix: quote it: useVMManagedIdentity: "true"$`,
			td + `bad-values.yaml:16: error: SecretProviderClass default/values (document 1): objects.array[0] (objectType:Secret, objectName:db-password): objectType: Invalid vaultObjectTypes. Should be secret, key, or cert; fix: objectType is case-sensitive: write secret, not Secret$`,
			td + `bad-values.yaml:20: error: SecretProviderClass default/values (document 1): objects.array[1] (objectType:secret, objectName:cert): invalid filePermission "888"`,
			td + `bad-values.yaml:24: error: SecretProviderClass default/values (document 1): objects.array[2] (objectType:secret, objectName:blob): invalid objectEncoding: base32, should be hex, base64 or utf-8`,
			td + `bad-values.yaml:25: error: SecretProviderClass default/values (document 1): objects.array[3]: unmarshal failed for keyVaultObjects at index 3`,
		}},
		{"bad-identity.yaml", nil, 1, []string{
			td + `bad-identity.yaml:7: error: SecretProviderClass default/two-modes (document 1): only one identity mode can be enabled at a time: usePodIdentity, useVMManagedIdentity, or useAzureTokenProxy; fix: set at most one of them to true$`,
			td + `bad-identity.yaml:10: warning: SecretProviderClass default/two-modes (document 1): parameters.usePodIdentity: aad-pod-identity is deprecated`,
			td + `bad-identity.yaml:24: error: SecretProviderClass default/binding-without-client (document 2): parameters.clientID: clientID is required for identity binding`,
			td + `bad-identity.yaml:28: error: SecretProviderClass default/binding-without-client (document 2): parameters.userAssignedIdentityID: userAssignedIdentityID is ignored unless useVMManagedIdentity is true`,
		}},
		{"bad-outputs.yaml", nil, 1, []string{
			td + `bad-outputs.yaml:19: error: SecretProviderClass default/outputs (document 1): objects.array[1] (objectType:secret, objectName:db-password-old): objectAlias: duplicate output path "db-password": objectName of objects.array[0] (objectType:secret, objectName:db-password) uses it too`,
			td + `bad-outputs.yaml:28: error: SecretProviderClass default/outputs (document 1): objects.array[3] (objectType:cert, objectName:tls-cert): objectAlias: duplicate output path "tls.crt": objects.array[2] (objectType:secret, objectName:web-tls) has splitCertAndKey`,
			td + `bad-outputs.yaml:36: error: SecretProviderClass default/outputs (document 1): objects.array[5] (objectType:secret, objectName:ring-latest): objectAlias: duplicate output path "ring/1"`,
		}},
		{"bad-secretobjects.yaml", nil, 1, []string{
			td + `bad-secretobjects.yaml:35: error: SecretProviderClass shop/sync (document 1): secretObjects[0] (secretName shop-db): data[0]: objectName "db-pasword" is not a file the objects produce: the driver fails with "file matching objectName db-pasword not found in the pod"; fix: did you mean "db-password"?$`,
			td + `bad-secretobjects.yaml:38: error: SecretProviderClass shop/sync (document 1): secretObjects[0] (secretName shop-db): data[1]: key "password" appears twice in this Secret`,
			td + `bad-secretobjects.yaml:39: error: SecretProviderClass shop/sync (document 1): secretObjects[0] (secretName shop-db): data[2]: objectName "ring/3" is not a file the objects produce: the driver fails with "file matching objectName ring/3 not found in the pod"; fix: objects.array[2] has objectVersionHistory 2 and writes ring/0 … ring/2 (3 is not among them)$`,
			td + `bad-secretobjects.yaml:41: error: SecretProviderClass shop/sync (document 1): secretObjects[0] (secretName shop-db): data[3]: objectName "ring" is not a file the objects produce: the driver fails with "file matching objectName ring not found in the pod"; fix: objects.array[2] has objectVersionHistory 2, so ring is a directory`,
			td + `bad-secretobjects.yaml:46: error: SecretProviderClass shop/sync (document 1): secretObjects[1] (secretName shop-tls): data[0]: objectName "tls.crt" is not a file the objects produce: the driver fails with "file matching objectName tls.crt not found in the pod"; fix: set splitCertAndKey: true on objects.array[1]`,
			td + `bad-secretobjects.yaml:46: error: SecretProviderClass shop/sync (document 1): secretObjects[1] (secretName shop-tls): key "ca.crt" in a kubernetes.io/tls Secret: the driver converts only tls.crt and tls.key`,
			td + `bad-secretobjects.yaml:46: error: SecretProviderClass shop/sync (document 1): secretObjects[1] (secretName shop-tls): a kubernetes.io/tls Secret needs the key tls.key`,
			td + `bad-secretobjects.yaml:50: error: SecretProviderClass shop/sync (document 1): secretObjects[2] (secretName shop-db): secretObjects[0] already syncs Secret "shop-db"`,
			td + `bad-secretobjects.yaml:50: error: SecretProviderClass shop/sync (document 1): secretObjects[2] (secretName shop-db): type is not set`,
			td + `bad-secretobjects.yaml:54: error: SecretProviderClass shop/sync (document 1): secretObjects[3] (secretName Shop_Other): secretName "Shop_Other" is not a valid Secret name`,
			td + `bad-secretobjects.yaml:54: error: SecretProviderClass shop/sync (document 1): secretObjects[3] (secretName Shop_Other): data is not set`,
		}},
		// With the provider flag, the .crt/.key of any objectType secret may exist.
		{"bad-secretobjects.yaml", []string{"--write-cert-and-key-in-separate-files"}, 1, []string{
			`data[0]: objectName "db-pasword"`, `data[1]: key "password" appears twice`, `data[2]: objectName "ring/3"`, `data[3]: objectName "ring"`,
			`key "ca.crt" in a kubernetes.io/tls Secret`, `needs the key tls.key`, `already syncs Secret "shop-db"`, `type is not set`,
			`secretName "Shop_Other" is not a valid Secret name`, `secretObjects[3] (secretName Shop_Other): data is not set`,
		}},
		{"bad-manifest.yaml", nil, 1, []string{
			td + `bad-manifest.yaml:1: error: SecretProviderClass default/manifest (document 1): apiVersion: apiVersion "secrets-store.csi.x-k8s.io/v2" is not a SecretProviderClass version; fix: use apiVersion: secrets-store.csi.x-k8s.io/v1$`,
			td + `bad-manifest.yaml:6: error: SecretProviderClass default/manifest (document 1): spec.provider: provider "Azure" does not match the socket azure.sock: the driver looks for Azure.sock; fix: write provider: azure in lower case$`,
			td + `bad-manifest.yaml:6: error: SecretProviderClass default/manifest (document 1): spec.parameters: spec.parameters is not set`,
			td + `bad-manifest.yaml:14: error: SecretProviderClass default/empty-params (document 2): parameters.keyvaultName: keyvaultName is not provided`,
			td + `bad-manifest.yaml:17: warning: SecretProviderClass default/empty-params (document 2): parameters.objects: objects has no entries: the volume will be empty`,
		}},
		{"bad-cloud.yaml", nil, 1, []string{
			td + `bad-cloud.yaml:11: error: SecretProviderClass default/gov (document 1): parameters.cloudName: cloudName AzureUSGovernmnetCloud is not valid: no such cloud; fix: did you mean AzureUSGovernmentCloud?$`,
			td + `bad-cloud.yaml:12: error: SecretProviderClass default/gov (document 1): parameters.cloudEnvFileName: cloudEnvFileName is ignored unless cloudName is AzureStackCloud`,
			td + `bad-cloud.yaml:29: warning: SecretProviderClass default/stack (document 2): parameters.keyvaultAPIVersion: an Azure Stack Hub's Key Vault serves older api-versions`,
			td + `bad-cloud.yaml:47: warning: SecretProviderClass default/deutschland (document 3): parameters.cloudName: cloudName AzureGermanCloud is retired: Microsoft Cloud Deutschland closed on 29 October 2021`,
			td + `bad-cloud.yaml:66: error: SecretProviderClass default/hub (document 4): parameters.keyvaultAPIVersion: keyvaultAPIVersion "latest" is not a Key Vault api-version`,
		}},
		{"bad-yaml.yaml", nil, 1, []string{
			td + `bad-yaml.yaml:5: error: document 1: not valid YAML: yaml: line 5: did not find expected key; fix: fix the YAML syntax; nothing after this point was checked$`,
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append(tt.args, tt.file), " "), func(t *testing.T) {
			out, findings, code := lintRun(t, append(tt.args, td+tt.file)...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			matchFindings(t, out, findings, tt.wants)
			if tt.code == 0 && !strings.Contains(out, "no problems found") {
				t.Errorf("output: %s", out)
			}
		})
	}
}

// TestLintExamples lints every SecretProviderClass of the README and examples/: none
// may have an error (the example written for the Azure provider keeps its deprecated
// tenantId, which only warns).
func TestLintExamples(t *testing.T) {
	const root = "../.."
	blocks, err := spctest.READMEExamples(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, b := range blocks {
		f := filepath.Join(dir, "readme-"+string(rune('a'+i))+".yaml")
		if err := os.WriteFile(f, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
		out, findings, code := lintRun(t, f)
		if code != 0 || len(findings) != 0 {
			t.Errorf("README example %d: exit %d:\n%s", i, code, out)
		}
	}
	examples, err := spctest.Examples(root)
	if err != nil {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range examples {
		out, findings, code := lintRun(t, f)
		if code != 0 {
			t.Errorf("%s: exit %d:\n%s", f, code, out)
		}
		for _, line := range findings {
			if !strings.Contains(line, ": warning: ") {
				t.Errorf("%s: %s", f, line)
			}
		}
	}
}

func TestLintExitStatus(t *testing.T) {
	if _, _, code := lintRun(t); code != 2 {
		t.Errorf("no files: exit %d, want 2", code)
	}
	if _, _, code := lintRun(t, "testdata/does-not-exist.yaml"); code != 2 {
		t.Errorf("missing file: exit %d, want 2", code)
	}
	// A warning alone passes, unless -strict.
	if _, findings, code := lintRun(t, "../../examples/secretproviderclass.yaml"); code != 0 || len(findings) != 1 {
		t.Errorf("warning only: exit %d, findings %v", code, findings)
	}
	if _, _, code := lintRun(t, "-strict", "../../examples/secretproviderclass.yaml"); code != 1 {
		t.Errorf("warning with -strict: exit %d, want 1", code)
	}
	// Several files: the worst wins, every finding is printed.
	out, findings, code := lintRun(t, "testdata/good-multi.yaml", "testdata/bad-yaml.yaml", "testdata/bad-identity.yaml")
	if code != 1 || len(findings) != 5 {
		t.Errorf("exit %d, %d findings:\n%s", code, len(findings), out)
	}
	// Through run, as the command line does.
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"lint", "testdata/bad-identity.yaml"}, &stdout, &stderr)
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "3 errors, 1 warning in 2 SecretProviderClasses") {
		t.Errorf("run: %v", err)
	}
}
