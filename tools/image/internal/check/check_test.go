package check

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kvcsi/kvcsi/tools/image/internal/oci"
	"github.com/kvcsi/kvcsi/tools/image/internal/rootfs"
	"github.com/kvcsi/kvcsi/tools/image/internal/sbom"
	"github.com/kvcsi/kvcsi/tools/image/internal/testbin"
)

var (
	amd64, _ = oci.ParsePlatform("linux/amd64")
	arm64, _ = oci.ParsePlatform("linux/arm64")
	created  = time.Unix(1700000000, 0).UTC()
)

func testExpect() Expect {
	return Expect{Source: "https://example.test/kvcsi", Revision: "0123abcd", Version: "v1.2.3", Created: created, UID: 0}
}

func testImage(t *testing.T, p oci.Platform, binary []byte) v1.Image {
	t.Helper()
	e := testExpect()
	files, err := rootfs.Files(rootfs.Inputs{Binary: binary, CABundle: []byte("pem\n"), CACopyright: []byte("c"), License: []byte("l")})
	if err != nil {
		t.Fatal(err)
	}
	img, err := oci.Image(files, p, oci.Meta{Source: e.Source, Revision: e.Revision, Version: e.Version, Created: e.Created})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestStaticELF(t *testing.T) {
	static := testbin.StaticGo(t, "amd64")
	if err := StaticELF(static, amd64); err != nil {
		t.Errorf("a CGO_ENABLED=0 amd64 binary: %v", err)
	}
	if err := StaticELF(static, arm64); err == nil || !strings.Contains(err.Error(), "EM_AARCH64") {
		t.Errorf("an amd64 binary in the arm64 image: err = %v, want a machine mismatch", err)
	}
	host := testbin.HostDynamic(t)
	p := amd64
	if f, err := elf.NewFile(bytes.NewReader(host)); err == nil && f.Machine == elf.EM_AARCH64 {
		p = arm64
	}
	if err := StaticELF(host, p); err == nil || !strings.Contains(err.Error(), "PT_INTERP") {
		t.Errorf("a dynamically linked program: err = %v, want PT_INTERP", err)
	}
	if err := StaticELF([]byte("\x7fELF garbage"), amd64); err == nil {
		t.Error("garbage accepted as ELF")
	}
}

func TestConfig(t *testing.T) {
	cfg, err := testImage(t, amd64, []byte("x")).ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if err := Config(cfg, amd64, testExpect()); err != nil {
		t.Fatalf("the built config: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(*v1.ConfigFile, *Expect)
		want   string
	}{
		{"wrong architecture", func(c *v1.ConfigFile, _ *Expect) { c.Architecture = "arm64" }, "platform"},
		{"shell entrypoint", func(c *v1.ConfigFile, _ *Expect) { c.Config.Entrypoint = []string{"/bin/sh", "-c"} }, "entrypoint"},
		{"a cmd", func(c *v1.ConfigFile, _ *Expect) { c.Config.Cmd = []string{"--help"} }, "cmd"},
		{"nonroot user", func(c *v1.ConfigFile, _ *Expect) { c.Config.User = "65532:65532" }, "runAsUser"},
		{"manifests expect another uid", func(_ *v1.ConfigFile, e *Expect) { e.UID = 65532 }, "runAsUser"},
		{"missing revision label", func(c *v1.ConfigFile, _ *Expect) { delete(c.Config.Labels, oci.LabelRevision) }, oci.LabelRevision},
		{"another version", func(_ *v1.ConfigFile, e *Expect) { e.Version = "v1.2.4" }, oci.LabelVersion},
		{"wall-clock created", func(c *v1.ConfigFile, _ *Expect) { c.Created = v1.Time{Time: time.Now()} }, "created"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cc := cfg.DeepCopy()
			e := testExpect()
			c.change(cc, &e)
			err := Config(cc, amd64, e)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one about %s", err, c.want)
			}
		})
	}
}

