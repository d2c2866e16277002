package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/provider/daemon"
	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

// writeStackEnv writes an Azure Stack style environment file (go-autorest JSON shape).
func writeStackEnv(t *testing.T, dir string) string {
	t.Helper()
	env := map[string]string{
		"name":                    "ContosoStack",
		"managementPortalURL":     "https://portal.contoso.test/",
		"resourceManagerEndpoint": "https://management.contoso.test/",
		"activeDirectoryEndpoint": "https://login.contoso.test/",
		"keyVaultEndpoint":        "https://vault.contoso.test/",
		"keyVaultDNSSuffix":       "vault.contoso.test",
		"tokenAudience":           "https://management.contoso.test/",
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "contoso.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestClouds mounts from vaults in the built-in sovereign clouds and in a custom
// (Azure Stack) cloud, through the same emulator the public-cloud tests use: the vault
// host, the login host in the 401 challenge and the token's audience all change with the
// cloud, and the real SDK must follow them.
func TestClouds(t *testing.T) {
	envFile := writeStackEnv(t, t.TempDir())
	h := start(t, harness.Options{Emulator: emulator.Options{
		Clouds: []emulator.Cloud{
			{LoginHost: "login.contoso.test", VaultSuffix: "vault.contoso.test", Tenants: []string{harness.Tenant}},
			{LoginHost: "login.microsoftonline.us", Tenants: []string{harness.Tenant}},
			{LoginHost: "login.chinacloudapi.cn", Tenants: []string{harness.Tenant}},
		},
	}})
	want := h.Vault.SetSecret("cloud-secret", "the-same-vault-everywhere", emulator.SecretOptions{})
	obj := "objectName: cloud-secret\nobjectType: secret"
	tests := []struct {
		name      string
		params    map[string]string
		vaultHost string
	}{
		{"US Government", map[string]string{"cloudName": "AzureUSGovernmentCloud"}, "kvcsi-vault.vault.usgovcloudapi.net"},
		{"China, any case", map[string]string{"cloudName": "azurechinacloud"}, "kvcsi-vault.vault.azure.cn"},
		{"Azure Stack from cloudEnvFileName", map[string]string{"cloudName": "AzureStackCloud", "cloudEnvFileName": envFile}, "kvcsi-vault.vault.contoso.test"},
	}
	for _, tc := range tests {
		for _, mode := range []string{"workload identity", "service principal"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				in := harness.MountInput{Params: spParams(obj), Secrets: spSecrets()}
				if mode == "workload identity" {
					in = harness.MountInput{Params: wiParams(obj), Tokens: h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)}
				}
				for k, v := range tc.params {
					in.Params[k] = v
				}
				resp, err := h.Mount(ctx(t), in)
				if err != nil {
					t.Fatalf("mount: %v", err)
				}
				if string(resp.Files[0].Contents) != "the-same-vault-everywhere" || resp.ObjectVersion[0].Version != want {
					t.Fatalf("got %q@%s", resp.Files[0].Contents, resp.ObjectVersion[0].Version)
				}
				if h.Emu.Counts().Tunnels[tc.vaultHost] == 0 {
					t.Errorf("no connection to %s: tunnels %v", tc.vaultHost, h.Emu.Counts().Tunnels)
				}
			})
		}
	}
}

// TestStackCloudAsProviderDefault is --cloud-name AzureStackCloud with the environment
// file from AZURE_ENVIRONMENT_FILEPATH: SecretProviderClasses without cloudName use it.
func TestStackCloudAsProviderDefault(t *testing.T) {
	envFile := writeStackEnv(t, t.TempDir())
	h := start(t, harness.Options{
		Emulator: emulator.Options{Clouds: []emulator.Cloud{{LoginHost: "login.contoso.test", VaultSuffix: "vault.contoso.test", Tenants: []string{harness.Tenant}}}},
		Daemon: func(o *daemon.Options) {
			o.CloudName = "AzureStackCloud"
			o.CloudEnvironmentFile = envFile
		},
	})
	h.Vault.SetSecret("stack-secret", "from-the-stack", emulator.SecretOptions{})
	resp, err := h.Mount(ctx(t), harness.MountInput{Params: spParams("objectName: stack-secret\nobjectType: secret"), Secrets: spSecrets()})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	if string(resp.Files[0].Contents) != "from-the-stack" {
		t.Fatalf("got %q", resp.Files[0].Contents)
	}
	if h.Emu.Counts().Tunnels["kvcsi-vault.vault.contoso.test"] == 0 {
		t.Fatalf("the vault was not reached in the custom cloud: %v", h.Emu.Counts().Tunnels)
	}
	// A SecretProviderClass can still pick a built-in cloud.
	p := spParams("objectName: stack-secret\nobjectType: secret")
	p["cloudName"] = "AzurePublicCloud"
	if _, err := h.Mount(ctx(t), harness.MountInput{Params: p, Secrets: spSecrets()}); err != nil {
		t.Fatalf("public cloud mount: %v", err)
	}
}
