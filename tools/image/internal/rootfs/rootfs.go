// Package rootfs is the one answer to "which files are in the kvcsi image": the static
// binary, the CA bundle, the account files and the licences, each with its mode. The OCI
// build (a tar layer) and the Dockerfile's build stage (a directory that COPY takes)
// both write this list, so the two images hold the same files.
package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Paths and identity the image is built around. The manifests in manifest_staging run
// the provider as runAsUser 0 (it creates its socket in the root-owned host directory
// /var/run/secrets-store-csi-providers), so the image says root too rather than
// claiming a non-root user it would not run as.
const (
	BinaryPath    = "bin/kvcsi"
	Entrypoint    = "/" + BinaryPath
	CABundlePath  = "etc/ssl/certs/ca-certificates.crt"
	User          = "0:0"
	DefaultPATH   = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	passwdContent = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
	groupContent  = "root:x:0:\nnobody:x:65534:\n"
)

// File is one entry of the image's file system, relative to / ("bin/kvcsi").
// Directories have Dir set and no Data. Every entry is owned by 0:0.
type File struct {
	Path string
	Mode fs.FileMode // permission bits plus fs.ModeSticky where needed
	Dir  bool
	Data []byte
}

// Inputs are the bytes that vary by build.
type Inputs struct {
	Binary      []byte // the static kvcsi executable for the image's platform
	CABundle    []byte // /etc/ssl/certs/ca-certificates.crt
	CACopyright []byte // the ca-certificates package's copyright file
	License     []byte // kvcsi's LICENSE
}

// Files returns the image's entries in a fixed order: sorted by path, every directory
// before what it holds.
func Files(in Inputs) ([]File, error) {
	for name, b := range map[string][]byte{"binary": in.Binary, "CA bundle": in.CABundle, "CA copyright": in.CACopyright, "LICENSE": in.License} {
		if len(b) == 0 {
			return nil, fmt.Errorf("image contents: the %s is empty", name)
		}
	}
	files := []File{
		{Path: BinaryPath, Mode: 0o755, Data: in.Binary},
		{Path: CABundlePath, Mode: 0o644, Data: in.CABundle},
		{Path: "etc/passwd", Mode: 0o644, Data: []byte(passwdContent)},
		{Path: "etc/group", Mode: 0o644, Data: []byte(groupContent)},
		{Path: "usr/share/doc/ca-certificates/copyright", Mode: 0o644, Data: in.CACopyright},
		{Path: "usr/share/doc/kvcsi/LICENSE", Mode: 0o644, Data: in.License},
		// Go libraries fall back to /tmp for temporary files; the DaemonSet mounts
		// the root file system read-only, so this only matters to other uses.
		{Path: "tmp", Mode: 0o777 | fs.ModeSticky, Dir: true},
	}
	return withParents(files), nil
}

// withParents adds every missing parent directory (mode 0755) and sorts the list.
func withParents(files []File) []File {
	seen := map[string]bool{}
	for _, f := range files {
		seen[f.Path] = true
	}
	out := append([]File(nil), files...)
	for _, f := range files {
		for dir := path.Dir(f.Path); dir != "." && !seen[dir]; dir = path.Dir(dir) {
			seen[dir] = true
			out = append(out, File{Path: dir, Mode: 0o755, Dir: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// WriteDir writes files under dir (which must not exist yet) with their modes, and sets
// every modification time to mtime, so that a Dockerfile COPY of dir carries the same
// content as the OCI layer.
func WriteDir(dir string, files []File, mtime time.Time) error {
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("%s already exists; remove it first", dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if f.Dir {
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
		} else if err := os.WriteFile(p, f.Data, 0o600); err != nil {
			return err
		}
		// Chmod after creation: the umask must not change the image's modes.
		if err := os.Chmod(p, f.Mode); err != nil {
			return err
		}
	}
	// Times last and deepest first, so that writing a child does not move a parent's.
	for i := len(files) - 1; i >= 0; i-- {
		p := filepath.Join(dir, filepath.FromSlash(files[i].Path))
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			return err
		}
	}
	return os.Chtimes(dir, mtime, mtime)
}

// ValidPath reports whether p is a clean relative path inside the image (no "..", no
// leading "/"); the checker uses it before writing anything an image names.
func ValidPath(p string) bool {
	p = strings.TrimSuffix(p, "/")
	return p != "" && p != "." && !strings.HasPrefix(p, "/") && path.Clean(p) == p && !strings.HasPrefix(p, "../") && p != ".."
}
