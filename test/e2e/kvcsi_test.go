package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKVCSI runs the scenarios users run, through the real driver (each
// version), the kubelet simulator, the kvcsi binary and the emulator.
func TestKVCSI(t *testing.T) {
	az := sharedAzure(t)
	for _, v := range mustDriverVersions(t) {
		t.Run(v, func(t *testing.T) {
			drv := startDriver(t, s.drivers[v], az.provDir)
			watch := []logSource{az.kvcsi, az.emu}

			t.Run("workload-identity", func(t *testing.T) {
				sc := newScenario(t, drv, watch...)
				jwks, err := s.client.Discovery().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(sc.ctx)
				if err != nil {
					t.Fatalf("fetch the API server's JWKS: %v", err)
				}
				az.trustClusterIssuer(t, jwks)
				if err := s.ensureServiceAccount(sc.ns, "workload"); err != nil {
					t.Fatal(err)
				}
				az.addFederatedCredential(t, "system:serviceaccount:"+sc.ns+":workload")
				name := "wi-secret-" + sc.ns
				ver := az.setSecret(t, name, "from-workload-identity")
				sc.spc("wi", "azure", map[string]string{
					"keyvaultName": vaultName, "tenantID": tenantID, "clientID": wiClientID,
					"objects": objects(obj{name: name, typ: "secret", alias: "app-secret"}),
				}, nil)
				pod := sc.pod("wi-pod", "wi", podOpts{serviceAccount: "workload"})
				target := sc.mustPublish(pod)
				expectFiles(t, target, map[string]string{"app-secret": "from-workload-identity"})
				if v := sc.checkSPCPS(pod, "wi", target); v["secret/"+name] != ver {
					t.Errorf("SPCPS objects = %v, want secret/%s at %s", v, name, ver)
				}
			})

			t.Run("service-principal", func(t *testing.T) {
				sc := newScenario(t, drv, watch...)
				sc.secret("sp-creds", map[string]string{"secrets-store.csi.k8s.io/used": "true"},
					map[string]string{"clientid": spClientID, "clientsecret": spSecret})
				name := "sp-secret-" + sc.ns
				ver := az.setSecret(t, name, "from-service-principal")
				sc.spc("sp", "azure", spParams(obj{name: name, typ: "secret"}), nil)
				pod := sc.pod("sp-pod", "sp", podOpts{nodePublishRef: "sp-creds"})
				target := sc.mustPublish(pod)
				expectFiles(t, target, map[string]string{name: "from-service-principal"})
				if v := sc.checkSPCPS(pod, "sp", target); v["secret/"+name] != ver {
					t.Errorf("SPCPS objects = %v, want secret/%s at %s", v, name, ver)
				}
			})

			t.Run("sync-opaque-and-tls", func(t *testing.T) {
				sc := newScenario(t, drv, watch...)
				sc.secret("sp-creds", map[string]string{"secrets-store.csi.k8s.io/used": "true"},
					map[string]string{"clientid": spClientID, "clientsecret": spSecret})
				pw := "db-password-" + sc.ns
				az.setSecret(t, pw, "s3cr3t-pw")
				certName := "web-cert-" + sc.ns
				_, certPEM := az.generateCert(t, certName, "web.e2e.test")
				sc.spc("sync", "azure", spParams(
					obj{name: pw, typ: "secret", alias: "password"},
					obj{name: certName, typ: "secret", alias: "tls-bundle"},
				), []map[string]any{
					{"secretName": "app-opaque", "type": "Opaque", "labels": map[string]any{"app": "e2e"},
						"data": []any{map[string]any{"objectName": "password", "key": "password"}}},
					{"secretName": "app-tls", "type": "kubernetes.io/tls",
						"data": []any{
							map[string]any{"objectName": "tls-bundle", "key": "tls.key"},
							map[string]any{"objectName": "tls-bundle", "key": "tls.crt"},
						}},
				})
				pod := sc.pod("sync-pod", "sync", podOpts{nodePublishRef: "sp-creds"})
				target := sc.mustPublish(pod)
				files := expectFiles(t, target, map[string]string{"password": "s3cr3t-pw"})
				if files["tls-bundle"] != certPEM {
					t.Errorf("tls-bundle differs from the PEM stored in the vault:\n%s\nwant:\n%s", files["tls-bundle"], certPEM)
				}
				if !strings.Contains(files["tls-bundle"], "BEGIN CERTIFICATE") || !strings.Contains(files["tls-bundle"], "PRIVATE KEY") {
					t.Fatalf("tls-bundle is not a key + certificate PEM:\n%s", files["tls-bundle"])
				}
				sec := sc.waitSecret("app-opaque", 30*time.Second, func(sec *corev1.Secret) error {
					return expectData(sec, map[string]string{"password": "s3cr3t-pw"})
				})
				if sec.Type != corev1.SecretTypeOpaque || sec.Labels["app"] != "e2e" || sec.Labels["secrets-store.csi.k8s.io/managed"] != "true" {
					t.Errorf("app-opaque type %q labels %v", sec.Type, sec.Labels)
				}
				tlsSec := sc.waitSecret("app-tls", 30*time.Second, func(sec *corev1.Secret) error {
					if len(sec.Data["tls.crt"]) == 0 || len(sec.Data["tls.key"]) == 0 {
						return fmt.Errorf("data keys %v", keys(sec.Data))
					}
					return nil
				})
				if tlsSec.Type != corev1.SecretTypeTLS {
					t.Errorf("app-tls type = %q", tlsSec.Type)
				}
				pair, err := tls.X509KeyPair(tlsSec.Data["tls.crt"], tlsSec.Data["tls.key"])
				if err != nil {
					t.Fatalf("synced TLS Secret is not a usable key pair: %v", err)
				}
				if got, _ := x509.ParseCertificate(pair.Certificate[0]); got == nil || got.Subject.CommonName != "web.e2e.test" {
					t.Errorf("synced certificate subject = %v", got)
				}
			})

			t.Run("rotation", func(t *testing.T) {
				sc := newScenario(t, drv, watch...)
				sc.secret("sp-creds", map[string]string{"secrets-store.csi.k8s.io/used": "true"},
					map[string]string{"clientid": spClientID, "clientsecret": spSecret})
				name := "rot-secret-" + sc.ns
				v1 := az.setSecret(t, name, "value-1")
				sc.spc("rot", "azure", spParams(obj{name: name, typ: "secret", alias: "current"}),
					[]map[string]any{{"secretName": "rot-synced", "type": "Opaque",
						"data": []any{map[string]any{"objectName": "current", "key": "value"}}}})
				pod := sc.pod("rot-pod", "rot", podOpts{nodePublishRef: "sp-creds"})
				target := sc.mustPublish(pod)
				expectFiles(t, target, map[string]string{"current": "value-1"})
				sc.waitSecret("rot-synced", 30*time.Second, func(sec *corev1.Secret) error {
					return expectData(sec, map[string]string{"value": "value-1"})
				})

				v2 := az.setSecret(t, name, "value-2")
				start := time.Now()
				// v1.6: kubelet's periodic republish; v1.5: the driver's reconciler.
				sc.waitFile(target, "current", "value-2", 90*time.Second, sc.republishTick(pod))
				t.Logf("%s: file rotated %s after the vault change", v, time.Since(start).Round(100*time.Millisecond))
				sc.waitSecret("rot-synced", 60*time.Second, func(sec *corev1.Secret) error {
					return expectData(sec, map[string]string{"value": "value-2"})
				})
				if err := eventually(30*time.Second, 500*time.Millisecond, func() error {
					if got := sc.checkSPCPS(pod, "rot", target)["secret/"+name]; got != v2 {
						return fmt.Errorf("SPCPS version %s, want %s (was %s)", got, v2, v1)
					}
					return nil
				}); err != nil {
					t.Error(err)
				}
			})

			t.Run("rendered-file-sync-and-rotation", func(t *testing.T) {
				// A rendered file (files parameter) whose inputs are hidden: it is
				// synced into a Secret, and rewritten with the Secret when one input
				// changes, because its version is derived from its inputs' versions.
				sc := newScenario(t, drv, watch...)
				sc.secret("sp-creds", map[string]string{"secrets-store.csi.k8s.io/used": "true"},
					map[string]string{"clientid": spClientID, "clientsecret": spSecret})
				user, pw := "rnd-user-"+sc.ns, "rnd-pw-"+sc.ns
				az.setSecret(t, user, "app")
				az.setSecret(t, pw, "pw-1")
				params := spParams(obj{name: user, typ: "secret", alias: "db-user"}, obj{name: pw, typ: "secret", alias: "db-password"})
				params["files"] = "- {path: app.env, format: dotenv, keyCase: upper, hideInputs: true, inputs: [db-user, db-password]}\n"
				sc.spc("rnd", "azure", params, []map[string]any{{"secretName": "rnd-synced", "type": "Opaque",
					"data": []any{map[string]any{"objectName": "app.env", "key": ".env"}}}})
				pod := sc.pod("rnd-pod", "rnd", podOpts{nodePublishRef: "sp-creds"})
				target := sc.mustPublish(pod)
				env1 := "DB_USER='app'\nDB_PASSWORD='pw-1'\n"
				files := expectFiles(t, target, map[string]string{"app.env": env1})
				if len(files) != 1 {
					t.Errorf("hidden inputs were written: %v", keys(files))
				}
				sc.waitSecret("rnd-synced", 30*time.Second, func(sec *corev1.Secret) error {
					return expectData(sec, map[string]string{".env": env1})
				})
				before := sc.checkSPCPS(pod, "rnd", target)
				if len(before["file/app.env"]) != 32 || before["secret/"+pw] == "" {
					t.Fatalf("SPCPS objects %v: want file/app.env and the hidden inputs' versions", before)
				}

				az.setSecret(t, pw, "pw-2")
				env2 := "DB_USER='app'\nDB_PASSWORD='pw-2'\n"
				start := time.Now()
				sc.waitFile(target, "app.env", env2, 90*time.Second, sc.republishTick(pod))
				t.Logf("%s: rendered file rotated %s after one input changed", v, time.Since(start).Round(100*time.Millisecond))
				sc.waitSecret("rnd-synced", 60*time.Second, func(sec *corev1.Secret) error {
					return expectData(sec, map[string]string{".env": env2})
				})
				if err := eventually(30*time.Second, 500*time.Millisecond, func() error {
					after := sc.checkSPCPS(pod, "rnd", target)
					if after["file/app.env"] == before["file/app.env"] || after["secret/"+pw] == before["secret/"+pw] {
						return fmt.Errorf("SPCPS objects %v, before the change %v", after, before)
					}
					return nil
				}); err != nil {
					t.Error(err)
				}
			})

			t.Run("provider-error", func(t *testing.T) {
				sc := newScenario(t, drv, watch...)
				sc.secret("sp-creds", map[string]string{"secrets-store.csi.k8s.io/used": "true"},
					map[string]string{"clientid": spClientID, "clientsecret": spSecret})
				missing := "no-such-secret-" + sc.ns
				sc.spc("broken", "azure", spParams(obj{name: missing, typ: "secret"}), nil)
				pod := sc.pod("err-pod", "broken", podOpts{nodePublishRef: "sp-creds"})
				target, err := sc.publish(pod)
				if err == nil {
					t.Fatal("NodePublishVolume succeeded for a secret that does not exist")
				}
				t.Logf("NodePublishVolume error: %v", err)
				if !errContains(err, "failed to mount secrets store objects for pod "+sc.ns+"/err-pod", missing) {
					t.Errorf("the error does not name the pod and the missing object %q: %v", missing, err)
				}
				if mounted(target) {
					t.Errorf("failed mount left %s mounted", target)
				}
				if _, err := sc.spcps(pod, "broken"); !isNotFound(err) {
					t.Errorf("SPCPS after a failed mount: err = %v, want NotFound", err)
				}
			})

			t.Run("many-pods", func(t *testing.T) {
				sc := newScenario(t, drv, watch...)
				sc.secret("sp-creds", map[string]string{"secrets-store.csi.k8s.io/used": "true"},
					map[string]string{"clientid": spClientID, "clientsecret": spSecret})
				a, b := "many-a-"+sc.ns, "many-b-"+sc.ns
				az.setSecret(t, a, "alpha")
				az.setSecret(t, b, "beta")
				sc.spc("many", "azure", spParams(obj{name: a, typ: "secret", alias: "a"}, obj{name: b, typ: "secret", alias: "b"}), nil)
				const n = 50
				pods := make([]*corev1.Pod, n)
				for i := range pods {
					pods[i] = sc.pod(fmt.Sprintf("many-%02d", i), "many", podOpts{nodePublishRef: "sp-creds"})
				}
				start := time.Now()
				var wg sync.WaitGroup
				errs := make([]error, n)
				durs := make([]time.Duration, n)
				for i := range pods {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						t0 := time.Now()
						target, err := sc.publish(pods[i])
						durs[i] = time.Since(t0)
						if err != nil {
							errs[i] = err
							return
						}
						files, err := readFiles(target)
						if err == nil && (files["a"] != "alpha" || files["b"] != "beta") {
							err = fmt.Errorf("files %v", files)
						}
						errs[i] = err
					}(i)
				}
				wg.Wait()
				total := time.Since(start)
				var failed int
				var maxDur time.Duration
				for i, err := range errs {
					if err != nil {
						failed++
						t.Errorf("pod %s: %v", pods[i].Name, err)
					}
					maxDur = max(maxDur, durs[i])
				}
				t.Logf("%d parallel mounts: %d failed, all done in %s, slowest %s", n, failed, total.Round(time.Millisecond), maxDur.Round(time.Millisecond))
				list, err := s.dyn.Resource(spcpsGVR).Namespace(sc.ns).List(sc.ctx, metav1.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if len(list.Items) != n {
					t.Errorf("%d SecretProviderClassPodStatus objects, want %d", len(list.Items), n)
				}
			})
		})
	}
}

// obj is one entry of the SPC objects array.
type obj struct {
	name, typ, alias string
}

// objects renders the SPC `objects` parameter (a YAML doc whose array items
// are YAML strings), as users write it.
func objects(objs ...obj) string {
	var b strings.Builder
	b.WriteString("array:\n")
	for _, o := range objs {
		b.WriteString("  - |\n")
		fmt.Fprintf(&b, "    objectName: %s\n    objectType: %s\n", o.name, o.typ)
		if o.alias != "" {
			fmt.Fprintf(&b, "    objectAlias: %s\n", o.alias)
		}
	}
	return b.String()
}

// spParams are service-principal SPC parameters for the fixture vault.
func spParams(objs ...obj) map[string]string {
	return map[string]string{"keyvaultName": vaultName, "tenantID": tenantID, "objects": objects(objs...)}
}

// expectFiles checks that the target holds (at least) the wanted files and
// returns all files.
func expectFiles(t *testing.T, target string, want map[string]string) map[string]string {
	t.Helper()
	files, err := readFiles(target)
	if err != nil {
		t.Fatalf("read %s: %v", target, err)
	}
	for k, v := range want {
		if files[k] != v {
			t.Errorf("file %s = %q, want %q (files: %v)", k, files[k], v, keys(files))
		}
	}
	if !mounted(target) {
		t.Errorf("%s is not a mount point", target)
	}
	fi, err := os.Lstat(filepath.Join(target, "..data"))
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s has no ..data symlink (atomic writer layout): %v", target, err)
	}
	return files
}
