package emulator

import (
	"strings"
)

const imdsHost = "169.254.169.254"

const defaultLoginHost = "login.microsoftonline.com"

var builtinLoginHosts = []string{
	"login.microsoftonline.com",
	"login.microsoft.com",
	"login.windows.net",
	"login.microsoftonline.us",
	"login.chinacloudapi.cn",
	"login.partner.microsoftonline.cn",
	"login.microsoftonline.de",
}

// builtinVaultSuffixes maps each built-in cloud's Key Vault DNS suffix to the
// login host its 401 challenge names.
var builtinVaultSuffixes = map[string]string{
	"vault.azure.net":         "login.microsoftonline.com",
	"vault.usgovcloudapi.net": "login.microsoftonline.us",
	"vault.azure.cn":          "login.chinacloudapi.cn",
	"vault.microsoftazure.de": "login.microsoftonline.de",
}

// addExtraHost interprets one Options.ExtraHosts entry.
func (e *Emulator) addExtraHost(h string) {
	h = strings.ToLower(strings.TrimSpace(h))
	if h == "" {
		return
	}
	if suffix, ok := strings.CutPrefix(h, "*."); ok {
		if _, known := e.vaultSuffixes[suffix]; !known {
			e.vaultSuffixes[suffix] = defaultLoginHost
		}
		return
	}
	if _, _, ok := e.splitVaultHost(h); ok {
		return // a single vault under a known suffix
	}
	e.loginHosts[h] = true
}

// AddCloud declares a custom cloud: its login host is answered as Entra ID,
// and vaults under vaultSuffix challenge with that login host. Either may be
// empty.
func (e *Emulator) AddCloud(loginHost, vaultSuffix string) {
	loginHost = strings.ToLower(strings.TrimSpace(loginHost))
	vaultSuffix = strings.ToLower(strings.Trim(strings.TrimSpace(vaultSuffix), "."))
	e.mu.Lock()
	defer e.mu.Unlock()
	if loginHost != "" {
		e.loginHosts[loginHost] = true
	}
	if vaultSuffix != "" {
		if loginHost == "" {
			loginHost = defaultLoginHost
		}
		e.vaultSuffixes[vaultSuffix] = loginHost
	}
}

func (e *Emulator) isLoginHost(host string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loginHosts[host]
}

// splitVaultHost splits "<name>.<suffix>" for a known suffix. Callers hold e.mu
// or run before Start returns.
func (e *Emulator) splitVaultHost(host string) (name, suffix string, ok bool) {
	name, suffix, found := strings.Cut(host, ".")
	if !found || name == "" {
		return "", "", false
	}
	if _, known := e.vaultSuffixes[suffix]; !known {
		return "", "", false
	}
	return name, suffix, true
}

// vaultForHost finds the existing vault a host names.
func (e *Emulator) vaultForHost(host string) (*Vault, string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	name, suffix, ok := e.splitVaultHost(host)
	if !ok {
		return nil, "", false
	}
	v, ok := e.vaults[name]
	return v, suffix, ok
}

// knowsHost says whether a CONNECT to host reaches the emulator (otherwise
// the proxy answers 502, as a real proxy does when the name does not resolve).
func (e *Emulator) knowsHost(host string) bool {
	if e.isLoginHost(host) {
		return true
	}
	_, _, ok := e.vaultForHost(host)
	return ok
}

// challengeLoginHost is the login host named in the challenge of a vault
// under suffix.
func (e *Emulator) challengeLoginHost(suffix string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if h := e.vaultSuffixes[suffix]; h != "" {
		return h
	}
	return defaultLoginHost
}

// isVaultResource says whether resource ("https://vault.azure.net", with or
// without a trailing slash) is the Key Vault resource of a known cloud.
func (e *Emulator) isVaultResource(resource string) bool {
	host, ok := strings.CutPrefix(strings.TrimSuffix(resource, "/"), "https://")
	if !ok {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, known := e.vaultSuffixes[strings.ToLower(host)]
	return known
}
