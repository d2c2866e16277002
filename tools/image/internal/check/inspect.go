// Package check proves a built image before anyone ships it: it reads the OCI layout,
// checks every platform image's config (entrypoint, user, labels, architecture), its
// files (owners, modes, times, ELF machine and static linking of every binary), the CA
// bundle and the SBOM beside it; then it unpacks the image for this machine, runs
// /bin/kvcsi --version from the unpacked root (chrooted into it when running as root)
// and mounts a SecretProviderClass against the emulator with that binary through
// test/demo.
package check

import (
	"archive/tar"
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kvcsi/kvcsi/tools/image/internal/oci"
	"github.com/kvcsi/kvcsi/tools/image/internal/rootfs"
)

// Expect is what the image must say about itself.
type Expect struct {
	Source, Revision, Version string
	Created                   time.Time
	// UID is the user the deployment manifests run the container as.
	UID int
}

// Entry is one file of an unpacked layer.
type Entry struct {
	Header *tar.Header
	Data   []byte
}

// Entries reads an image's flattened file system in layer order.
func Entries(img v1.Image) ([]Entry, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	var out []Entry
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			// mutate.Extract ends the tar before it reports a failure through the pipe
			// (an unreadable blob gives an empty archive): read on to get that error.
			if _, err := io.Copy(io.Discard, rc); err != nil {
				return nil, fmt.Errorf("reading the image's files: %w", err)
			}
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the image's files: %w", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Header: h, Data: data})
	}
}

// Config checks an image's config against its platform and exp.
func Config(cfg *v1.ConfigFile, p oci.Platform, exp Expect) error {
	var errs []error
	if cfg.OS != p.OS || cfg.Architecture != p.Arch || cfg.Variant != p.Variant {
		errs = append(errs, fmt.Errorf("config platform %s/%s/%s, the index says %s/%s/%s", cfg.OS, cfg.Architecture, cfg.Variant, p.OS, p.Arch, p.Variant))
	}
	if want := []string{rootfs.Entrypoint}; !reflect.DeepEqual(cfg.Config.Entrypoint, want) {
		errs = append(errs, fmt.Errorf("entrypoint %q, want %q (the DaemonSets pass only args)", cfg.Config.Entrypoint, want))
	}
	if len(cfg.Config.Cmd) != 0 {
		errs = append(errs, fmt.Errorf("cmd %q, want none: the DaemonSets' args replace it anyway", cfg.Config.Cmd))
	}
	uid, _, _ := strings.Cut(cfg.Config.User, ":")
	if n, err := strconv.Atoi(uid); err != nil || n != exp.UID {
		errs = append(errs, fmt.Errorf("user %q, want uid %d as the deployment manifests run it (runAsUser)", cfg.Config.User, exp.UID))
	}
	want := map[string]string{
		oci.LabelSource:   exp.Source,
		oci.LabelRevision: exp.Revision,
		oci.LabelVersion:  exp.Version,
		oci.LabelCreated:  exp.Created.UTC().Format(time.RFC3339),
	}
	for k, v := range want {
		if got, ok := cfg.Config.Labels[k]; !ok || got != v {
			errs = append(errs, fmt.Errorf("label %s = %q, want %q", k, got, v))
		}
	}
	if !cfg.Created.Time.Equal(exp.Created) {
		errs = append(errs, fmt.Errorf("created %v, want %v (SOURCE_DATE_EPOCH)", cfg.Created.Time, exp.Created))
	}
	for _, h := range cfg.History {
		if !h.Created.Time.Equal(exp.Created) {
			errs = append(errs, fmt.Errorf("history entry created %v, want %v", h.Created.Time, exp.Created))
		}
	}
	return errors.Join(errs...)
}

