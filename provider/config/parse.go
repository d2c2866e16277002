package config

import (
	"io/fs"
	"strings"
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

// Parse validates a MountRequest's decoded attributes and secrets (nodePublishSecretRef
// data) and the driver's default file mode into one Mount, before any network call.
//
// Checks run in the Azure provider's order and the first failure is returned: pod keys,
// identity-mode flags, keyvaultName, tenant, identity material, objects, vault name. Every
// error matches ErrInvalid; errors about one object are *ObjectError.
func Parse(attributes, secrets map[string]string, defaultMode fs.FileMode) (*Mount, error) {
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
	items, perr := splitObjects(raw)
	if perr != nil {
		return nil, perr
	}
	// Like the Azure provider: decode, trim and validate one entry at a time.
	for i, s := range items {
		o, perr := decodeObject(i, s)
		if perr != nil {
			return nil, perr
		}
		obj, oerr := buildObject(i, o, m.VaultName, defaultMode)
		if oerr != nil {
			return nil, oerr
		}
		m.Objects = append(m.Objects, obj)
	}
	if len(m.Objects) == 0 {
		return m, nil
	}
	if perr := checkVaultName(ParamKeyvaultName, m.VaultName); perr != nil {
		return nil, perr
	}
	if errs := checkOutputs(m.Objects); len(errs) > 0 {
		return nil, errs[0]
	}
	return m, nil
}
