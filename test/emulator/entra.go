package emulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultFederatedAudience is the audience a federated credential accepts
// when it names none.
const DefaultFederatedAudience = "api://AzureADTokenExchange"

const jwtBearerAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

type tenant struct {
	id     string
	apps   map[string]*app      // by lower-case client ID
	clouds map[*cloudState]bool // the clouds the tenant exists in
}

type app struct {
	clientID string
	objectID string
	secrets  []string
	fics     []FederatedCredential
	disabled bool // DisableApp: sign-in refused with AADSTS7000112
}

// FederatedCredential is a federated identity credential on an app
// registration or user-assigned identity. Matching is exact and
// case-sensitive, like Entra ID's.
type FederatedCredential struct {
	Issuer    string   `json:"issuer"`
	Subject   string   `json:"subject"`
	Audiences []string `json:"audiences,omitempty"` // default [api://AzureADTokenExchange]
}

// AddTenant declares a tenant of the public cloud (idempotent). Tenants of
// other clouds are declared with Cloud.Tenants or AddTenantToCloud.
func (e *Emulator) AddTenant(tenantID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tenantLocked(tenantID).clouds[e.publicCloud()] = true
}

func (e *Emulator) tenantLocked(tenantID string) *tenant {
	key := strings.ToLower(tenantID)
	t := e.tenants[key]
	if t == nil {
		t = &tenant{id: tenantID, apps: map[string]*app{}, clouds: map[*cloudState]bool{}}
		e.tenants[key] = t
		e.tenantOrder = append(e.tenantOrder, tenantID)
	}
	return t
}

// DisableApp disables an app's (or managed identity's) service principal in a
// tenant: token requests are refused with AADSTS7000112, as Entra ID does when
// "Enabled for users to sign in" is off. EnableApp undoes it.
func (e *Emulator) DisableApp(tenantID, clientID string) { e.setAppDisabled(tenantID, clientID, true) }

// EnableApp enables an app disabled with DisableApp.
func (e *Emulator) EnableApp(tenantID, clientID string) { e.setAppDisabled(tenantID, clientID, false) }

func (e *Emulator) setAppDisabled(tenantID, clientID string, disabled bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.appLocked(tenantID, clientID).disabled = disabled
}

// AddApp declares an app registration (service principal) in a tenant,
// adding the tenant if needed (idempotent).
func (e *Emulator) AddApp(tenantID, clientID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.appLocked(tenantID, clientID)
}

func (e *Emulator) appLocked(tenantID, clientID string) *app {
	t := e.tenantLocked(tenantID)
	if len(t.clouds) == 0 {
		t.clouds[e.publicCloud()] = true // a tenant first named by an app is a public-cloud one
	}
	key := strings.ToLower(clientID)
	a := t.apps[key]
	if a == nil {
		a = &app{clientID: clientID, objectID: e.ids.guid()}
		t.apps[key] = a
	}
	return a
}

// SetClientSecret makes secret the app's only client secret (adding the app
// if needed).
func (e *Emulator) SetClientSecret(tenantID, clientID, secret string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.appLocked(tenantID, clientID).secrets = []string{secret}
}

// AddClientSecret adds one more valid client secret to the app.
func (e *Emulator) AddClientSecret(tenantID, clientID, secret string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.appLocked(tenantID, clientID)
	a.secrets = append(a.secrets, secret)
}

// AddFederatedCredential adds a federated identity credential to the app
// (adding the app if needed).
func (e *Emulator) AddFederatedCredential(tenantID, clientID string, fc FederatedCredential) {
	if len(fc.Audiences) == 0 {
		fc.Audiences = []string{DefaultFederatedAudience}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.appLocked(tenantID, clientID)
	a.fics = append(a.fics, fc)
}

// ObjectID returns the object ID (oid claim) of an app or identity, or "".
func (e *Emulator) ObjectID(tenantID, clientID string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.tenants[strings.ToLower(tenantID)]; t != nil {
		if a := t.apps[strings.ToLower(clientID)]; a != nil {
			return a.objectID
		}
	}
	if mi := e.managed[strings.ToLower(clientID)]; mi != nil {
		return mi.objectID
	}
	return ""
}

func (e *Emulator) firstTenant() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.tenantOrder) == 0 {
		return ""
	}
	return e.tenantOrder[0]
}

