package check

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/kvcsi/kvcsi/tools/image/internal/oci"
	"github.com/kvcsi/kvcsi/tools/image/internal/rootfs"
)

// ChrootExecCommand is the tool's hidden subcommand that runs /bin/kvcsi inside an
// unpacked root (see ChrootExec).
const ChrootExecCommand = "chroot-exec"

type options struct {
	image, repo, demo, spc  string
	manifests, dockerRootfs string
	exp                     Expect
	wantPlatforms           []string
	asRoot                  bool
	stdout, stderr          io.Writer
}

// Main is `image check`.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("check", flag.ContinueOnError)
	fl.SetOutput(stderr)
	o := options{stdout: stdout, stderr: stderr, asRoot: os.Geteuid() == 0}
	var epoch, platforms string
	fl.StringVar(&o.image, "image", "", "output folder of `image build` (oci/, tarballs, SBOMs)")
	fl.StringVar(&o.repo, "repo", ".", "the kvcsi repository (test/demo, manifests, examples)")
	fl.StringVar(&o.demo, "demo", "", "compiled test/demo; built from --repo when empty")
	fl.StringVar(&o.spc, "spc", "examples/secretproviderclass.yaml", "SecretProviderClass the demo mounts (relative to --repo)")
	fl.StringVar(&o.manifests, "manifests", "manifest_staging/deployment/provider-kvcsi-installer.yaml,manifest_staging/charts/kvcsi/templates/daemonset-linux.yaml",
		"comma-separated manifests whose runAsUser the image's user must match (relative to --repo)")
	fl.StringVar(&o.exp.Source, "source", "", "expected org.opencontainers.image.source")
	fl.StringVar(&o.exp.Revision, "revision", "", "expected org.opencontainers.image.revision")
	fl.StringVar(&o.exp.Version, "version", "", "expected org.opencontainers.image.version and kvcsi --version")
	fl.StringVar(&epoch, "epoch", "", "expected SOURCE_DATE_EPOCH (created label, file times, kvcsi buildDate)")
	fl.StringVar(&o.dockerRootfs, "rootfs", "", "folder `make image-rootfs` wrote for this machine's platform (the Dockerfile's COPY source): must equal the image's files")
	fl.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "platforms the index must hold, in order")
	if err := fl.Parse(args); err != nil {
		return err
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("--epoch %q: want seconds since 1970", epoch)
	}
	o.exp.Created = time.Unix(sec, 0).UTC()
	o.wantPlatforms = strings.Split(platforms, ",")
	if o.image == "" || o.exp.Version == "" || o.exp.Revision == "" || o.exp.Source == "" {
		return errors.New("check: --image, --source, --revision and --version are required")
	}
	r := &runner{out: stdout}
	o.run(ctx, r)
	fmt.Fprintf(stdout, "image-check: %d passed, %d failed\n", r.passed, r.failed)
	if r.failed > 0 {
		return fmt.Errorf("%d image check(s) failed", r.failed)
	}
	return nil
}

// runner prints one line per check and counts.
type runner struct {
	out            io.Writer
	passed, failed int
}

func (r *runner) check(name string, err error) bool {
	if err != nil {
		r.failed++
		fmt.Fprintf(r.out, "FAIL %s\n     %s\n", name, strings.ReplaceAll(err.Error(), "\n", "\n     "))
		return false
	}
	r.passed++
	fmt.Fprintf(r.out, "ok   %s\n", name)
	return true
}

