package emulator

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/test/pki"
)

// Duration is a time.Duration written as a Go duration string ("250ms") in
// JSON; a bare number is read as nanoseconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "250ms" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string like \"250ms\": %w", err)
	}
	*d = Duration(n)
	return nil
}

// FaultsConfig is Faults with string durations, for JSON and YAML.
type FaultsConfig struct {
	Latency      Duration `json:"latency,omitempty"`
	FirstLatency Duration `json:"firstLatency,omitempty"`
	ThrottleRate float64  `json:"throttleRate,omitempty"`
	RetryAfter   Duration `json:"retryAfter,omitempty"`
	ErrorRate    float64  `json:"errorRate,omitempty"`
	ErrorStatus  int      `json:"errorStatus,omitempty"`
	ResetRate    float64  `json:"resetRate,omitempty"`

	NoRetryAfter   bool `json:"noRetryAfter,omitempty"`
	ThrottleStatus int  `json:"throttleStatus,omitempty"`
	ThrottleFirst  int  `json:"throttleFirst,omitempty"`
}

// Faults converts to Faults.
func (f FaultsConfig) Faults() Faults {
	return Faults{
		Latency: time.Duration(f.Latency), FirstLatency: time.Duration(f.FirstLatency),
		ThrottleRate: f.ThrottleRate, RetryAfter: time.Duration(f.RetryAfter),
		ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus, ResetRate: f.ResetRate,
		NoRetryAfter: f.NoRetryAfter, ThrottleStatus: f.ThrottleStatus, ThrottleFirst: f.ThrottleFirst,
	}
}

func faultsConfig(f Faults) FaultsConfig {
	return FaultsConfig{
		Latency: Duration(f.Latency), FirstLatency: Duration(f.FirstLatency),
		ThrottleRate: f.ThrottleRate, RetryAfter: Duration(f.RetryAfter),
		ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus, ResetRate: f.ResetRate,
		NoRetryAfter: f.NoRetryAfter, ThrottleStatus: f.ThrottleStatus, ThrottleFirst: f.ThrottleFirst,
	}
}

// Config preloads an emulator: the azure-emulator --config file and the
// admin API's POST /config use it. See README.md for an example.
type Config struct {
	Tenants           []string                 `json:"tenants,omitempty"`
	Clouds            []Cloud                  `json:"clouds,omitempty"`
	Apps              []AppConfig              `json:"apps,omitempty"`
	Issuers           []string                 `json:"issuers,omitempty"`
	ManagedIdentities []ManagedIdentityConfig  `json:"managedIdentities,omitempty"`
	PodIdentities     []PodIdentityConfig      `json:"podIdentities,omitempty"`
	Vaults            []VaultConfig            `json:"vaults,omitempty"`
	Faults            map[Service]FaultsConfig `json:"faults,omitempty"`
	TokenLifetime     Duration                 `json:"tokenLifetime,omitempty"`
}

// AppConfig is an app registration with its credentials.
type AppConfig struct {
	TenantID             string                `json:"tenantId"`
	ClientID             string                `json:"clientId"`
	Secret               string                `json:"secret,omitempty"`
	FederatedCredentials []FederatedCredential `json:"federatedCredentials,omitempty"`
}

// ManagedIdentityConfig is a managed identity served by IMDS.
type ManagedIdentityConfig struct {
	TenantID       string `json:"tenantId"`
	ClientID       string `json:"clientId"`
	SystemAssigned bool   `json:"systemAssigned,omitempty"`
}

// PodIdentityConfig is an NMI binding; AssignedAfter > 0 makes it pending
// (AddPendingPodIdentity).
type PodIdentityConfig struct {
	Namespace     string   `json:"namespace"`
	PodName       string   `json:"podName"`
	ClientID      string   `json:"clientId"`
	TenantID      string   `json:"tenantId"`
	AssignedAfter Duration `json:"assignedAfter,omitempty"`
}

// VaultConfig is a vault and its objects.
type VaultConfig struct {
	Name         string              `json:"name"`
	TenantID     string              `json:"tenantId,omitempty"`
	Grants       []GrantConfig       `json:"grants,omitempty"`
	Secrets      []SecretConfig      `json:"secrets,omitempty"`
	Keys         []KeyConfig         `json:"keys,omitempty"`
	Certificates []CertificateConfig `json:"certificates,omitempty"`
}

// GrantConfig grants permissions vault-wide, or on one object when
// ObjectName is set.
type GrantConfig struct {
	ClientID    string       `json:"clientId"`
	Permissions []Permission `json:"permissions"`
	ObjectType  string       `json:"objectType,omitempty"`
	ObjectName  string       `json:"objectName,omitempty"`
}

// SecretConfig is one secret version.
type SecretConfig struct {
	Name string `json:"name"`
	// Value of the version; Values adds several versions (oldest first).
	Value  string   `json:"value,omitempty"`
	Values []string `json:"values,omitempty"`
	SecretOptions
}

