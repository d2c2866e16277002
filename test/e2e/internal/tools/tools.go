// Package tools installs and builds, from pinned versions, the programs the
// e2e suite runs, and caches the results between runs.
//
// Everything is built from source through the Go module proxy, in scratch
// modules committed under test/e2e/tools/ (copied to the cache before
// building so the checkout is never written to). Debian's etcd-server
// package is installed with apt-get.
package tools

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Pinned versions.
const (
	EtcdDebVersion    = "3.4.23-4+b4" // Debian bookworm etcd-server
	KubernetesVersion = "v1.35.0"     // k8s.io/kubernetes (kube-apiserver, kubectl)
	HelmVersion       = "v3.21.4"     // helm.sh/helm/v3
	DriverModule      = "sigs.k8s.io/secrets-store-csi-driver"
)

// DriverVersions are the Secrets Store CSI Driver versions the suite runs.
var DriverVersions = []string{"v1.6.1", "v1.5.6"}

// recipe changes whenever the way a cached artifact is produced changes in a
// way the scratch module files do not show.
const recipe = "1"

// Cache builds tools into Dir, one sub-directory per tool and version.
type Cache struct {
	Dir string // e.g. ~/.cache/kvcsi-e2e
	// ToolsDir is test/e2e/tools (the scratch modules).
	ToolsDir string
	// Logf reports progress (build steps and their durations).
	Logf func(format string, args ...any)
	// BuildLog receives the output of the build commands.
	BuildLog io.Writer
}

