package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/kvcsi/kvcsi/test/harness"
)

const config = `
tenants: [11111111-2222-4333-8444-555555555555]
apps:
  - tenantId: 11111111-2222-4333-8444-555555555555
    clientId: aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee
    secret: demo-secret
vaults:
  - name: demo-kv
    grants:
      - clientId: aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee
        permissions: [SecretGet, SecretList]
    secrets:
      - name: greeting
        value: hello from the config
        created: 2024-05-06T07:08:09Z
`

// TestBinary builds azure-emulator, starts it with a config file, reads
// emulator.env, adds a secret through the admin API and reads both secrets
// with the Azure SDK through the proxy, then stops it with SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "azure-emulator")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "run")
	cmd := exec.Command(bin, "--dir", runDir, "--config", cfgFile, "--latency-keyvault", "1ms", "-v")
	var stdout, stderr harness.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("stderr:\n%s", stderr.String())
		}
	}()

	env := map[string]string{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := os.Open(filepath.Join(runDir, "emulator.env"))
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				k, v, _ := strings.Cut(sc.Text(), "=")
				env[k] = v
			}
			f.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no emulator.env: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, k := range []string{"AZURE_EMULATOR_PROXY_URL", "AZURE_EMULATOR_CA_FILE", "AZURE_EMULATOR_NMI_ADDR", "AZURE_EMULATOR_ADMIN_URL", "HTTPS_PROXY", "SSL_CERT_FILE"} {
		if env[k] == "" {
			t.Fatalf("emulator.env lacks %s: %v", k, env)
		}
	}

	// Add a secret through the admin API.
	resp, err := http.Post(env["AZURE_EMULATOR_ADMIN_URL"]+"/vaults/demo-kv/secrets/added", "application/json",
		strings.NewReader(`{"value":"hello from the admin API"}`))
	if err != nil {
		t.Fatal(err)
	}
	var added struct{ Version string }
	_ = json.NewDecoder(resp.Body).Decode(&added)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(added.Version) != 32 {
		t.Fatalf("admin: %d %+v", resp.StatusCode, added)
	}

	// A client configured only from emulator.env, as a child process would be.
	caPEM, err := os.ReadFile(env["SSL_CERT_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("bad CA file")
	}
	proxyURL, _ := url.Parse(env["HTTPS_PROXY"])
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	co := azcore.ClientOptions{Transport: hc}
	cred, err := azidentity.NewClientSecretCredential("11111111-2222-4333-8444-555555555555", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "demo-secret",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	client, err := azsecrets.NewClient("https://demo-kv.vault.azure.net/", cred, &azsecrets.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, want := range map[string]string{"greeting": "hello from the config", "added": "hello from the admin API"} {
		got, err := client.GetSecret(ctx, name, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if *got.Value != want {
			t.Fatalf("%s = %q", name, *got.Value)
		}
		if name == "greeting" && got.Attributes.Created.Unix() != time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC).Unix() {
			t.Fatalf("created %v", got.Attributes.Created)
		}
	}
	if !strings.Contains(stdout.String(), "HTTPS_PROXY="+env["HTTPS_PROXY"]) {
		t.Fatalf("stdout:\n%s", stdout.String())
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop on SIGTERM")
	}
}
