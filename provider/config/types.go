package config

import (
	"io/fs"

	"github.com/kvcsi/kvcsi/provider/format"
	"github.com/kvcsi/kvcsi/provider/sensitive"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// Pod is the pod the volume is mounted for, from the driver's podInfoOnMount keys.
type Pod struct {
	Name           string
	Namespace      string
	UID            string
	ServiceAccount string
}

// Identity is everything needed to obtain a token for the pod.
type Identity struct {
	Mode     vocab.IdentityMode
	TenantID string
	// ClientID is the app or managed identity for vocab.WorkloadIdentity and
	// vocab.IdentityBinding, and the nodePublishSecretRef clientid for vocab.ServicePrincipal.
	ClientID     string
	ClientSecret sensitive.String // vocab.ServicePrincipal only
	// ServiceAccountToken is the pod's token for vocab.WorkloadIdentityAudience
	// (vocab.WorkloadIdentity) or vocab.IdentityBindingAudience (vocab.IdentityBinding).
	ServiceAccountToken sensitive.String
	// UserAssignedIdentityID is the client ID of a user-assigned identity for
	// vocab.VMManagedIdentity; empty means system-assigned.
	UserAssignedIdentityID string
}

// JSONPath is one value extracted from a JSON secret into its own file (kvcsi extension,
// shaped like the AWS provider's jmesPath entries).
type JSONPath struct {
	Path        string            // JMESPath expression
	ObjectAlias string            // output file, relative to the mount
	Mode        fs.FileMode       // filePermission of the entry, else the object's mode
	Query       *format.JSONQuery // Path, compiled and checked once here
}

// Object is one entry of the objects array, trimmed, defaulted and validated.
type Object struct {
	Index int // position in the objects array, for error messages

	Name           string
	Type           vocab.ObjectType
	Alias          string // as given (may be empty)
	Version        string
	VersionHistory int32
	Format         string // "" (= pem), "pem" or "pfx", lower-cased
	Encoding       string // "" (= utf-8), "utf-8", "base64" or "hex", lower-cased
	Mode           fs.FileMode
	ModeSet        bool // Mode came from filePermission rather than the driver default

	// kvcsi extensions; zero values keep the Azure provider's behaviour.
	VaultName       string         // the object's keyvaultName, else the top-level one
	CertPart        vocab.CertPart // certificatePart
	SplitCertAndKey bool           // splitCertAndKey: .crt/.key for this object without the global flag
	ConvertPFX      bool           // convertPFXToPEM: a plain secret holding a PFX is written as PEM
	JSONPaths       []JSONPath

	// Optional: a missing (404) or disabled object is skipped instead of failing the
	// mount (optional: true).
	Optional bool
	// Selector, when set, makes the entry select secrets by listing the vault instead
	// of naming one; Name is then empty and Alias the directory of the matches (""
	// for the volume's root). The mount expands it with Expand.
	Selector *Selector
	// RefuseExpired fails the mount when the object is expired or not yet valid
	// (its exp/nbf attributes, a certificate's NotAfter) instead of mounting it.
	RefuseExpired bool
	// PFXPasswordFile is the file of this class holding the password that protects
	// this object's PFX output (objectFormat: pfx, pfxPasswordFile).
	PFXPasswordFile string
}

// Selector chooses the secrets of a vault by name prefix, tags and content type; every
// condition set must hold.
type Selector struct {
	NamePrefix  string
	Tags        map[string]string
	ContentType string
	StripPrefix bool // the file name is the secret's name without NamePrefix
}

// FileName is the object's output path: the alias if set, else the name.
func (o Object) FileName() string {
	if o.Alias != "" {
		return o.Alias
	}
	return o.Name
}

// Mount is one validated MountRequest.
type Mount struct {
	Pod      Pod
	Identity Identity
	// CloudName is the SecretProviderClass cloudName, "" for the provider's default.
	CloudName string
	// KeyVaultAPIVersion is keyvaultAPIVersion, the Key Vault api-version to send; ""
	// keeps the SDK's.
	KeyVaultAPIVersion string
	// CloudEnvFileName is the SecretProviderClass cloudEnvFileName, "" if unset.
	CloudEnvFileName string
	VaultName        string
	Objects          []Object
	// Files are the rendered files (the files parameter), in order.
	Files       []RenderedFile
	DefaultMode fs.FileMode // MountRequest.permission
}
