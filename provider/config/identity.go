package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kvcsi/kvcsi/provider/sensitive"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// modeFlags are the three identity-mode booleans, parsed.
type modeFlags struct {
	podIdentity, vmManagedIdentity, azureTokenProxy bool
}

// parseBoolParam parses one of the identity-mode flags with strconv.ParseBool semantics;
// empty means false.
func parseBoolParam(name, v string) (bool, *Error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &Error{Param: name,
			Msg: fmt.Sprintf("failed to parse %s flag, error: %v", name, err),
			Fix: fmt.Sprintf(`set %s to "true" or "false"`, name), Err: err}
	}
	return b, nil
}

// modeFlagsOf parses the three flags and checks that at most one is set; a flag that
// does not parse counts as false for the rest of Lint's walk.
func modeFlagsOf(get func(string) string, c *checker) (modeFlags, bool) {
	names := [...]string{ParamUsePodIdentity, ParamUseVMManagedIdentity, ParamUseAzureTokenProxy}
	var set [len(names)]bool
	for i, name := range names {
		v, err := parseBoolParam(name, get(name))
		if err != nil && c.fail(nil, err) {
			return modeFlags{}, false
		}
		set[i] = v
	}
	f := modeFlags{podIdentity: set[0], vmManagedIdentity: set[1], azureTokenProxy: set[2]}
	if err := f.exclusive(); err != nil && c.fail(nil, err) {
		return f, false
	}
	return f, true
}

func (f modeFlags) exclusive() *Error {
	n := 0
	for _, b := range []bool{f.podIdentity, f.vmManagedIdentity, f.azureTokenProxy} {
		if b {
			n++
		}
	}
	if n > 1 {
		return invalid("", "only one identity mode can be enabled at a time: usePodIdentity, useVMManagedIdentity, or useAzureTokenProxy",
			"set at most one of them to true")
	}
	return nil
}

const (
	modeNoneWrap  = "failed to build auth config for mode None: "
	wiTokenWrap   = "failed to parse workload identity tokens, error: "
	ibTokenWrap   = "failed to parse service account token for identity binding, error: "
	tokenFixWI    = "the CSIDriver secrets-store.csi.k8s.io needs tokenRequests: [{audience: " + vocab.WorkloadIdentityAudience + "}] (set tokenRequests in the driver's Helm values)"
	tokenFixIB    = "the CSIDriver secrets-store.csi.k8s.io needs tokenRequests: [{audience: " + vocab.IdentityBindingAudience + "}] (set tokenRequests in the driver's Helm values)"
	noIdentityFix = "set parameters.clientID for workload identity (recommended), or set nodePublishSecretRef in the pod's volume to a Secret with clientid and clientsecret keys, or set useVMManagedIdentity: \"true\""
)

// parseIdentity selects the identity mode the way the Azure provider does (see "Identity
// selection" in docs/compatibility.md) and gathers what it needs. Without the driver's
// inputs (material false: Lint of a manifest) it checks nothing that needs the
// service-account tokens or nodePublishSecretRef. The walk has checked identity
// binding's clientID.
func parseIdentity(get func(string) string, secrets map[string]string, flags modeFlags, tenantID string, material bool) (Identity, error) {
	id := Identity{TenantID: tenantID}
	clientID := get(ParamClientID)
	switch {
	case flags.podIdentity:
		id.Mode = vocab.PodIdentity
	case flags.vmManagedIdentity:
		// Deliberate difference: clientID does not make a workload identity token mandatory here.
		id.Mode = vocab.VMManagedIdentity
		id.UserAssignedIdentityID = get(ParamUserAssignedIdentityID)
	case flags.azureTokenProxy:
		id.Mode = vocab.IdentityBinding
		id.ClientID = clientID
		if !material {
			break
		}
		raw := serviceAccountTokens(get, secrets)
		if raw == "" {
			return id, invalid("", "service account tokens are required for identity binding", tokenFixIB)
		}
		tok, err := tokenFor(raw, vocab.IdentityBindingAudience)
		if err != nil {
			return id, &Error{Msg: ibTokenWrap + err.Error(), Fix: tokenFixIB}
		}
		id.ServiceAccountToken = tok
	case clientID != "":
		id.Mode = vocab.WorkloadIdentity
		id.ClientID = clientID
		if !material {
			break
		}
		tok, err := tokenFor(serviceAccountTokens(get, secrets), vocab.WorkloadIdentityAudience)
		if err != nil {
			return id, &Error{Msg: modeNoneWrap + wiTokenWrap + err.Error(), Fix: tokenFixWI}
		}
		id.ServiceAccountToken = tok
	default:
		id.Mode = vocab.ServicePrincipal
		if !material {
			break
		}
		cid, secret, err := servicePrincipal(secrets)
		if err != nil {
			err.Msg = modeNoneWrap + err.Msg
			return id, err
		}
		id.ClientID = cid
		id.ClientSecret = secret
	}
	return id, nil
}

