package config

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/provider/cache"
)

// getter returns attribute lookups with every value trimmed.
func getter(attributes map[string]string) func(string) string {
	return func(k string) string { return strings.TrimSpace(attributes[k]) }
}

// tenantID returns tenantID, falling back to the deprecated tenantId.
func tenantID(get func(string) string) string {
	if t := get(ParamTenantID); t != "" {
		return t
	}
	return get(ParamTenantIDDeprecated)
}

// Parser is Parse with a cache of validated objects parameters. kubelet republishes
// every volume about once a minute with the same SecretProviderClass, and decoding its
// double-YAML objects parameter was the largest share of a warm mount's CPU. The
// cache holds only what the objects text, the vault name and the default mode
// determine (no identity, no secret), returns copies, and is bounded in entries, in
// the size of a text it keeps and in idle time. A nil *Parser parses every time.
type Parser struct {
	cache *cache.LRU[objectsKey, []Object]
}

type objectsKey struct {
	raw, vault string
	mode       fs.FileMode
}

// maxCachedObjectsText bounds the memory one cache entry can keep.
const maxCachedObjectsText = 16 << 10

// NewParser returns a Parser keeping up to size validated objects parameters, each
// for at most idleTTL without use.
func NewParser(size int, idleTTL time.Duration) *Parser {
	return &Parser{cache: cache.New[objectsKey, []Object](size, idleTTL, nil, nil)}
}

// Parse is the package-level Parse, with the objects parameter served from the cache
// when the same text was validated before for the same vault name and mode.
func (p *Parser) Parse(attributes, secrets map[string]string, defaultMode fs.FileMode) (*Mount, error) {
	return parse(p, attributes, secrets, defaultMode)
}

// objects walks the objects parameter, from the cache for Parse: only a walk that
// found nothing invalid is cached, and Lint, which wants every finding, never uses it.
func (p *Parser) objects(raw, vault string, defaultMode fs.FileMode, c *checker) ([]Object, bool) {
	if p == nil || c.all || len(raw) > maxCachedObjectsText {
		return walkObjects(raw, vault, defaultMode, c)
	}
	key := objectsKey{raw: raw, vault: vault, mode: defaultMode}
	objects, ok := p.cache.Get(key)
	if !ok {
		// Walked outside the cache's lock; errors are not cached (they are rare and
		// should show the current text's problem).
		if objects, ok = walkObjects(raw, vault, defaultMode, c); !ok {
			return nil, false
		}
		p.cache.Add(key, objects)
	}
	// Callers may take pointers into the slice; they get their own.
	return slices.Clone(objects), true
}

// Parse validates a MountRequest's decoded attributes and secrets (nodePublishSecretRef
// data) and the driver's default file mode into one Mount, before any network call.
//
// Checks run in the Azure provider's order and the first failure is returned: pod keys,
// identity-mode flags, keyvaultName, tenant, identity material, objects, vault name. Every
// error matches ErrInvalid; errors about one object are *vocab.ObjectError. It is the
// first SeverityInvalid finding of Lint with the same inputs.
func Parse(attributes, secrets map[string]string, defaultMode fs.FileMode) (*Mount, error) {
	return parse(nil, attributes, secrets, defaultMode)
}

func parse(p *Parser, attributes, secrets map[string]string, defaultMode fs.FileMode) (*Mount, error) {
	var c checker
	m := walk(p, input{attributes: attributes, secrets: secrets, mode: defaultMode, mount: true}, &c)
	if c.first != nil {
		return nil, c.first
	}
	return m, nil
}

// input is what the walk judges.
type input struct {
	attributes map[string]string // the parameters, and at mount time the driver's keys
	secrets    map[string]string // nodePublishSecretRef data (mount time)
	mode       fs.FileMode       // the default file mode
	// mount is true when the driver's inputs are there: the pod keys, the
	// service-account tokens and nodePublishSecretRef are then checked too.
	mount bool
}

