package config

// Attribute keys the driver sets (podInfoOnMount and tokenRequests).
const (
	AttrPodName             = "csi.storage.k8s.io/pod.name"
	AttrPodNamespace        = "csi.storage.k8s.io/pod.namespace"
	AttrPodUID              = "csi.storage.k8s.io/pod.uid"
	AttrServiceAccountName  = "csi.storage.k8s.io/serviceAccount.name"
	AttrServiceAccountToken = "csi.storage.k8s.io/serviceAccount.tokens"

	driverKeyPrefix = "csi.storage.k8s.io/"
)

// SecretProviderClass parameters, spelled as the Azure provider reads them (case-sensitive).
const (
	ParamKeyvaultName           = "keyvaultName"
	ParamTenantID               = "tenantID"
	ParamTenantIDDeprecated     = "tenantId"
	ParamObjects                = "objects"
	ParamClientID               = "clientID"
	ParamUsePodIdentity         = "usePodIdentity"
	ParamUseVMManagedIdentity   = "useVMManagedIdentity"
	ParamUseAzureTokenProxy     = "useAzureTokenProxy"
	ParamUserAssignedIdentityID = "userAssignedIdentityID"
	ParamCloudName              = "cloudName"
	ParamCloudEnvFileName       = "cloudEnvFileName"

	// ParamKeyvaultAPIVersion (kvcsi) is the Key Vault data-plane api-version to send:
	// Azure Stack Hub's vaults serve only older ones (7.1).
	ParamKeyvaultAPIVersion = "keyvaultAPIVersion"
	// ParamFiles (kvcsi) is the rendered files: a YAML list of files built from the
	// files the objects write.
	ParamFiles = "files"
)

// knownParams are the parameters Parse reads.
var knownParams = []string{
	ParamKeyvaultName, ParamTenantID, ParamTenantIDDeprecated, ParamObjects, ParamClientID,
	ParamUsePodIdentity, ParamUseVMManagedIdentity, ParamUseAzureTokenProxy,
	ParamUserAssignedIdentityID, ParamCloudName, ParamCloudEnvFileName, ParamKeyvaultAPIVersion, ParamFiles,
}

// ignoredParams are keys that reach the provider but mean nothing to it and are not worth
// a lint finding: volumeAttributes the driver itself uses, and parameters that older
// versions of the Azure provider read and many SecretProviderClasses still carry.
var ignoredParams = map[string]bool{
	"secretProviderClass":  true,
	"providerName":         true,
	"resourceGroup":        true,
	"subscriptionId":       true,
	"enableSecretRotation": true,
}

// Object fields (exact-case YAML tags). The first block is the Azure provider's, the
// second kvcsi's extensions.
const (
	FieldObjectName           = "objectName"
	FieldObjectType           = "objectType"
	FieldObjectAlias          = "objectAlias"
	FieldObjectVersion        = "objectVersion"
	FieldObjectVersionHistory = "objectVersionHistory"
	FieldObjectFormat         = "objectFormat"
	FieldObjectEncoding       = "objectEncoding"
	FieldFilePermission       = "filePermission"

	FieldKeyvaultName    = "keyvaultName"
	FieldCertificatePart = "certificatePart"
	FieldSplitCertAndKey = "splitCertAndKey"
	FieldConvertPFXToPEM = "convertPFXToPEM"
	FieldJMESPath        = "jmesPath"
	FieldJMESPathPath    = "path" // inside a jmesPath entry
	FieldOptional        = "optional"
	FieldSelector        = "selector"
	FieldStripPrefix     = "stripPrefix"
	FieldRefuseExpired   = "refuseExpired"
	FieldPFXPasswordFile = "pfxPasswordFile"
)

var knownObjectFields = []string{
	FieldObjectName, FieldObjectType, FieldObjectAlias, FieldObjectVersion,
	FieldObjectVersionHistory, FieldObjectFormat, FieldObjectEncoding, FieldFilePermission,
	FieldKeyvaultName, FieldCertificatePart, FieldSplitCertAndKey, FieldConvertPFXToPEM,
	FieldJMESPath, FieldOptional, FieldSelector, FieldStripPrefix, FieldRefuseExpired, FieldPFXPasswordFile,
}

var knownSelectorFields = []string{"namePrefix", "tags", "contentType"}

var knownJMESPathFields = []string{FieldJMESPathPath, FieldObjectAlias, FieldFilePermission}
