package emulator

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type managedIdentity struct {
	clientID   string
	objectID   string
	resourceID string
	tenantID   string
	system     bool
}

type podBinding struct {
	clientID string
	tenantID string
	// assignedAt is when the identity reaches the ASSIGNED state; before it NMI
	// holds requests (Options.NMIHold) and then answers 404, as the real NMI does
	// while the identity is only CREATED. Zero means assigned.
	assignedAt time.Time
}

// AddManagedIdentity declares a managed identity that IMDS hands tokens for.
// systemAssigned makes it the VM's system-assigned identity (one allowed; a
// later one replaces it); otherwise it is user-assigned and selected by
// client_id, object_id or msi_res_id. The identity is also an app in its
// tenant, so federated credentials can be added to it like to a
// user-assigned identity.
func (e *Emulator) AddManagedIdentity(clientID string, systemAssigned bool, tenantID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.appLocked(tenantID, clientID)
	kind := "userAssignedIdentities/" + clientID
	if systemAssigned {
		kind = "virtualMachines/vm-emulator"
	}
	mi := &managedIdentity{
		clientID:   clientID,
		objectID:   a.objectID,
		tenantID:   tenantID,
		system:     systemAssigned,
		resourceID: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-emulator/providers/Microsoft." + map[bool]string{true: "Compute", false: "ManagedIdentity"}[systemAssigned] + "/" + kind,
	}
	e.managed[strings.ToLower(clientID)] = mi
	if systemAssigned {
		e.systemIdentity = strings.ToLower(clientID)
	}
}

// ManagedIdentityResourceID returns the ARM resource ID IMDS accepts as
// msi_res_id for a managed identity, or "".
func (e *Emulator) ManagedIdentityResourceID(clientID string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if mi := e.managed[strings.ToLower(clientID)]; mi != nil {
		return mi.resourceID
	}
	return ""
}

// AddPodIdentity binds a pod to an identity for NMI (aad-pod-identity's
// AzureAssignedIdentity). The identity is added as an app of the tenant.
func (e *Emulator) AddPodIdentity(namespace, podName, clientID, tenantID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.appLocked(tenantID, clientID)
	e.podIdentities[namespace+"/"+podName] = podBinding{clientID: clientID, tenantID: tenantID}
}

// AddPendingPodIdentity binds a pod to an identity that aad-pod-identity's MIC
// assigns only after assignedAfter: until then NMI holds each request up to
// Options.NMIHold (SetNMIHold) and answers 404 (retriable) if the identity is
// still not assigned, and a token as soon as it is.
func (e *Emulator) AddPendingPodIdentity(namespace, podName, clientID, tenantID string, assignedAfter time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.appLocked(tenantID, clientID)
	e.podIdentities[namespace+"/"+podName] = podBinding{clientID: clientID, tenantID: tenantID, assignedAt: time.Now().Add(assignedAfter)}
}

// SetNMIHold sets how long NMI keeps a request for a pod whose identity is not
// assigned before answering (see Options.NMIHold).
func (e *Emulator) SetNMIHold(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.NMIHold = d
}

// RemoveManagedIdentity removes a managed identity from the VM (IMDS).
func (e *Emulator) RemoveManagedIdentity(clientID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.managed, strings.ToLower(clientID))
	if e.systemIdentity == strings.ToLower(clientID) {
		e.systemIdentity = ""
	}
}

// RemovePodIdentity removes a pod's NMI binding.
func (e *Emulator) RemovePodIdentity(namespace, podName string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.podIdentities, namespace+"/"+podName)
}

func imdsError(w http.ResponseWriter, status int, errName, desc string) {
	writeJSON(w, status, map[string]any{"error": errName, "error_description": desc})
}

