// Package auth turns a mount's identity into an azcore.TokenCredential for every
// mode the Azure provider supports, and keeps credentials and their tokens in a
// bounded cache keyed by the credential material, so that remounts and rotation
// polls of one workload reuse a token instead of asking Entra ID, IMDS or NMI
// again (the upstream provider builds a new credential per mount).
//
// Modes:
//   - workload identity: azidentity ClientAssertionCredential with the pod's
//     api://AzureADTokenExchange service-account token as the assertion;
//   - service principal: azidentity ClientSecretCredential;
//   - VM managed identity: azidentity ManagedIdentityCredential, system- or
//     user-assigned (by client ID);
//   - pod identity: a GET to aad-pod-identity's NMI with podns/podname headers,
//     with a per-attempt timeout and retries the upstream lacks;
//   - identity binding: ClientAssertionCredential with the
//     api://AKSIdentityBinding token, sent through the cluster's token proxy by
//     a transport built from public APIs (see identitybinding.go).
//
// WI, SP and IB credentials allow any tenant, so a vault whose 401 challenge
// names another tenant works when Entra ID lets the identity in there.
//
// Credential cache. Manager.Credential derives a canonical, length-prefixed
// encoding of the mode and the material that selects a credential (WI/IB:
// tenant, client ID, authority host, SA token; SP: tenant, client ID, secret,
// authority host; MI: system or the user-assigned ID; NMI: pod namespace, pod
// name, resource). The cache key is HMAC-SHA256 of that encoding under a
// random key made per Manager: stable for the process, never the material,
// and not an offline guessing oracle for weak client secrets if it is logged.
// The entry keeps the encoding too and a hit must match it byte for byte, so
// even a MAC collision cannot hand one identity another's credential. The
// cache is an LRU bounded by size and idle time.
//
// Token cache. Each cached credential wraps the SDK credential and caches its
// tokens per (scopes, tenant, CAE flag) until 5 minutes before expiry, half the
// lifetime for short tokens, or the token's RefreshOn if earlier. Concurrent
// misses for one key share one request. The shared request runs on a context
// detached from its first caller's cancellation (keeping its deadline, so that a
// credential waiting on a slow service, NMI above all, gives up in time with that
// service's answer) and is cancelled only when every waiting caller has gone, so
// one caller's cancellation never fails the others (the reason for not using
// x/sync/singleflight). RefreshOn is Entra ID's refresh_in: continuous access
// evaluation tokens live up to 28 hours and are refreshed from then on (each Key
// Vault SDK client's own bearer policy also honours it, but refreshes at most once
// per 30 s after its last attempt). Failures are not cached. Two
// choices beyond a plain cache: a request carrying Claims (a claims challenge)
// never reads the cache and its token replaces the cached one; and when a
// refresh fails while the cached token still has over a minute to live, that
// token is returned (and the next call tries again).
//
// Note: MSAL keeps managed identity tokens in a process-wide cache of its own,
// shared by every ManagedIdentityCredential in the process. Only the node's own
// identities are involved, so this does not cross workloads, but it means two
// Managers in one process share MI tokens.
package auth
