package emulator

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kvOp is one Key Vault data-plane operation the emulator answers.
type kvOp struct {
	name       string // counter key, e.g. GetSecret
	objectType string // ObjectSecret, ObjectKey, ObjectCert
	objName    string // "" for a list of all objects
	version    string // "" for latest
	list       bool   // versions list, or list of all objects when objName is ""
	perm       Permission
	action     string // RBAC data action named in 403s
	collection string // URL segment: secrets, keys, certificates
}

func parseKVPath(path string) (kvOp, bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	// "/secrets/name/" (empty version) is the latest version.
	if len(segs) == 3 && segs[2] == "" {
		segs = segs[:2]
	}
	if len(segs) == 0 || len(segs) > 3 {
		return kvOp{}, false
	}
	op := kvOp{collection: segs[0]}
	var kind string
	switch segs[0] {
	case "secrets":
		op.objectType, kind = ObjectSecret, "Secret"
	case "keys":
		op.objectType, kind = ObjectKey, "Key"
	case "certificates":
		op.objectType, kind = ObjectCert, "Certificate"
	default:
		return kvOp{}, false
	}
	switch len(segs) {
	case 1:
		op.list, op.name = true, "List"+kind+"s"
	case 2:
		op.objName, op.name = segs[1], "Get"+kind
	case 3:
		op.objName = segs[1]
		if segs[2] == "versions" {
			op.list, op.name = true, "List"+kind+"Versions"
		} else {
			op.version, op.name = segs[2], "Get"+kind
		}
	}
	if op.objName == "" && len(segs) > 1 {
		return kvOp{}, false
	}
	switch op.objectType {
	case ObjectSecret:
		op.perm, op.action = SecretGet, "Microsoft.KeyVault/vaults/secrets/getSecret/action"
		if op.list {
			op.perm, op.action = SecretList, "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
		}
	case ObjectKey:
		op.perm, op.action = KeyGet, "Microsoft.KeyVault/vaults/keys/read"
		if op.list {
			op.perm = KeyList
		}
	case ObjectCert:
		op.perm, op.action = CertGet, "Microsoft.KeyVault/vaults/certificates/read"
		if op.list {
			op.perm = CertList
		}
	}
	return op, true
}