// serviceAccountTokens returns the driver's tokens attribute, or, when that is empty, the
// same key from the secrets map (driver v1.6 with serviceAccountTokenInSecrets puts it there).
func serviceAccountTokens(get func(string) string, secrets map[string]string) string {
	if v := get(AttrServiceAccountToken); v != "" {
		return v
	}
	return strings.TrimSpace(secrets[AttrServiceAccountToken])
}

type saToken struct {
	Token               string `json:"token"`
	ExpirationTimestamp string `json:"expirationTimestamp"`
}

// tokenFor extracts the token for audience from the tokens JSON. Its errors carry the
// upstream texts and never any part of the input: encoding/json syntax errors quote the
// offending character, so they are replaced by an offset.
func tokenFor(raw, audience string) (sensitive.String, error) {
	if raw == "" {
		return "", errors.New("service account tokens not found")
	}
	var tokens map[string]saToken
	if err := json.Unmarshal([]byte(raw), &tokens); err != nil {
		return "", fmt.Errorf("failed to unmarshal service account tokens, error: %s", describeJSONError(err))
	}
	t, ok := tokens[audience]
	if !ok || strings.TrimSpace(t.Token) == "" {
		return "", fmt.Errorf("token for audience %s not found", audience)
	}
	return sensitive.String(strings.TrimSpace(t.Token)), nil
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("invalid JSON at byte offset %d", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Sprintf(`unexpected JSON %s at byte offset %d, want {"<audience>":{"token":"...","expirationTimestamp":"..."}}`, typ.Value, typ.Offset)
	}
	return "invalid JSON"
}

// servicePrincipal reads clientid and clientsecret (keys case-insensitive) from the
// nodePublishSecretRef data.
func servicePrincipal(secrets map[string]string) (string, sensitive.String, *Error) {
	if secrets == nil {
		return "", "", invalid("", "failed to get credentials, nodePublishSecretRef secret is not set", noIdentityFix)
	}
	var keys []string // the Secret's own keys, without the driver's token entry
	for k := range secrets {
		if !strings.HasPrefix(k, driverKeyPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // deterministic pick when keys differ only by case
	lookup := func(want string) (string, bool) {
		if v, ok := secrets[want]; ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), true
		}
		for _, k := range keys {
			if strings.ToLower(k) == want && strings.TrimSpace(secrets[k]) != "" {
				return strings.TrimSpace(secrets[k]), true
			}
		}
		return "", false
	}
	if len(keys) == 0 {
		return "", "", invalid("", "could not find clientid in secrets",
			"the volume has no nodePublishSecretRef and the SecretProviderClass has no clientID; "+noIdentityFix)
	}
	found := "the Secret has keys " + strings.Join(keys, ", ")
	cid, ok := lookup("clientid")
	if !ok {
		return "", "", invalid("", "could not find clientid in secrets",
			"add a non-empty clientid key to the nodePublishSecretRef Secret ("+found+")")
	}
	secret, ok := lookup("clientsecret")
	if !ok {
		return "", "", invalid("", "could not find clientsecret in secrets",
			"add a non-empty clientsecret key to the nodePublishSecretRef Secret ("+found+")")
	}
	return cid, sensitive.String(secret), nil
}
