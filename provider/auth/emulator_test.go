package auth

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/sensitive"
	"github.com/kvcsi/kvcsi/provider/vocab"
	"github.com/kvcsi/kvcsi/test/emulator"
)

// These tests obtain real tokens with the real SDK from the Azure emulator
// (Entra ID, IMDS, NMI and Key Vault), and count the requests it sees.

const (
	emuApp     = "5d1f6a57-0f4b-4a3e-8f54-2f1d3a9c6b20"
	emuIssuer  = "https://oidc.prod-aks.azure.com/6f1e0b2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b/"
	emuSubject = "system:serviceaccount:shop:web"
)

func startEmulator(t *testing.T) *emulator.Emulator {
	t.Helper()
	e, err := emulator.Start(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	e.AddTenant(tenantA)
	return e
}

// sharedClient is what cmd builds: one client for every credential, whose
// proxy function skips loopback hosts and IMDS (daemon.ProxyFunc), so NMI on
// localhost and IMDS (routed to the emulator's listener by its dialer) are
// reached directly and everything else through the emulator's proxy.
func sharedClient(e *emulator.Emulator) *http.Client {
	c := e.HTTPClient()
	tr := c.Transport.(*http.Transport).Clone()
	proxyURL, _ := url.Parse(e.ProxyURL())
	tr.Proxy = func(r *http.Request) (*url.URL, error) {
		if ip := net.ParseIP(r.URL.Hostname()); (ip != nil && ip.IsLoopback()) || r.URL.Hostname() == "localhost" || r.URL.Hostname() == "169.254.169.254" {
			return nil, nil
		}
		return proxyURL, nil
	}
	return &http.Client{Transport: tr, Timeout: c.Timeout}
}

func emuCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// getSecret reads a secret with a new azsecrets client, as each mount does.
func getSecret(t *testing.T, client *http.Client, vaultURL string, cred azcore.TokenCredential) string {
	t.Helper()
	c, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: client}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.GetSecret(emuCtx(t), "s", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return *resp.Value
}

func TestEmulatorWorkloadIdentity(t *testing.T) {
	e := startEmulator(t)
	e.AddApp(tenantA, emuApp)
	iss := e.AddIssuer(emuIssuer)
	e.AddFederatedCredential(tenantA, emuApp, emulator.FederatedCredential{Issuer: emuIssuer, Subject: emuSubject})
	v := e.Vault("kv-wi")
	v.Grant(emuApp, emulator.SecretGet)
	v.SetSecret("s", "wi-value", emulator.SecretOptions{})
	client := sharedClient(e)
	m := NewManager(Options{Transport: client})

	sa := iss.MintToken(emuSubject, vocab.WorkloadIdentityAudience, time.Hour, nil)
	claims, err := ServiceAccountTokenClaims(sensitive.String(sa))
	if err != nil || claims.Issuer != emuIssuer || claims.Subject != emuSubject {
		t.Fatalf("claims %+v, %v", claims, err)
	}
	id := wi(sa, emuApp, tenantA)
	e.ResetCounts()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cred, _, err := m.Credential(id, testPod, authority, kvRes)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := cred.GetToken(emuCtx(t), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}, EnableCAE: true}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := e.Counts().TokenRequests; n != 1 {
		t.Fatalf("50 GetToken calls with one SA token made %d token requests, want 1", n)
	}
	// Ten mounts, each with new Key Vault clients, reuse the token (the
	// vault's challenge names the tenant and scope the token was cached for).
	for i := 0; i < 10; i++ {
		cred, _, _ := m.Credential(id, testPod, authority, kvRes)
		if got := getSecret(t, client, v.URL(), cred); got != "wi-value" {
			t.Fatal(got)
		}
	}
	if n := e.Counts().TokenRequests; n != 1 {
		t.Fatalf("token requests after 10 mounts: %d, want 1", n)
	}
	// The rotated SA token is new material: exactly one more request.
	sa2 := iss.MintToken(emuSubject, vocab.WorkloadIdentityAudience, time.Hour, map[string]any{"jti": "second"})
	cred, _, _ := m.Credential(wi(sa2, emuApp, tenantA), testPod, authority, kvRes)
	getSecret(t, client, v.URL(), cred)
	getSecret(t, client, v.URL(), cred)
	if n := e.Counts().TokenRequests; n != 2 {
		t.Fatalf("token requests after rotation: %d, want 2", n)
	}

	// A token the FIC does not match fails with the AADSTS code, and is not cached.
	bad := iss.MintToken("system:serviceaccount:shop:other", vocab.WorkloadIdentityAudience, time.Hour, nil)
	cred, _, _ = m.Credential(wi(bad, emuApp, tenantA), testPod, authority, kvRes)
	for i := 0; i < 2; i++ {
		_, err := cred.GetToken(emuCtx(t), kvScope)
		if err == nil || !strings.Contains(err.Error(), "AADSTS700213") {
			t.Fatalf("err = %v", err)
		}
	}
	if n := e.Counts().TokenRequests; n != 4 {
		t.Fatalf("token requests after 2 failures: %d, want 4", n)
	}
}

