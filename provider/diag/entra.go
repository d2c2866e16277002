package diag

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/provider/heuristics"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// AADSTS codes with a specific explanation.
const (
	aadNoMatchingFederation    = 70021   // legacy: issuer, subject or audience (all in one)
	aadFederationIssuer        = 700211  // no federated credential with the assertion's issuer
	aadFederationAudience      = 700212  // issuer and subject match, audience does not
	aadFederationSubject       = 700213  // issuer matches, subject does not
	aadFederationSubjectNew    = 7002137 // no matching federated identity record (subject), seen in the field
	aadAppDisabled             = 7000112 // the app's service principal is disabled
	aadAssertionExpired        = 700024  // client assertion outside its validity
	aadAppNotFound             = 700016  // client ID unknown in the tenant
	aadTenantNotFound          = 90002   // tenant unknown
	aadInvalidSecret           = 7000215 // wrong client secret
	aadExpiredSecret           = 7000222 // expired client secret
	aadNoCredential            = 7000218 // neither secret nor assertion
	aadIssuerUnreachable       = 50166   // Entra ID could not fetch the issuer's OIDC metadata
	aadAssertionSignature      = 700027  // assertion signature does not verify
	aadAssertionMalformed      = 50027   // assertion is not a JWT
	aadUnknownInstance         = 50049   // authority host unknown
	aadResourceNotFound        = 500011  // resource (Key Vault of that cloud) unknown
	aadThrottled               = 90055   // too many requests
	aadTransient               = 90033   // transient error
	aadUnauthorizedForResource = 500014  // service principal disabled for the resource
)

// explainEntra explains a failed token request to Entra ID.
func explainEntra(a aadError, c Context) *Error {
	tenant := a.tenant
	if tenant == "" {
		tenant = c.TenantID
	}
	where := "Entra ID"
	if tenant != "" {
		where += " (tenant " + tenant + ")"
	}
	msg := fmt.Sprintf("%s could not get a token from %s: %s", c.who(), where, a.summary())
	x := &Error{Kind: KindUnauthenticated}
	switch {
	case a.status == http.StatusTooManyRequests || a.code == aadThrottled:
		x.Kind = KindThrottled
		x.Fix = "Entra ID is throttling token requests for this tenant: retry later; kubelet retries the mount with backoff"
	case a.status >= 500 || a.code == aadTransient:
		x.Kind = KindUnavailable
		x.Fix = "Entra ID had a transient failure; kubelet retries the mount"
	case a.code == aadNoMatchingFederation || a.code == aadFederationIssuer ||
		a.code == aadFederationSubject || a.code == aadFederationAudience || a.code == aadFederationSubjectNew:
		msg += c.tokenFacts()
		x.Fix = c.federationFix(a.code, tenant)
	case a.code == aadAssertionExpired:
		msg += c.tokenFacts()
		if t := c.Token; t != nil && !t.Expiry.IsZero() && !t.Expiry.After(c.now()) {
			msg += fmt.Sprintf("; it expired at %s, %s ago", t.Expiry.UTC().Format(time.RFC3339), c.now().Sub(t.Expiry).Round(time.Second))
		}
		x.Fix = "the driver passed an expired service account token: check the node's clock, and give the CSIDriver requiresRepublish: true so that kubelet hands the driver fresh tokens; deleting the pod gets it a new token"
	case a.code == aadAppNotFound:
		x.Fix = c.appNotFoundFix(tenant)
	case a.code == aadTenantNotFound:
		x.Fix = fmt.Sprintf("tenant %s does not exist in %s: check tenantID (the vault's Entra ID tenant ID) and cloudName", tenant, hostOr(a.host, "this cloud"))
		if c.TenantID != "" && !strings.EqualFold(tenant, c.TenantID) {
			x.Fix = fmt.Sprintf("vault %s names tenant %s in its authentication challenge and %s does not know that tenant: check keyvaultName and cloudName (tenantID is %s)", c.Vault, tenant, hostOr(a.host, "Entra ID"), c.TenantID)
		}
	case a.code == aadInvalidSecret || a.code == aadExpiredSecret:
		x.Fix = fmt.Sprintf("the clientsecret key of the nodePublishSecretRef Secret must hold a current secret of app %s: put the secret's Value there (not its Secret ID), and create a new secret if it expired", c.ClientID)
	case a.code == aadNoCredential:
		x.Fix = "the token request carried no credential: for a service principal set clientsecret in the nodePublishSecretRef Secret"
	case a.code == aadIssuerUnreachable:
		msg += c.tokenFacts()
		x.Fix = "Entra ID could not fetch the OIDC discovery document of the token's issuer: enable the cluster's OIDC issuer, make it publicly reachable, and name exactly that issuer in the federated identity credential"
	case a.code == aadAssertionSignature || a.code == aadAssertionMalformed:
		msg += c.tokenFacts()
		x.Fix = "Entra ID could not verify the service account token against the issuer's published keys: the issuer in the federated credential must be this cluster's, and its keys must be current (rotate the OIDC issuer keys if the signing key changed)"
	case a.code == aadUnknownInstance:
		x.Kind = KindInvalid
		x.Fix = fmt.Sprintf("the Entra ID authority %s is not known: check cloudName (and for AzureStackCloud the activeDirectoryEndpoint of the environment file)", hostOr(a.host, "host"))
	case a.code == aadResourceNotFound:
		x.Kind = KindInvalid
		x.Fix = fmt.Sprintf("tenant %s does not know the Key Vault resource asked for: check cloudName (the vault must be in the same cloud as the tenant)", tenant)
	case a.code == aadAppDisabled:
		x.Fix = fmt.Sprintf("the service principal of client ID %s is disabled in tenant %s (sign-in blocked, e.g. after a security event): enable it (Enterprise applications > the app > Properties > Enabled for users to sign in: Yes), or use another identity", c.ClientID, tenant)
	case a.code == aadUnauthorizedForResource:
		x.Kind = KindPermissionDenied
		x.Fix = fmt.Sprintf("the service principal of client ID %s is disabled in tenant %s: enable it", c.ClientID, tenant)
	case a.status == 0 && c.IdentityMode == vocab.IdentityBinding:
		// Identity binding talks only to the cluster's token proxy: it could not be
		// set up, reached or trusted.
		x.Kind = KindUnavailable
		x.Fix = "the provider could not reach or trust the cluster's identity-binding token proxy: check --token-proxy-url (default https://kubernetes.default.svc.cluster.local), --sni-name (empty = computed from the API server certificate) and the cluster CA the provider trusts (the service account's ca.crt)"
		if a.tls {
			x.Kind = KindUnauthenticated
		}
	case a.status == 0 && a.tls:
		x.Fix = "the node does not trust the certificate presented for Entra ID: a TLS-inspecting proxy's CA must be in the provider's trust store (SSL_CERT_FILE or the image's CA bundle)"
	case a.status == 0:
		// No answer at all: the token request did not get through.
		x.Kind = KindUnavailable
		x.Fix = "check that the node reaches the Entra ID login host of the cloud (network policy, firewall, proxy settings, DNS)"
	default:
		x.Fix = "check the identity's settings in Entra ID: tenantID, clientID and its credential"
	}
	if a.traceID != "" {
		msg += " [trace ID " + a.traceID + "]"
	}
	x.Msg = msg
	return x
}

