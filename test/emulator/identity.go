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

// RemovePodIdentity removes a pod's NMI binding.
func (e *Emulator) RemovePodIdentity(namespace, podName string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.podIdentities, namespace+"/"+podName)
}

func imdsError(w http.ResponseWriter, status int, errName, desc string) {
	writeJSON(w, status, map[string]any{"error": errName, "error_description": desc})
}

// serveIMDS answers http://169.254.169.254/metadata/identity/oauth2/token.
func (e *Emulator) serveIMDS(w http.ResponseWriter, r *http.Request) {
	e.count(func(c *Counts) { c.IMDSRequests++ })
	e.logf("imds: %s %s Metadata=%q", r.Method, r.URL.String(), r.Header.Get("Metadata"))
	switch act, f := e.applyFaults(r, ServiceIMDS); act {
	case faultReset:
		resetConnection(w)
		return
	case faultThrottle:
		setRetryAfter(w.Header(), f.RetryAfter)
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
		mi = e.managed[e.systemIdentity]
		if mi != nil && !mi.system {
			mi = nil
		}
	}
	e.mu.Unlock()
	if mi == nil {
		e.logf("imds: identity not found (client_id=%q)", q.Get("client_id"))
		imdsError(w, http.StatusBadRequest, "invalid_request", "Identity not found")
		return
	}
	if !e.knownResource(resource) {
		imdsError(w, http.StatusBadRequest, "invalid_resource",
			fmt.Sprintf("AADSTS500011: The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, mi.tenantID))
		return
	}
	tok, expiresIn := e.issueAccessToken(mi.tenantID, mi.clientID, mi.objectID, resource,
		map[string]any{"appidacr": "2", "xms_mirid": mi.resourceID})
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
		setRetryAfter(w.Header(), f.RetryAfter)
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
	if !ok {
		e.logf("nmi: no identity for pod %s/%s -> 403", podNS, podName)
		http.Error(w, fmt.Sprintf("no AzureAssignedIdentity found for pod:%s/%s in assigned state", podNS, podName), http.StatusForbidden)
		return
	}
	if !e.knownResource(resource) {
		http.Error(w, fmt.Sprintf("failed to get service principal token for pod:%s/%s, error: AADSTS500011: The resource principal named %s was not found in the tenant named %s.", podNS, podName, resource, b.tenantID), http.StatusForbidden)
		return
	}
	tok, expiresIn := e.issueAccessToken(b.tenantID, b.clientID, oid, resource, map[string]any{"appidacr": "2"})
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
