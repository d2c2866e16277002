// Package cloud knows the built-in Azure clouds and loads custom (Azure Stack) environment
// files into values. It never reads or sets environment variables: the provider passes in
// its default environment and AZURE_ENVIRONMENT_FILEPATH value.
package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Environment is the part of a go-autorest azure.Environment the provider uses.
type Environment struct {
	Name                    string
	ActiveDirectoryEndpoint string // authority host, e.g. https://login.microsoftonline.com/
	KeyVaultDNSSuffix       string // vault host suffix, e.g. vault.azure.net
	KeyVaultEndpoint        string // e.g. https://vault.azure.net/ (pod identity resource)
	ResourceManagerEndpoint string
}

// StackCloudName is the cloudName that selects an environment file.
const StackCloudName = "AzureStackCloud"

var (
	publicCloud = Environment{
		Name:                    "AzurePublicCloud",
		ActiveDirectoryEndpoint: "https://login.microsoftonline.com/",
		KeyVaultDNSSuffix:       "vault.azure.net",
		KeyVaultEndpoint:        "https://vault.azure.net/",
		ResourceManagerEndpoint: "https://management.azure.com/",
	}
	usGovernmentCloud = Environment{
		Name:                    "AzureUSGovernmentCloud",
		ActiveDirectoryEndpoint: "https://login.microsoftonline.us/",
		KeyVaultDNSSuffix:       "vault.usgovcloudapi.net",
		KeyVaultEndpoint:        "https://vault.usgovcloudapi.net/",
		ResourceManagerEndpoint: "https://management.usgovcloudapi.net/",
	}
	chinaCloud = Environment{
		Name:                    "AzureChinaCloud",
		ActiveDirectoryEndpoint: "https://login.chinacloudapi.cn/",
		KeyVaultDNSSuffix:       "vault.azure.cn",
		KeyVaultEndpoint:        "https://vault.azure.cn/",
		ResourceManagerEndpoint: "https://management.chinacloudapi.cn/",
	}
	germanCloud = Environment{
		Name:                    "AzureGermanCloud",
		ActiveDirectoryEndpoint: "https://login.microsoftonline.de/",
		KeyVaultDNSSuffix:       "vault.microsoftazure.de",
		KeyVaultEndpoint:        "https://vault.microsoftazure.de/",
		ResourceManagerEndpoint: "https://management.microsoftazure.de/",
	}
)

// builtins maps the upper-cased names go-autorest v0.11.30 accepts to their values.
func builtin(upper string) (Environment, bool) {
	switch upper {
	case "AZUREPUBLICCLOUD", "AZURECLOUD":
		return publicCloud, true
	case "AZUREUSGOVERNMENTCLOUD", "AZUREUSGOVERNMENT":
		return usGovernmentCloud, true
	case "AZURECHINACLOUD":
		return chinaCloud, true
	case "AZUREGERMANCLOUD":
		return germanCloud, true
	}
	return Environment{}, false
}

// Names lists the cloudName values Resolve accepts, for help texts.
func Names() []string {
	return []string{"AzurePublicCloud", "AzureCloud", "AzureUSGovernmentCloud", "AzureUSGovernment",
		"AzureChinaCloud", "AzureGermanCloud", StackCloudName}
}

// Lookup returns a built-in cloud by name, case-insensitively: AzurePublicCloud
// (or AzureCloud), AzureUSGovernmentCloud (or AzureUSGovernment), AzureChinaCloud,
// AzureGermanCloud. AzureStackCloud is not built in: see LoadFile and Resolve.
func Lookup(name string) (Environment, bool) {
	return builtin(strings.ToUpper(strings.TrimSpace(name)))
}

// envFile is the JSON of a go-autorest azure.Environment. Only the fields kvcsi uses are
// decoded; the others (managementPortalURL, graphEndpoint, resourceIdentifiers...) are
// accepted and ignored.
type envFile struct {
	Name                    string `json:"name"`
	ActiveDirectoryEndpoint string `json:"activeDirectoryEndpoint"`
	KeyVaultEndpoint        string `json:"keyVaultEndpoint"`
	KeyVaultDNSSuffix       string `json:"keyVaultDNSSuffix"`
	ResourceManagerEndpoint string `json:"resourceManagerEndpoint"`
}

const fileFix = "the file must be a JSON azure.Environment with at least name, activeDirectoryEndpoint, keyVaultEndpoint and keyVaultDNSSuffix"

// LoadFile reads an environment file in go-autorest's JSON format (the format of
// AZURE_ENVIRONMENT_FILEPATH and the cloudEnvFileName parameter). A missing file yields
// the *fs.PathError text ("open <path>: no such file or directory") that the Azure
// provider reports.
func LoadFile(path string) (Environment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Environment{}, err
	}
	return parseFile(path, data)
}