func hostOr(host, fallback string) string {
	if host != "" {
		return host
	}
	return fallback
}

// tokenFacts describes the service-account token from its claims (never the token).
func (c Context) tokenFacts() string {
	t := c.Token
	if t == nil {
		return ""
	}
	s := fmt.Sprintf("; the pod's service account token has issuer %q and subject %q", t.Issuer, t.Subject)
	if len(t.Audience) > 0 {
		s += " for audience " + quoteList(t.Audience)
	}
	return s
}

// federationFix says what the federated identity credential must contain.
func (c Context) federationFix(code int, tenant string) string {
	on := "the app or managed identity with client ID " + c.ClientID
	if tenant != "" {
		on += " in tenant " + tenant
	}
	t := c.Token
	if t == nil {
		return fmt.Sprintf("compare the federated identity credentials of %s with the pod's service account token: issuer = the cluster's OIDC issuer URL exactly (including any trailing /), subject = system:serviceaccount:<namespace>:<service account>, audience = %s", on, c.audience())
	}
	aud := c.audience()
	switch code {
	case aadFederationSubject:
		return fmt.Sprintf("add a federated identity credential to %s with issuer %q and subject %q, matching character for character, or run the pod with the service account an existing credential names", on, t.Issuer, t.Subject)
	case aadFederationAudience:
		if len(t.Audience) > 0 {
			aud = t.Audience[0]
		}
		return fmt.Sprintf("the federated identity credential of %s with issuer %q and subject %q must list the audience %q", on, t.Issuer, t.Subject, aud)
	}
	return fmt.Sprintf("add a federated identity credential to %s whose issuer is %q and subject is %q, matching character for character, including the trailing \"/\" of the issuer (or its absence), with audience %s", on, t.Issuer, t.Subject, aud)
}