// Files checks the unpacked entries: exactly the paths rootfs.Files names, owned by
// 0:0, no setuid/setgid bits, no device files or links, every time at created, the
// binary executable, and every ELF file built for the platform and statically linked.
func Files(entries []Entry, p oci.Platform, created time.Time) error {
	var errs []error
	wantPaths, err := expectedPaths()
	if err != nil {
		return err
	}
	var got []string
	elfs := 0
	for _, e := range entries {
		h := e.Header
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		got = append(got, name)
		if !rootfs.ValidPath(name) {
			errs = append(errs, fmt.Errorf("%q: not a clean path inside the image", h.Name))
			continue
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeDir {
			errs = append(errs, fmt.Errorf("/%s: type %q, want only regular files and directories", name, h.Typeflag))
		}
		if h.Uid != 0 || h.Gid != 0 {
			errs = append(errs, fmt.Errorf("/%s: owner %d:%d, want 0:0", name, h.Uid, h.Gid))
		}
		if h.Mode&0o6000 != 0 {
			errs = append(errs, fmt.Errorf("/%s: setuid/setgid mode %o", name, h.Mode))
		}
		if !h.ModTime.Equal(created) {
			errs = append(errs, fmt.Errorf("/%s: mtime %v, want %v (SOURCE_DATE_EPOCH)", name, h.ModTime.UTC(), created))
		}
		if name == rootfs.BinaryPath && (h.Typeflag != tar.TypeReg || h.Mode&0o111 != 0o111) {
			errs = append(errs, fmt.Errorf("/%s: mode %o, want an executable regular file", name, h.Mode))
		}
		if name == "tmp" && h.Mode&0o1777 != 0o1777 {
			errs = append(errs, fmt.Errorf("/tmp: mode %o, want 1777", h.Mode))
		}
		if h.Typeflag == tar.TypeReg && bytes.HasPrefix(e.Data, []byte("\x7fELF")) {
			elfs++
			if err := StaticELF(e.Data, p); err != nil {
				errs = append(errs, fmt.Errorf("/%s: %w", name, err))
			}
		}
	}
	sort.Strings(got)
	if !reflect.DeepEqual(got, wantPaths) {
		errs = append(errs, fmt.Errorf("files %q, want %q", got, wantPaths))
	}
	if elfs == 0 {
		errs = append(errs, fmt.Errorf("no ELF binary in the image"))
	}
	return errors.Join(errs...)
}

// expectedPaths are the paths rootfs.Files names (the contents do not matter here).
func expectedPaths() ([]string, error) {
	files, err := rootfs.Files(rootfs.Inputs{Binary: []byte{1}, CABundle: []byte{1}, CACopyright: []byte{1}, License: []byte{1}})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	sort.Strings(out)
	return out, nil
}

var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// StaticELF checks that b is a 64-bit executable for p that needs no dynamic loader:
// no PT_INTERP program header and no needed shared library.
func StaticELF(b []byte, p oci.Platform) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not a readable ELF file: %w", err)
	}
	defer f.Close()
	want, ok := elfMachine[p.Arch]
	if !ok {
		return fmt.Errorf("no ELF machine known for %s", p.Arch)
	}
	var errs []error
	if f.Machine != want {
		errs = append(errs, fmt.Errorf("ELF machine %v, want %v for %s", f.Machine, want, p))
	}
	if f.Class != elf.ELFCLASS64 {
		errs = append(errs, fmt.Errorf("ELF class %v, want ELFCLASS64", f.Class))
	}
	if f.Type != elf.ET_EXEC {
		errs = append(errs, fmt.Errorf("ELF type %v, want ET_EXEC (a static, non-PIE executable)", f.Type))
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(prog.Open())
			errs = append(errs, fmt.Errorf("dynamically linked: PT_INTERP %q (build with CGO_ENABLED=0)", strings.TrimRight(string(interp), "\x00")))
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		errs = append(errs, fmt.Errorf("needs shared libraries %q", libs))
	}
	return errors.Join(errs...)
}

// Roots Azure's public endpoints chain to (Entra ID, Key Vault), by SHA-1 thumbprint,
// from Microsoft's "Azure Certificate Authority details" page.
var azureRoots = map[string]string{
	"a8985d3a65e5e5c4b2d7d66d40c6dd2fb19c5436": "DigiCert Global Root CA",
	"df3c24f9bfd666761b268073fe06d1cc8d4f82a4": "DigiCert Global Root G2",
	"7e04de896a3e666d00e687d33ffad93be83d349e": "DigiCert Global Root G3",
	"999a64c37ff47d9fab95f14769891460eec4c3c5": "Microsoft ECC Root Certificate Authority 2017",
	"73a5e64a3bff8316ff0edccc618a906e4eae4d74": "Microsoft RSA Root Certificate Authority 2017",
}

// MinCertificates is a floor well below Mozilla's ~140 roots: a bundle this small is
// not Debian's.
const MinCertificates = 100

// CABundle checks that the bundle is nothing but certificates that parse, that there
// are at least MinCertificates of them and that Azure's roots are among them. It
// returns the number of certificates.
func CABundle(b []byte) (int, error) {
	var errs []error
	n := 0
	found := map[string]bool{}
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			errs = append(errs, fmt.Errorf("PEM block %d is %q, want CERTIFICATE", n, block.Type))
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			errs = append(errs, fmt.Errorf("certificate %d: %w", n, err))
		}
		sum := sha1.Sum(block.Bytes)
		found[hex.EncodeToString(sum[:])] = true
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		errs = append(errs, fmt.Errorf("%d bytes after the last certificate are not PEM", len(rest)))
	}
	if n < MinCertificates {
		errs = append(errs, fmt.Errorf("%d certificates, want at least %d", n, MinCertificates))
	}
	for fp, name := range azureRoots {
		if !found[fp] {
			errs = append(errs, fmt.Errorf("no %s (SHA-1 %s): Entra ID and Key Vault would not verify", name, fp))
		}
	}
	return n, errors.Join(errs...)
}

