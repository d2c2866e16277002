package auth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests run the real azidentity credentials against an in-process fake
// of Entra ID, through the Manager's shared transport.

func TestWorkloadIdentitySendsTheServiceAccountTokenOnce(t *testing.T) {
	entra := &fakeEntra{t: t}
	m := NewManager(Options{Transport: handlerTransport{entra}})
	const sa1, sa2 = "sa-token-one", "sa-token-two"
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cred, _, err := m.Credential(wi(sa1, "wi-client", tenantA), testPod, authority, kvRes)
			if err != nil {
				t.Error(err)
				return
			}
			tok, err := cred.GetToken(context.Background(), kvScope)
			if err != nil {
				t.Error(err)
				return
			}
			if want := "at|wi-client|" + tenantA + "|https://vault.azure.net/.default openid offline_access profile|" + proofOf(sa1); tok.Token != want {
				t.Errorf("token %q, want %q", tok.Token, want)
			}
		}()
	}
	wg.Wait()
	if n := entra.tokenRequests.Load(); n != 1 {
		t.Fatalf("50 mounts with one SA token made %d token requests, want 1", n)
	}
	entra.mu.Lock()
	form := entra.forms[0]
	entra.mu.Unlock()
	if form["client_assertion"] != sa1 || form["client_assertion_type"] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || form["client_id"] != "wi-client" || form["grant_type"] != "client_credentials" {
		t.Fatalf("token request form %v", form)
	}

	// Kubelet's next SA token is new material: a new credential and a new request.
	cred, _, _ := m.Credential(wi(sa2, "wi-client", tenantA), testPod, authority, kvRes)
	tok := mustToken(t, cred, kvScope)
	if !strings.HasSuffix(tok.Token, proofOf(sa2)) || entra.tokenRequests.Load() != 2 {
		t.Fatalf("token %q after %d requests", tok.Token, entra.tokenRequests.Load())
	}
	s := m.Stats()
	if s.TokenRequests != 2 || s.TokenCacheHits+s.TokenCacheMisses != 51 {
		t.Fatalf("stats %+v", s)
	}
}

func TestServicePrincipalSendsItsSecret(t *testing.T) {
	entra := &fakeEntra{t: t}
	m := NewManager(Options{Transport: handlerTransport{entra}})
	cred, _, err := m.Credential(sp("sp-client", "sp-secret", tenantA), testPod, authority, kvRes)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		tok := mustToken(t, cred, kvScope)
		if !strings.HasPrefix(tok.Token, "at|sp-client|"+tenantA+"|") || !strings.HasSuffix(tok.Token, proofOf("sp-secret")) {
			t.Fatalf("token %q", tok.Token)
		}
	}
	if entra.tokenRequests.Load() != 1 {
		t.Fatalf("token requests = %d", entra.tokenRequests.Load())
	}
	other, _, _ := m.Credential(sp("sp-client", "another-secret", tenantA), testPod, authority, kvRes)
	if tok := mustToken(t, other, kvScope); !strings.HasSuffix(tok.Token, proofOf("another-secret")) {
		t.Fatalf("a different secret got token %q", tok.Token)
	}
}

func TestCrossTenantChallengeIsAllowed(t *testing.T) {
	entra := &fakeEntra{t: t}
	m := NewManager(Options{Transport: handlerTransport{entra}})
	for _, identity := range []string{"wi", "sp"} {
		idn := wi("sa", "client", tenantA)
		if identity == "sp" {
			idn = sp("client", "secret", tenantA)
		}
		cred, _, err := m.Credential(idn, testPod, authority, kvRes)
		if err != nil {
			t.Fatal(err)
		}
		opts := kvScope
		opts.TenantID = tenantB // the vault's challenge names another tenant
		tok := mustToken(t, cred, opts)
		if !strings.Contains(tok.Token, "|"+tenantB+"|") {
			t.Fatalf("%s: token %q not from the challenge's tenant", identity, tok.Token)
		}
		home := mustToken(t, cred, kvScope)
		if home == tok {
			t.Fatalf("%s: the home-tenant request got the other tenant's token", identity)
		}
	}
}

func TestSharedTransportIsUsedForManagedIdentity(t *testing.T) {
	// IMDS is plain HTTP on 169.254.169.254: the Manager's transport must carry
	// it (in tests and behind HTTP_PROXY), never a default client.
	var mu sync.Mutex
	var seen []string
	imds := imdsHandler(func(r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Host+r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
	})
	m := NewManager(Options{Transport: handlerTransport{imds}})
	// MSAL caches MI tokens process-wide, so only a user-assigned ID unique
	// to this run is sure to reach IMDS.
	uami := fmt.Sprintf("uami-%d", time.Now().UnixNano())
	for _, id := range []string{uami, ""} {
		cred, _, err := m.Credential(mi(id), testPod, authority, kvRes)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if tok := mustToken(t, cred, kvScope); tok.Token != "mi-token-"+id {
				t.Fatalf("token %q", tok.Token)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 1 || len(seen) > 2 || !strings.HasPrefix(seen[0], "169.254.169.254/metadata/identity/oauth2/token?") || !strings.Contains(seen[0], "client_id="+uami) {
		t.Fatalf("IMDS requests %q", seen)
	}
	if len(seen) == 2 && strings.Contains(seen[1], "client_id") {
		t.Fatalf("system-assigned request names a client: %q", seen[1])
	}
	if m.Stats().TokenRequests != 2 {
		t.Fatalf("stats %+v", m.Stats())
	}
}
