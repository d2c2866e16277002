package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// rendered is a multi-document manifest split into typed objects.
type rendered struct {
	raw         string
	daemonSets  map[string]*appsv1.DaemonSet
	accounts    []*corev1.ServiceAccount
	csiDrivers  []*storagev1.CSIDriver
	otherKinds  []string
	documentCnt int
}

func parseManifests(t *testing.T, text string) rendered {
	t.Helper()
	r := rendered{raw: text, daemonSets: map[string]*appsv1.DaemonSet{}}
	for _, doc := range strings.Split("\n"+text, "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		r.documentCnt++
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		switch tm.Kind {
		case "DaemonSet":
			ds := &appsv1.DaemonSet{}
			mustUnmarshalStrict(t, doc, ds)
			r.daemonSets[ds.Name] = ds
		case "ServiceAccount":
			sa := &corev1.ServiceAccount{}
			mustUnmarshalStrict(t, doc, sa)
			r.accounts = append(r.accounts, sa)
		case "CSIDriver":
			d := &storagev1.CSIDriver{}
			mustUnmarshalStrict(t, doc, d)
			r.csiDrivers = append(r.csiDrivers, d)
		default:
			r.otherKinds = append(r.otherKinds, tm.Kind)
		}
	}
	return r
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func mustUnmarshalStrict(t *testing.T, doc string, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
		t.Fatalf("rendered object does not match its Go type: %v\n%s", err, doc)
	}
}

// dryRun applies manifests to the real API server with server-side
// dry-run and strict field validation, so schema errors fail.
func dryRun(t *testing.T, manifests string) {
	t.Helper()
	out, err := s.kubectlIn(manifests, "apply", "--dry-run=server", "--validate=strict", "-f", "-")
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server rejected the manifests: %v\n%s\n--- manifests ---\n%s", err, out, manifests)
	}
	t.Logf("server dry-run:\n%s", strings.TrimSpace(out))
}

func (r rendered) container(t *testing.T, ds string) corev1.Container {
	t.Helper()
	d := r.daemonSets[ds]
	if d == nil {
		t.Fatalf("no DaemonSet %q in %v", ds, keys(r.daemonSets))
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("DaemonSet %s has %d containers", ds, len(d.Spec.Template.Spec.Containers))
	}
	return d.Spec.Template.Spec.Containers[0]
}

// upstreamArgs are the container args of the Azure provider's DaemonSet.
var upstreamArgs = []string{
	"--endpoint=unix:///provider/azure.sock",
	"--construct-pem-chain=true",
	"--healthz-port=8989",
	"--healthz-path=/healthz",
	"--healthz-timeout=5s",
}

func TestStaticManifests(t *testing.T) {
	dir := filepath.Join(s.repoRoot, "manifest_staging", "deployment")
	var all []string
	for _, f := range []string{"provider-kvcsi-installer.yaml", "provider-kvcsi-installer-windows.yaml", "csidriver.yaml"} {
		b, err := readFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b)
	}
	r := parseManifests(t, strings.Join(all, "\n---\n"))

	linux := r.daemonSets["kvcsi-provider"]
	c := r.container(t, "kvcsi-provider")
	if !slices.Equal(c.Args, upstreamArgs) {
		t.Errorf("Linux args = %q, want the Azure provider's %q", c.Args, upstreamArgs)
	}
	ps := linux.Spec.Template.Spec
	if ps.NodeSelector["kubernetes.io/os"] != "linux" || !ps.HostNetwork {
		t.Errorf("Linux pod spec: nodeSelector %v hostNetwork %v", ps.NodeSelector, ps.HostNetwork)
	}
	checkProviderContainer(t, c, "/provider", 8989, "/healthz", "50m", "100Mi")
	if v := ps.Volumes[0]; v.HostPath == nil || v.HostPath.Path != "/var/run/secrets-store-csi-providers" {
		t.Errorf("Linux providers hostPath = %+v", v)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("Linux securityContext = %+v", sc)
	}

	win := r.daemonSets["kvcsi-provider-windows"]
	wc := r.container(t, "kvcsi-provider-windows")
	if wc.Args[0] != `--endpoint=unix://C:\\provider\\azure.sock` {
		t.Errorf("Windows endpoint arg = %q", wc.Args[0])
	}
	wps := win.Spec.Template.Spec
	if wps.NodeSelector["kubernetes.io/os"] != "windows" || wps.HostNetwork {
		t.Errorf("Windows pod spec: nodeSelector %v hostNetwork %v", wps.NodeSelector, wps.HostNetwork)
	}
	if v := wps.Volumes[0]; v.HostPath == nil || v.HostPath.Path != `C:\k\secrets-store-csi-providers` || wc.VolumeMounts[0].MountPath != `C:\provider` {
		t.Errorf("Windows providers volume = %+v mount %+v", v, wc.VolumeMounts)
	}
	if len(r.csiDrivers) != 1 {
		t.Fatalf("csidriver.yaml: %d CSIDriver objects", len(r.csiDrivers))
	}
	checkCSIDriver(t, r.csiDrivers[0])
	dryRun(t, r.raw)
}