func (c Context) appNotFoundFix(tenant string) string {
	what := "clientID"
	if c.IdentityMode == vocab.ServicePrincipal {
		what = "the clientid key of the nodePublishSecretRef Secret"
	}
	fix := fmt.Sprintf("check %s: %s must be the client (application) ID, not the object ID, of an app registration or managed identity in tenant %s", what, c.ClientID, tenant)
	if c.TenantID != "" && tenant != "" && !strings.EqualFold(tenant, c.TenantID) {
		fix += fmt.Sprintf("; vault %s is in tenant %s, so the app must be multi-tenant with a service principal (enterprise application) there", c.Vault, tenant)
	}
	return fix
}

const imdsReachFix = "the provider must reach the instance metadata service at 169.254.169.254: run it with hostNetwork: true (the Azure provider's DaemonSet does)"

// explainIMDS explains a failed managed identity token request.
func explainIMDS(a aadError, c Context) *Error {
	x := &Error{Kind: KindUnauthenticated}
	if a.status == 0 && a.desc == "" {
		x.Kind = KindUnavailable
		x.Msg = c.who() + " could not get a token from the instance metadata service (IMDS): " + a.text
		x.Fix = imdsReachFix
		return x
	}
	answer := a.summary()
	if a.status == 0 {
		answer = strings.TrimPrefix(a.name+": "+a.desc, ": ")
	}
	x.Msg = c.who() + " could not get a token from the instance metadata service (IMDS): " + answer
	switch {
	case a.status == http.StatusTooManyRequests:
		x.Kind = KindThrottled
		x.Fix = "IMDS is throttling token requests on this node: retry later"
	case a.status >= 500:
		x.Kind = KindUnavailable
		x.Fix = "IMDS had a transient failure; kubelet retries the mount"
	case heuristics.IMDSMultipleIdentities(a.desc):
		x.Fix = "the nodes have several user-assigned managed identities and no system-assigned one, so IMDS cannot pick one: set userAssignedIdentityID to the client ID of the identity to use"
	case heuristics.IMDSIdentityNotFound(a.desc) || a.status == http.StatusNotFound:
		if c.ClientID != "" {
			x.Fix = fmt.Sprintf("assign the user-assigned managed identity with client ID %s to the node pool's virtual machine scale set (az vmss identity assign), or set userAssignedIdentityID to the client ID of an identity assigned to the nodes", c.ClientID)
		} else {
			x.Fix = "the nodes have no system-assigned managed identity: enable it on the node pool's virtual machine scale set, or set userAssignedIdentityID to the client ID of a user-assigned identity assigned to the nodes"
		}
	default:
		x.Fix = "check the managed identity assigned to the nodes and userAssignedIdentityID (a client ID)"
	}
	return x
}

// explainNMI explains a failed aad-pod-identity (NMI) token request. The NMI text is
// kept whole: it is the Azure provider's, and users grep for it.
func explainNMI(err error, nf nmiFailure, c Context) *Error {
	x := &Error{Kind: KindUnauthenticated, Msg: "aad-pod-identity (NMI) gave the pod no token: " + oneLine(err)}
	const deprecated = "; aad-pod-identity is deprecated: consider moving to workload identity"
	status := nf.NMIStatus()
	answered := status != 0 && status != http.StatusOK
	if answered {
		x.Kind = nmiKind(status)
	}
	var ne net.Error
	switch {
	case answered && status >= 500:
		x.Fix = "NMI failed on this node: check the aad-pod-identity NMI pod's logs; kubelet retries the mount"
	case answered && status == http.StatusTooManyRequests:
		x.Fix = "NMI is throttling token requests on this node: retry later"
	case answered && status == http.StatusNotFound:
		x.Fix = "aad-pod-identity found the pod's identity but is still assigning it (NMI answers 404 while the AzureAssignedIdentity is not yet in the Assigned state; it is still being assigned): kvcsi retried until the mount's deadline; check the MIC pod's logs if it stays so; kubelet retries the mount" + deprecated
	case answered && status == http.StatusForbidden:
		x.Fix = "aad-pod-identity has no identity assigned to this pod: check the pod's aadpodidbinding label and its AzureIdentity and AzureIdentityBinding" + deprecated
	case answered:
		x.Fix = "check aad-pod-identity's NMI on this node" + deprecated
	case status == 0:
		// No answer from NMI at all.
		x.Kind = KindUnavailable
		if errors.As(err, &ne) && ne.Timeout() {
			x.Kind = KindDeadline
		}
		x.Fix = "NMI does not answer on localhost: aad-pod-identity's NMI must run on this node, on the port given by --nmi-port (default 2579), and the provider needs hostNetwork: true" + deprecated
	default:
		x.Fix = "NMI answered without a token or client ID: check aad-pod-identity's NMI on this node" + deprecated
	}
	return x
}
