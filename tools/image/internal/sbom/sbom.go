// Package sbom writes the software bill of materials of one platform image in
// CycloneDX (JSON, spec 1.6) with the CycloneDX project's Go library: the image, the
// kvcsi binary with every module its build info records (the linked set, with
// versions and go.sum hashes), the Go standard library, and the Debian package the CA
// bundle comes from. Times and the serial number derive from the commit and the image
// digest, so the document is as reproducible as the image.
package sbom

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"runtime/debug"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kvcsi/kvcsi/tools/image/internal/oci"
	"github.com/kvcsi/kvcsi/tools/image/internal/rootfs"
)

// SpecVersion is the CycloneDX version written; 1.6 is what current scanners read.
const SpecVersion = cdx.SpecVersion1_6

// Input describes one platform image.
type Input struct {
	Platform    oci.Platform
	ImageDigest v1.Hash // the platform image's manifest digest
	Meta        oci.Meta
	Binary      []byte           // /bin/kvcsi as shipped
	Tool        *debug.BuildInfo // the image tool's own build info (metadata.tools); may be nil
}

// Refs of the fixed components, for dependencies and tests.
const (
	refImage = "image"
	refCA    = "pkg:deb/debian/" + rootfs.CAPackage
)

// Generate builds the BOM.
func Generate(in Input) (*cdx.BOM, error) {
	info, err := buildinfo.Read(bytes.NewReader(in.Binary))
	if err != nil {
		return nil, fmt.Errorf("sbom: reading the build info of /%s: %w", rootfs.BinaryPath, err)
	}
	binSum := sha256.Sum256(in.Binary)

	mainRef := golangPURL(info.Main.Path, in.Meta.Version)
	binary := cdx.Component{
		BOMRef:     mainRef,
		Type:       cdx.ComponentTypeApplication,
		Name:       info.Main.Path,
		Version:    in.Meta.Version,
		PackageURL: mainRef,
		Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: hex.EncodeToString(binSum[:])}},
		Properties: buildProperties(info),
	}
	goVersion := strings.TrimPrefix(info.GoVersion, "go")
	stdRef := "pkg:golang/stdlib@" + goVersion
	std := cdx.Component{BOMRef: stdRef, Type: cdx.ComponentTypeLibrary, Name: "stdlib", Version: info.GoVersion, PackageURL: stdRef}

	components := []cdx.Component{binary, std}
	binDeps := []string{stdRef}
	for _, d := range info.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		ref := golangPURL(m.Path, m.Version)
		c := cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeLibrary, Name: m.Path, Version: m.Version, PackageURL: ref}
		var props []cdx.Property
		if m.Sum != "" {
			props = append(props, cdx.Property{Name: "kvcsi:go:sum", Value: m.Sum})
		}
		if d.Replace != nil {
			props = append(props, cdx.Property{Name: "kvcsi:go:replaces", Value: d.Path + "@" + d.Version})
		}
		if len(props) > 0 {
			c.Properties = &props
		}
		components = append(components, c)
		binDeps = append(binDeps, ref)
	}
	caRef := refCA + "@" + url.PathEscape(rootfs.CAVersion) + "?arch=all&distro=" + rootfs.CADistro
	components = append(components, cdx.Component{
		BOMRef:     caRef,
		Type:       cdx.ComponentTypeData,
		Name:       rootfs.CAPackage,
		Version:    rootfs.CAVersion,
		PackageURL: caRef,
		Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: rootfs.CADebSHA256}},
		Licenses:   &cdx.Licenses{{License: &cdx.License{ID: "MPL-2.0"}}},
		Properties: &[]cdx.Property{{Name: "kvcsi:image:path", Value: "/" + rootfs.CABundlePath}},
	})

	deps := []cdx.Dependency{
		{Ref: refImage, Dependencies: &[]string{mainRef, caRef}},
		{Ref: mainRef, Dependencies: &binDeps},
	}
	for _, c := range components[1:] {
		deps = append(deps, cdx.Dependency{Ref: c.BOMRef})
	}

	bom := cdx.NewBOM()
	bom.SerialNumber = serialNumber(in.ImageDigest)
	bom.Metadata = &cdx.Metadata{
		Timestamp: in.Meta.CreatedString(),
		Tools:     tools(in.Tool),
		Component: &cdx.Component{
			BOMRef:     refImage,
			Type:       cdx.ComponentTypeContainer,
			Name:       "kvcsi",
			Version:    in.Meta.Version,
			PackageURL: "pkg:oci/kvcsi@" + url.QueryEscape(in.ImageDigest.String()) + "?arch=" + in.Platform.Arch + "&tag=" + url.QueryEscape(in.Meta.Version),
			Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: in.ImageDigest.Hex}},
			Licenses:   &cdx.Licenses{{License: &cdx.License{ID: "Apache-2.0"}}},
			ExternalReferences: &[]cdx.ExternalReference{
				{Type: cdx.ERTypeVCS, URL: in.Meta.Source},
			},
			Properties: &[]cdx.Property{
				{Name: "kvcsi:image:platform", Value: in.Platform.String()},
				{Name: "kvcsi:image:revision", Value: in.Meta.Revision},
			},
		},
	}
	bom.Components = &components
	bom.Dependencies = &deps
	return bom, nil
}

// Encode writes the BOM as indented JSON in SpecVersion.
func Encode(w io.Writer, bom *cdx.BOM) error {
	return cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false).EncodeVersion(bom, SpecVersion)
}

// golangPURL is the package URL of a Go module: pkg:golang/<path>@<version>, each
// segment percent-encoded ("+incompatible" becomes %2Bincompatible).
func golangPURL(path, version string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	p := "pkg:golang/" + strings.Join(segs, "/")
	if version != "" {
		p += "@" + strings.ReplaceAll(url.PathEscape(version), "+", "%2B")
	}
	return p
}

// buildProperties records how the binary was built (GOOS, GOARCH, CGO_ENABLED,
// -trimpath, -ldflags, …), from its build info.
func buildProperties(info *debug.BuildInfo) *[]cdx.Property {
	props := []cdx.Property{{Name: "kvcsi:image:path", Value: "/" + rootfs.BinaryPath}, {Name: "kvcsi:go:version", Value: info.GoVersion}}
	for _, s := range info.Settings {
		props = append(props, cdx.Property{Name: "kvcsi:go:build:" + s.Key, Value: s.Value})
	}
	return &props
}

// tools names the program that wrote the BOM and the libraries it used.
func tools(info *debug.BuildInfo) *cdx.ToolsChoice {
	if info == nil {
		return nil
	}
	comps := []cdx.Component{{Type: cdx.ComponentTypeApplication, Name: info.Main.Path}}
	for _, d := range info.Deps {
		if d.Path == "github.com/google/go-containerregistry" || d.Path == "github.com/CycloneDX/cyclonedx-go" {
			comps = append(comps, cdx.Component{Type: cdx.ComponentTypeLibrary, Name: d.Path, Version: d.Version, PackageURL: golangPURL(d.Path, d.Version)})
		}
	}
	return &cdx.ToolsChoice{Components: &comps}
}

// serialNumber is a UUID (version 5 layout) derived from the image digest: the same
// image always gets the same serial, a different one a different serial.
func serialNumber(digest v1.Hash) string {
	sum := sha256.Sum256([]byte("kvcsi-sbom:" + digest.String()))
	u := sum[:16]
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	h := hex.EncodeToString(u)
	return fmt.Sprintf("urn:uuid:%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}
