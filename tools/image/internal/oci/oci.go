// Package oci turns the image's file list into OCI images with go-containerregistry: one
// layer per platform written from rootfs.Files with fixed times and order, the config
// (entrypoint, user, labels), a multi-platform index, and the two outputs users load:
// an OCI image layout (crane push, skopeo copy) and per-platform docker-archive
// tarballs (docker load). Nothing here reads the clock or the environment, so the
// same inputs give the same bytes.
package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kvcsi/kvcsi/tools/image/internal/rootfs"
)

// OCI label keys the image carries (and the checker requires).
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelVersion  = "org.opencontainers.image.version"
	LabelCreated  = "org.opencontainers.image.created"
	LabelTitle    = "org.opencontainers.image.title"
	LabelLicenses = "org.opencontainers.image.licenses"
	// RefName names the image index inside the layout (skopeo's oci:DIR:NAME).
	RefName = "org.opencontainers.image.ref.name"
)

// Meta is what the labels say; all of it comes from the commit.
type Meta struct {
	Source   string    // repository URL
	Revision string    // git commit
	Version  string    // git describe
	Created  time.Time // SOURCE_DATE_EPOCH, else the commit time
}

// CreatedString is the created label: RFC 3339 in UTC, whole seconds, like the
// binary's BuildDate.
func (m Meta) CreatedString() string { return m.Created.UTC().Format(time.RFC3339) }

// Labels are the image config's labels.
func (m Meta) Labels() map[string]string {
	return map[string]string{
		LabelSource:   m.Source,
		LabelRevision: m.Revision,
		LabelVersion:  m.Version,
		LabelCreated:  m.CreatedString(),
		LabelTitle:    "kvcsi",
		LabelLicenses: "Apache-2.0",
	}
}

func (m Meta) validate() error {
	var missing []string
	for k, v := range map[string]string{"source": m.Source, "revision": m.Revision, "version": m.Version} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("image metadata: %s empty", strings.Join(missing, ", "))
	}
	if m.Created.IsZero() || m.Created.Nanosecond() != 0 {
		return fmt.Errorf("image metadata: created %v must be whole seconds (SOURCE_DATE_EPOCH)", m.Created)
	}
	return nil
}

// Platform is an image platform; arm64 carries the variant v8 as docker and
// containerd write it.
type Platform struct{ OS, Arch, Variant string }

// ParsePlatform accepts linux/amd64 and linux/arm64, the platforms this build covers.
func ParsePlatform(s string) (Platform, error) {
	switch s {
	case "linux/amd64":
		return Platform{OS: "linux", Arch: "amd64"}, nil
	case "linux/arm64":
		return Platform{OS: "linux", Arch: "arm64", Variant: "v8"}, nil
	}
	return Platform{}, fmt.Errorf("platform %q: the no-Docker build makes linux/amd64 and linux/arm64 only (windows.Dockerfile builds the Windows image)", s)
}

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Slug is the platform for file names: linux-amd64.
func (p Platform) Slug() string { return p.OS + "-" + p.Arch }

// V1 is the platform as go-containerregistry spells it.
func (p Platform) V1() *v1.Platform {
	return &v1.Platform{OS: p.OS, Architecture: p.Arch, Variant: p.Variant}
}

// LayerTar writes files as an uncompressed tar: USTAR headers, owner 0:0, no user or
// group names, every time set to mtime, in the order given.
func LayerTar(files []rootfs.File, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if !rootfs.ValidPath(f.Path) {
			return nil, fmt.Errorf("layer: invalid path %q", f.Path)
		}
		mode := int64(f.Mode.Perm())
		if f.Mode&fs.ModeSticky != 0 {
			mode |= 0o1000 // c_ISVTX
		}
		h := &tar.Header{
			Name:     f.Path,
			Mode:     mode,
			ModTime:  mtime,
			Typeflag: tar.TypeReg,
			Size:     int64(len(f.Data)),
			Format:   tar.FormatUSTAR,
		}
		if f.Dir {
			h.Name += "/"
			h.Typeflag = tar.TypeDir
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Image builds the single-layer image for one platform.
func Image(files []rootfs.File, p Platform, m Meta) (v1.Image, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	raw, err := LayerTar(files, m.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: m.Created.UTC()}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	base, err = mutate.ConfigFile(base, &v1.ConfigFile{
		Architecture: p.Arch,
		OS:           p.OS,
		Variant:      p.Variant,
		Created:      created,
		Config: v1.Config{
			Entrypoint: []string{rootfs.Entrypoint},
			User:       rootfs.User,
			Env:        []string{rootfs.DefaultPATH},
			WorkingDir: "/",
			Labels:     m.Labels(),
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   created,
			CreatedBy: "kvcsi tools/image: /" + rootfs.BinaryPath + ", /" + rootfs.CABundlePath + " (" + rootfs.CAPackage + " " + rootfs.CAVersion + "), /etc/passwd, /etc/group",
		},
	})
}

// PlatformImage pairs an image with its platform.
type PlatformImage struct {
	Platform Platform
	Image    v1.Image
}

// Index is the multi-platform image index, in the order given.
func Index(images []PlatformImage) (v1.ImageIndex, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("index: no images")
	}
	adds := make([]mutate.IndexAddendum, 0, len(images))
	for _, pi := range images {
		adds = append(adds, mutate.IndexAddendum{Add: pi.Image, Descriptor: v1.Descriptor{Platform: pi.Platform.V1()}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...), nil
}

// WriteLayout writes an OCI image layout at dir whose index.json names idx as refName,
// the shape `skopeo copy --all oci:DIR:NAME` and `crane push DIR` expect.
func WriteLayout(dir string, idx v1.ImageIndex, refName string) error {
	outer := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{
		Add:        idx,
		Descriptor: v1.Descriptor{Annotations: map[string]string{RefName: refName}},
	})
	_, err := layout.Write(dir, outer)
	return err
}

// WriteDockerTarball writes one platform's image as a docker-archive tagged tag.
func WriteDockerTarball(path, tag string, img v1.Image) error {
	t, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	return tarball.WriteToFile(path, t, img)
}
