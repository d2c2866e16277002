package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/kvcsi/kvcsi/test/e2e/internal/kubeletsim"
	"github.com/kvcsi/kvcsi/test/e2e/internal/mounts"
	"github.com/kvcsi/kvcsi/test/e2e/internal/proc"
	"github.com/kvcsi/kvcsi/test/e2e/internal/tools"
)

const csiDriverName = "secrets-store.csi.k8s.io"

var (
	spcGVR   = schema.GroupVersionResource{Group: "secrets-store.csi.x-k8s.io", Version: "v1", Resource: "secretproviderclasses"}
	spcpsGVR = schema.GroupVersionResource{Group: "secrets-store.csi.x-k8s.io", Version: "v1", Resource: "secretproviderclasspodstatuses"}
)

// rotationInterval is the drivers' --rotation-poll-interval. It is short so
// rotation is observed quickly (v1.5: reconciler period; v1.6: minimum age
// of the mounted content before a republish calls the provider).
const rotationInterval = 5 * time.Second

// driverRig is one running Secrets Store CSI Driver with its simulated kubelet.
type driverRig struct {
	version  string
	node     string // --nodeid, and spec.nodeName of the rig's pods
	root     string // kubelet root dir
	sock     string
	proc     *proc.Process
	kubelet  *kubeletsim.Kubelet
	provDirs string
}

var rigSeq atomic.Int32

// startDriver starts a driver version that finds providers in providersDir.
// Everything is stopped and unmounted when the test ends.
func startDriver(t *testing.T, d tools.Driver, providersDir string) *driverRig {
	t.Helper()
	n := rigSeq.Add(1)
	tag := strings.ReplaceAll(strings.TrimPrefix(d.Version, "v"), ".", "")
	base := filepath.Join(s.work, fmt.Sprintf("drv%d-%s", n, tag))
	r := &driverRig{
		version:  d.Version,
		node:     fmt.Sprintf("node-%d-v%s", n, tag),
		root:     filepath.Join(base, "kubelet"),
		sock:     filepath.Join(base, "csi.sock"),
		provDirs: providersDir,
	}
	for _, dir := range []string{r.root, providersDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	metricsPort, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{
		"--endpoint=unix://" + r.sock,
		"--nodeid=" + r.node,
		"--provider-volume=" + providersDir,
		"--additional-provider-volume-paths=" + filepath.Join(base, "no-extra-providers"),
		fmt.Sprintf("--metrics-addr=127.0.0.1:%d", metricsPort),
		"--enable-secret-rotation=true",
		"--rotation-poll-interval=" + rotationInterval.String(),
		"--provider-health-check=false",
		"-v=5",
	}
	r.proc, err = proc.Start(fmt.Sprintf("driver-%s-%d", d.Version, n), s.procOpts(baseEnv("KUBECONFIG="+s.kubeconfig)), d.Bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r.kubelet != nil {
			_ = r.kubelet.Close()
		}
		r.proc.Stop(10 * time.Second)
		if ms, err := mounts.UnmountUnder(base); len(ms) > 0 {
			t.Logf("unmounted %d mounts the driver left under %s (err=%v)", len(ms), base, err)
		}
	})
	if err := r.proc.WaitFor(60*time.Second, 100*time.Millisecond, "driver socket", func() bool {
		_, err := os.Stat(r.sock)
		return err == nil
	}); err != nil {
		t.Fatalf("driver %s: %v\n%s", d.Version, err, r.proc.LogSince(0, 8000))
	}
	r.kubelet, err = kubeletsim.New(r.root, r.sock, s.client)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// scenario is one test case in its own namespace, on one driver, with the
// logs of the processes involved dumped if it fails.
type scenario struct {
	t    *testing.T
	ns   string
	drv  *driverRig
	ctx  context.Context
	logs []logMark
}

type logMark struct {
	p   logSource
	off int64
}

// logSource is a process log (or the in-process emulator's log file).
type logSource interface {
	LogName() string
	LogSize() int64
	LogSince(offset int64, max int) string
}

var nsSeq atomic.Int32

// newScenario creates a namespace (with its default ServiceAccount) and
// registers cleanup: log dump on failure, unpublish and delete of pods.
func newScenario(t *testing.T, drv *driverRig, watch ...logSource) *scenario {
	t.Helper()
	name := strings.ToLower(t.Name())
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, name)
	if len(name) > 40 {
		name = name[:40]
	}
	ns := fmt.Sprintf("e2e-%d-%s", nsSeq.Add(1), strings.Trim(name, "-"))
	if err := s.ensureNamespace(ns); err != nil {
		t.Fatal(err)
	}
	sc := &scenario{t: t, ns: ns, drv: drv, ctx: context.Background()}
	sc.logs = append(sc.logs, logMark{p: drv.proc, off: drv.proc.LogSize()})
	for _, p := range watch {
		sc.logs = append(sc.logs, logMark{p: p, off: p.LogSize()})
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, m := range sc.logs {
				t.Logf("----- %s for this scenario -----\n%s", m.p.LogName(), m.p.LogSince(m.off, 60000))
			}
		}
		sc.cleanup()
	})
	return sc
}

