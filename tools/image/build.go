package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kvcsi/kvcsi/tools/image/internal/oci"
	"github.com/kvcsi/kvcsi/tools/image/internal/rootfs"
	"github.com/kvcsi/kvcsi/tools/image/internal/sbom"
)

// commonFlags are shared by build and rootfs.
type commonFlags struct {
	cache, license         string
	source, revision, vers string
	epoch                  string
	fs                     *flag.FlagSet
}

func newCommonFlags(name string, stderr io.Writer) *commonFlags {
	c := &commonFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.fs.SetOutput(stderr)
	c.fs.StringVar(&c.cache, "cache", "", "folder for the downloaded ca-certificates .deb (required)")
	c.fs.StringVar(&c.license, "license", "LICENSE", "kvcsi's LICENSE file, shipped at /usr/share/doc/kvcsi/LICENSE")
	c.fs.StringVar(&c.source, "source", "", "org.opencontainers.image.source (repository URL)")
	c.fs.StringVar(&c.revision, "revision", "", "org.opencontainers.image.revision (git commit)")
	c.fs.StringVar(&c.vers, "version", "", "org.opencontainers.image.version (git describe)")
	c.fs.StringVar(&c.epoch, "epoch", "", "SOURCE_DATE_EPOCH: image created time and every file's mtime")
	return c
}

func (c *commonFlags) meta() (oci.Meta, error) {
	sec, err := strconv.ParseInt(c.epoch, 10, 64)
	if err != nil || sec < 0 {
		return oci.Meta{}, fmt.Errorf("--epoch %q: want SOURCE_DATE_EPOCH (seconds since 1970)", c.epoch)
	}
	return oci.Meta{Source: c.source, Revision: c.revision, Version: c.vers, Created: time.Unix(sec, 0).UTC()}, nil
}

// inputs reads everything but the binary.
func (c *commonFlags) inputs(stderr io.Writer) (rootfs.Inputs, error) {
	if c.cache == "" {
		return rootfs.Inputs{}, errors.New("--cache is required")
	}
	deb, err := rootfs.FetchCADeb(c.cache, stderr)
	if err != nil {
		return rootfs.Inputs{}, err
	}
	bundle, copyright, err := rootfs.CABundle(deb)
	if err != nil {
		return rootfs.Inputs{}, err
	}
	license, err := os.ReadFile(c.license)
	if err != nil {
		return rootfs.Inputs{}, err
	}
	return rootfs.Inputs{CABundle: bundle, CACopyright: copyright, License: license}, nil
}

func runBuild(args []string, stdout, stderr io.Writer) error {
	c := newCommonFlags("build", stderr)
	out := c.fs.String("out", "", "output folder: oci/ (layout), kvcsi-<os>-<arch>.tar, kvcsi-<os>-<arch>.cdx.json, digests.txt")
	repo := c.fs.String("repository", "kvcsi", "repository of the docker-archive tags (<repository>:<version>)")
	var bins binaryFlags
	c.fs.Var(&bins, "binary", "PLATFORM=PATH of a static kvcsi binary (repeat: linux/amd64=…, linux/arm64=…)")
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || len(bins) == 0 {
		return errors.New("build: --out and at least one --binary are required")
	}
	meta, err := c.meta()
	if err != nil {
		return err
	}
	in, err := c.inputs(stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	tool, _ := debug.ReadBuildInfo()

	var images []oci.PlatformImage
	var report bytes.Buffer
	for _, b := range bins {
		plat, path, _ := strings.Cut(b, "=")
		p, err := oci.ParsePlatform(plat)
		if err != nil {
			return err
		}
		bin, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pin := in
		pin.Binary = bin
		files, err := rootfs.Files(pin)
		if err != nil {
			return err
		}
		img, err := oci.Image(files, p, meta)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		images = append(images, oci.PlatformImage{Platform: p, Image: img})

		digest, err := img.Digest()
		if err != nil {
			return err
		}
		tarPath := filepath.Join(*out, "kvcsi-"+p.Slug()+".tar")
		if err := oci.WriteDockerTarball(tarPath, *repo+":"+meta.Version, img); err != nil {
			return fmt.Errorf("%s: %w", tarPath, err)
		}
		bom, err := sbom.Generate(sbom.Input{Platform: p, ImageDigest: digest, Meta: meta, Binary: bin, Tool: tool})
		if err != nil {
			return err
		}
		var sb bytes.Buffer
		if err := sbom.Encode(&sb, bom); err != nil {
			return err
		}
		sbomPath := filepath.Join(*out, "kvcsi-"+p.Slug()+".cdx.json")
		if err := os.WriteFile(sbomPath, sb.Bytes(), 0o644); err != nil {
			return err
		}
		size, err := imageSize(img)
		if err != nil {
			return err
		}
		fmt.Fprintf(&report, "%-12s %s  %d bytes compressed  %d SBOM components\n", p, digest, size, len(*bom.Components))
	}
	idx, err := oci.Index(images)
	if err != nil {
		return err
	}
	layoutDir := filepath.Join(*out, "oci")
	if err := os.RemoveAll(layoutDir); err != nil {
		return err
	}
	if err := oci.WriteLayout(layoutDir, idx, meta.Version); err != nil {
		return fmt.Errorf("%s: %w", layoutDir, err)
	}
	idxDigest, err := idx.Digest()
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("%-12s %s  (%s:%s)\n%s", "index", idxDigest, *repo, meta.Version, report.String())
	if err := os.WriteFile(filepath.Join(*out, "digests.txt"), []byte(summary), 0o644); err != nil {
		return err
	}
	fmt.Fprint(stdout, summary)
	return nil
}

// imageSize is the manifest, config and layers as pushed (compressed).
func imageSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	total := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total, nil
}

func runRootfs(args []string, stdout, stderr io.Writer) error {
	c := newCommonFlags("rootfs", stderr)
	out := c.fs.String("out", "", "folder to create with the image's files (must not exist)")
	bin := c.fs.String("binary", "", "the static kvcsi binary for the image's platform")
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *bin == "" {
		return errors.New("rootfs: --out and --binary are required")
	}
	meta, err := c.meta()
	if err != nil {
		return err
	}
	in, err := c.inputs(stderr)
	if err != nil {
		return err
	}
	if in.Binary, err = os.ReadFile(*bin); err != nil {
		return err
	}
	files, err := rootfs.Files(in)
	if err != nil {
		return err
	}
	if err := rootfs.WriteDir(*out, files, meta.Created); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d entries written to %s\n", len(files), *out)
	return nil
}