func TestFiles(t *testing.T) {
	entries, err := Entries(testImage(t, arm64, testbin.StaticGo(t, "arm64")))
	if err != nil {
		t.Fatal(err)
	}
	if err := Files(entries, arm64, created); err != nil {
		t.Fatalf("the built image: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func([]Entry) []Entry
		want   string
	}{
		{"amd64 binary in the arm64 image", func(es []Entry) []Entry {
			return withData(es, rootfs.BinaryPath, testbin.StaticGo(t, "amd64"))
		}, "EM_X86_64"},
		{"dynamically linked binary", func(es []Entry) []Entry { return withData(es, rootfs.BinaryPath, testbin.HostDynamic(t)) }, "ELF"},
		{"extra shell", func(es []Entry) []Entry {
			return append(es, Entry{Header: &tar.Header{Name: "bin/sh", Typeflag: tar.TypeReg, Mode: 0o755, ModTime: created}})
		}, "files"},
		{"setuid", func(es []Entry) []Entry {
			return withHeader(es, rootfs.BinaryPath, func(h *tar.Header) { h.Mode |= 0o4000 })
		}, "setuid"},
		{"wall-clock mtime", func(es []Entry) []Entry {
			return withHeader(es, "etc/passwd", func(h *tar.Header) { h.ModTime = time.Now() })
		}, "mtime"},
		{"owned by a user", func(es []Entry) []Entry { return withHeader(es, "etc/group", func(h *tar.Header) { h.Uid = 1000 }) }, "owner"},
		{"symlink", func(es []Entry) []Entry {
			return withHeader(es, "etc/passwd", func(h *tar.Header) { h.Typeflag = tar.TypeSymlink; h.Linkname = "/host/etc/passwd" })
		}, "type"},
		{"binary not executable", func(es []Entry) []Entry {
			return withHeader(es, rootfs.BinaryPath, func(h *tar.Header) { h.Mode = 0o644 })
		}, "executable"},
		{"path escapes", func(es []Entry) []Entry {
			return append(es, Entry{Header: &tar.Header{Name: "../etc/shadow", Typeflag: tar.TypeReg, ModTime: created}})
		}, "clean path"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Files(c.change(cloneEntries(entries)), arm64, created)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one about %s", err, c.want)
			}
		})
	}
}

func cloneEntries(es []Entry) []Entry {
	out := make([]Entry, len(es))
	for i, e := range es {
		h := *e.Header
		out[i] = Entry{Header: &h, Data: e.Data}
	}
	return out
}

func withHeader(es []Entry, path string, f func(*tar.Header)) []Entry {
	for _, e := range es {
		if strings.TrimSuffix(e.Header.Name, "/") == path {
			f(e.Header)
		}
	}
	return es
}

func withData(es []Entry, path string, data []byte) []Entry {
	for i := range es {
		if es[i].Header.Name == path {
			es[i].Data = data
		}
	}
	return es
}

func selfSigned(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: created, NotAfter: created.Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestCABundle(t *testing.T) {
	var few []byte
	for i := 0; i < 3; i++ {
		few = append(few, selfSigned(t, "test root")...)
	}
	_, err := CABundle(few)
	if err == nil || !strings.Contains(err.Error(), "at least") || !strings.Contains(err.Error(), "DigiCert Global Root G2") {
		t.Errorf("three test roots: err = %v, want too few and Azure's roots missing", err)
	}
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})
	if _, err := CABundle(append(few, key...)); err == nil || !strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Errorf("a key in the bundle: err = %v", err)
	}
	if _, err := CABundle(append(few, []byte("trailing junk")...)); err == nil || !strings.Contains(err.Error(), "not PEM") {
		t.Errorf("junk after the certificates: err = %v", err)
	}

	deb := filepath.Join("..", "..", "..", "..", "bin", "image", "cache", rootfs.CADebName())
	if _, err := os.Stat(deb); err != nil {
		t.Skipf("no %s for the positive case (make image downloads it)", deb)
	}
	bundle, _, err := rootfs.CABundle(deb)
	if err != nil {
		t.Fatal(err)
	}
	n, err := CABundle(bundle)
	if err != nil || n < MinCertificates {
		t.Errorf("the pinned Debian bundle: %d certificates, %v", n, err)
	}
}

