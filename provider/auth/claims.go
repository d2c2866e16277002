package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/provider/sensitive"
)

// Claims are the non-secret claims of a Kubernetes service-account token, for
// diagnostics (for example: the token's audience or issuer does not match the
// federated identity credential).
type Claims struct {
	Issuer             string
	Subject            string // system:serviceaccount:<namespace>:<name>
	Audience           []string
	Expiry             time.Time // zero if absent
	IssuedAt           time.Time // zero if absent
	PodName            string    // from the kubernetes.io claim, if present
	PodNamespace       string
	ServiceAccountName string
}

// ServiceAccountTokenClaims reads the claims of a service-account token WITHOUT
// verifying its signature (Entra ID does that). Errors never quote the token.
func ServiceAccountTokenClaims(token sensitive.String) (Claims, error) {
	parts := strings.Split(token.Reveal(), ".")
	if len(parts) != 3 {
		return Claims{}, errors.New("service account token is not a JWT (want 3 dot-separated parts)")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, fmt.Errorf("decode service account token claims: %w", err)
	}
	var raw struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp *float64        `json:"exp"`
		Iat *float64        `json:"iat"`
		K8s *struct {
			Namespace string `json:"namespace"`
			Pod       *struct {
				Name string `json:"name"`
			} `json:"pod"`
			ServiceAccount *struct {
				Name string `json:"name"`
			} `json:"serviceaccount"`
		} `json:"kubernetes.io"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return Claims{}, fmt.Errorf("parse service account token claims: %w", err)
	}
	c := Claims{Issuer: raw.Iss, Subject: raw.Sub}
	if len(raw.Aud) > 0 && string(raw.Aud) != "null" {
		var one string
		if err := json.Unmarshal(raw.Aud, &one); err == nil {
			c.Audience = []string{one}
		} else if err := json.Unmarshal(raw.Aud, &c.Audience); err != nil {
			return Claims{}, errors.New("parse service account token claims: aud is neither a string nor a list of strings")
		}
	}
	if raw.Exp != nil {
		c.Expiry = time.Unix(int64(*raw.Exp), 0)
	}
	if raw.Iat != nil {
		c.IssuedAt = time.Unix(int64(*raw.Iat), 0)
	}
	if k := raw.K8s; k != nil {
		c.PodNamespace = k.Namespace
		if k.Pod != nil {
			c.PodName = k.Pod.Name
		}
		if k.ServiceAccount != nil {
			c.ServiceAccountName = k.ServiceAccount.Name
		}
	}
	return c, nil
}