// KeyConfig is one key version: either Generate ("RSA2048", "P256", ...)
// or a JWK with base64url fields.
type KeyConfig struct {
	Name     string      `json:"name"`
	Generate pki.KeyType `json:"generate,omitempty"`
	JWK      *JWKJSON    `json:"jwk,omitempty"`
	KeyOptions
}

// JWKJSON is a JWK as Key Vault writes it (base64url fields).
type JWKJSON struct {
	Kty    string   `json:"kty"`
	Crv    string   `json:"crv,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
	KeyOps []string `json:"key_ops,omitempty"`
}

// JWK decodes the base64url fields.
func (j JWKJSON) JWK() (JWK, error) {
	out := JWK{Kty: j.Kty, Crv: j.Crv, KeyOps: j.KeyOps}
	for _, f := range []struct {
		dst *[]byte
		src string
	}{{&out.N, j.N}, {&out.E, j.E}, {&out.X, j.X}, {&out.Y, j.Y}} {
		if f.src == "" {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(f.src, "="))
		if err != nil {
			return JWK{}, fmt.Errorf("jwk: %w", err)
		}
		*f.dst = b
	}
	if out.Kty == "" {
		return JWK{}, errors.New("jwk: kty is required")
	}
	return out, nil
}

// CertificateConfig is one certificate version: generated (Generate), or
// given as a PEM bundle (key and certificates, leaf first) or a base64 PFX.
type CertificateConfig struct {
	Name        string               `json:"name"`
	ContentType string               `json:"contentType,omitempty"` // default application/x-pem-file
	Generate    *GenerateCertificate `json:"generate,omitempty"`
	PEM         string               `json:"pem,omitempty"`
	PFX         string               `json:"pfx,omitempty"` // base64, passwordless
	Enabled     *bool                `json:"enabled,omitempty"`
}

// GenerateCertificate describes a generated chain.
type GenerateCertificate struct {
	CommonName    string      `json:"commonName"`
	KeyType       pki.KeyType `json:"keyType,omitempty"`       // default RSA2048
	Intermediates int         `json:"intermediates,omitempty"` // CAs between leaf and root
}

// Apply adds everything in cfg to the emulator.
func (e *Emulator) Apply(cfg Config) error {
	for _, t := range cfg.Tenants {
		e.AddTenant(t)
	}
	for _, c := range cfg.Clouds {
		e.DeclareCloud(c)
	}
	for _, a := range cfg.Apps {
		if a.TenantID == "" || a.ClientID == "" {
			return errors.New("apps: tenantId and clientId are required")
		}
		e.AddApp(a.TenantID, a.ClientID)
		if a.Secret != "" {
			e.SetClientSecret(a.TenantID, a.ClientID, a.Secret)
		}
		for _, fc := range a.FederatedCredentials {
			e.AddFederatedCredential(a.TenantID, a.ClientID, fc)
		}
	}
	for _, i := range cfg.Issuers {
		e.AddIssuer(i)
	}
	for _, m := range cfg.ManagedIdentities {
		if m.TenantID == "" || m.ClientID == "" {
			return errors.New("managedIdentities: tenantId and clientId are required")
		}
		e.AddManagedIdentity(m.ClientID, m.SystemAssigned, m.TenantID)
	}
	for _, p := range cfg.PodIdentities {
		if p.Namespace == "" || p.PodName == "" || p.ClientID == "" || p.TenantID == "" {
			return errors.New("podIdentities: namespace, podName, clientId and tenantId are required")
		}
		if p.AssignedAfter > 0 {
			e.AddPendingPodIdentity(p.Namespace, p.PodName, p.ClientID, p.TenantID, time.Duration(p.AssignedAfter))
		} else {
			e.AddPodIdentity(p.Namespace, p.PodName, p.ClientID, p.TenantID)
		}
	}
	for _, vc := range cfg.Vaults {
		if err := e.applyVault(vc); err != nil {
			return fmt.Errorf("vault %s: %w", vc.Name, err)
		}
	}
	for s, f := range cfg.Faults {
		e.SetFaults(s, f.Faults())
	}
	if cfg.TokenLifetime > 0 {
		e.SetTokenLifetime(time.Duration(cfg.TokenLifetime))
	}
	return nil
}

func (e *Emulator) applyVault(vc VaultConfig) error {
	if vc.Name == "" {
		return errors.New("name is required")
	}
	v := e.Vault(vc.Name)
	if vc.TenantID != "" {
		v.SetTenant(vc.TenantID)
	}
	for _, g := range vc.Grants {
		if err := v.applyGrant(g); err != nil {
			return err
		}
	}
	for _, s := range vc.Secrets {
		if _, err := v.applySecret(s); err != nil {
			return err
		}
	}
	for _, k := range vc.Keys {
		if _, err := v.applyKey(k); err != nil {
			return err
		}
	}
	for _, c := range vc.Certificates {
		if _, _, err := v.applyCertificate(c); err != nil {
			return err
		}
	}
	return nil
}

func (v *Vault) applyGrant(g GrantConfig) error {
	if g.ClientID == "" {
		return errors.New("grant: clientId is required")
	}
	for _, p := range g.Permissions {
		if !isPermission(p) {
			return fmt.Errorf("grant: unknown permission %q (want one of %v)", p, AllPermissions)
		}
	}
	if g.ObjectName != "" {
		v.GrantObject(g.ClientID, g.ObjectType, g.ObjectName, g.Permissions...)
	} else {
		v.Grant(g.ClientID, g.Permissions...)
	}
	return nil
}

func isPermission(p Permission) bool {
	for _, q := range AllPermissions {
		if p == q {
			return true
		}
	}
	return false
}

func (v *Vault) applySecret(s SecretConfig) ([]string, error) {
	if s.Name == "" {
		return nil, errors.New("secret: name is required")
	}
	values := s.Values
	if len(values) == 0 {
		values = []string{s.Value}
	}
	var versions []string
	for _, val := range values {
		versions = append(versions, v.SetSecret(s.Name, val, s.SecretOptions))
	}
	return versions, nil
}

func (v *Vault) applyKey(k KeyConfig) (string, error) {
	if k.Name == "" {
		return "", errors.New("key: name is required")
	}
	var jwk JWK
	switch {
	case k.JWK != nil:
		var err error
		if jwk, err = k.JWK.JWK(); err != nil {
			return "", err
		}
	default:
		gen := k.Generate
		if gen == "" {
			gen = pki.RSA2048
		}
		key, err := pki.NewKey(gen)
		if err != nil {
			return "", err
		}
		if jwk, err = JWKFromPublicKey(key.Public()); err != nil {
			return "", err
		}
	}
	return v.SetKey(k.Name, jwk, k.KeyOptions), nil
}

// applyCertificate stores a certificate and returns its version and the PEM
// bundle (key, leaf, chain) it was made from.
func (v *Vault) applyCertificate(c CertificateConfig) (string, string, error) {
	if c.Name == "" {
		return "", "", errors.New("certificate: name is required")
	}
	in := CertificateInput{ContentType: c.ContentType, Enabled: c.Enabled}
	switch {
	case c.Generate != nil:
		cn := c.Generate.CommonName
		if cn == "" {
			cn = c.Name
		}
		ch, err := pki.NewChain(cn, c.Generate.Intermediates, c.Generate.KeyType)
		if err != nil {
			return "", "", err
		}
		in.Leaf, in.Chain, in.Key = ch.Leaf.Cert, ch.CAs(), ch.Leaf.Key
	case c.PEM != "":
		var err error
		if in.Leaf, in.Chain, in.Key, err = parsePEMBundle([]byte(c.PEM)); err != nil {
			return "", "", err
		}
		if in.ContentType == "" || in.ContentType == ContentTypePEM {
			in.PEM = c.PEM
		}
	case c.PFX != "":
		raw, err := base64.StdEncoding.DecodeString(c.PFX)
		if err != nil {
			return "", "", fmt.Errorf("certificate %s: pfx: %w", c.Name, err)
		}
		key, leaf, cas, err := pkcs12.DecodeChain(raw, "")
		if err != nil {
			return "", "", fmt.Errorf("certificate %s: pfx: %w", c.Name, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return "", "", fmt.Errorf("certificate %s: pfx key %T is not a signer", c.Name, key)
		}
		in.Leaf, in.Key = leaf, signer
		for _, ca := range cas {
			in.Chain = append(in.Chain, ca.Raw)
		}
		if in.ContentType == "" {
			in.ContentType = ContentTypePFX
		}
		if in.ContentType == ContentTypePFX {
			in.PFX = raw
		}
	default:
		return "", "", fmt.Errorf("certificate %s: one of generate, pem or pfx is required", c.Name)
	}
	version, err := v.setCertificate(c.Name, in)
	if err != nil {
		return "", "", err
	}
	chain, _ := pki.ParseDERs(in.Chain)
	bundle, _ := pki.KeyVaultPEM(in.Key, in.Leaf, chain...)
	return version, string(bundle), nil
}

// parsePEMBundle reads a private key and certificates (leaf first).
func parsePEMBundle(b []byte) (*x509.Certificate, [][]byte, crypto.Signer, error) {
	var leaf *x509.Certificate
	var chain [][]byte
	var key crypto.Signer
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		switch {
		case blk.Type == "CERTIFICATE":
			if leaf == nil {
				c, err := x509.ParseCertificate(blk.Bytes)
				if err != nil {
					return nil, nil, nil, err
				}
				leaf = c
			} else {
				chain = append(chain, blk.Bytes)
			}
		case strings.HasSuffix(blk.Type, "PRIVATE KEY"):
			k, err := parsePrivateKey(blk.Bytes)
			if err != nil {
				return nil, nil, nil, err
			}
			key = k
		}
	}
	if leaf == nil {
		return nil, nil, nil, errors.New("pem: no CERTIFICATE block")
	}
	return leaf, chain, key, nil
}

func parsePrivateKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("pem: unsupported private key")
}