func checkProviderContainer(t *testing.T, c corev1.Container, mountPath string, healthz int32, path, cpu, mem string) {
	t.Helper()
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.IntVal != healthz {
			t.Errorf("probe = %+v, want GET %s on %d", p, path, healthz)
		}
	}
	if got := c.Resources.Requests.Cpu().String(); got != cpu {
		t.Errorf("cpu request = %s, want %s", got, cpu)
	}
	if got := c.Resources.Limits.Memory().String(); got != mem {
		t.Errorf("memory limit = %s, want %s", got, mem)
	}
	if len(c.VolumeMounts) == 0 || c.VolumeMounts[0].MountPath != mountPath {
		t.Errorf("volume mounts = %+v, want the providers dir at %s", c.VolumeMounts, mountPath)
	}
}

func checkCSIDriver(t *testing.T, d *storagev1.CSIDriver) {
	t.Helper()
	var auds []string
	for _, tr := range d.Spec.TokenRequests {
		auds = append(auds, tr.Audience)
	}
	if !slices.Contains(auds, "api://AzureADTokenExchange") || !slices.Contains(auds, "api://AKSIdentityBinding") {
		t.Errorf("CSIDriver tokenRequests audiences = %v", auds)
	}
	if d.Spec.RequiresRepublish == nil || !*d.Spec.RequiresRepublish || d.Spec.PodInfoOnMount == nil || !*d.Spec.PodInfoOnMount {
		t.Errorf("CSIDriver requiresRepublish/podInfoOnMount not set: %+v", d.Spec)
	}
}

