package e2e

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/test/e2e/internal/tools"
)

// TestDropIn starts kvcsi with exactly the container args of the Azure
// provider's DaemonSet (only the socket directory differs: /provider is a
// directory of this run) and mounts through the real driver with
// `provider: azure`, as existing SecretProviderClasses are written.
func TestDropIn(t *testing.T) {
	az := sharedAzure(t)
	bin := s.kvcsiBin(t)

	manifest, err := readFile(filepath.Join(s.repoRoot, "manifest_staging", "deployment", "provider-kvcsi-installer.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	args := parseManifests(t, manifest).container(t, "kvcsi-provider").Args
	if !slices.Equal(args, upstreamArgs) {
		t.Fatalf("manifest args %q differ from the Azure provider's %q", args, upstreamArgs)
	}
	provider := filepath.Join(s.work, "dropin", "provider")
	var adjusted []string
	for _, a := range args {
		adjusted = append(adjusted, strings.Replace(a, "unix:///provider/", "unix://"+provider+"/", 1))
	}
	// The Azure provider's defaults bind :8989 (healthz) and :8898 (metrics).
	for _, port := range []int{8989, 8898} {
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			t.Fatalf("port %d is busy; the drop-in test needs the Azure provider's default ports: %v", port, err)
		}
		l.Close()
	}
	if err := mkdirAll(provider); err != nil {
		t.Fatal(err)
	}
	p, err := az.startKVCSI("kvcsi-dropin", bin, filepath.Join(provider, "azure.sock"), "127.0.0.1:8989", adjusted...)
	if err != nil {
		t.Fatalf("kvcsi with the Azure provider's args %q: %v", adjusted, err)
	}
	t.Cleanup(func() { p.Stop(10 * time.Second) })

	drv := startDriver(t, s.drivers[tools.DriverVersions[0]], provider)
	sc := newScenario(t, drv, p, az.emu)
	sc.secret("sp-creds", map[string]string{"secrets-store.csi.k8s.io/used": "true"},
		map[string]string{"clientid": spClientID, "clientsecret": spSecret})
	name := "dropin-" + sc.ns
	az.setSecret(t, name, "drop-in")
	sc.spc("azure-spc", "azure", spParams(obj{name: name, typ: "secret"}), nil)
	pod := sc.pod("dropin-pod", "azure-spc", podOpts{nodePublishRef: "sp-creds"})
	target := sc.mustPublish(pod)
	expectFiles(t, target, map[string]string{name: "drop-in"})

	resp, err := http.Get("http://127.0.0.1:8898/metrics")
	if err != nil {
		t.Fatalf("metrics on the default port 8898: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET :8898/metrics = %d", resp.StatusCode)
	}
}