// serveKeyVault answers a vault host of cloud c.
func (e *Emulator) serveKeyVault(w http.ResponseWriter, r *http.Request, v *Vault, host, suffix string, c *cloudState) {
	e.count(func(c *Counts) {
		c.KeyVaultRequests++
		c.KeyVaultByVault[v.name]++
		e.vaultInFlight[v.name]++
		if n := e.vaultInFlight[v.name]; n > c.KeyVaultMaxConcurrent[v.name] {
			c.KeyVaultMaxConcurrent[v.name] = n
		}
	})
	defer e.count(func(*Counts) { e.vaultInFlight[v.name]-- })
	switch act, f := e.applyFaults(r, ServiceKeyVault); act {
	case faultReset:
		e.logf("keyvault: %s %s%s -> reset", r.Method, host, r.URL.Path)
		resetConnection(w)
		return
	case faultThrottle:
		f.setThrottleHeaders(w.Header())
		if f.throttleStatus() == http.StatusServiceUnavailable {
			kvError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "The service is temporarily unavailable. Please retry the request.", "")
		} else {
			kvError(w, http.StatusTooManyRequests, "Throttled",
				"Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached", "")
		}
		e.logf("keyvault: %s %s%s -> %d (Retry-After %q)", r.Method, host, r.URL.Path, f.throttleStatus(), w.Header().Get("Retry-After"))
		return
	case faultError:
		status := f.errorStatus()
		code := "InternalServerError"
		msg := "An unexpected error occurred while processing the request."
		switch status {
		case http.StatusServiceUnavailable:
			code, msg = "ServiceUnavailable", "The service is temporarily unavailable. Please retry the request."
		case http.StatusBadGateway:
			code, msg = "BadGateway", "The server received an invalid response from an upstream server."
		case http.StatusGatewayTimeout:
			code, msg = "GatewayTimeout", "The operation timed out."
		}
		kvError(w, status, code, msg, "")
		e.logf("keyvault: %s %s%s -> %d", r.Method, host, r.URL.Path, status)
		return
	}

	// The api-version is checked before anything else, as Key Vault's front end does.
	ver := r.URL.Query().Get("api-version")
	e.mu.Lock()
	served, latest := c.acceptsAPIVersion(ver), c.latestAPIVersion()
	e.mu.Unlock()
	switch {
	case ver == "":
		kvError(w, http.StatusBadRequest, "BadParameter", "The request is missing the required parameter 'api-version'.", "")
		return
	case !served:
		kvError(w, http.StatusBadRequest, "BadParameter",
			fmt.Sprintf("The specified version (%s) is not recognized. Consider using the latest supported version (%s).", ver, latest), "")
		e.logf("keyvault: %s %s%s -> 400 api-version %s", r.Method, host, r.URL.Path, ver)
		return
	}

	tenantID := v.tenantID()
	e.mu.Lock()
	loginHost := c.loginHosts[0]
	e.mu.Unlock()
	authority := "https://" + loginHost + "/" + tenantID
	if c.adfs {
		authority = "https://" + loginHost + "/adfs"
	}
	challenge := fmt.Sprintf(`Bearer authorization="%s", resource="https://%s"`, authority, suffix)
	authz := r.Header.Get("Authorization")
	if authz == "" {
		e.count(func(c *Counts) { c.KeyVaultChallenges++ })
		w.Header().Set("WWW-Authenticate", challenge)
		kvError(w, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", "")
		e.logf("keyvault: %s %s%s -> 401 challenge", r.Method, host, r.URL.Path)
		return
	}
	claims, msg := e.validateAccessToken(authz, suffix, tenantID, c)
	if msg == "" && e.revoked(claims) {
		// Continuous access evaluation: the token was revoked (RevokeTokens).
		// Key Vault answers with a claims challenge; the client must get a new
		// token carrying these claims.
		e.count(func(c *Counts) { c.KeyVaultClaimsChallenges++ })
		revokedAt, _ := claims.num("iat")
		cl := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, revokedAt+1)))
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="", authorization_uri="https://%s/common/oauth2/authorize", error="insufficient_claims", claims="%s"`, loginHost, cl))
		kvError(w, http.StatusUnauthorized, "Unauthorized", "AKV10016: The access token has been revoked: continuous access evaluation requires new claims.", "")
		e.logf("keyvault: %s %s%s -> 401 insufficient_claims for appid %s", r.Method, host, r.URL.Path, claims.str("appid"))
		return
	}
	if msg != "" {
		w.Header().Set("WWW-Authenticate", challenge)
		kvError(w, http.StatusUnauthorized, "Unauthorized", msg, "")
		e.logf("keyvault: %s %s%s -> 401 %s", r.Method, host, r.URL.Path, msg)
		return
	}

	op, ok := parseKVPath(r.URL.Path)
	if !ok {
		e.count(func(c *Counts) { c.KeyVaultByOp["Unknown"]++ })
		kvError(w, http.StatusNotFound, "NotFound", "The requested resource was not found.", "")
		return
	}
	e.count(func(c *Counts) { c.KeyVaultByOp[op.name]++ })
	if r.Method != http.MethodGet {
		kvError(w, http.StatusMethodNotAllowed, "MethodNotAllowed",
			fmt.Sprintf("The requested method %s is not supported by the emulator.", r.Method), "")
		return
	}
	if op.objName != "" && !validObjectName(op.objName) {
		kvError(w, http.StatusBadRequest, "BadParameter", "The request URI contains an invalid name: "+op.objName, "")
		e.logf("keyvault: %s %s%s -> 400 invalid name", r.Method, host, r.URL.Path)
		return
	}
	appid := claims.str("appid")
	if !v.allowed(appid, op.perm, op.objectType, op.objName) {
		resource := fmt.Sprintf("/subscriptions/%s/resourcegroups/rg-emulator/providers/microsoft.keyvault/vaults/%s", v.subscriptionID, v.name)
		if op.objName != "" {
			resource += "/" + op.collection + "/" + strings.ToLower(op.objName)
		}
		kvError(w, http.StatusForbidden, "Forbidden", fmt.Sprintf(
			"Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=%s;oid=%s;iss=%s\r\nAction: '%s'\r\nResource: '%s'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: %s;location=eastus\r\n",
			appid, claims.str("oid"), claims.str("iss"), op.action, resource, v.name), "ForbiddenByRbac")
		e.logf("keyvault: %s %s%s -> 403 for appid %s", r.Method, host, r.URL.Path, appid)
		return
	}
	if op.objName != "" {
		rawVersion := op.version
		if op.list {
			rawVersion = "versions"
		}
		if raw, ok := v.rawFor(op.objectType, op.objName, rawVersion); ok && (!op.list || r.URL.Query().Get("$skiptoken") == "") {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(raw.status)
			_, _ = w.Write(raw.body)
			e.logf("keyvault: %s %s%s -> %d (raw)", r.Method, host, r.URL.Path, raw.status)
			return
		}
	}
	base := "https://" + host
	var status int
	switch {
	case op.list:
		status = e.serveKVList(w, r, v, op, base)
	case op.objectType == ObjectSecret:
		status = v.serveSecret(w, op, base)
	case op.objectType == ObjectKey:
		status = v.serveKey(w, op, base)
	default:
		status = v.serveCertificate(w, op, base)
	}
	e.logf("keyvault: %s %s%s -> %d", r.Method, host, r.URL.Path, status)
}

// validateAccessToken checks a bearer token like a vault of cloud c does and
// returns its claims, or the AKV error message: the audience must be the
// cloud's Key Vault resource (AKV10022), the issuer the cloud's for the vault's
// tenant (AKV10032), the signature the cloud's (AKV10046), and the token
// unexpired. A token of another cloud fails on its audience or its issuer.
func (e *Emulator) validateAccessToken(authz, suffix, tenantID string, c *cloudState) (*parsedJWT, string) {
	scheme, tok, _ := strings.Cut(authz, " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, "AKV10000: Request is missing a Bearer or PoP token."
	}
	p, err := parseJWT(strings.TrimSpace(tok))
	if err != nil {
		return nil, "AKV10005: Token is malformed."
	}
	want := "https://" + suffix
	if aud := strings.TrimSuffix(p.str("aud"), "/"); !strings.EqualFold(aud, want) {
		return nil, fmt.Sprintf("AKV10022: Invalid audience. Expected %s, found: %s.", want, p.str("aud"))
	}
	e.mu.Lock()
	v1, v2, signer := c.issuer(tenantID), c.v2Issuer(tenantID), c.signer
	e.mu.Unlock()
	if iss := p.str("iss"); !strings.EqualFold(iss, v1) && !strings.EqualFold(iss, v2) {
		return nil, fmt.Sprintf("AKV10032: Invalid issuer. Expected one of %s, %s, found %s.", v1, v2, iss)
	}
	if kid, _ := p.header["kid"].(string); kid != signer.kid || p.verify(&signer.key.PublicKey) != nil {
		return nil, "AKV10046: Token signature validation failed."
	}
	if exp, ok := p.num("exp"); !ok || time.Now().Unix() >= exp {
		return nil, "[TokenExpired] Error validating token: 'S2S12086'."
	}
	return p, ""
}

// RevokeTokens revokes the CAE tokens issued to a client so far (a continuous
// access evaluation event such as a disabled account or a changed credential):
// vaults answer them with a claims challenge, and tokens issued afterwards are
// accepted again.
func (e *Emulator) RevokeTokens(clientID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.revokedBefore[strings.ToLower(clientID)] = time.Now()
}

// revoked says whether a CAE token was issued before its client's revocation.
func (e *Emulator) revoked(p *parsedJWT) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	before, ok := e.revokedBefore[strings.ToLower(p.str("appid"))]
	if !ok {
		return false
	}
	issued, cae := e.issuedAt[p.str("uti")]
	return cae && issued.Before(before)
}

// validObjectName is Key Vault's rule for object names: 1-127 characters,
// letters, digits and dashes.
func validObjectName(n string) bool {
	if len(n) == 0 || len(n) > 127 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// kvError writes Key Vault's error shape.
func kvError(w http.ResponseWriter, status int, code, msg, inner string) {
	body := map[string]any{"code": code, "message": msg}
	if inner != "" {
		body["innererror"] = map[string]any{"code": inner}
	}
	writeJSON(w, status, map[string]any{"error": body})
}

func notFound(w http.ResponseWriter, op kvOp) int {
	what, code := "secret", "SecretNotFound"
	switch op.objectType {
	case ObjectKey:
		what, code = "key", "KeyNotFound"
	case ObjectCert:
		what, code = "certificate", "CertificateNotFound"
	}
	id := op.objName
	if op.version != "" {
		id += "/" + op.version
	}
	kvError(w, http.StatusNotFound, code, fmt.Sprintf(
		"A %s with (name/id) %s was not found in this key vault. If you recently deleted this %s you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
		what, id, what), "")
	return http.StatusNotFound
}

func disabled(w http.ResponseWriter, op kvOp) int {
	what, inner := "secret", "SecretDisabled"
	if op.objectType == ObjectKey {
		what, inner = "key", "KeyDisabled"
	}
	kvError(w, http.StatusForbidden, "Forbidden",
		fmt.Sprintf("Operation get is not allowed on a disabled %s.", what), inner)
	return http.StatusForbidden
}

func (a attrs) json(extra map[string]any) map[string]any {
	m := map[string]any{
		"enabled":         a.enabled,
		"created":         a.created.Unix(),
		"updated":         a.updated.Unix(),
		"recoveryLevel":   "Recoverable+Purgeable",
		"recoverableDays": 90,
	}
	if !a.notBefore.IsZero() {
		m["nbf"] = a.notBefore.Unix()
	}
	if !a.expires.IsZero() {
		m["exp"] = a.expires.Unix()
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// pick returns the requested version, or the latest, of an object's history.
func pick[T any](history []T, version string, versionOf func(T) string) (T, bool) {
	var zero T
	if len(history) == 0 {
		return zero, false
	}
	if version == "" {
		return history[len(history)-1], true
	}
	for _, h := range history {
		if versionOf(h) == version {
			return h, true
		}
	}
	return zero, false
}

func (v *Vault) serveSecret(w http.ResponseWriter, op kvOp, base string) int {
	v.e.mu.Lock()
	sv, ok := pick(v.secrets[strings.ToLower(op.objName)], op.version, func(s *secretVersion) string { return s.version })
	var body map[string]any
	if ok && sv.enabled {
		body = secretItem(sv, base, strings.ToLower(op.objName), true)
	}
	v.e.mu.Unlock()
	if !ok {
		return notFound(w, op)
	}
	if body == nil {
		return disabled(w, op)
	}
	writeJSON(w, http.StatusOK, body)
	return http.StatusOK
}

// secretItem is a secret bundle (withValue) or a list item.
func secretItem(sv *secretVersion, base, name string, withValue bool) map[string]any {
	m := map[string]any{
		"id":         base + "/secrets/" + name + "/" + sv.version,
		"attributes": sv.attrs.json(nil),
	}
	if withValue {
		m["value"] = sv.value
	}
	if sv.contentType != "" {
		m["contentType"] = sv.contentType
	}
	if len(sv.tags) > 0 {
		m["tags"] = sv.tags
	}
	if sv.kid != "" {
		m["kid"] = sv.kid
		if strings.HasPrefix(sv.kid, "/") {
			m["kid"] = base + sv.kid
		}
		m["managed"] = true
	}
	return m
}

// serveKVList answers the versions list of one object, or the list of all
// objects of a kind, in pages with a nextLink.
func (e *Emulator) serveKVList(w http.ResponseWriter, r *http.Request, v *Vault, op kvOp, base string) int {
	q := r.URL.Query()
	pageSize := e.opts.PageSize
	if mr := q.Get("maxresults"); mr != "" {
		n, err := strconv.Atoi(mr)
		if err != nil || n < 1 || n > 25 {
			kvError(w, http.StatusBadRequest, "BadParameter", "invalid maxresults value: "+mr+". maxresults must be between 1 and 25.", "")
			return http.StatusBadRequest
		}
		pageSize = n
	}
	offset := 0
	if st := q.Get("$skiptoken"); st != "" {
		b, err := base64.RawURLEncoding.DecodeString(st)
		if err == nil {
			offset, err = strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
		}
		if err != nil || offset < 0 {
			kvError(w, http.StatusBadRequest, "BadParameter", "The skip token is not valid.", "")
			return http.StatusBadRequest
		}
	}
	items := v.listItems(op, base)
	end := min(offset+pageSize, len(items))
	if offset > len(items) {
		offset = end
	}
	resp := map[string]any{"value": items[offset:end], "nextLink": nil}
	if end < len(items) {
		nq := url.Values{}
		nq.Set("api-version", q.Get("api-version"))
		nq.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("offset:"+strconv.Itoa(end))))
		if q.Get("maxresults") != "" {
			nq.Set("maxresults", q.Get("maxresults"))
		}
		resp["nextLink"] = base + r.URL.Path + "?" + nq.Encode()
	}
	writeJSON(w, http.StatusOK, resp)
	return http.StatusOK
}

// listItems returns every list item for op, ordered by version ID (for a
// versions list; the service does not list versions by date) or by name.
func (v *Vault) listItems(op kvOp, base string) []map[string]any {
	v.e.mu.Lock()
	defer v.e.mu.Unlock()
	name := strings.ToLower(op.objName)
	var entries []listEntry
	switch op.objectType {
	case ObjectSecret:
		entries = listEntries(v.secrets, name, func(sv *secretVersion) string { return sv.version },
			func(sv *secretVersion, n string) map[string]any { return secretItem(sv, base, n, false) }, "id", base+"/secrets/")
	case ObjectKey:
		entries = listEntries(v.keys, name, func(kv *keyVersion) string { return kv.version },
			func(kv *keyVersion, n string) map[string]any { return keyItem(kv, base, n) }, "kid", base+"/keys/")
	case ObjectCert:
		entries = listEntries(v.certs, name, func(cv *certVersion) string { return cv.version },
			func(cv *certVersion, n string) map[string]any { return certItem(cv, base, n) }, "id", base+"/certificates/")
	}
	slices.SortFunc(entries, func(a, b listEntry) int { return strings.Compare(a.sortKey, b.sortKey) })
	items := []map[string]any{}
	for _, en := range entries {
		items = append(items, en.item)
	}
	return items
}

type listEntry struct {
	sortKey string
	item    map[string]any
}

// listEntries lists the versions of the object name or, when name is empty, the
// latest version of every object, whose item then carries the object's own ID
// (idField) instead of a version's.
func listEntries[V any](objects map[string][]V, name string, versionOf func(V) string,
	itemOf func(v V, name string) map[string]any, idField, idPrefix string) []listEntry {
	var entries []listEntry
	if name != "" {
		for _, ver := range objects[name] {
			entries = append(entries, listEntry{versionOf(ver), itemOf(ver, name)})
		}
		return entries
	}
	for n, hist := range objects {
		item := itemOf(hist[len(hist)-1], n)
		item[idField] = idPrefix + n
		entries = append(entries, listEntry{n, item})
	}
	return entries
}
