// Package vocab is the provider's shared vocabulary: the one definition of the Key Vault
// object types, identity modes, service-account token audiences, certificate parts, the
// files of a volume and the error of one object. config, mount, auth, keyvault, format
// and diag all speak it; it imports nothing of kvcsi.
package vocab

import (
	"fmt"
	"io/fs"
)

// ObjectType is a Key Vault object kind, exactly as the objectType field spells it.
type ObjectType string

const (
	Secret ObjectType = "secret"
	Key    ObjectType = "key"
	Cert   ObjectType = "cert"
)

// ObjectTypes lists the valid object types in the order messages name them.
func ObjectTypes() []ObjectType { return []ObjectType{Secret, Key, Cert} }

// Valid reports whether t is one of the object types (case-sensitive, as upstream).
func (t ObjectType) Valid() bool { return t == Secret || t == Key || t == Cert }

// Noun is how a sentence names the object type: "secret", "key", "certificate".
func (t ObjectType) Noun() string {
	if t == Cert {
		return "certificate"
	}
	return string(t)
}

// IdentityMode is how the pod's Entra ID token is obtained.
type IdentityMode int

const (
	WorkloadIdentity  IdentityMode = iota + 1 // clientID + SA token exchanged as a client assertion
	ServicePrincipal                          // clientid/clientsecret from nodePublishSecretRef
	VMManagedIdentity                         // IMDS, system- or user-assigned
	PodIdentity                               // aad-pod-identity NMI endpoint (deprecated upstream)
	IdentityBinding                           // AKS identity binding through the cluster token proxy
)

// String names the mode in messages ("workload identity", "service principal", …).
func (m IdentityMode) String() string {
	switch m {
	case WorkloadIdentity:
		return "workload identity"
	case ServicePrincipal:
		return "service principal"
	case VMManagedIdentity:
		return "VM managed identity"
	case PodIdentity:
		return "pod identity"
	case IdentityBinding:
		return "identity binding"
	}
	return "unknown identity mode"
}

// Audiences of the service-account tokens the driver passes in
// csi.storage.k8s.io/serviceAccount.tokens.
const (
	WorkloadIdentityAudience = "api://AzureADTokenExchange"
	IdentityBindingAudience  = "api://AKSIdentityBinding"
)

// Audience is the audience of the service-account token the mode presents to Entra ID
// ("" for modes that use none).
func (m IdentityMode) Audience() string {
	switch m {
	case WorkloadIdentity:
		return WorkloadIdentityAudience
	case IdentityBinding:
		return IdentityBindingAudience
	}
	return ""
}

// CertPart selects what of a certificate-backed secret is written (kvcsi extension).
type CertPart string

const (
	CertPartFull  CertPart = ""      // keys and certificates, as the Azure provider writes them
	CertPartChain CertPart = "chain" // certificates only
	CertPartKey   CertPart = "key"   // private key only
	CertPartCA    CertPart = "ca"    // the chain without the leaf (a ca.crt)
)

// File is one file of the volume, relative to the mount.
type File struct {
	Path     string
	Mode     fs.FileMode
	Contents []byte
}

// ObjectError is the failure of one entry of the objects array, at validation or at
// mount time. Its text is the Azure provider's
// "failed to get objectType:<t>, objectName:<n>, objectVersion:<v>: <cause>".
type ObjectError struct {
	Index   int        // position in objects.array
	Type    ObjectType // as written (may be invalid when validation failed on it)
	Name    string
	Version string
	Err     error
}

func (e *ObjectError) Error() string {
	return fmt.Sprintf("failed to get objectType:%s, objectName:%s, objectVersion:%s: %v",
		Abbreviate(string(e.Type)), Abbreviate(e.Name), Abbreviate(e.Version), e.Err)
}

func (e *ObjectError) Unwrap() error { return e.Err }

// Abbreviate shortens a user-supplied identifier that is far longer than any real one (Key
// Vault names are at most 127 characters), so a hostile manifest cannot make every
// error and log line megabytes long.
func Abbreviate(s string) string {
	const limit = 256
	if len(s) <= limit {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes)", s[:limit], len(s))
}
