package cloud

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name string
		want Environment
	}{
		{"AzurePublicCloud", Environment{"AzurePublicCloud", "https://login.microsoftonline.com/", "vault.azure.net", "https://vault.azure.net/", "https://management.azure.com/"}},
		{"azurecloud", publicCloud},
		{" AZUREPUBLICCLOUD ", publicCloud},
		{"AzureUSGovernmentCloud", Environment{"AzureUSGovernmentCloud", "https://login.microsoftonline.us/", "vault.usgovcloudapi.net", "https://vault.usgovcloudapi.net/", "https://management.usgovcloudapi.net/"}},
		{"AzureUSGovernment", usGovernmentCloud},
		{"AzureChinaCloud", Environment{"AzureChinaCloud", "https://login.chinacloudapi.cn/", "vault.azure.cn", "https://vault.azure.cn/", "https://management.chinacloudapi.cn/"}},
		{"azurechinacloud", chinaCloud},
		{"AzureGermanCloud", Environment{"AzureGermanCloud", "https://login.microsoftonline.de/", "vault.microsoftazure.de", "https://vault.microsoftazure.de/", "https://management.microsoftazure.de/"}},
	}
	for _, tt := range tests {
		got, ok := Lookup(tt.name)
		if !ok || got != tt.want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", tt.name, got, ok, tt.want)
		}
	}
	for _, name := range []string{"", "AzureStackCloud", "Public", "AzurePublic", "AzureChina"} {
		if _, ok := Lookup(name); ok {
			t.Errorf("Lookup(%q) found a cloud", name)
		}
	}
}

const stackJSON = `{
  "name": "AzureStackCloud",
  "managementPortalURL": "https://portal.local.azurestack.external/",
  "publishSettingsURL": "",
  "serviceManagementEndpoint": "https://management.adfs.azurestack.local/4de154de",
  "resourceManagerEndpoint": "https://management.local.azurestack.external/",
  "activeDirectoryEndpoint": "https://adfs.local.azurestack.external/adfs/",
  "galleryEndpoint": "https://providers.local.azurestack.external:30016/",
  "keyVaultEndpoint": "https://vault.local.azurestack.external/",
  "graphEndpoint": "https://graph.local.azurestack.external/",
  "serviceBusEndpoint": "",
  "batchManagementEndpoint": "",
  "storageEndpointSuffix": "local.azurestack.external",
  "sqlDatabaseDNSSuffix": "",
  "trafficManagerDNSSuffix": "",
  "keyVaultDNSSuffix": "vault.local.azurestack.external",
  "serviceBusEndpointSuffix": "",
  "serviceManagementVMDNSSuffix": "cloudapp.net",
  "resourceManagerVMDNSSuffix": "cloudapp.local.azurestack.external",
  "containerRegistryDNSSuffix": "",
  "tokenAudience": "https://management.adfs.azurestack.local/4de154de",
  "resourceIdentifiers": {"graph": "", "keyVault": "", "datalake": "", "batch": "", "operationalInsights": "", "storage": ""}
}`

