package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/test/e2e/internal/proc"
)

// Azure fixture identities (the emulator is the only "Azure" there is).
const (
	tenantID   = "6e1c2f0a-5b7d-4e3f-9a8b-7c6d5e4f3a21"
	wiClientID = "3f2e1d0c-aaaa-4b5c-8d9e-000000000e2e"
	spClientID = "3f2e1d0c-bbbb-4b5c-8d9e-000000000e2e"
	spSecret   = "e2e-sp-secret~value"
	vaultName  = "kvcsi-e2e"
	wiAudience = "api://AzureADTokenExchange"
)

var allPermissions = []string{"SecretGet", "SecretList", "KeyGet", "KeyList", "CertGet", "CertList"}

// azureEnv is the azure-emulator binary plus one kvcsi binary serving
// azure.sock in a providers directory the drivers are pointed at.
type azureEnv struct {
	emu      *proc.Process
	admin    string   // admin API base URL
	emuEnv   []string // HTTPS_PROXY, HTTP_PROXY, SSL_CERT_FILE, NO_PROXY
	nmiAddr  string
	kvcsi    *proc.Process
	provDir  string
	healthz  string // host:port
	metrics  string
	issuerMu sync.Mutex
}

var (
	azureOnce sync.Once
	azureErr  error
	azure     *azureEnv
)

// sharedAzure starts the emulator and the main kvcsi instance once per run.
func sharedAzure(t *testing.T) *azureEnv {
	t.Helper()
	kvcsi := s.kvcsiBin(t)
	emu := s.emulatorBin(t)
	azureOnce.Do(func() {
		azure, azureErr = startAzure(emu, kvcsi)
	})
	if azureErr != nil {
		t.Fatalf("start emulator + kvcsi: %v", azureErr)
	}
	for _, p := range []*proc.Process{azure.emu, azure.kvcsi} {
		if exited, err := p.Exited(); exited {
			t.Fatalf("%s exited (%v):\n%s", p.Name, err, p.LogSince(0, 8000))
		}
	}
	return azure
}

func startAzure(emuBin, kvcsiBin string) (*azureEnv, error) {
	a := &azureEnv{provDir: filepath.Join(s.work, "providers")}
	if err := os.MkdirAll(a.provDir, 0o755); err != nil {
		return nil, err
	}
	if err := a.startEmulator(emuBin); err != nil {
		return nil, err
	}
	s.onTeardown(func() { a.emu.Stop(10 * time.Second) })
	if err := a.seed(); err != nil {
		return nil, fmt.Errorf("seed emulator: %w", err)
	}

	hz, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	mp, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	a.healthz = "127.0.0.1:" + strconv.Itoa(hz)
	a.metrics = "127.0.0.1:" + strconv.Itoa(mp)
	socket := filepath.Join(a.provDir, "azure.sock")
	a.kvcsi, err = a.startKVCSI("kvcsi", kvcsiBin, socket, a.healthz,
		"--endpoint=unix://"+socket,
		"--construct-pem-chain=true",
		"--healthz-port="+strconv.Itoa(hz), "--healthz-bind-address=127.0.0.1",
		"--healthz-path=/healthz", "--healthz-timeout=5s",
		"--prometheus-port="+strconv.Itoa(mp), "--metrics-bind-address=127.0.0.1",
		"--nmi-port="+portOf(a.nmiAddr),
		"-v=4",
	)
	if err != nil {
		return nil, err
	}
	s.onTeardown(func() { a.kvcsi.Stop(10 * time.Second) })
	return a, nil
}

// startEmulator runs the azure-emulator binary and reads the addresses it
// writes to <dir>/emulator.env.
func (a *azureEnv) startEmulator(bin string) error {
	dir := filepath.Join(s.work, "emulator")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var err error
	a.emu, err = proc.Start("azure-emulator", s.procOpts(baseEnv()), bin, "--dir", dir, "-v")
	if err != nil {
		return err
	}
	envFile := filepath.Join(dir, "emulator.env")
	var vals map[string]string
	err = a.emu.WaitFor(60*time.Second, 50*time.Millisecond, "emulator.env", func() bool {
		b, err := os.ReadFile(envFile)
		if err != nil {
			return false
		}
		vals = map[string]string{}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				vals[k] = v
			}
		}
		return vals["AZURE_EMULATOR_ADMIN_URL"] != "" && vals["SSL_CERT_FILE"] != ""
	})
	if err != nil {
		return err
	}
	a.admin = vals["AZURE_EMULATOR_ADMIN_URL"]
	a.nmiAddr = vals["AZURE_EMULATOR_NMI_ADDR"]
	for _, k := range []string{"HTTPS_PROXY", "HTTP_PROXY", "SSL_CERT_FILE", "NO_PROXY"} {
		a.emuEnv = append(a.emuEnv, k+"="+vals[k])
	}
	return nil
}