// serveIMDS answers http://169.254.169.254/metadata/identity/oauth2/token on the
// IMDS listener. Real IMDS refuses what came through a proxy (Microsoft: "you
// must bypass proxies when querying IMDS"; a request carrying X-Forwarded-For
// is rejected): the emulator's proxy forwards plain-HTTP requests for the
// metadata address with that header, and they are refused here.
func (e *Emulator) serveIMDS(w http.ResponseWriter, r *http.Request) {
	e.count(func(c *Counts) { c.IMDSRequests++ })
	e.logf("imds: %s http://%s%s Metadata=%q", r.Method, imdsHost, r.URL.RequestURI(), r.Header.Get("Metadata"))
	if r.Header.Get("X-Forwarded-For") != "" {
		e.count(func(c *Counts) { c.IMDSProxied++ })
		e.logf("imds: request through a proxy (X-Forwarded-For %s) -> 400", r.Header.Get("X-Forwarded-For"))
		imdsError(w, http.StatusBadRequest, "invalid_request", "Requests through a proxy are not supported: IMDS must be queried directly, bypassing proxies")
		return
	}
	switch act, f := e.applyFaults(r, ServiceIMDS); act {
	case faultReset:
		resetConnection(w)
		return
	case faultThrottle:
		f.setThrottleHeaders(w.Header())
		imdsError(w, http.StatusTooManyRequests, "too_many_requests", "Too many requests. Retry after the time indicated in the Retry-After header.")
		return
	case faultError:
		imdsError(w, f.errorStatus(), "unknown_error", "An unexpected error occurred while fetching the access token.")
		return
	}
	if r.URL.Path != "/metadata/identity/oauth2/token" {
		e.logf("imds: %s %s -> 404", r.Method, r.URL.Path)
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet {
		imdsError(w, http.StatusMethodNotAllowed, "invalid_request", "The requested HTTP method is not supported.")
		return
	}
	if !strings.EqualFold(r.Header.Get("Metadata"), "true") {
		e.logf("imds: token request without Metadata header -> 400")
		imdsError(w, http.StatusBadRequest, "invalid_request", "Required metadata header not specified")
		return
	}
	q := r.URL.Query()
	if q.Get("api-version") == "" {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Required query variable 'api-version' is missing")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Required audience variable not specified")
		return
	}
	e.mu.Lock()
	var mi *managedIdentity
	switch {
	case q.Get("client_id") != "":
		mi = e.managed[strings.ToLower(q.Get("client_id"))]
	case q.Get("object_id") != "" || q.Get("principal_id") != "":
		oid := q.Get("object_id") + q.Get("principal_id")
		for _, m := range e.managed {
			if strings.EqualFold(m.objectID, oid) {
				mi = m
			}
		}
	case q.Get("msi_res_id") != "" || q.Get("mi_res_id") != "":
		rid := q.Get("msi_res_id") + q.Get("mi_res_id")
		for _, m := range e.managed {
			if strings.EqualFold(m.resourceID, rid) {
				mi = m
			}
		}
	default:
		// No identity named: the system-assigned one, else the only user-assigned
		// one; several user-assigned identities and none chosen is an error.
		mi = e.managed[e.systemIdentity]
		if mi != nil && !mi.system {
			mi = nil
		}
		if mi == nil {
			var users []*managedIdentity
			for _, m := range e.managed {
				if !m.system {
					users = append(users, m)
				}
			}
			if len(users) > 1 {
				e.mu.Unlock()
				e.logf("imds: %d user-assigned identities and none chosen -> 400", len(users))
				imdsError(w, http.StatusBadRequest, "invalid_request", "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request")
				return
			}
			if len(users) == 1 {
				mi = users[0]
			}
		}
	}
	e.mu.Unlock()
	if mi == nil {
		e.logf("imds: identity not found (client_id=%q)", q.Get("client_id"))
		imdsError(w, http.StatusBadRequest, "invalid_request", "Identity not found")
		return
	}
	if !e.knownResource(e.publicCloud(), resource) {
		imdsError(w, http.StatusBadRequest, "invalid_resource",
			fmt.Sprintf("AADSTS500011: The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, mi.tenantID))
		return
	}
	issued := e.issueAccessToken(e.publicCloud(), imdsHost, mi.tenantID, mi.clientID, mi.objectID, resource,
		map[string]any{"appidacr": "2", "xms_mirid": mi.resourceID}, false)
	tok, expiresIn := issued.token, issued.expiresIn
	now := time.Now().Unix()
	e.logf("imds: token for managed identity %s, resource %s", mi.clientID, resource)
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token":   tok,
		"client_id":      mi.clientID,
		"expires_in":     strconv.Itoa(expiresIn),
		"expires_on":     strconv.FormatInt(now+int64(expiresIn), 10),
		"ext_expires_in": strconv.Itoa(expiresIn),
		"not_before":     strconv.FormatInt(now, 10),
		"resource":       resource,
		"token_type":     "Bearer",
	})
}