// walk is the one validation walk behind Parse and Lint. Checks run in the Azure
// provider's order; each records its finding through c, and the walk returns nil where
// c says to stop (Parse, at the first SeverityInvalid finding). Checks that can only
// give findings the mount does not fail on run for Lint alone.
func walk(p *Parser, in input, c *checker) *Mount {
	get := getter(in.attributes)
	m := &Mount{
		Pod: Pod{
			Name:           get(AttrPodName),
			Namespace:      get(AttrPodNamespace),
			UID:            get(AttrPodUID),
			ServiceAccount: get(AttrServiceAccountName),
		},
		CloudName:        get(ParamCloudName),
		CloudEnvFileName: get(ParamCloudEnvFileName),
		VaultName:        get(ParamKeyvaultName),
		DefaultMode:      in.mode,
	}
	if c.all {
		c.unknownParams(in.attributes)
	}
	if in.mount {
		const podFix = "the driver sends it when its CSIDriver object has podInfoOnMount: true"
		if m.Pod.Name == "" && c.fail(nil, invalid(AttrPodName, "pod name is not provided", podFix)) {
			return nil
		}
		if m.Pod.Namespace == "" && c.fail(nil, invalid(AttrPodNamespace, "pod namespace is not provided", podFix)) {
			return nil
		}
	}
	flags, ok := modeFlagsOf(get, c)
	if !ok {
		return nil
	}
	if v, perr := keyVaultAPIVersion(get); perr != nil {
		if c.fail(nil, perr) {
			return nil
		}
	} else {
		m.KeyVaultAPIVersion = v
	}
	if m.VaultName == "" && c.fail(nil, missingVaultName()) {
		return nil
	}
	tenant := tenantID(get)
	if tenant == "" {
		if c.fail(nil, missingTenant()) {
			return nil
		}
	} else if get(ParamTenantID) == "" {
		c.note(SeverityWarning, nil, ParamTenantIDDeprecated, "tenantId is deprecated", "rename the parameter to tenantID")
	}
	// Checked before the mode's material so that Lint reports it even when several
	// modes are set (Parse has stopped then, and with one mode the order is the same).
	if flags.azureTokenProxy && get(ParamClientID) == "" && c.fail(nil, invalid(ParamClientID, "clientID is required for identity binding",
		"set parameters.clientID to the client ID of the user-assigned managed identity bound to the service account")) {
		return nil
	}
	id, err := parseIdentity(get, in.secrets, flags, tenant, in.mount)
	if err != nil && c.fail(nil, err) {
		return nil
	}
	m.Identity = id
	if c.all {
		c.identityNotes(get, flags)
	}

	raw := get(ParamObjects)
	if raw == "" {
		c.fail(nil, invalid(ParamObjects, "objects is not set", objectsExample))
		return nil
	}
	if m.Objects, ok = p.objects(raw, m.VaultName, in.mode, c); !ok {
		return nil
	}
	if err := checkPasswordFiles(m.Objects, newProduced(m.Objects)); err != nil && c.fail(nil, err) {
		return nil
	}
	if rawFiles := get(ParamFiles); rawFiles != "" {
		if m.Files, ok = walkFiles(rawFiles, m.Objects, in.mode, c); !ok {
			return nil
		}
	}
	return m
}

func missingVaultName() *Error {
	return invalid(ParamKeyvaultName, "keyvaultName is not provided",
		"set parameters.keyvaultName in the SecretProviderClass to the vault's name")
}

func missingTenant() *Error {
	return invalid(ParamTenantID, "tenantId is not provided",
		"set parameters.tenantID in the SecretProviderClass to the vault's Entra ID tenant ID")
}

// walkObjects decodes, trims and validates the objects parameter, one entry at a time
// like the Azure provider, then the vault name and the output paths. It returns the
// objects that are valid on their own, and false where c says to stop.
func walkObjects(raw, vault string, defaultMode fs.FileMode, c *checker) ([]Object, bool) {
	items, perr := splitObjects(raw)
	if perr != nil {
		c.fail(nil, perr)
		return nil, false
	}
	if c.all {
		c.unknownKeys(nil, raw, []string{"array"}, nil)
		if len(items) == 0 {
			c.note(SeverityWarning, nil, ParamObjects, "objects has no entries: the volume will be empty", objectsExample)
		}
	}
	var objects []Object
	for i, s := range items {
		ref := &ObjectRef{Index: i}
		if c.all {
			c.unknownKeys(ref, s, knownObjectFields, map[string][]string{FieldJMESPath: knownJMESPathFields, FieldSelector: knownSelectorFields})
		}
		o, perr := decodeObject(i, s)
		if perr != nil {
			if c.fail(ref, perr) {
				return nil, false
			}
			continue
		}
		obj, oerr := buildObject(i, o, vault, defaultMode)
		if oerr != nil {
			if c.fail(nil, oerr) {
				return nil, false
			}
			continue
		}
		objects = append(objects, obj)
	}
	if len(items) == 0 {
		return nil, true
	}
	// vault is empty only for Lint, which has reported it missing.
	if vault != "" {
		if perr := checkVaultName(ParamKeyvaultName, vault); perr != nil && c.fail(nil, perr) {
			return nil, false
		}
	}
	for _, err := range checkOutputs(objects) {
		if c.fail(nil, err) {
			return nil, false
		}
	}
	return objects, true
}

// apiVersionRE is the shape of Key Vault data-plane api-versions: 7.1, 7.6-preview.2,
// 2016-10-01, 2025-07-01-preview.
var apiVersionRE = regexp.MustCompile(`^(\d+\.\d+|\d{4}-\d{2}-\d{2})(-preview(\.\d+)?)?$`)

// keyVaultAPIVersion reads keyvaultAPIVersion: empty, or a Key Vault api-version.
func keyVaultAPIVersion(get func(string) string) (string, *Error) {
	v := get(ParamKeyvaultAPIVersion)
	if v == "" || apiVersionRE.MatchString(v) {
		return v, nil
	}
	return "", invalid(ParamKeyvaultAPIVersion, fmt.Sprintf("keyvaultAPIVersion %q is not a Key Vault api-version", v),
		`set it to an api-version the vault serves, such as "7.1" (Azure Stack Hub) or "2025-07-01", or remove it to use kvcsi's default`)
}
