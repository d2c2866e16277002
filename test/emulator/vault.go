package emulator

import (
	"slices"
	"strings"
	"time"
)

// Permission is one data-plane permission granted to an identity on a vault.
type Permission string

// The permissions a mount needs.
const (
	SecretGet  Permission = "SecretGet"
	SecretList Permission = "SecretList"
	KeyGet     Permission = "KeyGet"
	KeyList    Permission = "KeyList"
	CertGet    Permission = "CertGet"
	CertList   Permission = "CertList"
)

// AllPermissions grants every read permission.
var AllPermissions = []Permission{SecretGet, SecretList, KeyGet, KeyList, CertGet, CertList}

// Object types as used by SetRawResponse, GrantObject and DisableVersion.
const (
	ObjectSecret = "secret"
	ObjectKey    = "key"
	ObjectCert   = "cert"
)

func normObjectType(t string) string {
	switch strings.ToLower(t) {
	case "secret", "secrets":
		return ObjectSecret
	case "key", "keys":
		return ObjectKey
	case "cert", "certs", "certificate", "certificates":
		return ObjectCert
	}
	return strings.ToLower(t)
}

// Vault is one emulated key vault. Its state lives under the emulator's lock.
type Vault struct {
	e    *Emulator
	name string

	tenant         string
	subscriptionID string

	grants    map[string]map[Permission]bool // client ID -> vault-wide permissions
	objGrants map[string]map[Permission]bool // client ID|type|name -> permissions

	secrets map[string][]*secretVersion
	keys    map[string][]*keyVersion
	certs   map[string][]*certVersion

	raw map[string]rawResponse // type|name|version
}

type rawResponse struct {
	status int
	body   []byte
}

type attrs struct {
	enabled   bool
	created   time.Time
	updated   time.Time
	notBefore time.Time
	expires   time.Time
}

type secretVersion struct {
	version     string
	value       string
	contentType string
	kid         string
	tags        map[string]string
	attrs
}

// SecretOptions are the optional properties of a secret version.
type SecretOptions struct {
	ContentType string            `json:"contentType,omitempty"`
	Enabled     *bool             `json:"enabled,omitempty"` // default true
	Created     time.Time         `json:"created,omitzero"`  // default now
	NotBefore   time.Time         `json:"notBefore,omitzero"`
	Expires     time.Time         `json:"expires,omitzero"`
	Tags        map[string]string `json:"tags,omitempty"`
	// KID makes the secret certificate-backed ("managed": true, with kid).
	KID string `json:"kid,omitempty"`
}

// Vault returns the vault with the given name, creating it on first use. It
// answers at <name>.<suffix> for every known Key Vault DNS suffix.
func (e *Emulator) Vault(name string) *Vault {
	name = strings.ToLower(name)
	e.mu.Lock()
	defer e.mu.Unlock()
	if v := e.vaults[name]; v != nil {
		return v
	}
	v := &Vault{
		e:              e,
		name:           name,
		subscriptionID: e.ids.guid(),
		grants:         map[string]map[Permission]bool{},
		objGrants:      map[string]map[Permission]bool{},
		secrets:        map[string][]*secretVersion{},
		keys:           map[string][]*keyVersion{},
		certs:          map[string][]*certVersion{},
		raw:            map[string]rawResponse{},
	}
	e.vaults[name] = v
	return v
}

// Name is the vault name.
func (v *Vault) Name() string { return v.name }

// URL is the vault URL in the public cloud, "https://<name>.vault.azure.net/".
func (v *Vault) URL() string { return "https://" + v.name + ".vault.azure.net/" }

// SetTenant sets the tenant named in the vault's 401 challenge and required
// of access tokens. The default is the first tenant added to the emulator.
func (v *Vault) SetTenant(tenantID string) {
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	v.tenant = tenantID
}

func (v *Vault) tenantID() string {
	v.e.mu.Lock()
	t := v.tenant
	v.e.mu.Unlock()
	if t == "" {
		t = v.e.firstTenant()
	}
	return t
}

// Grant gives an identity (client ID, the token's appid) permissions on every
// object of the vault.
func (v *Vault) Grant(clientID string, perms ...Permission) {
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	addPerms(v.grants, strings.ToLower(clientID), perms)
}

// GrantObject gives an identity permissions on one object only.
func (v *Vault) GrantObject(clientID, objectType, objectName string, perms ...Permission) {
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	addPerms(v.objGrants, objGrantKey(clientID, objectType, objectName), perms)
}

// Revoke removes every permission of an identity, vault-wide and per object.
func (v *Vault) Revoke(clientID string) {
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	id := strings.ToLower(clientID)
	delete(v.grants, id)
	for k := range v.objGrants {
		if strings.HasPrefix(k, id+"|") {
			delete(v.objGrants, k)
		}
	}
}