func TestManifestUID(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	root := write("root.yaml", "securityContext:\n  runAsUser: 0\n")
	root2 := write("chart.yaml", "        securityContext:\n          runAsUser: 0\n")
	other := write("other.yaml", "securityContext:\n  runAsUser: 65532\n")
	none := write("none.yaml", "kind: DaemonSet\n")
	if uid, err := ManifestUID([]string{root, root2}); err != nil || uid != 0 {
		t.Errorf("uid %d, %v", uid, err)
	}
	if _, err := ManifestUID([]string{root, other}); err == nil {
		t.Error("disagreeing manifests accepted")
	}
	if _, err := ManifestUID([]string{none}); err == nil {
		t.Error("a manifest without runAsUser accepted")
	}
	repo := filepath.Join("..", "..", "..", "..")
	uid, err := ManifestUID([]string{
		filepath.Join(repo, "manifest_staging", "deployment", "provider-kvcsi-installer.yaml"),
		filepath.Join(repo, "manifest_staging", "charts", "kvcsi", "templates", "daemonset-linux.yaml"),
	})
	if err != nil || uid != 0 {
		t.Errorf("the repository's manifests: uid %d, %v (the image runs as %s)", uid, err, rootfs.User)
	}
}

func TestSBOM(t *testing.T) {
	bin := testbin.StaticGo(t, "amd64")
	digest := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("d", 64)}
	e := testExpect()
	bom, err := sbom.Generate(sbom.Input{Platform: amd64, ImageDigest: digest, Binary: bin,
		Meta: oci.Meta{Source: e.Source, Revision: e.Revision, Version: e.Version, Created: e.Created}})
	if err != nil {
		t.Fatal(err)
	}
	var doc bytes.Buffer
	if err := sbom.Encode(&doc, bom); err != nil {
		t.Fatal(err)
	}
	if _, err := SBOM(doc.Bytes(), digest, bin); err != nil {
		t.Fatalf("the generated SBOM: %v", err)
	}
	other := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("e", 64)}
	if _, err := SBOM(doc.Bytes(), other, bin); err == nil || !strings.Contains(err.Error(), "does not name image") {
		t.Errorf("SBOM of another image: err = %v", err)
	}
	stripped := bytes.Replace(doc.Bytes(), []byte(`"name": "stdlib"`), []byte(`"name": "something-else"`), 1)
	if _, err := SBOM(stripped, digest, bin); err == nil || !strings.Contains(err.Error(), "stdlib") {
		t.Errorf("SBOM without the standard library: err = %v", err)
	}
	if _, err := SBOM([]byte("{not json"), digest, bin); err == nil {
		t.Error("garbage accepted as an SBOM")
	}
}

func TestCheckVersionOutput(t *testing.T) {
	e := testExpect()
	if err := checkVersionOutput([]byte(`{"version":"v1.2.3","buildDate":"2023-11-14T22:13:20Z"}`+"\n"), e); err != nil {
		t.Fatal(err)
	}
	if err := checkVersionOutput([]byte(`{"version":"v1.2.3","buildDate":"2026-01-01T00:00:00Z"}`), e); err == nil || !strings.Contains(err.Error(), "buildDate") {
		t.Errorf("another build date: err = %v", err)
	}
	if err := checkVersionOutput([]byte(`{"version":"v0.0.0-dev","buildDate":"unknown"}`), e); err == nil {
		t.Error("an unstamped binary accepted")
	}
}

func TestUnpackRefusesEscapes(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	err := Unpack([]Entry{{Header: &tar.Header{Name: "../../x", Typeflag: tar.TypeReg}}}, root)
	if err == nil {
		t.Fatal("unpacked a path outside the root")
	}
}

func TestSameTree(t *testing.T) {
	files, err := rootfs.Files(rootfs.Inputs{Binary: []byte("x"), CABundle: []byte("pem\n"), CACopyright: []byte("c"), License: []byte("l")})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := Entries(testImage(t, amd64, []byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := rootfs.WriteDir(dir, files, created); err != nil {
		t.Fatal(err)
	}
	if err := SameTree(entries, dir); err != nil {
		t.Fatalf("the folder written from the same files: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, "etc", "passwd"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmp", "extra"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err = SameTree(entries, dir)
	if err == nil || !strings.Contains(err.Error(), "/etc/passwd: mode 666") || !strings.Contains(err.Error(), "/tmp/extra") {
		t.Errorf("err = %v, want the mode and the extra file", err)
	}
}
