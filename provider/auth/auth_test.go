package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/sensitive"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

const (
	tenantA   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tenantB   = "11111111-2222-3333-4444-555555555555"
	authority = "https://login.microsoftonline.com/"
	kvRes     = "https://vault.azure.net"
)

var testPod = config.Pod{Name: "web-0", Namespace: "shop"}

func wi(token, client, tenant string) config.Identity {
	return config.Identity{Mode: vocab.WorkloadIdentity, TenantID: tenant, ClientID: client, ServiceAccountToken: sensitive.String(token)}
}

func sp(client, secret, tenant string) config.Identity {
	return config.Identity{Mode: vocab.ServicePrincipal, TenantID: tenant, ClientID: client, ClientSecret: sensitive.String(secret)}
}

func ib(token, client, tenant string) config.Identity {
	id := wi(token, client, tenant)
	id.Mode = vocab.IdentityBinding
	return id
}

func mi(userAssigned string) config.Identity {
	return config.Identity{Mode: vocab.VMManagedIdentity, TenantID: tenantA, UserAssignedIdentityID: userAssigned}
}

type request struct {
	name      string
	id        config.Identity
	pod       config.Pod
	authority string
	resource  string
}

func (r request) get(t *testing.T, m *Manager) (azcore.TokenCredential, string) {
	t.Helper()
	res := r.resource
	if res == "" {
		res = kvRes
	}
	auth := r.authority
	if auth == "" {
		auth = authority
	}
	pod := r.pod
	if pod.Name == "" {
		pod = testPod
	}
	c, k, err := m.Credential(r.id, pod, auth, res)
	if err != nil {
		t.Fatalf("%s: Credential: %v", r.name, err)
	}
	return c, k
}

// Every request differs from every other in exactly the material that selects
// a credential, so each must get its own credential and key.
func isolationRequests() []request {
	return []request{
		{name: "wi", id: wi("sa-token-1", "client-1", tenantA)},
		{name: "wi other SA token", id: wi("sa-token-2", "client-1", tenantA)},
		{name: "wi other client", id: wi("sa-token-1", "client-2", tenantA)},
		{name: "wi other tenant", id: wi("sa-token-1", "client-1", tenantB)},
		{name: "wi other authority", id: wi("sa-token-1", "client-1", tenantA), authority: "https://login.microsoftonline.us/"},
		{name: "sp", id: sp("client-1", "secret-1", tenantA)},
		{name: "sp other secret", id: sp("client-1", "secret-2", tenantA)},
		{name: "sp other client", id: sp("client-2", "secret-1", tenantA)},
		{name: "sp other tenant", id: sp("client-1", "secret-1", tenantB)},
		{name: "sp other authority", id: sp("client-1", "secret-1", tenantA), authority: "https://login.chinacloudapi.cn/"},
		{name: "sp fields shifted", id: sp("client-1secret-", "1", tenantA)},
		{name: "mi system", id: mi("")},
		{name: "mi user", id: mi("uami-1")},
		{name: "mi other user", id: mi("uami-2")},
		{name: "nmi", id: config.Identity{Mode: vocab.PodIdentity, TenantID: tenantA}},
		{name: "nmi other pod", id: config.Identity{Mode: vocab.PodIdentity, TenantID: tenantA}, pod: config.Pod{Name: "web-1", Namespace: "shop"}},
		{name: "nmi other namespace", id: config.Identity{Mode: vocab.PodIdentity, TenantID: tenantA}, pod: config.Pod{Name: "web-0", Namespace: "shop2"}},
		{name: "nmi other resource", id: config.Identity{Mode: vocab.PodIdentity, TenantID: tenantA}, resource: "https://vault.azure.cn"},
		{name: "ib", id: ib("sa-token-1", "client-1", tenantA)},
		{name: "ib other SA token", id: ib("sa-token-2", "client-1", tenantA)},
		{name: "ib other client", id: ib("sa-token-1", "client-2", tenantA)},
		{name: "ib other tenant", id: ib("sa-token-1", "client-1", tenantB)},
	}
}

func TestCredentialIsolationAndReuse(t *testing.T) {
	m := NewManager(Options{})
	reqs := isolationRequests()
	creds := map[azcore.TokenCredential]string{}
	keys := map[string]string{}
	for _, r := range reqs {
		c, k := r.get(t, m)
		if other, ok := creds[c]; ok {
			t.Errorf("%s got the credential of %s", r.name, other)
		}
		if other, ok := keys[k]; ok {
			t.Errorf("%s got the key of %s", r.name, other)
		}
		creds[c], keys[k] = r.name, r.name
	}
	// Asking again with the same material returns the same credential and key.
	for _, r := range reqs {
		c, k := r.get(t, m)
		if creds[c] != r.name || keys[k] != r.name {
			t.Errorf("%s: second call returned another credential or key", r.name)
		}
	}
	s := m.Stats()
	if s.CredentialMisses != uint64(len(reqs)) || s.CredentialHits != uint64(len(reqs)) || s.Credentials != len(reqs) {
		t.Fatalf("stats %+v", s)
	}
}