// serveNMI answers aad-pod-identity's GET /host/token/?resource=...
func (e *Emulator) serveNMI(w http.ResponseWriter, r *http.Request) {
	e.count(func(c *Counts) { c.NMIRequests++ })
	switch act, f := e.applyFaults(r, ServiceNMI); act {
	case faultReset:
		resetConnection(w)
		return
	case faultThrottle:
		f.setThrottleHeaders(w.Header())
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	case faultError:
		http.Error(w, "failed to get service principal token: internal error", f.errorStatus())
		return
	}
	if r.URL.Path != "/host/token/" && r.URL.Path != "/host/token" {
		http.NotFound(w, r)
		return
	}
	podName, podNS := r.Header.Get("podname"), r.Header.Get("podns")
	if podName == "" || podNS == "" {
		e.logf("nmi: missing pod headers -> 400")
		http.Error(w, "missing 'podname' and 'podns' from request header", http.StatusBadRequest)
		return
	}
	resource := r.URL.Query().Get("resource")
	if resource == "" {
		http.Error(w, "parameter resource cannot be empty", http.StatusBadRequest)
		return
	}
	b, ok, oid := e.waitPodIdentity(r, podNS, podName)
	if !ok {
		e.logf("nmi: no identity for pod %s/%s -> 403", podNS, podName)
		http.Error(w, fmt.Sprintf("no AzureAssignedIdentity found for pod:%s/%s in assigned state", podNS, podName), http.StatusForbidden)
		return
	}
	if !b.assignedAt.IsZero() && time.Now().Before(b.assignedAt) {
		// Real NMI: 404 is "found in CREATED state, being assigned: retry".
		e.count(func(c *Counts) { c.NMIPending++ })
		e.logf("nmi: identity of pod %s/%s not assigned yet -> 404", podNS, podName)
		http.Error(w, fmt.Sprintf("getting assigned identities for pod %s/%s in ASSIGNED state failed after 20 attempts, retry duration [5]s. Error: <nil>", podNS, podName), http.StatusNotFound)
		return
	}
	if !e.knownResource(e.publicCloud(), resource) {
		http.Error(w, fmt.Sprintf("failed to get service principal token for pod:%s/%s, error: AADSTS500011: The resource principal named %s was not found in the tenant named %s.", podNS, podName, resource, b.tenantID), http.StatusForbidden)
		return
	}
	issued := e.issueAccessToken(e.publicCloud(), "nmi", b.tenantID, b.clientID, oid, resource, map[string]any{"appidacr": "2"}, false)
	tok, expiresIn := issued.token, issued.expiresIn
	now := time.Now().Unix()
	e.logf("nmi: token for pod %s/%s (client %s), resource %s", podNS, podName, b.clientID, resource)
	writeJSON(w, http.StatusOK, map[string]any{
		"token": map[string]string{
			"access_token":  tok,
			"refresh_token": "",
			"expires_in":    strconv.Itoa(expiresIn),
			"expires_on":    strconv.FormatInt(now+int64(expiresIn), 10),
			"not_before":    strconv.FormatInt(now, 10),
			"resource":      resource,
			"token_type":    "Bearer",
		},
		"clientid": b.clientID,
	})
}

// waitPodIdentity returns the pod's binding, holding the request like NMI does
// (up to Options.NMIHold) while there is none or it is not assigned yet.
func (e *Emulator) waitPodIdentity(r *http.Request, podNS, podName string) (podBinding, bool, string) {
	e.mu.Lock()
	deadline := time.Now().Add(e.opts.NMIHold)
	e.mu.Unlock()
	for {
		e.mu.Lock()
		b, ok := e.podIdentities[podNS+"/"+podName]
		oid := ""
		if ok {
			if t := e.tenants[strings.ToLower(b.tenantID)]; t != nil {
				if a := t.apps[strings.ToLower(b.clientID)]; a != nil {
					oid = a.objectID
				}
			}
		}
		e.mu.Unlock()
		now := time.Now()
		if (ok && (b.assignedAt.IsZero() || !now.Before(b.assignedAt))) || !now.Before(deadline) {
			return b, ok, oid
		}
		wait := deadline.Sub(now)
		if ok && b.assignedAt.Before(deadline) {
			wait = b.assignedAt.Sub(now)
		}
		t := time.NewTimer(min(wait, 50*time.Millisecond))
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return b, ok, oid
		}
	}
}