func (o *options) run(ctx context.Context, r *runner) {
	var paths []string
	for _, m := range strings.Split(o.manifests, ",") {
		paths = append(paths, filepath.Join(o.repo, m))
	}
	uid, err := ManifestUID(paths)
	if !r.check("manifests agree on the provider's runAsUser", err) {
		return
	}
	o.exp.UID = uid

	idx, err := openIndex(filepath.Join(o.image, "oci"), o.exp.Version)
	if !r.check("OCI layout opens, index named "+o.exp.Version, err) {
		return
	}
	man, err := idx.IndexManifest()
	if err != nil {
		r.check("index manifest", err)
		return
	}
	var got []string
	for _, d := range man.Manifests {
		if d.Platform != nil {
			got = append(got, d.Platform.OS+"/"+d.Platform.Architecture)
		}
	}
	if !r.check(fmt.Sprintf("index holds %s", strings.Join(o.wantPlatforms, ", ")), equalList(got, o.wantPlatforms)) {
		return
	}

	var host *platformImage
	for _, d := range man.Manifests {
		p, err := oci.ParsePlatform(d.Platform.OS + "/" + d.Platform.Architecture)
		if err != nil || d.Platform.Variant != p.Variant {
			r.check("platform of "+d.Digest.String(), fmt.Errorf("descriptor platform %+v: %v", d.Platform, err))
			continue
		}
		img, err := idx.Image(d.Digest)
		if !r.check(p.String()+": image "+d.Digest.String()+" reads", err) {
			continue
		}
		pi := o.inspect(r, p, d.Digest, img)
		if pi != nil && p.Arch == runtime.GOARCH && p.OS == runtime.GOOS {
			host = pi
		}
	}
	if !r.check("an image for this machine ("+runtime.GOOS+"/"+runtime.GOARCH+") is in the index", nilIf(host != nil, "none")) {
		return
	}
	if o.dockerRootfs != "" {
		r.check("the Dockerfile's root file system ("+o.dockerRootfs+") holds the image's files, modes and times", SameTree(host.entries, o.dockerRootfs))
	}
	o.runHost(ctx, r, host)
}

type platformImage struct {
	p       oci.Platform
	entries []Entry
}

// inspect runs every check that needs no execution on one platform image.
func (o *options) inspect(r *runner, p oci.Platform, digest v1.Hash, img v1.Image) *platformImage {
	cfg, err := img.ConfigFile()
	if !r.check(p.String()+": config reads", err) {
		return nil
	}
	r.check(p.String()+": config (platform, entrypoint, user, labels, created)", Config(cfg, p, o.exp))
	entries, err := Entries(img)
	if !r.check(p.String()+": layer unpacks", err) {
		return nil
	}
	r.check(p.String()+": files (paths, owners, modes, times, static "+p.Arch+" ELF)", Files(entries, p, o.exp.Created))
	bundle := entryData(entries, rootfs.CABundlePath)
	n, err := CABundle(bundle)
	r.check(fmt.Sprintf("%s: /%s (%d certificates, Azure's roots among them)", p, rootfs.CABundlePath, n), err)
	doc, err := os.ReadFile(filepath.Join(o.image, "kvcsi-"+p.Slug()+".cdx.json"))
	if err == nil {
		n, err = SBOM(doc, digest, entryData(entries, rootfs.BinaryPath))
	}
	r.check(fmt.Sprintf("%s: SBOM kvcsi-%s.cdx.json (%d components) names this image and every module of its binary", p, p.Slug(), n), err)
	return &platformImage{p: p, entries: entries}
}

func entryData(entries []Entry, path string) []byte {
	for _, e := range entries {
		if strings.TrimPrefix(e.Header.Name, "./") == path {
			return e.Data
		}
	}
	return nil
}

func openIndex(dir, refName string) (v1.ImageIndex, error) {
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsIndex() {
		return nil, fmt.Errorf("index.json has %d entries, want one image index", len(m.Manifests))
	}
	if got := m.Manifests[0].Annotations[oci.RefName]; got != refName {
		return nil, fmt.Errorf("index.json names the image %q, want %q: run `make image` for this commit first", got, refName)
	}
	return top.ImageIndex(m.Manifests[0].Digest)
}