func TestCredentialKeyRevealsNoMaterial(t *testing.T) {
	m := NewManager(Options{})
	const token, secret = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXNhLXRva2Vu.c2ln", "sp-secret-value"
	for _, id := range []config.Identity{wi(token, "c", tenantA), sp("c", secret, tenantA), ib(token, "c", tenantA)} {
		_, k, err := m.Credential(id, testPod, authority, kvRes)
		if err != nil {
			t.Fatal(err)
		}
		for _, material := range []string{token, secret} {
			sum := sha256.Sum256([]byte(material))
			if strings.Contains(k, material) || strings.Contains(k, hex.EncodeToString(sum[:])) || strings.Contains(k, hex.EncodeToString(sum[:8])) {
				t.Fatalf("key %q reveals the material", k)
			}
		}
	}
	// Keys are stable within a Manager but not across Managers (per-Manager MAC key).
	_, k1, _ := m.Credential(sp("c", secret, tenantA), testPod, authority, kvRes)
	_, k2, _ := m.Credential(sp("c", secret, tenantA), testPod, authority, kvRes)
	_, k3, _ := NewManager(Options{}).Credential(sp("c", secret, tenantA), testPod, authority, kvRes)
	if k1 != k2 || k1 == k3 {
		t.Fatalf("keys: %s %s %s", k1, k2, k3)
	}
}

func TestCredentialNormalisesResourceAndDefaultsAuthority(t *testing.T) {
	m := NewManager(Options{})
	nmi := config.Identity{Mode: vocab.PodIdentity}
	c1, k1, _ := m.Credential(nmi, testPod, authority, "https://vault.azure.net/")
	c2, k2, _ := m.Credential(nmi, testPod, authority, "https://vault.azure.net")
	if c1 != c2 || k1 != k2 {
		t.Fatal("a trailing slash on the resource made a different credential")
	}
	_, k3, _ := m.Credential(sp("c", "s", tenantA), testPod, "", kvRes)
	_, k4, _ := m.Credential(sp("c", "s", tenantA), testPod, DefaultAuthorityHost, kvRes)
	_, k5, _ := m.Credential(sp("c", "s", tenantA), testPod, strings.TrimSuffix(DefaultAuthorityHost, "/"), kvRes)
	if k3 != k4 || k4 != k5 {
		t.Fatal("empty authority is not the public cloud default, or a trailing slash matters")
	}
}

func TestCredentialValidation(t *testing.T) {
	m := NewManager(Options{})
	cases := []struct {
		id   config.Identity
		pod  config.Pod
		want string
	}{
		{ib("tok", "", tenantA), testPod, "clientID is required for identity binding"},
		{ib("", "c", tenantA), testPod, "service account tokens are required for identity binding"},
		{wi("tok", "", tenantA), testPod, "clientID is required for workload identity"},
		{wi("", "c", tenantA), testPod, "api://AzureADTokenExchange"},
		{sp("", "s", tenantA), testPod, "could not find clientid in secrets"},
		{sp("c", "", tenantA), testPod, "could not find clientsecret in secrets"},
		{config.Identity{Mode: vocab.PodIdentity}, config.Pod{Name: "p"}, "pod name and namespace are required"},
		{config.Identity{Mode: 0}, testPod, "unsupported identity mode"},
		{wi("tok", "c", "bad tenant!"), testPod, "tenant"}, // azidentity validates the tenant
	}
	for _, c := range cases {
		_, _, err := m.Credential(c.id, c.pod, authority, kvRes)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.id.Mode, err, c.want)
		}
	}
}

func TestCredentialCacheEvictsLeastRecentlyUsed(t *testing.T) {
	m := NewManager(Options{CacheSize: 2})
	a, b, c := sp("a", "s", tenantA), sp("b", "s", tenantA), sp("c", "s", tenantA)
	ca, _, _ := m.Credential(a, testPod, authority, kvRes)
	m.Credential(b, testPod, authority, kvRes)
	m.Credential(a, testPod, authority, kvRes) // a is now more recent than b
	m.Credential(c, testPod, authority, kvRes) // evicts b
	if got, _, _ := m.Credential(a, testPod, authority, kvRes); got != ca {
		t.Fatal("recently used credential was evicted")
	}
	before := m.Stats().CredentialMisses
	m.Credential(b, testPod, authority, kvRes)
	s := m.Stats()
	if s.CredentialMisses != before+1 || s.CredentialEvictions != 2 || s.Credentials != 2 {
		t.Fatalf("b should have been evicted and rebuilt; stats %+v", s)
	}
}

func TestCredentialCacheIdleExpiry(t *testing.T) {
	clock := newFakeClock()
	m := NewManager(Options{IdleTTL: 10 * time.Minute, Now: clock.Now})
	id := sp("a", "s", tenantA)
	c1, _, _ := m.Credential(id, testPod, authority, kvRes)
	clock.Advance(9 * time.Minute)
	if c2, _, _ := m.Credential(id, testPod, authority, kvRes); c2 != c1 {
		t.Fatal("credential expired before its idle TTL")
	}
	clock.Advance(9 * time.Minute) // used 9 minutes ago: still there
	if c2, _, _ := m.Credential(id, testPod, authority, kvRes); c2 != c1 {
		t.Fatal("using a credential did not renew its idle TTL")
	}
	clock.Advance(10 * time.Minute)
	if c2, _, _ := m.Credential(id, testPod, authority, kvRes); c2 == c1 {
		t.Fatal("idle credential was not dropped")
	}
	if s := m.Stats(); s.CredentialEvictions != 1 || s.Credentials != 1 {
		t.Fatalf("stats %+v", s)
	}
}