// cleanup unpublishes the namespace's pods and deletes what no garbage
// collector will: pods (forced), SPCPS, synced Secrets stay (harmless).
func (sc *scenario) cleanup() {
	ctx := context.Background()
	pods, err := s.client.CoreV1().Pods(sc.ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for _, p := range pods.Items {
			wg.Add(1)
			sem <- struct{}{}
			go func(p corev1.Pod) {
				defer wg.Done()
				defer func() { <-sem }()
				for _, v := range p.Spec.Volumes {
					if v.CSI != nil {
						target := sc.drv.kubelet.TargetPath(string(p.UID), v.Name)
						if _, err := os.Stat(target); err == nil {
							// kubelet retries a failed teardown; so do we.
							var err error
							for i := 0; i < 3; i++ {
								if err = sc.drv.kubelet.Unpublish(ctx, string(p.UID), v.Name); err == nil {
									break
								}
								time.Sleep(time.Duration(i+1) * 200 * time.Millisecond)
							}
							if err != nil {
								sc.t.Logf("cleanup: unpublish %s/%s: %v", p.Name, v.Name, err)
							}
						}
					}
				}
				_ = s.client.CoreV1().Pods(sc.ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
			}(p)
		}
		wg.Wait()
	}
	_ = s.dyn.Resource(spcpsGVR).Namespace(sc.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
}

// spc creates a SecretProviderClass.
func (sc *scenario) spc(name, provider string, params map[string]string, secretObjects []map[string]any) {
	sc.t.Helper()
	p := map[string]any{}
	for k, v := range params {
		p[k] = v
	}
	spec := map[string]any{"provider": provider, "parameters": p}
	if len(secretObjects) > 0 {
		objs := make([]any, len(secretObjects))
		for i := range secretObjects {
			objs[i] = secretObjects[i]
		}
		spec["secretObjects"] = objs
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "secrets-store.csi.x-k8s.io/v1",
		"kind":       "SecretProviderClass",
		"metadata":   map[string]any{"name": name, "namespace": sc.ns},
		"spec":       spec,
	}}
	if _, err := s.dyn.Resource(spcGVR).Namespace(sc.ns).Create(sc.ctx, u, metav1.CreateOptions{}); err != nil {
		sc.t.Fatalf("create SecretProviderClass %s: %v", name, err)
	}
}

// updateSPCParams merges params into an existing SecretProviderClass.
func (sc *scenario) updateSPCParams(name string, params map[string]string) {
	sc.t.Helper()
	u, err := s.dyn.Resource(spcGVR).Namespace(sc.ns).Get(sc.ctx, name, metav1.GetOptions{})
	if err != nil {
		sc.t.Fatal(err)
	}
	for k, v := range params {
		if err := unstructured.SetNestedField(u.Object, v, "spec", "parameters", k); err != nil {
			sc.t.Fatal(err)
		}
	}
	if _, err := s.dyn.Resource(spcGVR).Namespace(sc.ns).Update(sc.ctx, u, metav1.UpdateOptions{}); err != nil {
		sc.t.Fatal(err)
	}
}

// secret creates a Secret (for nodePublishSecretRef) with labels.
func (sc *scenario) secret(name string, labels map[string]string, data map[string]string) {
	sc.t.Helper()
	_, err := s.client.CoreV1().Secrets(sc.ns).Create(sc.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sc.ns, Labels: labels},
		StringData: data,
	}, metav1.CreateOptions{})
	if err != nil {
		sc.t.Fatalf("create Secret %s: %v", name, err)
	}
}

// podOpts describe the pod's CSI volume.
type podOpts struct {
	serviceAccount string // default "default"
	nodePublishRef string
	volume         string // default "secrets-store-inline"
	extraAttrs     map[string]string
}

// pod creates a Pod on the rig's node with one secrets-store CSI volume.
func (sc *scenario) pod(name, spcName string, o podOpts) *corev1.Pod {
	sc.t.Helper()
	p, err := sc.createPod(name, spcName, o)
	if err != nil {
		sc.t.Fatalf("create Pod %s: %v", name, err)
	}
	return p
}

func (sc *scenario) createPod(name, spcName string, o podOpts) (*corev1.Pod, error) {
	if o.serviceAccount == "" {
		o.serviceAccount = "default"
	}
	if o.volume == "" {
		o.volume = "secrets-store-inline"
	}
	attrs := map[string]string{"secretProviderClass": spcName}
	for k, v := range o.extraAttrs {
		attrs[k] = v
	}
	vol := corev1.Volume{Name: o.volume, VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
		Driver: csiDriverName, ReadOnly: ptr.To(true), VolumeAttributes: attrs,
	}}}
	if o.nodePublishRef != "" {
		vol.CSI.NodePublishSecretRef = &corev1.LocalObjectReference{Name: o.nodePublishRef}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sc.ns},
		Spec: corev1.PodSpec{
			NodeName:           sc.drv.node,
			ServiceAccountName: o.serviceAccount,
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.k8s.io/pause:3.10",
				VolumeMounts: []corev1.VolumeMount{{Name: o.volume, MountPath: "/mnt/secrets-store", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{vol},
		},
	}
	return s.client.CoreV1().Pods(sc.ns).Create(sc.ctx, pod, metav1.CreateOptions{})
}