// runHost unpacks the host's image and runs its binary.
func (o *options) runHost(ctx context.Context, r *runner, host *platformImage) {
	work, err := os.MkdirTemp("", "kvcsi-image-check-")
	if err != nil {
		r.check("temporary folder", err)
		return
	}
	defer os.RemoveAll(work)
	root := filepath.Join(work, "rootfs")
	if !r.check("unpack "+host.p.String()+" into "+root, Unpack(host.entries, root)) {
		return
	}
	how := "directly (not root: no chroot)"
	if o.asRoot {
		how = "chrooted into the unpacked root, empty environment"
	}
	out, err := runVersion(ctx, root, o.asRoot)
	if err == nil {
		err = checkVersionOutput(out, o.exp)
	}
	r.check("/bin/kvcsi --version "+how+": "+strings.TrimSpace(string(out)), err)

	demo := o.demo
	if demo == "" {
		demo = filepath.Join(work, "demo")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", demo, "./test/demo")
		cmd.Dir = o.repo
		if b, err := cmd.CombinedOutput(); !r.check("build test/demo", wrapOutput(err, b)) {
			return
		}
	}
	spc := filepath.Join(o.repo, o.spc)
	if !o.asRoot {
		err := o.demoMount(ctx, demo, spc, filepath.Join(root, rootfs.BinaryPath), "", filepath.Join(work, "mount"), true)
		r.check("demo mount of "+o.spc+" with the image's /bin/kvcsi (run directly; chroot needs root)", err)
		return
	}
	wrappers := map[string]string{}
	self, err := os.Executable()
	for _, mode := range []string{"plain", "unset", "bundle"} {
		if err == nil {
			wrappers[mode], err = wrapper(work, self, root, mode)
		}
	}
	if !r.check("chroot wrappers for the demo (this program's "+ChrootExecCommand+")", err) {
		return
	}
	// 1. The demo path as in production: the provider reaches Azure through a proxy whose
	//    CA SSL_CERT_FILE names (its path rewritten to the chroot's view).
	err = o.demoMount(ctx, demo, spc, wrappers["plain"], filepath.Join(root, "tmp"), filepath.Join(work, "mount-1"), true)
	r.check("demo mount of "+o.spc+" with /bin/kvcsi chrooted into the image (SSL_CERT_FILE = the emulator's CA)", err)
	// 2. Without SSL_CERT_FILE the binary has only the image's bundle, which does not
	//    trust the emulator: the mount must fail on the certificate.
	err = o.demoMount(ctx, demo, spc, wrappers["unset"], filepath.Join(root, "tmp"), filepath.Join(work, "mount-2"), false)
	r.check("without SSL_CERT_FILE the chrooted binary refuses the emulator's certificate (only the image's bundle is trusted)", err)
	// 3. The emulator's CA appended to the image's bundle: the mount succeeds, so the
	//    binary verifies with /etc/ssl/certs/ca-certificates.crt of the image.
	err = o.demoMount(ctx, demo, spc, wrappers["bundle"], filepath.Join(root, "tmp"), filepath.Join(work, "mount-3"), true)
	r.check("with the emulator's CA appended to the image's /"+rootfs.CABundlePath+" and no SSL_CERT_FILE the chrooted mount succeeds", err)
}

func nilIf(ok bool, msg string) error {
	if ok {
		return nil
	}
	return errors.New(msg)
}

func equalList(got, want []string) error {
	if strings.Join(got, ",") != strings.Join(want, ",") {
		return fmt.Errorf("got %q, want %q", got, want)
	}
	return nil
}

func wrapOutput(err error, out []byte) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w\n%s", err, tail(out, 40))
}

func tail(b []byte, lines int) string {
	s := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(s) > lines {
		s = s[len(s)-lines:]
	}
	return strings.Join(s, "\n")
}

// Unpack writes entries under root (created) with their modes and times.
func Unpack(entries []Entry, root string) error {
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		name := strings.TrimSuffix(strings.TrimPrefix(e.Header.Name, "./"), "/")
		if !rootfs.ValidPath(name) {
			return fmt.Errorf("refusing to unpack %q", e.Header.Name)
		}
		p := filepath.Join(root, filepath.FromSlash(name))
		mode := fs.FileMode(e.Header.Mode).Perm()
		if e.Header.Mode&0o1000 != 0 {
			mode |= fs.ModeSticky
		}
		switch e.Header.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.WriteFile(p, e.Data, 0o600); err != nil {
				return err
			}
		default:
			return fmt.Errorf("/%s: unexpected type %q", name, e.Header.Typeflag)
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
	}
	return nil
}

// runVersion runs /bin/kvcsi --version from root with an empty environment: chrooted
// into it (as root) so that nothing of this machine is reachable, or directly.
func runVersion(ctx context.Context, root string, chroot bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if chroot {
		cmd = exec.CommandContext(ctx, "/"+rootfs.BinaryPath, "--version")
		chrootCmd(cmd, root)
		cmd.Dir = "/"
	} else {
		cmd = exec.CommandContext(ctx, filepath.Join(root, rootfs.BinaryPath), "--version")
	}
	cmd.Env = []string{}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return out, nil
}