// Issuer is an OIDC issuer, such as a cluster's service-account issuer, with
// its own RSA signing key.
type Issuer struct {
	url string
	key *rsa.PrivateKey
	kid string
	// external holds the keys of an issuer the emulator does not sign for (a real
	// kube-apiserver's service-account keys), by kid; see AddIssuerJWKS.
	external map[string]*rsa.PublicKey
}

// verificationKey is the public key for a token's kid, nil if the issuer has none.
func (i *Issuer) verificationKey(kid string) *rsa.PublicKey {
	if k, ok := i.external[kid]; ok {
		return k
	}
	if i.key != nil && kid == i.kid {
		return &i.key.PublicKey
	}
	return nil
}

// AddIssuerJWKS declares an OIDC issuer whose tokens are signed elsewhere, such as a
// real kube-apiserver, trusting the RSA keys of its JSON Web Key Set (the document
// served at <issuer>/openid/v1/jwks). Calling it again replaces the keys.
func (e *Emulator) AddIssuerJWKS(issuerURL string, jwks []byte) (*Issuer, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, fmt.Errorf("issuer %s: JWKS is not JSON: %w", issuerURL, err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		ev, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(ev) == 0 || len(ev) > 4 {
			return nil, fmt.Errorf("issuer %s: JWKS key %q has an invalid modulus or exponent", issuerURL, k.Kid)
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(ev).Int64())}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("issuer %s: JWKS has no RSA key (only RS256 issuers are supported)", issuerURL)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	i := &Issuer{url: issuerURL, external: keys}
	e.issuers[issuerURL] = i
	return i, nil
}

