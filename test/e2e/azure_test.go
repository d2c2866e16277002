package e2e

import (
	"crypto"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/test/e2e/internal/proc"
	"github.com/kvcsi/kvcsi/test/emulator"
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

// azureEnv is the emulator plus one kvcsi binary serving azure.sock in a
// providers directory the drivers are pointed at.
type azureEnv struct {
	emu      *emulator.Emulator
	vault    *emulator.Vault
	emuLog   proc.FileLog
	kvcsi    *proc.Process
	provDir  string
	healthz  string // host:port
	metrics  string
	logLines sync.Mutex
}

var (
	azureOnce sync.Once
	azureErr  error
	azure     *azureEnv
)

// sharedAzure starts the emulator and the main kvcsi instance once per run.
func sharedAzure(t *testing.T) *azureEnv {
	t.Helper()
	bin := s.kvcsiBin(t)
	azureOnce.Do(func() {
		azure, azureErr = startAzure(bin)
	})
	if azureErr != nil {
		t.Fatalf("start emulator + kvcsi: %v", azureErr)
	}
	if exited, err := azure.kvcsi.Exited(); exited {
		t.Fatalf("kvcsi exited (%v):\n%s", err, azure.kvcsi.LogSince(0, 8000))
	}
	return azure
}

func startAzure(kvcsiBin string) (*azureEnv, error) {
	a := &azureEnv{provDir: filepath.Join(s.work, "providers")}
	if err := os.MkdirAll(a.provDir, 0o755); err != nil {
		return nil, err
	}
	emu, err := a.startEmulator("emulator")
	if err != nil {
		return nil, err
	}
	a.emu = emu
	a.seed()
	s.onTeardown(func() { _ = a.emu.Close() })

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
	a.kvcsi, err = a.startKVCSI("kvcsi", kvcsiBin, filepath.Join(a.provDir, "azure.sock"), a.healthz,
		"--endpoint=unix://"+filepath.Join(a.provDir, "azure.sock"),
		"--construct-pem-chain=true",
		"--healthz-port="+strconv.Itoa(hz), "--healthz-bind-address=127.0.0.1",
		"--healthz-path=/healthz", "--healthz-timeout=5s",
		"--prometheus-port="+strconv.Itoa(mp), "--metrics-bind-address=127.0.0.1",
		"--nmi-port="+portOf(a.emu.NMIAddr()),
		"-v=4",
	)
	if err != nil {
		return nil, err
	}
	s.onTeardown(func() { a.kvcsi.Stop(10 * time.Second) })
	return a, nil
}

// startEmulator runs the emulator in-process with its request log in a file.
func (a *azureEnv) startEmulator(name string) (*emulator.Emulator, error) {
	path := filepath.Join(s.logs, name+".log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	a.emuLog = proc.FileLog{Name: name, Path: path}
	emu, err := emulator.Start(emulator.Options{
		Dir: filepath.Join(s.work, name),
		Logf: func(format string, args ...any) {
			a.logLines.Lock()
			defer a.logLines.Unlock()
			fmt.Fprintf(f, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
		},
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	return emu, nil
}

// seed creates the tenant, the identities and the vault with its grants.
func (a *azureEnv) seed() {
	e := a.emu
	e.AddTenant(tenantID)
	e.AddApp(tenantID, wiClientID)
	e.AddApp(tenantID, spClientID)
	e.SetClientSecret(tenantID, spClientID, spSecret)
	a.vault = e.Vault(vaultName)
	a.vault.SetTenant(tenantID)
	for _, id := range []string{wiClientID, spClientID} {
		a.vault.Grant(id, emulator.SecretGet, emulator.SecretList, emulator.KeyGet, emulator.KeyList, emulator.CertGet, emulator.CertList)
	}
}

// startKVCSI runs the kvcsi binary against the emulator and waits until its
// socket exists and its liveness endpoint answers.
func (a *azureEnv) startKVCSI(name, bin, socket, healthz string, args ...string) (*proc.Process, error) {
	_ = os.Remove(socket)
	p, err := proc.Start(name, s.procOpts(baseEnv(a.emu.Env()...)), bin, args...)
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

// trustClusterIssuer registers the API server's service-account issuer,
// with the API server's public signing key, as an OIDC issuer in the
// emulator. It needs an emulator method that accepts an external key (the
// emulator's AddIssuer mints its own key, which the API server cannot sign
// with); without one the workload identity scenario is skipped.
func (a *azureEnv) trustClusterIssuer(t *testing.T, jwks []byte) {
	t.Helper()
	type jwksTruster interface {
		AddIssuerJWKS(issuerURL string, jwks []byte) error
	}
	type keyTruster interface {
		AddIssuerKey(issuerURL, kid string, pub crypto.PublicKey) error
	}
	switch e := any(a.emu).(type) {
	case jwksTruster:
		if err := e.AddIssuerJWKS(issuerURL, jwks); err != nil {
			t.Fatalf("register issuer JWKS: %v", err)
		}
	case keyTruster:
		kid, pub, err := firstJWK(jwks)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.AddIssuerKey(issuerURL, kid, pub); err != nil {
			t.Fatalf("register issuer key: %v", err)
		}
	default:
		t.Skip("emulator cannot trust an external OIDC issuer key yet (needs AddIssuerJWKS(url, jwks) or AddIssuerKey(url, kid, pub)); workload identity through the real API server is not covered")
	}
}

func portOf(hostport string) string {
	return hostport[strings.LastIndex(hostport, ":")+1:]
}