// DefaultDir is ${KVCSI_E2E_CACHE:-$HOME/.cache/kvcsi-e2e}.
func DefaultDir() string {
	if d := os.Getenv("KVCSI_E2E_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "kvcsi-e2e")
}

func (c *Cache) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// lock takes an exclusive lock on the cache for the duration of fn, so two
// suites never build the same entry at once.
func (c *Cache) lock(fn func() error) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(c.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	return fn()
}

// moduleHash hashes the files of a scratch module (and of the mlog stand-in
// it may replace into), so a changed go.mod/go.sum gets a new cache entry.
func (c *Cache) moduleHash(dirs ...string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "recipe %s\n", recipe)
	for _, d := range dirs {
		root := filepath.Join(c.ToolsDir, d)
		var files []string
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		sort.Strings(files)
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				return "", err
			}
			rel, _ := filepath.Rel(c.ToolsDir, p)
			fmt.Fprintf(h, "%s %d\n", rel, len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// entry returns the cache directory of a tool version and whether it is
// complete (its .done stamp exists).
func (c *Cache) entry(name string) (string, bool) {
	dir := filepath.Join(c.Dir, name)
	_, err := os.Stat(filepath.Join(dir, ".done"))
	return dir, err == nil
}

// ensure produces the cache entry name with build unless it is complete.
func (c *Cache) ensure(name string, build func(dir string) error) (string, error) {
	dir, ok := c.entry(name)
	if ok {
		return dir, nil
	}
	err := c.lock(func() error {
		if _, ok := c.entry(name); ok {
			return nil
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		start := time.Now()
		c.logf("building %s (first run only; cached in %s)", name, dir)
		if err := build(dir); err != nil {
			return fmt.Errorf("build %s: %w", name, err)
		}
		c.logf("built %s in %s", name, time.Since(start).Round(time.Second))
		return os.WriteFile(filepath.Join(dir, ".done"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
	})
	return dir, err
}

// stageModules copies scratch modules from ToolsDir into dst so they can be
// built (and their go.sum updated by -mod=mod) outside the checkout.
func (c *Cache) stageModules(dst string, dirs ...string) error {
	for _, d := range dirs {
		src := filepath.Join(c.ToolsDir, d)
		err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			out := filepath.Join(dst, d, rel)
			if e.IsDir() {
				return os.MkdirAll(out, 0o755)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, b, 0o644)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// goEnv is the environment for builds in scratch modules.
func goEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOFLAGS", "GOWORK", "GO111MODULE":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off", "GO111MODULE=on")
	return append(env, extra...)
}

// run runs a command in dir, sending its output to the build log; the
// output is also returned inside the error on failure.
func (c *Cache) run(dir string, env []string, name string, args ...string) error {
	var buf bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var w io.Writer = &buf
	if c.BuildLog != nil {
		w = io.MultiWriter(&buf, c.BuildLog)
		fmt.Fprintf(c.BuildLog, "+ (cd %s && %s %s)\n", dir, name, strings.Join(args, " "))
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		out := buf.String()
		if len(out) > 8000 {
			out = "..." + out[len(out)-8000:]
		}
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// Etcd makes sure Debian's etcd-server is installed at the pinned version
// (tolerating an existing install) and returns the etcd binary path.
func (c *Cache) Etcd() (string, error) {
	installed := func() string {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Status} ${Version}", "etcd-server").Output()
		if err != nil {
			return ""
		}
		s := string(out)
		if !strings.HasPrefix(s, "install ok installed ") {
			return ""
		}
		return strings.TrimPrefix(s, "install ok installed ")
	}
	const bin = "/usr/bin/etcd"
	if v := installed(); v != "" {
		if v != EtcdDebVersion {
			c.logf("etcd-server %s is installed (pinned %s); using it", v, EtcdDebVersion)
		}
		return bin, nil
	}
	err := c.lock(func() error {
		if installed() != "" {
			return nil
		}
		env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		pkg := "etcd-server=" + EtcdDebVersion
		c.logf("installing %s with apt-get", pkg)
		if err := c.run("/", env, "apt-get", "install", "-y", "--no-install-recommends", pkg); err != nil {
			c.logf("apt-get install failed, running apt-get update first")
			if err := c.run("/", env, "apt-get", "update"); err != nil {
				return err
			}
			return c.run("/", env, "apt-get", "install", "-y", "--no-install-recommends", pkg)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("install etcd-server: %w", err)
	}
	return bin, nil
}

// Kube returns kube-apiserver and kubectl built from k8s.io/kubernetes.
func (c *Cache) Kube() (apiserver, kubectl string, err error) {
	h, err := c.moduleHash("kube")
	if err != nil {
		return "", "", err
	}
	dir, err := c.ensure("kube-"+KubernetesVersion+"-"+h, func(dir string) error {
		src := filepath.Join(dir, "src")
		if err := c.stageModules(src, "kube"); err != nil {
			return err
		}
		minor := strings.Split(strings.TrimPrefix(KubernetesVersion, "v"), ".")[1]
		ld := "-X k8s.io/component-base/version.gitVersion=" + KubernetesVersion +
			" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=" + minor +
			" -X k8s.io/component-base/version.gitTreeState=clean"
		for _, p := range []string{"kube-apiserver", "kubectl"} {
			if err := c.run(filepath.Join(src, "kube"), goEnv(), "go", "build", "-o", filepath.Join(dir, p),
				"-ldflags", ld, "k8s.io/kubernetes/cmd/"+p); err != nil {
				return err
			}
		}
		return os.RemoveAll(src)
	})
	if err != nil {
		return "", "", err
	}
	return filepath.Join(dir, "kube-apiserver"), filepath.Join(dir, "kubectl"), nil
}

// Driver is a built Secrets Store CSI Driver.
type Driver struct {
	Version string
	Bin     string
	// CRDs are the SecretProviderClass and SecretProviderClassPodStatus CRD
	// manifests shipped in the driver module's deploy/ directory.
	CRDs []string
}

// Driver builds the given version of the Secrets Store CSI Driver with the
// monis.app/mlog stand-in.
func (c *Cache) Driver(version string) (Driver, error) {
	mod := "driver-" + version
	h, err := c.moduleHash(mod, "mlog")
	if err != nil {
		return Driver{}, err
	}
	crdNames := []string{
		"secrets-store.csi.x-k8s.io_secretproviderclasses.yaml",
		"secrets-store.csi.x-k8s.io_secretproviderclasspodstatuses.yaml",
	}
	dir, err := c.ensure("secrets-store-csi-driver-"+version+"-"+h, func(dir string) error {
		src := filepath.Join(dir, "src")
		if err := c.stageModules(src, mod, "mlog"); err != nil {
			return err
		}
		mdir := filepath.Join(src, mod)
		if err := c.run(mdir, goEnv(), "go", "build", "-o", filepath.Join(dir, "secrets-store-csi-driver"),
			"-ldflags", "-X "+DriverModule+"/pkg/version.BuildVersion="+version,
			DriverModule+"/cmd/secrets-store-csi-driver"); err != nil {
			return err
		}
		out, err := exec.Command("go", "mod", "download", "-json", DriverModule+"@"+version).Output()
		if err != nil {
			return fmt.Errorf("locate %s@%s: %w", DriverModule, version, err)
		}
		var info struct{ Dir string }
		if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
			return fmt.Errorf("locate %s@%s: %v", DriverModule, version, err)
		}
		for _, n := range crdNames {
			b, err := os.ReadFile(filepath.Join(info.Dir, "deploy", n))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
				return err
			}
		}
		return os.RemoveAll(src)
	})
	if err != nil {
		return Driver{}, err
	}
	d := Driver{Version: version, Bin: filepath.Join(dir, "secrets-store-csi-driver")}
	for _, n := range crdNames {
		d.CRDs = append(d.CRDs, filepath.Join(dir, n))
	}
	return d, nil
}

// Helm builds helm from helm.sh/helm/v3/cmd/helm.
func (c *Cache) Helm() (string, error) {
	h, err := c.moduleHash("helm")
	if err != nil {
		return "", err
	}
	dir, err := c.ensure("helm-"+HelmVersion+"-"+h, func(dir string) error {
		src := filepath.Join(dir, "src")
		if err := c.stageModules(src, "helm"); err != nil {
			return err
		}
		if err := c.run(filepath.Join(src, "helm"), goEnv(), "go", "build", "-o", filepath.Join(dir, "helm"),
			"-ldflags", "-X helm.sh/helm/v3/internal/version.version="+HelmVersion,
			"helm.sh/helm/v3/cmd/helm"); err != nil {
			return err
		}
		return os.RemoveAll(src)
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "helm"), nil
}

// BuildRepo builds a package of the main module (e.g. ./cmd/kvcsi) into
// out. These are built on every run (the Go build cache keeps it quick),
// since they are the code under test.
func (c *Cache) BuildRepo(repoRoot, pkg, out string) error {
	start := time.Now()
	env := goEnv()
	// The main module is built as the developer builds it: its own go.mod.
	for i, kv := range env {
		if strings.HasPrefix(kv, "GOFLAGS=") {
			env[i] = "GOFLAGS=-buildvcs=false"
		}
	}
	if err := c.run(repoRoot, env, "go", "build", "-o", out, pkg); err != nil {
		return err
	}
	c.logf("built %s in %s", pkg, time.Since(start).Round(100*time.Millisecond))
	return nil
}