var stackEnv = Environment{
	Name:                    "AzureStackCloud",
	ActiveDirectoryEndpoint: "https://adfs.local.azurestack.external/adfs/",
	KeyVaultDNSSuffix:       "vault.local.azurestack.external",
	KeyVaultEndpoint:        "https://vault.local.azurestack.external/",
	ResourceManagerEndpoint: "https://management.local.azurestack.external/",
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFile(t *testing.T) {
	p := writeFile(t, "stack.json", stackJSON)
	got, err := LoadFile(p)
	if err != nil || got != stackEnv {
		t.Fatalf("LoadFile = %+v, %v", got, err)
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name, content string
		want          []string
	}{
		{"not json", "name: x", []string{"invalid JSON", "activeDirectoryEndpoint"}},
		{"array", "[]", []string{"invalid JSON"}},
		{"empty object", "{}", []string{`missing required fields "name", "activeDirectoryEndpoint", "keyVaultEndpoint", "keyVaultDNSSuffix"`}},
		{"no suffix", `{"name":"x","activeDirectoryEndpoint":"https://a/","keyVaultEndpoint":"https://v/"}`, []string{`missing required field "keyVaultDNSSuffix"`}},
		{"blank name", `{"name":" ","activeDirectoryEndpoint":"https://a/","keyVaultEndpoint":"https://v/","keyVaultDNSSuffix":"v"}`, []string{`missing required field "name"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "env.json", tt.content)
			_, err := LoadFile(p)
			if err == nil {
				t.Fatal("no error")
			}
			want := append([]string{"environment file " + p + ": "}, tt.want...)
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "nope.json")
	_, err := LoadFile(missing)
	if err == nil || err.Error() != "open "+missing+": no such file or directory" {
		t.Fatalf("missing file: %v", err)
	}
}

func TestResolve(t *testing.T) {
	stackFile := writeFile(t, "stack.json", stackJSON)
	otherFile := writeFile(t, "other.json", strings.Replace(stackJSON, `"name": "AzureStackCloud"`, `"name": "Other"`, 1))
	defaults := Defaults{Environment: chinaCloud, EnvironmentFilePath: stackFile}

	tests := []struct {
		name, cloudName, envFile string
		d                        Defaults
		want                     Environment
	}{
		{"default", "", "", defaults, chinaCloud},
		{"zero default is public", "", "", Defaults{}, publicCloud},
		{"default ignores env file", " ", otherFile, defaults, chinaCloud},
		{"builtin", "AzureUSGovernment", "", defaults, usGovernmentCloud},
		{"builtin ignores env file", "azurecloud", otherFile, defaults, publicCloud},
		{"stack uses provider file", "AzureStackCloud", "", defaults, stackEnv},
		{"stack any case", "azurestackcloud", "", defaults, stackEnv},
		{"stack prefers spc file", "AZURESTACKCLOUD", " " + otherFile + " ", defaults, func() Environment { e := stackEnv; e.Name = "Other"; return e }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.cloudName, tt.envFile, tt.d)
			if err != nil || got != tt.want {
				t.Fatalf("Resolve = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.json")
	bad := writeFile(t, "bad.json", `{"name":"x"}`)
	tests := []struct {
		name, cloudName, envFile string
		d                        Defaults
		want                     string
		fix                      string
	}{
		{"unknown", "AzurePublic", "", Defaults{}, `cloudName AzurePublic is not valid, error: autorest/azure: There is no cloud environment matching the name "AZUREPUBLIC"`, "AzurePublicCloud"},
		{"unknown trimmed", " mooncake ", "", Defaults{}, `cloudName mooncake is not valid, error: autorest/azure: There is no cloud environment matching the name "MOONCAKE"`, "AzureChinaCloud"},
		{"stack missing file", "AzureStackCloud", missing, Defaults{}, "cloudName AzureStackCloud is not valid, error: open " + missing + ": no such file or directory", "mount the file"},
		{"stack missing provider file", "AzureStackCloud", "", Defaults{EnvironmentFilePath: missing}, "cloudName AzureStackCloud is not valid, error: open " + missing + ": no such file or directory", "provider"},
		{"stack no file at all", "AzureStackCloud", "", Defaults{}, "cloudName AzureStackCloud is not valid, error: no environment file", "cloudEnvFileName"},
		{"stack bad file", "AzureStackCloud", bad, Defaults{}, "cloudName AzureStackCloud is not valid, error: environment file " + bad + `: missing required fields "activeDirectoryEndpoint"`, "keyVaultDNSSuffix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve(tt.cloudName, tt.envFile, tt.d)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.want) {
				t.Fatalf("error\n  %s\nwant prefix\n  %s", msg, tt.want)
			}
			if !strings.Contains(msg[len(tt.want):], tt.fix) {
				t.Errorf("no fix hint mentioning %q after the kept text: %s", tt.fix, msg)
			}
			if !errors.Is(err, ErrInvalidCloud) {
				t.Error("not ErrInvalidCloud")
			}
		})
	}
}

func TestFileCache(t *testing.T) {
	p := writeFile(t, "stack.json", stackJSON)
	c := &FileCache{}
	d := Defaults{EnvironmentFilePath: p, Files: c}
	for i := 0; i < 3; i++ {
		got, err := Resolve("AzureStackCloud", "", d)
		if err != nil || got != stackEnv {
			t.Fatalf("Resolve = %+v, %v", got, err)
		}
	}
	if len(c.entries) != 1 {
		t.Fatalf("entries = %d", len(c.entries))
	}
	// An edit (new mtime and size) is picked up.
	edited := strings.Replace(stackJSON, "vault.local.azurestack.external\"", "vault2.local.azurestack.external\"", 1)
	if err := os.WriteFile(p, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, future, future); err != nil {
		t.Fatal(err)
	}
	got, err := Resolve("AzureStackCloud", "", d)
	if err != nil || got.KeyVaultDNSSuffix != "vault2.local.azurestack.external" {
		t.Fatalf("after edit: %+v, %v", got, err)
	}
	// A removed file is an error, not a stale hit.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve("AzureStackCloud", "", d); err == nil {
		t.Fatal("removed file still resolves")
	}
}

func TestFileCacheBoundedAndConcurrent(t *testing.T) {
	dir := t.TempDir()
	c := &FileCache{}
	var wg sync.WaitGroup
	for i := 0; i < maxCachedFiles*2; i++ {
		p := filepath.Join(dir, "env"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+".json")
		if err := os.WriteFile(p, []byte(stackJSON), 0o600); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := Resolve("AzureStackCloud", p, Defaults{Files: c}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(c.entries); n > maxCachedFiles {
		t.Fatalf("cache holds %d entries", n)
	}
}

func TestNames(t *testing.T) {
	for _, n := range Names() {
		if _, ok := Lookup(n); !ok && n != StackCloudName {
			t.Errorf("Names() lists %q which Lookup rejects", n)
		}
	}
}