// AddIssuer declares an OIDC issuer; the same URL returns the same Issuer.
// The URL is kept byte for byte (a trailing "/" matters).
func (e *Emulator) AddIssuer(issuerURL string) *Issuer {
	e.mu.Lock()
	defer e.mu.Unlock()
	if i := e.issuers[issuerURL]; i != nil {
		return i
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	i := &Issuer{url: issuerURL, key: key, kid: b64.EncodeToString(e.ids.bytes(16))}
	e.issuers[issuerURL] = i
	return i
}

// URL is the issuer URL exactly as added.
func (i *Issuer) URL() string { return i.url }

// JWKS returns the issuer's JSON Web Key Set.
func (i *Issuer) JWKS() map[string]any {
	if i.key == nil {
		keys := []map[string]any{}
		for kid, k := range i.external {
			keys = append(keys, map[string]any{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		return map[string]any{"keys": keys}
	}
	return (&jwtSigner{key: i.key, kid: i.kid}).jwks()
}

// MintToken returns an RS256 JWT with iss, sub, aud, exp, iat, nbf and a kid
// header, signed by the issuer. A negative ttl mints an already expired token.
// extra claims are added last and may override the standard ones.
// An issuer added with AddIssuerJWKS has no signing key here and mints nothing ("").
func (i *Issuer) MintToken(subject, audience string, ttl time.Duration, extra map[string]any) string {
	if i.key == nil {
		return ""
	}
	now := time.Now()
	exp := now.Add(ttl)
	iat := now
	if ttl <= 0 {
		iat = exp.Add(-time.Hour)
	}
	claims := map[string]any{
		"iss": i.url,
		"sub": subject,
		"aud": []string{audience},
		"exp": exp.Unix(),
		"iat": iat.Unix(),
		"nbf": iat.Unix(),
	}
	for k, v := range extra {
		claims[k] = v
	}
	return (&jwtSigner{key: i.key, kid: i.kid}).sign(claims)
}

// serveEntra answers the login hosts.
func (e *Emulator) serveEntra(w http.ResponseWriter, r *http.Request, host string) {
	switch act, f := e.applyFaults(r, ServiceEntraID); act {
	case faultReset:
		e.logf("entra: %s %s -> reset", r.Method, r.URL.Path)
		e.countEntra(r)
		resetConnection(w)
		return
	case faultThrottle:
		e.countEntra(r)
		f.setThrottleHeaders(w.Header())
		e.aadError(w, r, host, http.StatusTooManyRequests, "temporarily_unavailable", 90055,
			"The request has been throttled due to too many requests to the tenant. Retry the request after the time indicated in the Retry-After header.")
		return
	case faultError:
		e.countEntra(r)
		e.aadError(w, r, host, f.errorStatus(), "temporarily_unavailable", 90033,
			"A transient error has occurred. Please try again.")
		return
	}
	e.countEntra(r)
	if r.Method == http.MethodGet {
		e.logf("entra: GET https://%s%s", host, r.URL.Path)
	}
	c := e.cloudByLoginHost(host)
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case c.adfs:
		e.serveADFS(w, r, c, host, parts)
	case r.URL.Path == "/common/discovery/instance":
		e.serveInstanceDiscovery(w, r, host)
	case len(parts) == 4 && parts[1] == "v2.0" && parts[2] == ".well-known" && parts[3] == "openid-configuration":
		e.serveOpenIDConfig(w, r, c, host, parts[0])
	case len(parts) == 4 && parts[1] == "discovery" && parts[2] == "v2.0" && parts[3] == "keys":
		writeJSON(w, http.StatusOK, c.signer.jwks())
	case len(parts) == 4 && parts[1] == "oauth2" && parts[2] == "v2.0" && parts[3] == "token":
		e.serveToken(w, r, c, host, parts[0])
	default:
		e.logf("entra: %s %s -> 404", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
}

func (e *Emulator) countEntra(r *http.Request) {
	path := r.URL.Path
	switch {
	case strings.HasSuffix(path, "/oauth2/v2.0/token"):
		clientID := ""
		if r.Method == http.MethodPost {
			// ParseForm caches the body; the handler reads the same values.
			_ = r.ParseForm()
			clientID = r.PostForm.Get("client_id")
		}
		e.count(func(c *Counts) {
			c.TokenRequests++
			c.TokensByClient[clientID]++
		})
	case path == "/common/discovery/instance" || strings.HasSuffix(path, "/.well-known/openid-configuration"):
		e.count(func(c *Counts) { c.DiscoveryRequests++ })
	}
}

func (e *Emulator) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request, host string) {
	authz := r.URL.Query().Get("authorization_endpoint")
	if authz == "" {
		e.aadError(w, r, host, http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: 'authorization_endpoint'.")
		return
	}
	u, err := url.Parse(authz)
	if err != nil || u.Scheme != "https" || !e.isLoginHost(strings.ToLower(u.Host)) {
		e.aadError(w, r, host, http.StatusBadRequest, "invalid_instance", 50049, "Unknown or invalid instance.")
		return
	}
	tenantSeg := strings.SplitN(strings.TrimPrefix(u.Path, "/"), "/", 2)[0]
	if tenantSeg == "" {
		tenantSeg = "common"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": fmt.Sprintf("https://%s/%s/v2.0/.well-known/openid-configuration", strings.ToLower(u.Host), tenantSeg),
		"api-version":               "1.1",
		"metadata":                  e.instanceMetadata(),
	})
}

func (e *Emulator) instanceMetadata() []map[string]any {
	entry := func(preferred, cache string, aliases ...string) map[string]any {
		return map[string]any{"preferred_network": preferred, "preferred_cache": cache, "aliases": aliases}
	}
	md := []map[string]any{
		entry("login.microsoftonline.com", "login.windows.net",
			"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"),
		entry("login.partner.microsoftonline.cn", "login.partner.microsoftonline.cn",
			"login.partner.microsoftonline.cn", "login.chinacloudapi.cn"),
		entry("login.microsoftonline.de", "login.microsoftonline.de", "login.microsoftonline.de"),
		entry("login.microsoftonline.us", "login.microsoftonline.us", "login.microsoftonline.us", "login.usgovcloudapi.net"),
		entry("login-us.microsoftonline.com", "login-us.microsoftonline.com", "login-us.microsoftonline.com"),
	}
	e.mu.Lock()
	var custom []string
	for _, c := range e.clouds {
		if !c.builtin && !c.adfs {
			custom = append(custom, c.loginHosts...)
		}
	}
	e.mu.Unlock()
	slices.Sort(custom)
	for _, h := range custom {
		md = append(md, entry(h, h, h))
	}
	return md
}

// lookupTenant finds a tenant of cloud c: a tenant of another cloud does not
// exist for c's login hosts.
func (e *Emulator) lookupTenant(c *cloudState, id string) *tenant {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tenants[strings.ToLower(id)]
	if t == nil || !t.clouds[c] {
		return nil
	}
	return t
}

func (e *Emulator) serveOpenIDConfig(w http.ResponseWriter, r *http.Request, c *cloudState, host, tenantSeg string) {
	issuerTenant := tenantSeg
	switch strings.ToLower(tenantSeg) {
	case "common", "organizations":
		issuerTenant = "{tenantid}"
	default:
		t := e.lookupTenant(c, tenantSeg)
		if t == nil {
			e.aadError(w, r, host, http.StatusBadRequest, "invalid_tenant", 90002, tenantNotFound(tenantSeg))
			return
		}
		issuerTenant = t.id
	}
	base := "https://" + host + "/" + tenantSeg
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                "https://" + host + "/" + issuerTenant + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     "https://graph.microsoft.com/oidc/userinfo",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"kerberos_endpoint":                     base + "/kerberos",
		"tenant_region_scope":                   "NA",
		"cloud_instance_name":                   "microsoftonline.com",
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          "graph.microsoft.com",
		"rbac_url":                              "https://pas.windows.net",
	})
}

func tenantNotFound(t string) string {
	return fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", t)
}

// aadError writes Entra ID's OAuth error shape.
func (e *Emulator) aadError(w http.ResponseWriter, r *http.Request, host string, status int, errName string, code int, msg string) {
	traceID := e.ids.guid()
	corrID := r.Header.Get("client-request-id")
	if corrID == "" {
		corrID = e.ids.guid()
	}
	ts := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	e.logf("entra: %s %s -> %d %s AADSTS%d", r.Method, r.URL.Path, status, errName, code)
	writeJSON(w, status, map[string]any{
		"error":             errName,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", code, msg, traceID, corrID, ts),
		"error_codes":       []int{code},
		"timestamp":         ts,
		"trace_id":          traceID,
		"correlation_id":    corrID,
		"error_uri":         fmt.Sprintf("https://%s/error?code=%d", host, code),
	})
}

// defaultScopes are added by MSAL to every request and carry no resource.
var defaultScopes = map[string]bool{"openid": true, "offline_access": true, "profile": true}

func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request, c *cloudState, host, tenantSeg string) {
	if r.Method != http.MethodPost {
		e.aadError(w, r, host, http.StatusBadRequest, "invalid_request", 900561,
			fmt.Sprintf("The endpoint only accepts POST, OPTIONS requests. Received a %s request.", r.Method))
		return
	}
	if err := r.ParseForm(); err != nil {
		e.aadError(w, r, host, http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: 'grant_type'.")
		return
	}
	form := r.PostForm
	t := e.lookupTenant(c, tenantSeg)
	if t == nil {
		e.aadError(w, r, host, http.StatusBadRequest, "invalid_request", 90002, tenantNotFound(tenantSeg))
		return
	}
	for _, p := range []string{"grant_type", "client_id", "scope"} {
		if form.Get(p) == "" {
			e.aadError(w, r, host, http.StatusBadRequest, "invalid_request", 900144,
				fmt.Sprintf("The request body must contain the following parameter: '%s'.", p))
			return
		}
	}
	if gt := form.Get("grant_type"); gt != "client_credentials" {
		e.aadError(w, r, host, http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt))
		return
	}
	var resource string
	for _, s := range strings.Fields(form.Get("scope")) {
		if defaultScopes[s] {
			continue
		}
		res, ok := strings.CutSuffix(s, "/.default")
		if !ok || resource != "" {
			e.aadError(w, r, host, http.StatusBadRequest, "invalid_scope", 1002012,
				fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", s))
			return
		}
		resource = res
	}
	clientID := form.Get("client_id")
	e.mu.Lock()
	a := t.apps[strings.ToLower(clientID)]
	var secrets []string
	var fics []FederatedCredential
	oid, disabled := "", false
	if a != nil {
		secrets = slices.Clone(a.secrets)
		fics = slices.Clone(a.fics)
		oid, disabled = a.objectID, a.disabled
	}
	e.mu.Unlock()
	if a == nil {
		e.aadError(w, r, host, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, t.id))
		return
	}

	appidacr := "1"
	switch {
	case form.Get("client_assertion") != "":
		if at := form.Get("client_assertion_type"); at != jwtBearerAssertionType {
			e.aadError(w, r, host, http.StatusBadRequest, "invalid_request", 50027,
				fmt.Sprintf("Invalid client_assertion_type '%s'. Only '%s' is supported.", at, jwtBearerAssertionType))
			return
		}
		if !e.checkAssertion(w, r, host, form.Get("client_assertion"), fics) {
			return
		}
		appidacr = "2"
	case form.Get("client_secret") != "":
		ok := false
		for _, s := range secrets {
			if subtle.ConstantTimeCompare([]byte(s), []byte(form.Get("client_secret"))) == 1 {
				ok = true
			}
		}
		if !ok {
			e.aadError(w, r, host, http.StatusUnauthorized, "invalid_client", 7000215,
				fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
			return
		}
	default:
		e.aadError(w, r, host, http.StatusUnauthorized, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}

	if disabled {
		e.aadError(w, r, host, http.StatusBadRequest, "unauthorized_client", 7000112,
			fmt.Sprintf("Application '%s'(%s) is disabled.", clientID, clientID))
		return
	}
	if !e.knownResource(c, resource) {
		e.aadError(w, r, host, http.StatusBadRequest, "invalid_resource", 500011,
			fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, t.id))
		return
	}
	cae, err := clientCapableOfCAE(form.Get("claims"))
	if err != nil {
		e.aadError(w, r, host, http.StatusBadRequest, "invalid_request", 90014,
			"The request body must contain the following parameter: 'claims' in valid JSON form.")
		return
	}
	tok := e.issueAccessToken(c, host, t.id, clientID, oid, resource, map[string]any{"appidacr": appidacr}, cae)
	e.logf("entra: token for client %s in tenant %s, resource %s (cae %v)", clientID, t.id, resource, cae)
	body := map[string]any{
		"token_type":     "Bearer",
		"expires_in":     tok.expiresIn,
		"ext_expires_in": tok.expiresIn,
		"access_token":   tok.token,
	}
	if tok.refreshIn > 0 {
		body["refresh_in"] = tok.refreshIn
	}
	writeJSON(w, http.StatusOK, body)
}

// clientCapableOfCAE reads the token request's claims parameter: MSAL sends
// {"access_token":{"xms_cc":{"values":["CP1"]}}} for a client that handles
// claims challenges (azcore asks for that on every Key Vault request), merged
// with the claims of a challenge it answers.
func clientCapableOfCAE(claims string) (bool, error) {
	if claims == "" {
		return false, nil
	}
	var c struct {
		AccessToken struct {
			XMSCC *struct {
				Values []string `json:"values"`
			} `json:"xms_cc"`
		} `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(claims), &c); err != nil {
		return false, err
	}
	return c.AccessToken.XMSCC != nil && slices.Contains(c.AccessToken.XMSCC.Values, "CP1"), nil
}

// checkAssertion validates a federated client assertion against the app's
// federated credentials and the issuer's key, writing the error if invalid.
func (e *Emulator) checkAssertion(w http.ResponseWriter, r *http.Request, host, assertion string, fics []FederatedCredential) bool {
	p, err := parseJWT(assertion)
	if err != nil {
		e.aadError(w, r, host, http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed.")
		return false
	}
	iss, sub := p.str("iss"), p.str("sub")
	auds := p.audiences()
	fail := func(code int, msg string) bool {
		if e.opts.LegacyFederationErrors {
			e.aadError(w, r, host, http.StatusBadRequest, "invalid_request", 70021,
				fmt.Sprintf("No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation", iss, sub, strings.Join(auds, ",")))
			return false
		}
		e.aadError(w, r, host, http.StatusUnauthorized, "invalid_client", code,
			msg+" Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation")
		return false
	}
	var byIssuer, bySubject []FederatedCredential
	for _, fc := range fics {
		if fc.Issuer == iss {
			byIssuer = append(byIssuer, fc)
		}
	}
	if len(byIssuer) == 0 {
		return fail(700211, fmt.Sprintf("No matching federated identity record found for presented assertion issuer '%s'.", iss))
	}
	for _, fc := range byIssuer {
		if fc.Subject == sub {
			bySubject = append(bySubject, fc)
		}
	}
	if len(bySubject) == 0 {
		return fail(700213, fmt.Sprintf("No matching federated identity record found for presented assertion subject '%s'.", sub))
	}
	matched := false
	for _, fc := range bySubject {
		for _, a := range auds {
			if slices.Contains(fc.Audiences, a) {
				matched = true
			}
		}
	}
	if !matched {
		return fail(700212, fmt.Sprintf("No matching federated identity record found for presented assertion audience '%s'.", strings.Join(auds, ",")))
	}

	e.mu.Lock()
	issuer := e.issuers[iss]
	e.mu.Unlock()
	if issuer == nil {
		e.aadError(w, r, host, http.StatusBadRequest, "invalid_request", 50166,
			fmt.Sprintf("Request to External OIDC endpoint failed. Issuer: '%s'.", iss))
		return false
	}
	kid, _ := p.header["kid"].(string)
	if key := issuer.verificationKey(kid); key == nil || p.verify(key) != nil {
		e.aadError(w, r, host, http.StatusUnauthorized, "invalid_client", 700027,
			"Client assertion failed signature validation.")
		return false
	}
	now := time.Now()
	exp, hasExp := p.num("exp")
	nbf, hasNbf := p.num("nbf")
	const skew = 5 * 60
	if !hasExp || now.Unix() > exp+skew || (hasNbf && now.Unix()+skew < nbf) {
		from := "N/A"
		if hasNbf {
			from = time.Unix(nbf, 0).UTC().Format(time.RFC3339Nano)
		}
		e.aadError(w, r, host, http.StatusUnauthorized, "invalid_client", 700024,
			fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
				now.UTC().Format(time.RFC3339Nano), from, time.Unix(exp, 0).UTC().Format(time.RFC3339Nano)))
		return false
	}
	return true
}

type issuedToken struct {
	token     string
	expiresIn int // seconds
	refreshIn int // seconds; 0 when the answer carries no refresh_in
}

// issueAccessToken mints an access token of cloud c, signed with the cloud's
// key, for a client in a tenant. host is the service that issues it (a login
// host, IMDS or NMI), counted in Counts.TokensByHost. A CAE token (the client
// declared the CP1 capability) lives Options.CAETokenLifetime, carries
// xms_cc and can be revoked with RevokeTokens; a long-lived one comes with
// refresh_in, half its lifetime, as Entra ID sends.
func (e *Emulator) issueAccessToken(c *cloudState, host, tenantID, clientID, oid, resource string, extra map[string]any, cae bool) issuedToken {
	e.mu.Lock()
	lifetime := e.tokenLifetime
	if cae && e.opts.CAETokenLifetime > 0 {
		lifetime = e.opts.CAETokenLifetime
	}
	e.counts.TokensIssued[clientID]++
	e.counts.TokensByHost[host]++
	e.mu.Unlock()
	now := time.Now()
	iss := c.issuer(tenantID)
	refreshIn := 0
	if lifetime >= 2*time.Hour {
		refreshIn = int(lifetime / 2 / time.Second)
	}
	if e.opts.RefreshIn > 0 {
		refreshIn = int(e.opts.RefreshIn / time.Second)
	}
	uti := b64.EncodeToString(e.ids.bytes(16))
	claims := map[string]any{
		"aud":      resource,
		"iss":      iss,
		"iat":      now.Unix(),
		"nbf":      now.Unix(),
		"exp":      now.Add(lifetime).Unix(),
		"appid":    clientID,
		"azp":      clientID,
		"appidacr": "1",
		"idp":      iss,
		"idtyp":    "app",
		"oid":      oid,
		"sub":      oid,
		"tid":      tenantID,
		"uti":      uti,
		"ver":      "1.0",
	}
	if c.adfs {
		delete(claims, "tid") // AD FS tokens name no tenant
	}
	if cae {
		claims["xms_cc"] = []string{"CP1"}
		e.mu.Lock()
		e.issuedAt[uti] = now
		e.mu.Unlock()
	}
	for k, v := range extra {
		claims[k] = v
	}
	return issuedToken{token: c.signer.sign(claims), expiresIn: int(lifetime / time.Second), refreshIn: refreshIn}
}

// SetTokenLifetime changes the lifetime of access tokens issued from now on.
func (e *Emulator) SetTokenLifetime(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if d > 0 {
		e.tokenLifetime = d
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// serveADFS answers an AD FS authority (Azure Stack Hub without Entra ID):
// https://<host>/adfs is the only authority, with no tenants. MSAL reads its
// OpenID configuration at /adfs/.well-known/openid-configuration and skips
// instance discovery.
func (e *Emulator) serveADFS(w http.ResponseWriter, r *http.Request, c *cloudState, host string, parts []string) {
	base := "https://" + host + "/adfs"
	switch {
	case len(parts) == 3 && parts[0] == "adfs" && parts[1] == ".well-known" && parts[2] == "openid-configuration":
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                base,
			"authorization_endpoint":                base + "/oauth2/authorize/",
			"token_endpoint":                        base + "/oauth2/token/",
			"jwks_uri":                              base + "/discovery/keys",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic", "private_key_jwt", "windows_client_authentication"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token", "code token", "code id_token token"},
			"scopes_supported":                      []string{"openid", "profile", "email", "allatclaims", "logon_cert", "vpn_cert", "user_impersonation"},
			"access_token_issuer":                   "http://" + host + "/adfs/services/trust",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	case len(parts) == 3 && parts[0] == "adfs" && parts[1] == "discovery" && parts[2] == "keys":
		writeJSON(w, http.StatusOK, c.signer.jwks())
	case len(parts) == 3 && parts[0] == "adfs" && parts[1] == "oauth2" && parts[2] == "token":
		e.serveToken(w, r, c, host, "adfs")
	default:
		e.logf("adfs: %s %s -> 404", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
}