// call sends one admin API request; out (if non-nil) receives the answer.
func (a *azureEnv) call(method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.admin+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("emulator admin %s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// seed creates the tenant, the identities and the vault with its grants.
func (a *azureEnv) seed() error {
	steps := []struct {
		method, path string
		body         any
	}{
		{"POST", "/tenants", map[string]any{"tenantId": tenantID}},
		{"POST", "/apps", map[string]any{"tenantId": tenantID, "clientId": wiClientID}},
		{"POST", "/apps", map[string]any{"tenantId": tenantID, "clientId": spClientID, "secret": spSecret}},
		{"PUT", "/vaults/" + vaultName, map[string]any{"tenantId": tenantID}},
		{"POST", "/vaults/" + vaultName + "/grants", map[string]any{"clientId": wiClientID, "permissions": allPermissions}},
		{"POST", "/vaults/" + vaultName + "/grants", map[string]any{"clientId": spClientID, "permissions": allPermissions}},
	}
	for _, st := range steps {
		if err := a.call(st.method, st.path, st.body, nil); err != nil {
			return err
		}
	}
	return nil
}

// setSecret stores a new version of a secret and returns the version.
func (a *azureEnv) setSecret(t *testing.T, name, value string) string {
	t.Helper()
	var out struct {
		Version string `json:"version"`
	}
	if err := a.call("POST", "/vaults/"+vaultName+"/secrets/"+url.PathEscape(name), map[string]any{"value": value}, &out); err != nil {
		t.Fatal(err)
	}
	return out.Version
}

// generateCert makes the emulator issue a certificate (key, leaf and its
// backing secret, PEM) and returns the version and the PEM it stored.
func (a *azureEnv) generateCert(t *testing.T, name, commonName string) (string, string) {
	t.Helper()
	var out struct {
		Version string `json:"version"`
		PEM     string `json:"pem"`
	}
	body := map[string]any{"generate": map[string]any{"commonName": commonName, "keyType": "P256"}}
	if err := a.call("POST", "/vaults/"+vaultName+"/certificates/"+url.PathEscape(name), body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Version, out.PEM
}

// addFederatedCredential lets the workload identity app accept tokens of
// the cluster issuer for subject.
func (a *azureEnv) addFederatedCredential(t *testing.T, subject string) {
	t.Helper()
	err := a.call("POST", "/federated-credentials", map[string]any{
		"tenantId": tenantID, "clientId": wiClientID, "issuer": issuerURL, "subject": subject,
		"audiences": []string{wiAudience},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// trustClusterIssuer registers the API server's service-account issuer, with
// the API server's own signing keys (its JWKS), as an OIDC issuer in the
// emulator. If the emulator refuses the keys the workload-identity path cannot
// be proven end to end, and the test fails: it never falls back to a partial
// check and a skip.
func (a *azureEnv) trustClusterIssuer(t *testing.T, jwks []byte) {
	t.Helper()
	a.issuerMu.Lock()
	defer a.issuerMu.Unlock()
	if err := a.call("POST", "/issuers", map[string]any{"url": issuerURL, "jwks": json.RawMessage(jwks)}, nil); err != nil {
		t.Fatalf("the emulator refused the API server's service-account keys, so workload identity cannot be tested end to end: %v", err)
	}
}

// startKVCSI runs the kvcsi binary against the emulator and waits until its
// socket exists and its liveness endpoint answers.
func (a *azureEnv) startKVCSI(name, bin, socket, healthz string, args ...string) (*proc.Process, error) {
	_ = os.Remove(socket)
	p, err := proc.Start(name, s.procOpts(baseEnv(a.emuEnv...)), bin, args...)
	if err != nil {
		return nil, err
	}
	err = p.WaitFor(60*time.Second, 50*time.Millisecond, "kvcsi socket and /healthz", func() bool {
		if _, err := os.Stat(socket); err != nil {
			return false
		}
		resp, err := http.Get("http://" + healthz + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		p.Stop(5 * time.Second)
		return nil, err
	}
	return p, nil
}

func portOf(hostport string) string {
	return hostport[strings.LastIndex(hostport, ":")+1:]
}