func TestHelmChart(t *testing.T) {
	helm, err := s.cache.Helm()
	if err != nil {
		t.Fatalf("build helm: %v", err)
	}
	chart := filepath.Join(s.repoRoot, "manifest_staging", "charts", "kvcsi")
	run := func(args ...string) (string, error) {
		cmd := exec.Command(helm, args...)
		cmd.Env = baseEnv("HELM_CACHE_HOME="+filepath.Join(s.work, "helm", "cache"),
			"HELM_CONFIG_HOME="+filepath.Join(s.work, "helm", "config"),
			"HELM_DATA_HOME="+filepath.Join(s.work, "helm", "data"))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil {
			return stdout.String() + stderr.String(), err
		}
		return stdout.String(), nil
	}
	template := func(t *testing.T, set ...string) rendered {
		t.Helper()
		args := []string{"template", "kvcsi", chart, "--namespace", "kube-system"}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		out, err := run(args...)
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return parseManifests(t, out)
	}

	t.Run("lint", func(t *testing.T) {
		for _, set := range [][]string{nil, {"windows.enabled=true", "csiDriver.create=true"}} {
			args := []string{"lint", "--strict", chart}
			for _, s := range set {
				args = append(args, "--set", s)
			}
			if out, err := run(args...); err != nil {
				t.Errorf("helm lint %v: %v\n%s", set, err, out)
			}
		}
	})

	t.Run("defaults", func(t *testing.T) {
		r := template(t)
		if len(r.daemonSets) != 1 || len(r.accounts) != 1 || len(r.csiDrivers) != 0 || len(r.otherKinds) != 0 {
			t.Fatalf("default render: daemonsets %v, %d service accounts, %d CSIDrivers, other %v",
				keys(r.daemonSets), len(r.accounts), len(r.csiDrivers), r.otherKinds)
		}
		c := r.container(t, "kvcsi")
		for _, want := range append(upstreamArgs[:len(upstreamArgs):len(upstreamArgs)],
			"--prometheus-port=8898", "--metrics-backend=Prometheus", "--write-cert-and-key-in-separate-files=false",
			"--log-format-json=false", "-v=0") {
			if !slices.Contains(c.Args, want) {
				t.Errorf("default args %q lack %q", c.Args, want)
			}
		}
		for _, absent := range []string{"--cloud-name", "--custom-user-agent", "--token-proxy-url", "--sni-name", "--enable-pprof"} {
			for _, a := range c.Args {
				if strings.HasPrefix(a, absent) {
					t.Errorf("default args contain %q", a)
				}
			}
		}
		if !hasPort(c, "metrics", 8898) || !hasPort(c, "healthz", 8989) {
			t.Errorf("ports = %+v", c.Ports)
		}
		ds := r.daemonSets["kvcsi"]
		if !ds.Spec.Template.Spec.HostNetwork || ds.Spec.Template.Spec.NodeSelector["kubernetes.io/os"] != "linux" {
			t.Errorf("Linux DaemonSet pod spec: %+v", ds.Spec.Template.Spec)
		}
		checkProviderContainer(t, c, "/provider", 8989, "/healthz", "50m", "100Mi")
		if ds.Spec.Template.Spec.ServiceAccountName != r.accounts[0].Name {
			t.Errorf("DaemonSet uses ServiceAccount %q, chart creates %q", ds.Spec.Template.Spec.ServiceAccountName, r.accounts[0].Name)
		}
		dryRun(t, r.raw)
	})

	t.Run("non-defaults", func(t *testing.T) {
		r := template(t,
			"constructPEMChain=false",
			"writeCertAndKeyInSeparateFiles=true",
			"prometheusPort=9101",
			"metricsBackend=prometheus",
			"logFormatJSON=true",
			"logVerbosity=3",
			"cloudName=AzureUSGovernmentCloud",
			"customUserAgent=e2e-agent",
			"tokenProxyURL=https://token-proxy.e2e.test",
			"sniName=sni.e2e.test",
			"enablePprof=true",
			"pprofPort=6061",
			"extraArgs[0]=--no-reuse=false",
			"parallelism=4",
			"vaultConcurrency=32",
			"maxRetries=5",
			"cacheSize=2048",
			"cacheIdleTTL=45m",
			"nmiPort=2580",
			"metricsBindAddress=127.0.0.1",
			"healthzBindAddress=0.0.0.0",
			"maxResponseBytes=8388608",
			"linux.healthzPort=9990",
			"linux.healthzPath=/livez",
			"linux.healthzTimeout=3s",
			"linux.endpoint=unix:///provider/kvcsi.sock",
			"linux.image.tag=v9.9.9",
			"windows.enabled=true",
			"csiDriver.create=true",
			"serviceAccount.name=custom-sa",
		)
		if len(r.daemonSets) != 2 || len(r.csiDrivers) != 1 {
			t.Fatalf("render: daemonsets %v, %d CSIDrivers", keys(r.daemonSets), len(r.csiDrivers))
		}
		c := r.container(t, "kvcsi")
		for _, want := range []string{
			"--endpoint=unix:///provider/kvcsi.sock", "--construct-pem-chain=false",
			"--write-cert-and-key-in-separate-files=true", "--prometheus-port=9101", "--metrics-backend=prometheus",
			"--log-format-json=true", "-v=3", "--cloud-name=AzureUSGovernmentCloud", "--custom-user-agent=e2e-agent",
			"--token-proxy-url=https://token-proxy.e2e.test", "--sni-name=sni.e2e.test", "--enable-pprof=true",
			"--pprof-port=6061", "--parallelism=4", "--healthz-port=9990", "--healthz-path=/livez", "--healthz-timeout=3s",
			"--vault-concurrency=32", "--max-retries=5", "--cache-size=2048", "--cache-idle-ttl=45m", "--nmi-port=2580",
			"--metrics-bind-address=127.0.0.1", "--healthz-bind-address=0.0.0.0", "--no-reuse=false",
			"--max-response-bytes=8388608",
		} {
			if !slices.Contains(c.Args, want) {
				t.Errorf("args %q lack %q", c.Args, want)
			}
		}
		if !hasPort(c, "metrics", 9101) || !hasPort(c, "healthz", 9990) {
			t.Errorf("ports = %+v (prometheusPort must reach both the flag and containerPort)", c.Ports)
		}
		if !strings.HasSuffix(c.Image, ":v9.9.9") {
			t.Errorf("image = %s", c.Image)
		}
		checkProviderContainer(t, c, "/provider", 9990, "/livez", "50m", "100Mi")
		wc := r.container(t, "kvcsi-windows")
		if !slices.Contains(wc.Args, `--endpoint=unix://C:\\provider\\azure.sock`) || !slices.Contains(wc.Args, "--construct-pem-chain=false") {
			t.Errorf("Windows args = %q", wc.Args)
		}
		wps := r.daemonSets["kvcsi-windows"].Spec.Template.Spec
		if wps.NodeSelector["kubernetes.io/os"] != "windows" || wps.HostNetwork {
			t.Errorf("Windows pod spec: nodeSelector %v hostNetwork %v", wps.NodeSelector, wps.HostNetwork)
		}
		if v := wps.Volumes[0]; v.HostPath == nil || v.HostPath.Path != `C:\k\secrets-store-csi-providers` {
			t.Errorf("Windows providers volume = %+v", v)
		}
		checkProviderContainer(t, wc, `C:\provider`, 8989, "/healthz", "100m", "200Mi")
		if wps.ServiceAccountName != "custom-sa" {
			t.Errorf("Windows ServiceAccount = %q", wps.ServiceAccountName)
		}
		checkCSIDriver(t, r.csiDrivers[0])
		dryRun(t, r.raw)
	})

	t.Run("windows-only", func(t *testing.T) {
		r := template(t, "linux.enabled=false", "windows.enabled=true")
		if len(r.daemonSets) != 1 || r.daemonSets["kvcsi-windows"] == nil {
			t.Fatalf("daemonsets %v", keys(r.daemonSets))
		}
		dryRun(t, r.raw)
	})

	t.Run("schema-rejects", func(t *testing.T) {
		for _, bad := range []string{
			"prometheusPort=not-a-port",
			"constructPEMChain=maybe",
			"linux.healthzTimeout=five",
			"noSuchValue=1",
			"extraArgs[0]=positional",
		} {
			out, err := run("template", "kvcsi", chart, "--set", bad)
			if err == nil {
				t.Errorf("--set %s rendered without a schema error", bad)
				continue
			}
			key, _, _ := strings.Cut(bad, "=")
			key = strings.Split(strings.Split(key, "[")[0], ".")[0]
			if !strings.Contains(out, "schema") && !strings.Contains(out, key) {
				t.Errorf("--set %s: error does not point at the schema/key:\n%s", bad, out)
			}
		}
	})
}

func hasPort(c corev1.Container, name string, port int32) bool {
	for _, p := range c.Ports {
		if p.Name == name && p.ContainerPort == port {
			return true
		}
	}
	return false
}