func checkVersionOutput(out []byte, exp Expect) error {
	var v struct {
		Version   string `json:"version"`
		BuildDate string `json:"buildDate"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &v); err != nil {
		return fmt.Errorf("--version printed %q: %w", out, err)
	}
	var errs []error
	if v.Version != exp.Version {
		errs = append(errs, fmt.Errorf("version %q, want %q (the version label)", v.Version, exp.Version))
	}
	if want := exp.Created.UTC().Format(time.RFC3339); v.BuildDate != want {
		errs = append(errs, fmt.Errorf("buildDate %q, want %q (the created label: both from SOURCE_DATE_EPOCH)", v.BuildDate, want))
	}
	return errors.Join(errs...)
}

// demoMount runs test/demo with binary as the provider and expects success (the
// target gets files) or, when wantOK is false, a failed mount that names the
// certificate. tmpDir, when set, is the demo's TMPDIR: inside the unpacked root, so
// that the socket and the emulator's CA are visible from the chroot.
func (o *options) demoMount(ctx context.Context, demo, spc, binary, tmpDir, target string, wantOK bool) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, demo, "--binary", binary, "--spc", spc, "--target", target)
	cmd.Dir = o.repo
	cmd.Env = os.Environ()
	if tmpDir != "" {
		cmd.Env = append(cmd.Env, "TMPDIR="+tmpDir)
	}
	out, err := cmd.CombinedOutput()
	if !wantOK {
		if err == nil {
			return fmt.Errorf("the mount succeeded, so something besides the image's bundle trusted the emulator:\n%s", tail(out, 20))
		}
		if !bytes.Contains(out, []byte("x509: certificate signed by unknown authority")) {
			return fmt.Errorf("the mount failed, but not on the certificate: %w\n%s", err, tail(out, 30))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tail(out, 40))
	}
	files, err := os.ReadDir(target)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("the demo wrote no files into %s", target)
	}
	return nil
}

// wrapper writes a script the demo can run as "the kvcsi binary": it re-enters this
// program's chroot-exec with root and mode.
func wrapper(dir, self, root, mode string) (string, error) {
	p := filepath.Join(dir, "kvcsi-chroot-"+mode)
	script := fmt.Sprintf("#!/bin/sh\nexec %s %s --root %s --ssl-cert-file %s -- \"$@\"\n", shellQuote(self), ChrootExecCommand, shellQuote(root), mode)
	return p, os.WriteFile(p, []byte(script), 0o755)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// ChrootExec is the hidden subcommand behind wrapper: it rewrites every argument and
// environment value that names a path inside root to the chroot's view, applies the
// SSL_CERT_FILE mode, chroots into root and executes /bin/kvcsi in place of itself
// (same PID, so the demo's signals reach the provider).
//
//	plain   keep SSL_CERT_FILE (the emulator's CA, inside root)
//	unset   drop SSL_CERT_FILE: only the image's bundle is trusted
//	bundle  append the SSL_CERT_FILE certificate to the image's bundle, then drop it
func ChrootExec(args []string) error {
	fl := flag.NewFlagSet(ChrootExecCommand, flag.ContinueOnError)
	root := fl.String("root", "", "unpacked image root")
	mode := fl.String("ssl-cert-file", "plain", "plain, unset or bundle")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *root == "" || !filepath.IsAbs(*root) {
		return errors.New("chroot-exec: --root must be an absolute path")
	}
	r := filepath.Clean(*root)
	var env []string
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if k == "SSL_CERT_FILE" {
			switch *mode {
			case "unset":
				continue
			case "bundle":
				if err := appendToBundle(r, v); err != nil {
					return err
				}
				continue
			case "plain":
			default:
				return fmt.Errorf("chroot-exec: unknown --ssl-cert-file mode %q", *mode)
			}
		}
		env = append(env, k+"="+strings.ReplaceAll(v, r, ""))
	}
	argv := []string{"/" + rootfs.BinaryPath}
	for _, a := range fl.Args() {
		argv = append(argv, strings.ReplaceAll(a, r, ""))
	}
	return chrootExec(r, argv, env)
}

func appendToBundle(root, certFile string) error {
	ca, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(root, rootfs.CABundlePath), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(ca); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
