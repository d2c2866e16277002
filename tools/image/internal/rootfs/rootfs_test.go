package rootfs

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testInputs() Inputs {
	return Inputs{Binary: []byte("\x7fELF"), CABundle: []byte("pem\n"), CACopyright: []byte("c"), License: []byte("l")}
}

func TestFilesOrderParentsModes(t *testing.T) {
	files, err := Files(testInputs())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		path string
		mode fs.FileMode
		dir  bool
	}{
		{"bin", 0o755, true},
		{"bin/kvcsi", 0o755, false},
		{"etc", 0o755, true},
		{"etc/group", 0o644, false},
		{"etc/passwd", 0o644, false},
		{"etc/ssl", 0o755, true},
		{"etc/ssl/certs", 0o755, true},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, false},
		{"tmp", 0o777 | fs.ModeSticky, true},
		{"usr", 0o755, true},
		{"usr/share", 0o755, true},
		{"usr/share/doc", 0o755, true},
		{"usr/share/doc/ca-certificates", 0o755, true},
		{"usr/share/doc/ca-certificates/copyright", 0o644, false},
		{"usr/share/doc/kvcsi", 0o755, true},
		{"usr/share/doc/kvcsi/LICENSE", 0o644, false},
	}
	if len(files) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(files), len(want), files)
	}
	for i, w := range want {
		f := files[i]
		if f.Path != w.path || f.Mode != w.mode || f.Dir != w.dir {
			t.Errorf("entry %d = {%s %v dir=%v}, want {%s %v dir=%v}", i, f.Path, f.Mode, f.Dir, w.path, w.mode, w.dir)
		}
		if !ValidPath(f.Path) {
			t.Errorf("%s is not a valid image path", f.Path)
		}
	}
	if !strings.Contains(string(fileData(t, files, "etc/passwd")), "root:x:0:0:") {
		t.Error("/etc/passwd has no root entry with uid 0")
	}
}

func fileData(t *testing.T, files []File, p string) []byte {
	t.Helper()
	for _, f := range files {
		if f.Path == p {
			return f.Data
		}
	}
	t.Fatalf("no %s", p)
	return nil
}

func TestFilesRejectsMissingInput(t *testing.T) {
	in := testInputs()
	in.CABundle = nil
	if _, err := Files(in); err == nil || !strings.Contains(err.Error(), "CA bundle") {
		t.Fatalf("err = %v, want one naming the CA bundle", err)
	}
}

func TestValidPath(t *testing.T) {
	for p, want := range map[string]bool{
		"bin/kvcsi": true, "tmp/": true, "etc": true,
		"": false, ".": false, "/etc/passwd": false, "../x": false, "a/../../x": false, "a//b": false, "..": false,
	} {
		if got := ValidPath(p); got != want {
			t.Errorf("ValidPath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestWriteDir(t *testing.T) {
	files, err := Files(testInputs())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "root")
	mtime := time.Unix(1700000000, 0)
	if err := WriteDir(dir, files, mtime); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		st, err := os.Lstat(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode() &^ fs.ModeDir; got != f.Mode {
			t.Errorf("%s: mode %v, want %v", f.Path, got, f.Mode)
		}
		if !st.ModTime().Equal(mtime) {
			t.Errorf("%s: mtime %v, want %v", f.Path, st.ModTime(), mtime)
		}
	}
	if err := WriteDir(dir, files, mtime); err == nil {
		t.Error("WriteDir over an existing directory succeeded")
	}
}

func tarOf(t *testing.T, entries map[string]string) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// Write in a scrambled order: the bundle's order must not depend on it.
	for _, name := range []string{"./usr/share/ca-certificates/", "./usr/share/ca-certificates/mozilla/b.crt", "./usr/sbin/update-ca-certificates",
		"./usr/share/ca-certificates/mozilla/a.crt", "./usr/share/ca-certificates/mozilla/B.crt", "./usr/share/doc/ca-certificates/copyright",
		"./usr/share/ca-certificates/mozilla/readme.txt"} {
		content, ok := entries[name]
		if !ok {
			continue
		}
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(name, "/") {
			h = &tar.Header{Name: name, Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(buf.Bytes())
}

func TestBundleFromTarOrderAndNewlines(t *testing.T) {
	bundle, copyright, err := bundleFromTar(tarOf(t, map[string]string{
		"./usr/share/ca-certificates/":                   "",
		"./usr/share/ca-certificates/mozilla/b.crt":      "B-lower",
		"./usr/share/ca-certificates/mozilla/a.crt":      "A\n",
		"./usr/share/ca-certificates/mozilla/B.crt":      "B-upper\n",
		"./usr/share/ca-certificates/mozilla/readme.txt": "not a cert",
		"./usr/sbin/update-ca-certificates":              "#!/bin/sh",
		"./usr/share/doc/ca-certificates/copyright":      "MPL-2.0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	// Byte order: "B.crt" < "a.crt" < "b.crt"; the last one gains its newline.
	if want := "B-upper\nA\nB-lower\n"; string(bundle) != want {
		t.Errorf("bundle = %q, want %q", bundle, want)
	}
	if string(copyright) != "MPL-2.0" {
		t.Errorf("copyright = %q", copyright)
	}
}

func TestBundleFromTarNeedsCertsAndCopyright(t *testing.T) {
	if _, _, err := bundleFromTar(tarOf(t, map[string]string{"./usr/share/doc/ca-certificates/copyright": "x"})); err == nil {
		t.Error("a package without certificates made a bundle")
	}
	if _, _, err := bundleFromTar(tarOf(t, map[string]string{"./usr/share/ca-certificates/mozilla/a.crt": "A\n"})); err == nil {
		t.Error("a package without a copyright file made a bundle")
	}
}

func TestCABundleRefusesAnotherPackage(t *testing.T) {
	p := filepath.Join(t.TempDir(), CADebName())
	if err := os.WriteFile(p, []byte("not the pinned package"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := CABundle(p)
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("err = %v, want a sha256 mismatch", err)
	}
}

// TestCABundleEqualsDebians compares the bundle built from the pinned package with the
// one update-ca-certificates wrote on this machine, when the machine has the same
// package version installed: Debian appends local certificates after the packaged ones,
// so ours must be its prefix.
func TestCABundleEqualsDebians(t *testing.T) {
	deb := filepath.Join("..", "..", "..", "..", "bin", "image", "cache", CADebName())
	if _, err := os.Stat(deb); err != nil {
		t.Skipf("no %s (make image downloads it)", deb)
	}
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", CAPackage).Output()
	if err != nil || string(out) != CAVersion {
		t.Skipf("this machine has %s %q installed, not %s", CAPackage, out, CAVersion)
	}
	host, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Skip(err)
	}
	bundle, _, err := CABundle(deb)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(host, bundle) {
		t.Fatalf("the bundle (%d bytes) is not the start of Debian's /etc/ssl/certs/ca-certificates.crt (%d bytes)", len(bundle), len(host))
	}
}