// publish mounts the pod's volume through the driver (kubelet's SetUp).
func (sc *scenario) publish(pod *corev1.Pod) (string, error) {
	vol := pod.Spec.Volumes[0].Name
	_, err := sc.drv.kubelet.Publish(sc.ctx, pod, vol)
	return sc.drv.kubelet.TargetPath(string(pod.UID), vol), err
}

// mustPublish publishes and fails the test on error.
func (sc *scenario) mustPublish(pod *corev1.Pod) string {
	sc.t.Helper()
	start := time.Now()
	target, err := sc.publish(pod)
	if err != nil {
		sc.t.Fatalf("NodePublishVolume for pod %s failed: %v", pod.Name, err)
	}
	sc.t.Logf("NodePublishVolume %s/%s OK in %s", sc.ns, pod.Name, time.Since(start).Round(time.Millisecond))
	return target
}

// readFiles returns the files the app would see in the target: top-level
// symlinks followed, the driver's ..* entries skipped, nested paths joined.
func readFiles(target string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(target, p)
		if rel == "." {
			return nil
		}
		if strings.HasPrefix(filepath.Base(rel), "..") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Stat(p) // follows symlinks
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if d.Type()&fs.ModeSymlink != 0 {
				real, err := filepath.EvalSymlinks(p)
				if err != nil {
					return err
				}
				sub, err := readFiles(real)
				if err != nil {
					return err
				}
				for k, v := range sub {
					out[rel+"/"+k] = v
				}
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = string(b)
		return nil
	})
	return out, err
}

// waitFile waits until the file in target has the wanted content.
func (sc *scenario) waitFile(target, name, want string, timeout time.Duration, tick func()) {
	sc.t.Helper()
	err := eventually(timeout, 500*time.Millisecond, func() error {
		if tick != nil {
			tick()
		}
		b, err := os.ReadFile(filepath.Join(target, name))
		if err != nil {
			return err
		}
		if string(b) != want {
			return fmt.Errorf("%s = %q, want %q", name, b, want)
		}
		return nil
	})
	if err != nil {
		sc.t.Fatalf("file %s: %v", name, err)
	}
}

// waitSecret waits for the synced Secret to satisfy check.
func (sc *scenario) waitSecret(name string, timeout time.Duration, check func(*corev1.Secret) error) *corev1.Secret {
	sc.t.Helper()
	var got *corev1.Secret
	err := eventually(timeout, 250*time.Millisecond, func() error {
		sec, err := s.client.CoreV1().Secrets(sc.ns).Get(sc.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		got = sec
		return check(sec)
	})
	if err != nil {
		sc.t.Fatalf("synced Secret %s/%s: %v", sc.ns, name, err)
	}
	return got
}

// spcps returns the SecretProviderClassPodStatus of the pod's mount.
func (sc *scenario) spcps(pod *corev1.Pod, spcName string) (*unstructured.Unstructured, error) {
	return s.dyn.Resource(spcpsGVR).Namespace(sc.ns).Get(sc.ctx, pod.Name+"-"+sc.ns+"-"+spcName, metav1.GetOptions{})
}

// checkSPCPS asserts the SecretProviderClassPodStatus written by the driver.
func (sc *scenario) checkSPCPS(pod *corev1.Pod, spcName, target string) map[string]string {
	sc.t.Helper()
	u, err := sc.spcps(pod, spcName)
	if err != nil {
		sc.t.Fatalf("SecretProviderClassPodStatus: %v", err)
	}
	if mounted, _, _ := unstructured.NestedBool(u.Object, "status", "mounted"); !mounted {
		sc.t.Errorf("SPCPS status.mounted = false")
	}
	if tp, _, _ := unstructured.NestedString(u.Object, "status", "targetPath"); tp != target {
		sc.t.Errorf("SPCPS status.targetPath = %q, want %q", tp, target)
	}
	if node := u.GetLabels()["internal.secrets-store.csi.k8s.io/node-name"]; node != sc.drv.node {
		sc.t.Errorf("SPCPS node label = %q, want %q", node, sc.drv.node)
	}
	versions := map[string]string{}
	objs, _, _ := unstructured.NestedSlice(u.Object, "status", "objects")
	for _, o := range objs {
		m, _ := o.(map[string]any)
		id, _ := m["id"].(string)
		v, _ := m["version"].(string)
		versions[id] = v
	}
	return versions
}

// mounted reports whether target is a mount point.
func mounted(target string) bool {
	ok, _ := mounts.IsMountPoint(target)
	return ok
}

// isNotFound is apierrors.IsNotFound.
func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
