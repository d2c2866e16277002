package oci

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kvcsi/kvcsi/tools/image/internal/rootfs"
)

func testMeta() Meta {
	return Meta{Source: "https://example.test/kvcsi", Revision: "0123abcd", Version: "v1.2.3", Created: time.Unix(1700000000, 0).UTC()}
}

func testFiles(t *testing.T) []rootfs.File {
	t.Helper()
	files, err := rootfs.Files(rootfs.Inputs{Binary: []byte("\x7fELF-binary"), CABundle: []byte("pem\n"), CACopyright: []byte("c"), License: []byte("l")})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestParsePlatform(t *testing.T) {
	for in, want := range map[string]Platform{
		"linux/amd64": {OS: "linux", Arch: "amd64"},
		"linux/arm64": {OS: "linux", Arch: "arm64", Variant: "v8"},
	} {
		got, err := ParsePlatform(in)
		if err != nil || got != want {
			t.Errorf("ParsePlatform(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"windows/amd64", "linux/arm", "amd64", ""} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) accepted", bad)
		}
	}
}

func TestLayerTarHeaders(t *testing.T) {
	mtime := testMeta().Created
	raw, err := LayerTar(testFiles(t), mtime)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if !h.ModTime.Equal(mtime) || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: mtime %v owner %d:%d (%q:%q), want %v 0:0 unnamed", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname, mtime)
		}
		if h.Name == "tmp/" && h.Mode != 0o1777 {
			t.Errorf("tmp/ mode %o, want 1777", h.Mode)
		}
		if h.Name == "bin/kvcsi" && h.Mode != 0o755 {
			t.Errorf("bin/kvcsi mode %o, want 755", h.Mode)
		}
	}
	if names[0] != "bin/" || names[1] != "bin/kvcsi" {
		t.Errorf("entries start %q, want a directory before its files", names[:2])
	}
	if _, err := LayerTar([]rootfs.File{{Path: "../escape", Mode: 0o644}}, mtime); err == nil {
		t.Error("a path outside the image was written")
	}
}

func TestImageConfig(t *testing.T) {
	p, _ := ParsePlatform("linux/arm64")
	img, err := Image(testFiles(t), p, testMeta())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "arm64" || cfg.Variant != "v8" || cfg.OS != "linux" {
		t.Errorf("platform %s/%s/%s", cfg.OS, cfg.Architecture, cfg.Variant)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/bin/kvcsi" || cfg.Config.User != "0:0" {
		t.Errorf("entrypoint %q user %q", cfg.Config.Entrypoint, cfg.Config.User)
	}
	if got := cfg.Config.Labels[LabelCreated]; got != "2023-11-14T22:13:20Z" {
		t.Errorf("created label %q", got)
	}
	if !cfg.Created.Time.Equal(testMeta().Created) || len(cfg.History) != 1 || !cfg.History[0].Created.Time.Equal(testMeta().Created) {
		t.Errorf("created %v history %+v", cfg.Created, cfg.History)
	}
	mt, _ := img.MediaType()
	if !strings.Contains(string(mt), "oci") {
		t.Errorf("manifest media type %s, want OCI", mt)
	}
}

func TestImageRejectsIncompleteMeta(t *testing.T) {
	p, _ := ParsePlatform("linux/amd64")
	for name, m := range map[string]Meta{
		"no revision":       {Source: "s", Version: "v", Created: time.Unix(1, 0)},
		"no created":        {Source: "s", Version: "v", Revision: "r"},
		"sub-second create": {Source: "s", Version: "v", Revision: "r", Created: time.Unix(1, 5)},
	} {
		if _, err := Image(testFiles(t), p, m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestSameInputsSameBytes: the digest depends on the inputs only; any input change
// (here the epoch) changes it.
func TestSameInputsSameBytes(t *testing.T) {
	p, _ := ParsePlatform("linux/amd64")
	digest := func(m Meta) string {
		img, err := Image(testFiles(t), p, m)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := Index([]PlatformImage{{Platform: p, Image: img}})
		if err != nil {
			t.Fatal(err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	a, b := digest(testMeta()), digest(testMeta())
	if a != b {
		t.Fatalf("two builds: %s and %s", a, b)
	}
	later := testMeta()
	later.Created = later.Created.Add(time.Second)
	if digest(later) == a {
		t.Error("another created time gave the same digest")
	}
}

func TestWriteLayoutAndTarball(t *testing.T) {
	amd, _ := ParsePlatform("linux/amd64")
	arm, _ := ParsePlatform("linux/arm64")
	var imgs []PlatformImage
	for _, p := range []Platform{amd, arm} {
		img, err := Image(testFiles(t), p, testMeta())
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, PlatformImage{Platform: p, Image: img})
	}
	idx, err := Index(imgs)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := WriteLayout(dir, idx, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	if len(m.Manifests) != 1 || m.Manifests[0].Digest != want || m.Manifests[0].Annotations[RefName] != "v1.2.3" {
		t.Fatalf("index.json %+v, want one entry %s named v1.2.3", m.Manifests, want)
	}
	inner, err := top.ImageIndex(want)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := inner.IndexManifest()
	if len(im.Manifests) != 2 || im.Manifests[1].Platform.Variant != "v8" {
		t.Errorf("inner index %+v", im.Manifests)
	}

	tb := filepath.Join(t.TempDir(), "kvcsi.tar")
	if err := WriteDockerTarball(tb, "kvcsi:v1.2.3", imgs[0].Image); err != nil {
		t.Fatal(err)
	}
	loaded, err := tarball.ImageFromPath(tb, nil)
	if err != nil {
		t.Fatal(err)
	}
	ld, _ := loaded.ConfigName()
	od, _ := imgs[0].Image.ConfigName()
	if ld != od {
		t.Errorf("docker-archive holds config %s, want %s", ld, od)
	}
	if _, err := os.Stat(tb); err != nil {
		t.Fatal(err)
	}
}
