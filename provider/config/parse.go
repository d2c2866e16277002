package config

import (
	"io/fs"
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

func missingVaultName() *Error {
	return invalid(ParamKeyvaultName, "keyvaultName is not provided",
		"set parameters.keyvaultName in the SecretProviderClass to the vault's name")
}

func missingTenant() *Error {
	return invalid(ParamTenantID, "tenantId is not provided",
		"set parameters.tenantID in the SecretProviderClass to the vault's Entra ID tenant ID")
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

func (p *Parser) objects(raw, vault string, defaultMode fs.FileMode) ([]Object, error) {
	if p == nil || len(raw) > maxCachedObjectsText {
		return parseObjects(raw, vault, defaultMode)
	}
	key := objectsKey{raw: raw, vault: vault, mode: defaultMode}
	objects, ok := p.cache.Get(key)
	if !ok {
		var err error
		// Parsed outside the cache's lock; errors are not cached (they are rare and
		// should show the current text's problem).
		if objects, err = parseObjects(raw, vault, defaultMode); err != nil {
			return nil, err
		}
		p.cache.Add(key, objects)
	}
	// Callers may take pointers into the slice; they get their own.
	return slices.Clone(objects), nil
}

// Parse validates a MountRequest's decoded attributes and secrets (nodePublishSecretRef
// data) and the driver's default file mode into one Mount, before any network call.
//
// Checks run in the Azure provider's order and the first failure is returned: pod keys,
// identity-mode flags, keyvaultName, tenant, identity material, objects, vault name. Every
// error matches ErrInvalid; errors about one object are *vocab.ObjectError.
func Parse(attributes, secrets map[string]string, defaultMode fs.FileMode) (*Mount, error) {
	return parse(nil, attributes, secrets, defaultMode)
}

func parse(p *Parser, attributes, secrets map[string]string, defaultMode fs.FileMode) (*Mount, error) {
	get := getter(attributes)
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
		DefaultMode:      defaultMode,
	}
	const podFix = "the driver sends it when its CSIDriver object has podInfoOnMount: true"
	if m.Pod.Name == "" {
		return nil, invalid(AttrPodName, "pod name is not provided", podFix)
	}
	if m.Pod.Namespace == "" {
		return nil, invalid(AttrPodNamespace, "pod namespace is not provided", podFix)
	}
	flags, perr := parseModeFlags(get)
	if perr != nil {
		return nil, perr
	}
	if m.VaultName == "" {
		return nil, missingVaultName()
	}
	tenant := tenantID(get)
	if tenant == "" {
		return nil, missingTenant()
	}
	id, err := parseIdentity(get, secrets, flags, tenant)
	if err != nil {
		return nil, err
	}
	m.Identity = id

	raw := get(ParamObjects)
	if raw == "" {
		return nil, invalid(ParamObjects, "objects is not set", objectsExample)
	}
	objects, err := p.objects(raw, m.VaultName, defaultMode)
	if err != nil {
		return nil, err
	}
	m.Objects = objects
	return m, nil
}

// parseObjects decodes, trims and validates the objects parameter, one entry at a
// time like the Azure provider.
func parseObjects(raw, vault string, defaultMode fs.FileMode) ([]Object, error) {
	items, perr := splitObjects(raw)
	if perr != nil {
		return nil, perr
	}
	var objects []Object
	for i, s := range items {
		o, perr := decodeObject(i, s)
		if perr != nil {
			return nil, perr
		}
		obj, oerr := buildObject(i, o, vault, defaultMode)
		if oerr != nil {
			return nil, oerr
		}
		objects = append(objects, obj)
	}
	if len(objects) == 0 {
		return nil, nil
	}
	if perr := checkVaultName(ParamKeyvaultName, vault); perr != nil {
		return nil, perr
	}
	if errs := checkOutputs(objects); len(errs) > 0 {
		return nil, errs[0]
	}
	return objects, nil
}
