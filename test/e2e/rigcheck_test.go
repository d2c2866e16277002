package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kvcsi/kvcsi/test/e2e/internal/echoprovider"
	"github.com/kvcsi/kvcsi/test/e2e/internal/kubeletsim"
)

// TestRig checks the rig itself with an in-process echo provider, so a
// failure here points at the rig (driver build, API server, kubelet
// simulator) rather than at kvcsi. It also pins what each driver line sends
// a provider: the attributes, the tokens, and current_object_version on
// rotation (v1.5: yes; v1.6: never).
func TestRig(t *testing.T) {
	for _, v := range mustDriverVersions(t) {
		t.Run(v, func(t *testing.T) {
			provDir := filepath.Join(s.work, "echo-providers-"+v)
			drv := startDriver(t, s.drivers[v], provDir)
			echo, err := echoprovider.Start(filepath.Join(provDir, "echo.sock"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(echo.Stop)

			t.Run("mount-sync-rotate", func(t *testing.T) {
				sc := newScenario(t, drv)
				sc.spc("echo", "echo", map[string]string{"objects": "username=alice,nested/dir/file=deep", "version": "v1"},
					[]map[string]any{{
						"secretName": "echo-synced", "type": "Opaque", "labels": map[string]any{"app": "e2e"},
						"data": []any{
							map[string]any{"objectName": "username", "key": "user"},
							map[string]any{"objectName": "nested/dir/file", "key": "deep"},
						},
					}})
				sc.secret("npsr", map[string]string{"secrets-store.csi.k8s.io/used": "true"}, map[string]string{"clientid": "id", "clientsecret": "pw"})
				pod := sc.pod("echo-pod", "echo", podOpts{nodePublishRef: "npsr"})
				target := sc.mustPublish(pod)

				files, err := readFiles(target)
				if err != nil {
					t.Fatal(err)
				}
				if files["username"] != "alice" || files["nested/dir/file"] != "deep" {
					t.Fatalf("files = %v", files)
				}
				if !mounted(target) {
					t.Fatalf("%s is not a mount point", target)
				}
				reqs := echo.Requests("echo-pod")
				if len(reqs) != 1 {
					t.Fatalf("provider saw %d Mount calls, want 1", len(reqs))
				}
				r := reqs[0]
				for k, want := range map[string]string{
					kubeletsim.AttrPodName: "echo-pod", kubeletsim.AttrPodNamespace: sc.ns,
					kubeletsim.AttrPodUID: string(pod.UID), kubeletsim.AttrServiceAccountName: "default",
					kubeletsim.AttrEphemeral: "true", "secretProviderClass": "echo", "version": "v1",
				} {
					if r.Attributes[k] != want {
						t.Errorf("attribute %s = %q, want %q", k, r.Attributes[k], want)
					}
				}
				var toks map[string]struct {
					Token string `json:"token"`
				}
				if err := json.Unmarshal([]byte(r.Attributes[kubeletsim.AttrServiceAccountToks]), &toks); err != nil {
					t.Fatalf("tokens attribute: %v", err)
				}
				for _, aud := range []string{"api://AzureADTokenExchange", "api://AKSIdentityBinding"} {
					if strings.Count(toks[aud].Token, ".") != 2 {
						t.Errorf("no JWT for audience %s in tokens attribute", aud)
					}
				}
				if r.Secrets["clientid"] != "id" || r.Secrets["clientsecret"] != "pw" {
					t.Errorf("secrets = %v", r.Secrets)
				}
				if r.TargetPath != target || r.Permission != "420" || len(r.CurrentVersion) != 0 {
					t.Errorf("target %q permission %q current versions %v", r.TargetPath, r.Permission, r.CurrentVersion)
				}
				if v := sc.checkSPCPS(pod, "echo", target); v["secret/username"] != "v1" {
					t.Errorf("SPCPS objects = %v", v)
				}
				sc.waitSecret("echo-synced", 30*time.Second, func(sec *corev1.Secret) error {
					return expectData(sec, map[string]string{"user": "alice", "deep": "deep"})
				})

				// Rotation: change the SPC, then let the driver line do its thing.
				sc.updateSPCParams("echo", map[string]string{"objects": "username=bob,nested/dir/file=deeper", "version": "v2"})
				sc.waitFile(target, "username", "bob", 60*time.Second, sc.republishTick(pod))
				sc.waitSecret("echo-synced", 30*time.Second, func(sec *corev1.Secret) error {
					return expectData(sec, map[string]string{"user": "bob", "deep": "deeper"})
				})
				var sawCurrent bool
				for _, r := range echo.Requests("echo-pod")[1:] {
					if len(r.CurrentVersion) > 0 {
						sawCurrent = true
					}
				}
				if isV15(v) && !sawCurrent {
					t.Errorf("v1.5 rotation did not pass current_object_version")
				}
				if !isV15(v) && sawCurrent {
					t.Errorf("v1.6 passed current_object_version")
				}
			})

			t.Run("provider-error", func(t *testing.T) {
				sc := newScenario(t, drv)
				sc.spc("failing", "echo", map[string]string{"objects": "a=b", "errorCode": "E2EFail"}, nil)
				pod := sc.pod("fail-pod", "failing", podOpts{})
				target, err := sc.publish(pod)
				if !errContains(err, "mount request failed with provider error code E2EFail") {
					t.Fatalf("NodePublishVolume error = %v", err)
				}
				if mounted(target) {
					t.Errorf("failed mount left %s mounted", target)
				}
			})
		})
	}
}

// isV15 reports whether a driver version is of the v1.5 line.
func isV15(v string) bool { return strings.HasPrefix(v, "v1.5.") }

// republishTick is what kubelet's periodic pod sync does for a
// requiresRepublish driver: call NodePublishVolume again. The v1.5 driver
// treats it as a no-op (its own reconciler rotates).
func (sc *scenario) republishTick(pod *corev1.Pod) func() {
	last := time.Time{}
	return func() {
		if time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		if _, err := sc.publish(pod); err != nil {
			sc.t.Logf("republish %s: %v", pod.Name, err)
		}
	}
}

// expectData compares a Secret's data with want (exact key set).
func expectData(sec *corev1.Secret, want map[string]string) error {
	if len(sec.Data) != len(want) {
		return errorf("data keys %v, want %v", keys(sec.Data), want)
	}
	for k, v := range want {
		if string(sec.Data[k]) != v {
			return errorf("data[%s] = %q, want %q", k, sec.Data[k], v)
		}
	}
	return nil
}