func TestEmulatorServicePrincipalCrossTenant(t *testing.T) {
	e := startEmulator(t)
	e.AddTenant(tenantB)
	const secret = "sp-secret~value"
	e.AddApp(tenantA, emuApp)
	e.SetClientSecret(tenantA, emuApp, secret)
	e.AddApp(tenantB, emuApp) // a multi-tenant app, present in the vault's tenant
	e.SetClientSecret(tenantB, emuApp, secret)
	home := e.Vault("kv-home")
	home.Grant(emuApp, emulator.SecretGet)
	home.SetSecret("s", "home", emulator.SecretOptions{})
	other := e.Vault("kv-other")
	other.SetTenant(tenantB)
	other.Grant(emuApp, emulator.SecretGet)
	other.SetSecret("s", "other-tenant", emulator.SecretOptions{})
	client := sharedClient(e)
	m := NewManager(Options{Transport: client})

	e.ResetCounts()
	for i := 0; i < 5; i++ {
		cred, _, err := m.Credential(sp(emuApp, secret, tenantA), testPod, authority, kvRes)
		if err != nil {
			t.Fatal(err)
		}
		if got := getSecret(t, client, home.URL(), cred); got != "home" {
			t.Fatal(got)
		}
		if got := getSecret(t, client, other.URL(), cred); got != "other-tenant" {
			t.Fatal(got)
		}
	}
	if n := e.Counts().TokenRequests; n != 2 {
		t.Fatalf("token requests = %d, want 2 (one per tenant)", n)
	}

	// A wrong secret is a different credential and fails on its own.
	cred, _, _ := m.Credential(sp(emuApp, "wrong", tenantA), testPod, authority, kvRes)
	if _, err := cred.GetToken(emuCtx(t), kvScope); err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("err = %v", err)
	}
}

func TestEmulatorManagedIdentity(t *testing.T) {
	e := startEmulator(t)
	// MSAL caches managed identity tokens process-wide by identity and
	// resource; the IDs and the system-assigned scope here are used by no
	// other test, so these requests do reach IMDS.
	const uami = "0c0ffee0-1111-4222-8333-944445555666"
	const system = "5a5a5a5a-1111-4222-8333-944445555666"
	e.AddManagedIdentity(uami, false, tenantA)
	e.AddManagedIdentity(system, true, tenantA)
	v := e.Vault("kv-mi")
	v.Grant(uami, emulator.SecretGet)
	v.SetSecret("s", "mi-value", emulator.SecretOptions{})
	client := sharedClient(e)
	m := NewManager(Options{Transport: client})

	e.ResetCounts()
	for i := 0; i < 5; i++ {
		cred, _, err := m.Credential(mi(uami), testPod, authority, kvRes)
		if err != nil {
			t.Fatal(err)
		}
		if got := getSecret(t, client, v.URL(), cred); got != "mi-value" {
			t.Fatal(got)
		}
	}
	c := e.Counts()
	if c.IMDSRequests != 1 || c.TokensIssued[uami] != 1 {
		t.Fatalf("IMDS requests %d, tokens for %s %d; want 1", c.IMDSRequests, uami, c.TokensIssued[uami])
	}

	cred, _, _ := m.Credential(mi(""), testPod, authority, kvRes)
	mgmt := policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}}
	for i := 0; i < 3; i++ {
		mustToken(t, cred, mgmt)
	}
	if c := e.Counts(); c.TokensIssued[system] != 1 {
		t.Fatalf("system-assigned tokens issued: %d, want 1", c.TokensIssued[system])
	}
}

func TestEmulatorPodIdentity(t *testing.T) {
	e := startEmulator(t)
	const podClient = "7e7e7e7e-1111-4222-8333-944445555666"
	e.AddPodIdentity("shop", "web-0", podClient, tenantA)
	v := e.Vault("kv-nmi")
	v.Grant(podClient, emulator.SecretGet)
	v.SetSecret("s", "nmi-value", emulator.SecretOptions{})
	client := sharedClient(e)
	m := NewManager(Options{Transport: client, NMIEndpoint: "http://" + e.NMIAddr() + "/host/token/", NMIRetryDelay: time.Millisecond})

	e.ResetCounts()
	for i := 0; i < 5; i++ {
		cred, _, err := m.Credential(config.Identity{Mode: vocab.PodIdentity, TenantID: tenantA}, testPod, authority, "https://vault.azure.net/")
		if err != nil {
			t.Fatal(err)
		}
		if got := getSecret(t, client, v.URL(), cred); got != "nmi-value" {
			t.Fatal(got)
		}
	}
	if n := e.Counts().NMIRequests; n != 1 {
		t.Fatalf("NMI requests = %d, want 1", n)
	}

	// A pod without an assigned identity gets NMI's 403 in the upstream error text.
	cred, _, _ := m.Credential(config.Identity{Mode: vocab.PodIdentity}, config.Pod{Namespace: "shop", Name: "stranger"}, authority, kvRes)
	_, err := cred.GetToken(emuCtx(t), kvScope)
	if err == nil || !strings.Contains(err.Error(), "nmi response failed with status code: 403, response body: no AzureAssignedIdentity found for pod:shop/stranger") {
		t.Fatalf("err = %v", err)
	}

	// NMI errors are retried.
	e.SetFaults(emulator.ServiceNMI, emulator.Faults{ErrorRate: 1, ErrorStatus: 503})
	before := e.Counts().NMIRequests
	cred, _, _ = m.Credential(config.Identity{Mode: vocab.PodIdentity}, config.Pod{Namespace: "shop", Name: "web-1"}, authority, kvRes)
	if _, err := cred.GetToken(emuCtx(t), kvScope); err == nil || !strings.Contains(err.Error(), "status code: 503") {
		t.Fatalf("err = %v", err)
	}
	if n := e.Counts().NMIRequests - before; n != 1+DefaultNMIRetries {
		t.Fatalf("NMI attempts = %d, want %d", n, 1+DefaultNMIRetries)
	}
}
