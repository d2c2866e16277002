package emulator

import (
	"slices"
	"strings"
)

const imdsHost = "169.254.169.254"

// Key Vault data-plane api-versions the public, US Government and China clouds
// accept (the api-version values of the Key Vault REST reference and the SDKs'
// ApiVersion enums; 2026-04-01 is what azsecrets v1.5 sends). Another value is
// answered 400 BadParameter "The specified version (v) is not recognized.
// Consider using the latest supported version (latest)." as Key Vault does.
var publicKeyVaultAPIVersions = []string{
	"2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01",
}

// StackHubKeyVaultAPIVersions are the api-versions an Azure Stack Hub's Key Vault
// answers: Stack Hub lags the public cloud, and its vaults refuse newer versions
// with "The specified version (7.3) is not recognized. Consider using the latest
// supported version (7.1)." (Azure/azure-sdk-for-python#28595).
var StackHubKeyVaultAPIVersions = []string{"2016-10-01", "7.0", "7.1"}

// cloudState is one Azure cloud: its login hosts, Key Vault DNS suffixes, the
// tenants that exist in it, the key that signs its access tokens and the
// api-versions its vaults accept. Clouds share nothing: a token of one is
// refused by the vaults of another, and a login host knows only its own
// cloud's tenants and resources. Fields are guarded by Emulator.mu.
type cloudState struct {
	name        string
	loginHosts  []string // answered as Entra ID; the first is named in challenges
	suffixes    []string // Key Vault DNS suffixes
	issuerHost  string   // access tokens' iss is https://<issuerHost>/<tenant>/
	signer      *jwtSigner
	apiVersions []string
	resources   []string // known resources besides the vault resource
	adfs        bool     // an AD FS authority (Azure Stack Hub): one "tenant", adfs
	builtin     bool     // one of Azure's clouds, known to MSAL without instance metadata
}

// issuer is the iss claim of the cloud's access tokens for a tenant.
func (c *cloudState) issuer(tenantID string) string {
	if c.adfs {
		return "https://" + c.loginHosts[0] + "/adfs"
	}
	return "https://" + c.issuerHost + "/" + tenantID + "/"
}

// v2Issuer is the v2.0 issuer Key Vault also accepts (named in AKV10032).
func (c *cloudState) v2Issuer(tenantID string) string {
	if c.adfs {
		return c.issuer(tenantID)
	}
	return "https://" + c.loginHosts[0] + "/" + tenantID + "/v2.0"
}

func (c *cloudState) acceptsAPIVersion(v string) bool { return slices.Contains(c.apiVersions, v) }

func (c *cloudState) latestAPIVersion() string { return c.apiVersions[len(c.apiVersions)-1] }

func builtinClouds(ids *idSource) ([]*cloudState, error) {
	defs := []cloudState{
		{name: "AzurePublicCloud", loginHosts: []string{"login.microsoftonline.com", "login.microsoft.com", "login.windows.net"},
			suffixes: []string{"vault.azure.net"}, issuerHost: "sts.windows.net",
			resources: []string{"https://management.azure.com", "https://management.core.windows.net", "https://graph.microsoft.com", "https://storage.azure.com"}},
		{name: "AzureUSGovernmentCloud", loginHosts: []string{"login.microsoftonline.us"},
			suffixes: []string{"vault.usgovcloudapi.net"}, issuerHost: "login.microsoftonline.us",
			resources: []string{"https://management.usgovcloudapi.net"}},
		{name: "AzureChinaCloud", loginHosts: []string{"login.chinacloudapi.cn", "login.partner.microsoftonline.cn"},
			suffixes: []string{"vault.azure.cn"}, issuerHost: "sts.chinacloudapi.cn",
			resources: []string{"https://management.chinacloudapi.cn"}},
		{name: "AzureGermanCloud", loginHosts: []string{"login.microsoftonline.de"},
			suffixes: []string{"vault.microsoftazure.de"}, issuerHost: "sts.microsoftonline.de"},
	}
	var out []*cloudState
	for i := range defs {
		c := defs[i]
		s, err := newJWTSigner(ids)
		if err != nil {
			return nil, err
		}
		c.signer = s
		c.builtin = true
		c.apiVersions = slices.Clone(publicKeyVaultAPIVersions)
		out = append(out, &c)
	}
	return out, nil
}

// publicCloud is the cloud IMDS and NMI hand out tokens of (the node's).
func (e *Emulator) publicCloud() *cloudState { return e.clouds[0] }

// cloudByLoginHostLocked finds the cloud answering a login host.
func (e *Emulator) cloudByLoginHostLocked(host string) *cloudState {
	for _, c := range e.clouds {
		if slices.Contains(c.loginHosts, host) {
			return c
		}
	}
	return nil
}

func (e *Emulator) cloudBySuffixLocked(suffix string) *cloudState {
	for _, c := range e.clouds {
		if slices.Contains(c.suffixes, suffix) {
			return c
		}
	}
	return nil
}

