package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Info describes where a running emulator listens (GET /info).
type Info struct {
	ProxyURL string   `json:"proxyUrl"`
	CAFile   string   `json:"caFile"`
	NMIAddr  string   `json:"nmiAddr"`
	IMDSAddr string   `json:"imdsAddr"`
	AdminURL string   `json:"adminUrl"`
	Env      []string `json:"env"`
}

// Info returns where the emulator listens.
func (e *Emulator) Info() Info {
	return Info{ProxyURL: e.ProxyURL(), CAFile: e.CAFile(), NMIAddr: e.NMIAddr(), IMDSAddr: e.IMDSAddr(), AdminURL: e.AdminURL(), Env: e.Env()}
}

type adminError struct {
	status int
	msg    string
}

func (a *adminError) Error() string { return a.msg }

func badRequest(format string, args ...any) error {
	return &adminError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// adminHandler is the plain-HTTP admin API mirroring the Go API; see README.md.
func (e *Emulator) adminHandler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, fn func(r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			out, err := fn(r)
			if err != nil {
				status := http.StatusBadRequest
				var ae *adminError
				if errors.As(err, &ae) {
					status = ae.status
				}
				writeJSON(w, status, map[string]string{"error": err.Error()})
				return
			}
			if out == nil {
				out = map[string]any{}
			}
			writeJSON(w, http.StatusOK, out)
		})
	}

	handle("GET /info", func(*http.Request) (any, error) { return e.Info(), nil })
	mux.HandleFunc("GET /ca.pem", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(e.ca.certPEM)
	})
	handle("POST /config", func(r *http.Request) (any, error) {
		var cfg Config
		if err := decode(r, &cfg); err != nil {
			return nil, err
		}
		return nil, e.Apply(cfg)
	})

	// Entra ID.
	handle("POST /tenants", func(r *http.Request) (any, error) {
		var in struct {
			TenantID string `json:"tenantId"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if in.TenantID == "" {
			return nil, badRequest("tenantId is required")
		}
		e.AddTenant(in.TenantID)
		return nil, nil
	})
	handle("POST /clouds", func(r *http.Request) (any, error) {
		var in Cloud
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		e.DeclareCloud(in)
		return nil, nil
	})
	handle("POST /apps", func(r *http.Request) (any, error) {
		var in AppConfig
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if err := e.Apply(Config{Apps: []AppConfig{in}}); err != nil {
			return nil, err
		}
		return map[string]string{"objectId": e.ObjectID(in.TenantID, in.ClientID)}, nil
	})
	handle("POST /federated-credentials", func(r *http.Request) (any, error) {
		var in struct {
			TenantID string `json:"tenantId"`
			ClientID string `json:"clientId"`
			FederatedCredential
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if in.TenantID == "" || in.ClientID == "" || in.Issuer == "" || in.Subject == "" {
			return nil, badRequest("tenantId, clientId, issuer and subject are required")
		}
		e.AddFederatedCredential(in.TenantID, in.ClientID, in.FederatedCredential)
		return nil, nil
	})
	handle("POST /issuers", func(r *http.Request) (any, error) {
		var in struct {
			URL  string          `json:"url"`
			JWKS json.RawMessage `json:"jwks"` // trust an outside issuer's keys (a real kube-apiserver's)
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if in.URL == "" {
			return nil, badRequest("url is required")
		}
		if len(in.JWKS) > 0 {
			i, err := e.AddIssuerJWKS(in.URL, in.JWKS)
			if err != nil {
				return nil, badRequest("%s", err)
			}
			return map[string]any{"url": i.URL(), "jwks": i.JWKS()}, nil
		}
		i := e.AddIssuer(in.URL)
		return map[string]any{"url": i.URL(), "jwks": i.JWKS()}, nil
	})
	mint := func(r *http.Request, issuerURL string) (any, error) {
		var in struct {
			Issuer   string         `json:"issuer"`
			Subject  string         `json:"subject"`
			Audience string         `json:"audience"`
			TTL      Duration       `json:"ttl"`
			Claims   map[string]any `json:"claims"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if issuerURL == "" {
			issuerURL = in.Issuer
		}
		e.mu.Lock()
		i := e.issuers[issuerURL]
		e.mu.Unlock()
		if i == nil {
			return nil, &adminError{http.StatusNotFound, fmt.Sprintf("no issuer %q (add it with POST /issuers)", issuerURL)}
		}
		if i.key == nil {
			return nil, badRequest("issuer %q was added with its JWKS and signs elsewhere: the emulator cannot mint its tokens", issuerURL)
		}
		if in.Audience == "" {
			in.Audience = DefaultFederatedAudience
		}
		ttl := time.Duration(in.TTL)
		if ttl == 0 {
			ttl = time.Hour
		}
		return map[string]string{"token": i.MintToken(in.Subject, in.Audience, ttl, in.Claims)}, nil
	}
	handle("POST /issuers/tokens", func(r *http.Request) (any, error) { return mint(r, "") })
	// The issuer URL path-escaped as one segment, e.g.
	// /issuers/https:%2F%2Foidc.example%2Fabc%2F/tokens
	handle("POST /issuers/{issuer}/tokens", func(r *http.Request) (any, error) { return mint(r, r.PathValue("issuer")) })
	handle("POST /managed-identities", func(r *http.Request) (any, error) {
		var in ManagedIdentityConfig
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if err := e.Apply(Config{ManagedIdentities: []ManagedIdentityConfig{in}}); err != nil {
			return nil, err
		}
		return map[string]string{
			"objectId":   e.ObjectID(in.TenantID, in.ClientID),
			"resourceId": e.ManagedIdentityResourceID(in.ClientID),
		}, nil
	})
	handle("DELETE /managed-identities/{clientId}", func(r *http.Request) (any, error) {
		e.RemoveManagedIdentity(r.PathValue("clientId"))
		return nil, nil
	})
	appState := func(disabled bool) func(r *http.Request) (any, error) {
		return func(r *http.Request) (any, error) {
			var in struct {
				TenantID string `json:"tenantId"`
				ClientID string `json:"clientId"`
			}
			if err := decode(r, &in); err != nil {
				return nil, err
			}
			if in.TenantID == "" || in.ClientID == "" {
				return nil, badRequest("tenantId and clientId are required")
			}
			e.setAppDisabled(in.TenantID, in.ClientID, disabled)
			return nil, nil
		}
	}
	handle("POST /apps/disable", appState(true))
	handle("POST /apps/enable", appState(false))
	handle("POST /revoke-tokens/{clientId}", func(r *http.Request) (any, error) {
		e.RevokeTokens(r.PathValue("clientId"))
		return nil, nil
	})
	handle("PUT /nmi-hold", func(r *http.Request) (any, error) {
		var in struct {
			Hold Duration `json:"hold"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		e.SetNMIHold(time.Duration(in.Hold))
		return nil, nil
	})
	handle("POST /pod-identities", func(r *http.Request) (any, error) {
		var in PodIdentityConfig
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return nil, e.Apply(Config{PodIdentities: []PodIdentityConfig{in}})
	})
	handle("DELETE /pod-identities/{namespace}/{pod}", func(r *http.Request) (any, error) {
		e.RemovePodIdentity(r.PathValue("namespace"), r.PathValue("pod"))
		return nil, nil
	})
	handle("PUT /token-lifetime", func(r *http.Request) (any, error) {
		var in struct {
			Lifetime Duration `json:"lifetime"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if in.Lifetime <= 0 {
			return nil, badRequest("lifetime must be positive")
		}
		e.SetTokenLifetime(time.Duration(in.Lifetime))
		return nil, nil
	})

	// Key Vault.
	handle("PUT /vaults/{vault}", func(r *http.Request) (any, error) {
		var in struct {
			TenantID string `json:"tenantId"`
		}
		if err := decodeOptional(r, &in); err != nil {
			return nil, err
		}
		v := e.Vault(r.PathValue("vault"))
		if in.TenantID != "" {
			v.SetTenant(in.TenantID)
		}
		return map[string]string{"name": v.Name(), "url": v.URL()}, nil
	})
	handle("POST /vaults/{vault}/grants", func(r *http.Request) (any, error) {
		var in GrantConfig
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return nil, e.Vault(r.PathValue("vault")).applyGrant(in)
	})
	handle("DELETE /vaults/{vault}/grants/{clientId}", func(r *http.Request) (any, error) {
		e.Vault(r.PathValue("vault")).Revoke(r.PathValue("clientId"))
		return nil, nil
	})
	handle("POST /vaults/{vault}/secrets/{name}", func(r *http.Request) (any, error) {
		var in SecretConfig
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		in.Name = r.PathValue("name")
		versions, err := e.Vault(r.PathValue("vault")).applySecret(in)
		if err != nil {
			return nil, err
		}
		return map[string]any{"version": versions[len(versions)-1], "versions": versions}, nil
	})
	handle("POST /vaults/{vault}/keys/{name}", func(r *http.Request) (any, error) {
		var in KeyConfig
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		in.Name = r.PathValue("name")
		version, err := e.Vault(r.PathValue("vault")).applyKey(in)
		if err != nil {
			return nil, err
		}
		return map[string]string{"version": version}, nil
	})
	handle("POST /vaults/{vault}/certificates/{name}", func(r *http.Request) (any, error) {
		var in CertificateConfig
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		in.Name = r.PathValue("name")
		version, bundle, err := e.Vault(r.PathValue("vault")).applyCertificate(in)
		if err != nil {
			return nil, err
		}
		return map[string]string{"version": version, "pem": bundle}, nil
	})
	handle("GET /vaults/{vault}/{type}/{name}/versions", func(r *http.Request) (any, error) {
		versions := e.Vault(r.PathValue("vault")).Versions(r.PathValue("type"), r.PathValue("name"))
		if versions == nil {
			versions = []string{}
		}
		return map[string]any{"versions": versions}, nil
	})
	setEnabled := func(enabled bool) func(r *http.Request) (any, error) {
		return func(r *http.Request) (any, error) {
			v := e.Vault(r.PathValue("vault"))
			typ, name, version := r.PathValue("type"), r.PathValue("name"), r.PathValue("version")
			if version == "latest" {
				version = ""
			}
			if enabled {
				v.EnableVersion(typ, name, version)
			} else {
				v.DisableVersion(typ, name, version)
			}
			return nil, nil
		}
	}
	handle("DELETE /vaults/{vault}/{type}/{name}", func(r *http.Request) (any, error) {
		if !e.Vault(r.PathValue("vault")).Delete(r.PathValue("type"), r.PathValue("name")) {
			return nil, &adminError{http.StatusNotFound, fmt.Sprintf("no %s %q in vault %s", r.PathValue("type"), r.PathValue("name"), r.PathValue("vault"))}
		}
		return nil, nil
	})
	handle("POST /vaults/{vault}/{type}/{name}/versions/{version}/disable", setEnabled(false))
	handle("POST /vaults/{vault}/{type}/{name}/versions/{version}/enable", setEnabled(true))
	handle("PUT /vaults/{vault}/raw", func(r *http.Request) (any, error) {
		var in struct {
			ObjectType string          `json:"objectType"`
			Name       string          `json:"name"`
			Version    string          `json:"version"`
			Status     int             `json:"status"`
			Body       json.RawMessage `json:"body"`     // JSON, sent as is
			BodyText   *string         `json:"bodyText"` // or any text
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		body := []byte(in.Body)
		if in.BodyText != nil {
			body = []byte(*in.BodyText)
		}
		e.Vault(r.PathValue("vault")).SetRawResponse(in.ObjectType, in.Name, in.Version, in.Status, body)
		return nil, nil
	})

	// Faults and counters.
	handle("PUT /faults/{service}", func(r *http.Request) (any, error) {
		s, err := parseService(r.PathValue("service"))
		if err != nil {
			return nil, err
		}
		var in FaultsConfig
		if err := decodeOptional(r, &in); err != nil {
			return nil, err
		}
		e.SetFaults(s, in.Faults())
		return nil, nil
	})
	handle("DELETE /faults/{service}", func(r *http.Request) (any, error) {
		s, err := parseService(r.PathValue("service"))
		if err != nil {
			return nil, err
		}
		e.SetFaults(s, Faults{})
		return nil, nil
	})
	handle("GET /faults", func(*http.Request) (any, error) {
		out := map[Service]FaultsConfig{}
		for _, s := range []Service{ServiceEntraID, ServiceKeyVault, ServiceIMDS, ServiceNMI} {
			out[s] = faultsConfig(e.GetFaults(s))
		}
		return out, nil
	})
	handle("GET /counts", func(*http.Request) (any, error) { return e.Counts(), nil })
	handle("POST /counts/reset", func(*http.Request) (any, error) {
		e.ResetCounts()
		return nil, nil
	})
	return mux
}

func parseService(s string) (Service, error) {
	switch Service(strings.ToLower(s)) {
	case ServiceEntraID, "entraid", "aad":
		return ServiceEntraID, nil
	case ServiceKeyVault:
		return ServiceKeyVault, nil
	case ServiceIMDS:
		return ServiceIMDS, nil
	case ServiceNMI:
		return ServiceNMI, nil
	}
	return "", badRequest("unknown service %q (want entra, keyvault, imds or nmi)", s)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 8<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	return nil
}

func decodeOptional(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	err := decode(r, v)
	var ae *adminError
	if errors.As(err, &ae) && strings.Contains(ae.msg, "EOF") {
		return nil
	}
	return err
}