var runAsUserRE = regexp.MustCompile(`(?m)^\s*runAsUser:\s*(\d+)\s*$`)

// ManifestUID reads the runAsUser every given manifest sets for the provider and
// requires them to agree.
func ManifestUID(paths []string) (int, error) {
	uid := -1
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return 0, err
		}
		ms := runAsUserRE.FindAllSubmatch(b, -1)
		if len(ms) == 0 {
			return 0, fmt.Errorf("%s sets no runAsUser", p)
		}
		for _, m := range ms {
			n, _ := strconv.Atoi(string(m[1]))
			if uid >= 0 && n != uid {
				return 0, fmt.Errorf("%s: runAsUser %d, another manifest says %d", p, n, uid)
			}
			uid = n
		}
	}
	if uid < 0 {
		return 0, errors.New("no manifest given")
	}
	return uid, nil
}

// SBOM checks the CycloneDX document written beside an image: it names the image by
// digest and lists every module (with its version) the shipped binary's build info
// records, the Go standard library and the CA package. It returns the component count.
func SBOM(doc []byte, digest v1.Hash, binary []byte) (int, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(doc), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return 0, fmt.Errorf("not CycloneDX JSON: %w", err)
	}
	var errs []error
	if bom.Metadata == nil || bom.Metadata.Component == nil || bom.Metadata.Component.Hashes == nil ||
		len(*bom.Metadata.Component.Hashes) == 0 || (*bom.Metadata.Component.Hashes)[0].Value != digest.Hex {
		errs = append(errs, fmt.Errorf("metadata.component does not name image %s", digest))
	}
	if bom.Components == nil {
		return 0, errors.Join(append(errs, errors.New("no components"))...)
	}
	have := map[string]string{}
	for _, c := range *bom.Components {
		have[c.Name] = c.Version
	}
	info, err := buildinfo.Read(bytes.NewReader(binary))
	if err != nil {
		return 0, fmt.Errorf("build info of the image's binary: %w", err)
	}
	for _, d := range info.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		if v, ok := have[m.Path]; !ok || v != m.Version {
			errs = append(errs, fmt.Errorf("module %s %s is in the binary but the SBOM says %q", m.Path, m.Version, v))
		}
	}
	if have["stdlib"] != info.GoVersion {
		errs = append(errs, fmt.Errorf("stdlib %q in the SBOM, the binary was built with %s", have["stdlib"], info.GoVersion))
	}
	if have[info.Main.Path] == "" {
		errs = append(errs, fmt.Errorf("no component for the binary's module %s", info.Main.Path))
	}
	if have[rootfs.CAPackage] != rootfs.CAVersion {
		errs = append(errs, fmt.Errorf("%s %q in the SBOM, the image has %s", rootfs.CAPackage, have[rootfs.CAPackage], rootfs.CAVersion))
	}
	return len(*bom.Components), errors.Join(errs...)
}

// SameTree checks that dir (written by `image rootfs`, what the Dockerfile copies)
// holds exactly the entries: same paths, types, permission bits, times and bytes.
func SameTree(entries []Entry, dir string) error {
	want := map[string]Entry{}
	for _, e := range entries {
		want[strings.TrimSuffix(strings.TrimPrefix(e.Header.Name, "./"), "/")] = e
	}
	var errs []error
	seen := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		e, ok := want[rel]
		if !ok {
			errs = append(errs, fmt.Errorf("/%s is in the folder, not in the image", rel))
			return nil
		}
		seen++
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		mode := int64(st.Mode().Perm())
		if st.Mode()&fs.ModeSticky != 0 {
			mode |= 0o1000
		}
		if st.IsDir() != (e.Header.Typeflag == tar.TypeDir) || (!st.IsDir() && !st.Mode().IsRegular()) {
			errs = append(errs, fmt.Errorf("/%s: type %v in the folder, %q in the image", rel, st.Mode().Type(), e.Header.Typeflag))
		}
		if mode != e.Header.Mode {
			errs = append(errs, fmt.Errorf("/%s: mode %o in the folder, %o in the image", rel, mode, e.Header.Mode))
		}
		if !st.ModTime().Equal(e.Header.ModTime) {
			errs = append(errs, fmt.Errorf("/%s: mtime %v in the folder, %v in the image", rel, st.ModTime().UTC(), e.Header.ModTime.UTC()))
		}
		if st.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if !bytes.Equal(b, e.Data) {
				errs = append(errs, fmt.Errorf("/%s: %d bytes in the folder differ from the image's %d", rel, len(b), len(e.Data)))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if seen != len(want) {
		errs = append(errs, fmt.Errorf("the folder has %d of the image's %d entries", seen, len(want)))
	}
	return errors.Join(errs...)
}
