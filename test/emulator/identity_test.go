package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

const (
	miSystem = "3c0a4e9b-7d5f-4b1a-9e2c-8f6d1a0b3c4d"
	miUser   = "8e7d6c5b-4a3f-4e2d-9c1b-0a9f8e7d6c5b"
	miOther  = "1f2e3d4c-5b6a-4789-8a7b-6c5d4e3f2a1b"
	podApp   = "6a5b4c3d-2e1f-4a9b-8c7d-6e5f4a3b2c1d"
)

// logRecorder collects emulator log lines.
type logRecorder struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	l.t.Log(line)
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

func (l *logRecorder) find(prefix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func TestManagedIdentity(t *testing.T) {
	t.Parallel()
	rec := &logRecorder{t: t}
	e := newEmulator(t, Options{Logf: rec.logf})
	e.AddTenant(tenantA)
	e.AddManagedIdentity(miSystem, true, tenantA)
	e.AddManagedIdentity(miUser, false, tenantA)
	v := e.Vault("kv-mi")
	v.Grant(miSystem, SecretGet)
	v.Grant(miUser, SecretGet)
	v.SetSecret("s", "mi-value", SecretOptions{})

	cases := []struct {
		name string
		id   azidentity.ManagedIDKind
		want string // query parameter IMDS must see
	}{
		{"system-assigned", nil, ""},
		{"client id", azidentity.ClientID(miUser), "client_id=" + miUser},
		{"resource id", azidentity.ResourceID(e.ManagedIdentityResourceID(miUser)), "msi_res_id="},
		{"object id", azidentity.ObjectID(e.ObjectID(tenantA, miUser)), "object_id="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.ResetCounts()
			cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
				ClientOptions: clientOpts(e), ID: tc.id,
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := secretsClient(t, e, "https://kv-mi.vault.azure.net/", cred).GetSecret(ctxT(t), "s", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if *got.Value != "mi-value" {
				t.Fatal(*got.Value)
			}
			if n := e.Counts().IMDSRequests; n != 1 {
				t.Fatalf("IMDS requests %d", n)
			}
			reqs := rec.find("imds: GET ")
			last := reqs[len(reqs)-1]
			for _, w := range []string{"http://169.254.169.254/metadata/identity/oauth2/token?", "api-version=2018-02-01",
				"resource=https%3A%2F%2Fvault.azure.net", `Metadata="true"`, tc.want} {
				if !strings.Contains(last, w) {
					t.Fatalf("IMDS request %q lacks %q", last, w)
				}
			}
		})
	}

	t.Run("unknown user-assigned identity", func(t *testing.T) {
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ClientOptions: clientOpts(e), ID: azidentity.ClientID(miOther),
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = secretsClient(t, e, "https://kv-mi.vault.azure.net/", cred).GetSecret(ctxT(t), "s", "", nil)
		authErr(t, err, "Identity not found")
	})

	// Real IMDS with no identity named in the request: the system-assigned one;
	// without it, the only user-assigned one; several and none chosen is an error.
	// MSAL caches managed identity tokens process-wide by identity and resource,
	// so these use a vault suffix of their own (in the public cloud, whose tokens
	// IMDS hands out).
	t.Run("one user-assigned identity, used by default", func(t *testing.T) {
		e := newEmulator(t, Options{Clouds: []Cloud{{VaultSuffix: "vault.mi-one.test"}}})
		e.AddTenant(tenantA)
		e.AddManagedIdentity(miUser, false, tenantA)
		v := e.Vault("kv-mi")
		v.Grant(miUser, SecretGet)
		v.SetSecret("s", "only-one", SecretOptions{})
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: clientOpts(e)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := secretsClient(t, e, "https://kv-mi.vault.mi-one.test/", cred).GetSecret(ctxT(t), "s", "", nil)
		if err != nil || *got.Value != "only-one" {
			t.Fatalf("got %v", err)
		}
		if n := e.Counts().TokensIssued[miUser]; n != 1 {
			t.Fatalf("tokens issued to the user-assigned identity: %d", n)
		}
	})
	t.Run("several user-assigned identities, none chosen", func(t *testing.T) {
		e := newEmulator(t, Options{Clouds: []Cloud{{VaultSuffix: "vault.mi-many.test"}}})
		e.AddTenant(tenantA)
		e.AddManagedIdentity(miUser, false, tenantA)
		e.AddManagedIdentity(miOther, false, tenantA)
		e.Vault("kv-mi").SetSecret("s", "v", SecretOptions{})
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: clientOpts(e)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = secretsClient(t, e, "https://kv-mi.vault.mi-many.test/", cred).GetSecret(ctxT(t), "s", "", nil)
		if err == nil || !strings.Contains(err.Error(), "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request") {
			t.Fatalf("got %v", err)
		}
		e.RemoveManagedIdentity(miOther)
		if _, err := secretsClient(t, e, "https://kv-mi.vault.mi-many.test/", cred).GetSecret(ctxT(t), "s", "", nil); err == nil || strings.Contains(err.Error(), "Multiple") {
			t.Fatalf("after removing one identity: %v (want the vault's 403 for an ungranted identity)", err)
		}
	})
	t.Run("IMDS refuses requests that come through a proxy", func(t *testing.T) {
		proxyURL, _ := url.Parse(e.ProxyURL())
		hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
		req, _ := http.NewRequest(http.MethodGet, "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net", nil)
		req.Header.Set("Metadata", "true")
		before := e.Counts().IMDSProxied
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "bypassing proxies") || e.Counts().IMDSProxied != before+1 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("wire errors", func(t *testing.T) {
		hc := e.HTTPClient()
		get := func(query string, metadata bool) (int, map[string]string) {
			req, _ := http.NewRequest(http.MethodGet, "http://169.254.169.254/metadata/identity/oauth2/token?"+query, nil)
			if metadata {
				req.Header.Set("Metadata", "true")
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, body
		}
		q := url.Values{"api-version": {"2019-08-01"}, "resource": {"https://vault.azure.net"}}.Encode()
		if st, b := get(q, false); st != 400 || b["error_description"] != "Required metadata header not specified" {
			t.Fatalf("no header: %d %v", st, b)
		}
		st, b := get(q+"&client_id="+miUser, true)
		if st != 200 || b["client_id"] != miUser || b["token_type"] != "Bearer" || b["resource"] != "https://vault.azure.net" {
			t.Fatalf("ok: %d %v", st, b)
		}
		exp, _ := strconv.ParseInt(b["expires_on"], 10, 64)
		if b["expires_in"] != "3599" || exp < time.Now().Unix()+3500 || b["not_before"] == "" || b["ext_expires_in"] == "" {
			t.Fatalf("times: %v", b)
		}
		if st, b := get(q+"&client_id="+miOther, true); st != 400 || b["error_description"] != "Identity not found" {
			t.Fatalf("unknown: %d %v", st, b)
		}
	})

	t.Run("slow first answer", func(t *testing.T) {
		// Large enough that a loaded machine does not make the second, undelayed answer
		// look delayed.
		e.SetFaults(ServiceIMDS, Faults{FirstLatency: time.Second})
		defer e.SetFaults(ServiceIMDS, Faults{})
		for i := 0; i < 2; i++ {
			start := time.Now()
			req, _ := http.NewRequest(http.MethodGet, "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net", nil)
			req.Header.Set("Metadata", "true")
			resp, err := e.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if d := time.Since(start); (i == 0) != (d >= time.Second) {
				t.Fatalf("request %d took %v", i, d)
			}
		}
	})
}

func TestNMI(t *testing.T) {
	t.Parallel()
	e := newEmulator(t)
	e.AddTenant(tenantA)
	e.AddPodIdentity("default", "app-0", podApp, tenantA)
	v := e.Vault("kv-nmi")
	v.Grant(podApp, SecretGet)
	v.SetSecret("s", "nmi-value", SecretOptions{})

	nmi := func(pod, ns string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+e.NMIAddr()+"/host/token/?resource=https://vault.azure.net", nil)
		if pod != "" {
			req.Header.Set("podname", pod)
		}
		if ns != "" {
			req.Header.Set("podns", ns)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := nmi("app-0", "default")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var out struct {
		Token    map[string]string `json:"token"`
		ClientID string            `json:"clientid"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if out.ClientID != podApp || out.Token["expires_in"] != "3599" || out.Token["resource"] != "https://vault.azure.net" || out.Token["access_token"] == "" {
		t.Fatalf("%s", body)
	}
	// The token opens the vault.
	req, _ := http.NewRequest(http.MethodGet, "https://kv-nmi.vault.azure.net/secrets/s?api-version=7.6", nil)
	req.Header.Set("Authorization", "Bearer "+out.Token["access_token"])
	kv, err := e.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var secret map[string]any
	_ = json.NewDecoder(kv.Body).Decode(&secret)
	kv.Body.Close()
	if kv.StatusCode != 200 || secret["value"] != "nmi-value" {
		t.Fatalf("%d %v", kv.StatusCode, secret)
	}

	if resp, body := nmi("other", "default"); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "no AzureAssignedIdentity found for pod:default/other") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp, _ := nmi("app-0", ""); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("missing podns: %d", resp.StatusCode)
	}
	if n := e.Counts().NMIRequests; n != 3 {
		t.Fatalf("NMI requests %d", n)
	}
}