func parseFile(path string, data []byte) (Environment, error) {
	var f envFile
	if err := json.Unmarshal(data, &f); err != nil {
		return Environment{}, fmt.Errorf("environment file %s: invalid JSON: %v: %s", path, err, fileFix)
	}
	env := Environment{
		Name:                    strings.TrimSpace(f.Name),
		ActiveDirectoryEndpoint: strings.TrimSpace(f.ActiveDirectoryEndpoint),
		KeyVaultEndpoint:        strings.TrimSpace(f.KeyVaultEndpoint),
		KeyVaultDNSSuffix:       strings.TrimSpace(f.KeyVaultDNSSuffix),
		ResourceManagerEndpoint: strings.TrimSpace(f.ResourceManagerEndpoint),
	}
	var missing []string
	for _, field := range []struct{ name, value string }{
		{"name", env.Name},
		{"activeDirectoryEndpoint", env.ActiveDirectoryEndpoint},
		{"keyVaultEndpoint", env.KeyVaultEndpoint},
		{"keyVaultDNSSuffix", env.KeyVaultDNSSuffix},
	} {
		if field.value == "" {
			missing = append(missing, field.name)
		}
	}
	if len(missing) > 0 {
		what := "field " + strconv.Quote(missing[0])
		if len(missing) > 1 {
			what = "fields " + `"` + strings.Join(missing, `", "`) + `"`
		}
		return Environment{}, fmt.Errorf("environment file %s: missing required %s: %s", path, what, fileFix)
	}
	return env, nil
}

// Defaults are the provider-wide settings Resolve falls back to.
type Defaults struct {
	// Environment is the --cloud-name environment, resolved at start-up. The zero value
	// means AzurePublicCloud, the flag's default.
	Environment Environment
	// EnvironmentFilePath is the provider's AZURE_ENVIRONMENT_FILEPATH value ("" if unset),
	// used for AzureStackCloud when the SecretProviderClass has no cloudEnvFileName.
	EnvironmentFilePath string
	// Files, if set, caches parsed environment files; nil reads the file every time.
	Files *FileCache
}

// ErrInvalidCloud matches, through errors.Is, every error Resolve returns: the
// SecretProviderClass names a cloud that does not exist or a file that cannot be used.
var ErrInvalidCloud = errors.New("invalid cloud configuration")

type resolveError struct{ msg string }

func (e *resolveError) Error() string        { return e.msg }
func (e *resolveError) Is(target error) bool { return target == ErrInvalidCloud }

// Resolve picks the environment for a mount from the SecretProviderClass's cloudName
// and cloudEnvFileName:
//
//   - cloudName "" → d.Environment (the --cloud-name default);
//   - AzureStackCloud (any case) → the file cloudEnvFileName, else d.EnvironmentFilePath;
//   - any other name → Lookup.
//
// The Azure provider sets AZURE_ENVIRONMENT_FILEPATH process-wide from cloudEnvFileName
// and lets cloudName decide; the effective result is the same here without global state:
// the file only matters for AzureStackCloud.
func Resolve(cloudName, cloudEnvFileName string, d Defaults) (Environment, error) {
	cloudName = strings.TrimSpace(cloudName)
	cloudEnvFileName = strings.TrimSpace(cloudEnvFileName)
	if cloudName == "" {
		if d.Environment == (Environment{}) {
			return publicCloud, nil
		}
		return d.Environment, nil
	}
	if strings.EqualFold(cloudName, StackCloudName) {
		path := cloudEnvFileName
		if path == "" {
			path = d.EnvironmentFilePath
		}
		if path == "" {
			return Environment{}, &resolveError{fmt.Sprintf("cloudName %s is not valid, error: no environment file: "+
				"set cloudEnvFileName in the SecretProviderClass to the path of the environment JSON file mounted into the provider, "+
				"or set AZURE_ENVIRONMENT_FILEPATH in the provider's environment", cloudName)}
		}
		env, err := d.Files.load(path)
		if err != nil {
			fix := ""
			if errors.Is(err, os.ErrNotExist) {
				fix = ": the path is read inside the provider pod; mount the file into the provider's DaemonSet (e.g. the Helm values linux.volumes and linux.volumeMounts)"
			}
			return Environment{}, &resolveError{fmt.Sprintf("cloudName %s is not valid, error: %v%s", cloudName, err, fix)}
		}
		return env, nil
	}
	upper := strings.ToUpper(cloudName)
	env, ok := builtin(upper)
	if !ok {
		names := Names()
		sort.Strings(names)
		return Environment{}, &resolveError{fmt.Sprintf(
			"cloudName %s is not valid, error: autorest/azure: There is no cloud environment matching the name %q: use one of %s (case-insensitive)",
			cloudName, upper, strings.Join(names, ", "))}
	}
	return env, nil
}

// FileCache caches parsed environment files by path, modification time and size, so a
// mount with a custom cloud does not parse the file every time but still sees edits. It
// is safe for concurrent use; the zero value is ready. A nil *FileCache does not cache.
type FileCache struct {
	mu      sync.Mutex
	entries map[string]cacheEntry
}

// maxCachedFiles bounds the cache; SecretProviderClasses name few distinct files.
const maxCachedFiles = 64

type cacheEntry struct {
	mtime time.Time
	size  int64
	env   Environment
}

func (c *FileCache) load(path string) (Environment, error) {
	if c == nil {
		return LoadFile(path)
	}
	info, err := os.Stat(path)
	if err != nil {
		return Environment{}, err
	}
	c.mu.Lock()
	e, ok := c.entries[path]
	c.mu.Unlock()
	if ok && e.mtime.Equal(info.ModTime()) && e.size == info.Size() {
		return e.env, nil
	}
	env, err := LoadFile(path)
	if err != nil {
		return Environment{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]cacheEntry)
	}
	if _, ok := c.entries[path]; !ok && len(c.entries) >= maxCachedFiles {
		clear(c.entries)
	}
	c.entries[path] = cacheEntry{mtime: info.ModTime(), size: info.Size(), env: env}
	return env, nil
}
