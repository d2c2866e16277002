package rootfs

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// The CA bundle comes from one exact Debian package, checked against a hash committed
// here. To move to a newer one: `apt-get download ca-certificates=<version>`,
// `sha256sum` the .deb, update these three constants, `make image image-check`.
const (
	CAPackage   = "ca-certificates"
	CAVersion   = "20230311+deb12u1"
	CADebSHA256 = "0d5f444f594e48c1e16a41d8fc628a09b24c658916a1274025c2330f2a802bed"
	// CADistro names the Debian release that serves CAVersion (package URL qualifier).
	CADistro = "debian-12"
)

// CADebName is the file name apt-get download gives the pinned package.
func CADebName() string {
	return fmt.Sprintf("%s_%s_all.deb", CAPackage, CAVersion)
}

// FetchCADeb returns the path of the pinned ca-certificates .deb in cacheDir,
// downloading it with apt-get when it is not there yet. The hash is checked by
// CABundle, which is the only reader of the file.
func FetchCADeb(cacheDir string, log io.Writer) (string, error) {
	target := filepath.Join(cacheDir, CADebName())
	if _, err := os.Stat(target); err == nil {
		return target, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cacheDir, "download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	spec := CAPackage + "=" + CAVersion
	out, err := aptGet(tmp, "download", spec)
	if err != nil && os.Geteuid() == 0 {
		// A machine that never ran apt-get update has no package lists; as root we
		// can fetch them (CI runs as root).
		fmt.Fprintf(log, "apt-get download %s failed; running apt-get update once\n", spec)
		if upd, uerr := aptGet(tmp, "update", "-qq"); uerr != nil {
			return "", fmt.Errorf("apt-get update: %v\n%s", uerr, upd)
		}
		out, err = aptGet(tmp, "download", spec)
	}
	if err != nil {
		return "", fmt.Errorf("apt-get download %s: %v\n%s\nfix: run `apt-get update` (as root) so that apt knows this version, or put %s into %s",
			spec, err, out, CADebName(), cacheDir)
	}
	if err := os.Rename(filepath.Join(tmp, CADebName()), target); err != nil {
		return "", fmt.Errorf("apt-get download %s did not write %s: %w", spec, CADebName(), err)
	}
	return target, nil
}

func aptGet(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("apt-get", args...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

// CABundle checks the .deb against CADebSHA256 and builds the bundle the way Debian's
// update-ca-certificates does with the default configuration: every certificate the
// package ships under /usr/share/ca-certificates, in byte order of its path (the order
// of /etc/ca-certificates.conf), each ending in a newline, concatenated. It also
// returns the package's copyright file.
func CABundle(debPath string) (bundle, copyright []byte, err error) {
	raw, err := os.ReadFile(debPath)
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != CADebSHA256 {
		return nil, nil, fmt.Errorf("%s: sha256 %s, want %s (the pinned %s %s); delete the file and build again",
			debPath, got, CADebSHA256, CAPackage, CAVersion)
	}
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", debPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	data, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %v: %s", debPath, err, stderr.String())
	}
	return bundleFromTar(bytes.NewReader(data))
}

const (
	certsDir      = "usr/share/ca-certificates/"
	copyrightPath = "usr/share/doc/ca-certificates/copyright"
)

// bundleFromTar is CABundle's assembly, on the package's data tar.
func bundleFromTar(r io.Reader) (bundle, copyright []byte, err error) {
	certs := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading the package's data: %w", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag != tar.TypeReg {
			continue
		}
		switch {
		case name == copyrightPath:
			if copyright, err = io.ReadAll(tr); err != nil {
				return nil, nil, err
			}
		case strings.HasPrefix(name, certsDir) && strings.HasSuffix(name, ".crt"):
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, nil, err
			}
			certs[strings.TrimPrefix(name, certsDir)] = b
		}
	}
	if len(certs) == 0 {
		return nil, nil, fmt.Errorf("the package holds no %s*.crt: %w", certsDir, fs.ErrNotExist)
	}
	if copyright == nil {
		return nil, nil, fmt.Errorf("the package holds no %s: %w", copyrightPath, fs.ErrNotExist)
	}
	names := make([]string, 0, len(certs))
	for n := range certs {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	for _, n := range names {
		buf.Write(certs[n])
		// update-ca-certificates appends with `sed -e '$a\'`: a final newline if missing.
		if b := certs[n]; len(b) > 0 && b[len(b)-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes(), copyright, nil
}