func objGrantKey(clientID, objectType, objectName string) string {
	return strings.ToLower(clientID) + "|" + normObjectType(objectType) + "|" + strings.ToLower(objectName)
}

func addPerms(m map[string]map[Permission]bool, key string, perms []Permission) {
	if m[key] == nil {
		m[key] = map[Permission]bool{}
	}
	for _, p := range perms {
		m[key][p] = true
	}
}

func (v *Vault) allowed(clientID string, p Permission, objectType, objectName string) bool {
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	if v.grants[strings.ToLower(clientID)][p] {
		return true
	}
	return objectName != "" && v.objGrants[objGrantKey(clientID, objectType, objectName)][p]
}

func newAttrs(enabled *bool, created time.Time) attrs {
	now := time.Now().UTC().Truncate(time.Second)
	a := attrs{enabled: true, created: now, updated: now}
	if enabled != nil {
		a.enabled = *enabled
	}
	if !created.IsZero() {
		a.created = created.UTC().Truncate(time.Second)
		a.updated = a.created
	}
	return a
}

// SetSecret adds a new version of a secret and returns its version.
func (v *Vault) SetSecret(name, value string, opts SecretOptions) (version string) {
	sv := &secretVersion{
		version:     v.e.ids.version(),
		value:       value,
		contentType: opts.ContentType,
		kid:         opts.KID,
		tags:        opts.Tags,
		attrs:       newAttrs(opts.Enabled, opts.Created),
	}
	sv.notBefore, sv.expires = opts.NotBefore, opts.Expires
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	key := strings.ToLower(name)
	v.secrets[key] = append(v.secrets[key], sv)
	return sv.version
}

// DisableVersion disables one version of an object ("" means the latest).
func (v *Vault) DisableVersion(objectType, name, version string) {
	v.setEnabled(objectType, name, version, false)
}

// EnableVersion enables one version of an object ("" means the latest).
func (v *Vault) EnableVersion(objectType, name, version string) {
	v.setEnabled(objectType, name, version, true)
}

func (v *Vault) setEnabled(objectType, name, version string, enabled bool) {
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	key := strings.ToLower(name)
	var list []*attrs
	switch normObjectType(objectType) {
	case ObjectSecret:
		for _, s := range v.secrets[key] {
			if version == "" || s.version == version {
				list = append(list, &s.attrs)
			}
		}
	case ObjectKey:
		for _, k := range v.keys[key] {
			if version == "" || k.version == version {
				list = append(list, &k.attrs)
			}
		}
	case ObjectCert:
		for _, c := range v.certs[key] {
			if version == "" || c.version == version {
				list = append(list, &c.attrs)
			}
		}
	}
	if version == "" && len(list) > 0 {
		list = list[len(list)-1:]
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, a := range list {
		a.enabled = enabled
		a.updated = now
	}
}

// Delete deletes an object with all its versions, as Key Vault's delete operation does
// (the emulator keeps no soft-deleted copy): afterwards a GET answers 404 and lists leave
// it out. Deleting a certificate deletes its key and secret too, as in Key Vault. It
// reports whether the object existed.
func (v *Vault) Delete(objectType, name string) bool {
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	key := strings.ToLower(name)
	var found bool
	switch normObjectType(objectType) {
	case ObjectSecret:
		_, found = v.secrets[key]
		delete(v.secrets, key)
	case ObjectKey:
		_, found = v.keys[key]
		delete(v.keys, key)
	case ObjectCert:
		_, found = v.certs[key]
		if found {
			delete(v.certs, key)
			delete(v.keys, key)
			delete(v.secrets, key)
		}
	}
	return found
}

// Versions lists an object's versions in the order they were set.
func (v *Vault) Versions(objectType, name string) []string {
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	key := strings.ToLower(name)
	var out []string
	switch normObjectType(objectType) {
	case ObjectSecret:
		for _, s := range v.secrets[key] {
			out = append(out, s.version)
		}
	case ObjectKey:
		for _, k := range v.keys[key] {
			out = append(out, k.version)
		}
	case ObjectCert:
		for _, c := range v.certs[key] {
			out = append(out, c.version)
		}
	}
	return out
}

// SetRawResponse overrides what a GET of one object returns. version "" is
// the request without a version (latest); "versions" overrides the first page
// of the versions list. status 0 removes the override.
func (v *Vault) SetRawResponse(objectType, name, version string, status int, body []byte) {
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	k := normObjectType(objectType) + "|" + strings.ToLower(name) + "|" + version
	if status == 0 {
		delete(v.raw, k)
		return
	}
	v.raw[k] = rawResponse{status: status, body: slices.Clone(body)}
}

func (v *Vault) rawFor(objectType, name, version string) (rawResponse, bool) {
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	r, ok := v.raw[objectType+"|"+strings.ToLower(name)+"|"+version]
	return r, ok
}