func (e *Emulator) cloudByLoginHost(host string) *cloudState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cloudByLoginHostLocked(host)
}

// addExtraHost interprets one Options.ExtraHosts entry.
func (e *Emulator) addExtraHost(h string) {
	h = strings.ToLower(strings.TrimSpace(h))
	if h == "" {
		return
	}
	if suffix, ok := strings.CutPrefix(h, "*."); ok {
		if e.cloudBySuffixLocked(suffix) == nil {
			e.declareCloudLocked(Cloud{VaultSuffix: suffix})
		}
		return
	}
	if _, _, ok := e.splitVaultHost(h); ok {
		return // a single vault under a known suffix
	}
	e.declareCloudLocked(Cloud{LoginHost: h})
}

// AddCloud declares a custom cloud: its login host is answered as Entra ID,
// and vaults under vaultSuffix challenge with that login host. Either may be
// empty; a suffix without a login host belongs to the public cloud. A login
// host already known adds the suffix to that host's cloud.
func (e *Emulator) AddCloud(loginHost, vaultSuffix string) {
	e.DeclareCloud(Cloud{LoginHost: loginHost, VaultSuffix: vaultSuffix})
}

// DeclareCloud declares or extends a cloud (see Cloud). A cloud first named by
// a new login host gets its own token signing key, issuer and tenants.
func (e *Emulator) DeclareCloud(c Cloud) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.declareCloudLocked(c)
}

func (e *Emulator) declareCloudLocked(c Cloud) {
	login := strings.ToLower(strings.TrimSpace(c.LoginHost))
	suffix := strings.ToLower(strings.Trim(strings.TrimSpace(c.VaultSuffix), "."))
	var cs *cloudState
	switch {
	case login == "":
		cs = e.publicCloud()
	default:
		cs = e.cloudByLoginHostLocked(login)
	}
	if cs == nil {
		s, err := newJWTSigner(e.ids)
		if err != nil {
			panic(err) // only when crypto/rand fails
		}
		cs = &cloudState{name: login, loginHosts: []string{login}, issuerHost: login, signer: s,
			apiVersions: slices.Clone(publicKeyVaultAPIVersions), adfs: c.ADFS}
		e.clouds = append(e.clouds, cs)
	}
	if suffix != "" && !slices.Contains(cs.suffixes, suffix) {
		for _, other := range e.clouds {
			other.suffixes = slices.DeleteFunc(other.suffixes, func(s string) bool { return s == suffix })
		}
		cs.suffixes = append(cs.suffixes, suffix)
	}
	if len(c.APIVersions) > 0 {
		cs.apiVersions = slices.Clone(c.APIVersions)
	}
	if cs.adfs {
		e.tenantLocked("adfs").clouds[cs] = true // AD FS has one authority, named like a tenant
	}
	for _, t := range c.Tenants {
		e.tenantLocked(t).clouds[cs] = true
	}
}

// AddTenantToCloud declares that a tenant exists in the cloud of loginHost
// (tenants added with AddTenant exist in the public cloud only).
func (e *Emulator) AddTenantToCloud(loginHost, tenantID string) {
	e.DeclareCloud(Cloud{LoginHost: loginHost, Tenants: []string{tenantID}})
}

func (e *Emulator) isLoginHost(host string) bool {
	return e.cloudByLoginHost(host) != nil
}

// splitVaultHost splits "<name>.<suffix>" for a known suffix. Callers hold e.mu
// or run before Start returns.
func (e *Emulator) splitVaultHost(host string) (name, suffix string, ok bool) {
	name, suffix, found := strings.Cut(host, ".")
	if !found || name == "" {
		return "", "", false
	}
	if e.cloudBySuffixLocked(suffix) == nil {
		return "", "", false
	}
	return name, suffix, true
}

// vaultForHost finds the existing vault a host names, and its cloud.
func (e *Emulator) vaultForHost(host string) (*Vault, string, *cloudState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	name, suffix, ok := e.splitVaultHost(host)
	if !ok {
		return nil, "", nil, false
	}
	v, ok := e.vaults[name]
	return v, suffix, e.cloudBySuffixLocked(suffix), ok
}

// knowsHost says whether a CONNECT to host reaches the emulator (otherwise
// the proxy answers 502, as a real proxy does when the name does not resolve).
func (e *Emulator) knowsHost(host string) bool {
	if e.isLoginHost(host) {
		return true
	}
	_, _, _, ok := e.vaultForHost(host)
	return ok
}

// knownResource says whether a cloud's Entra ID knows the resource
// (application ID URI): its own Key Vault resources and a few others, never
// another cloud's (AADSTS500011).
func (e *Emulator) knownResource(c *cloudState, resource string) bool {
	r := strings.ToLower(strings.TrimSuffix(resource, "/"))
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range c.suffixes {
		if r == "https://"+s {
			return true
		}
	}
	return slices.Contains(c.resources, r)
}
