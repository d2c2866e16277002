package sbom

import (
	"bytes"
	"debug/buildinfo"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kvcsi/kvcsi/tools/image/internal/oci"
	"github.com/kvcsi/kvcsi/tools/image/internal/testbin"
)

func TestGolangPURL(t *testing.T) {
	for _, c := range []struct{ path, version, want string }{
		{"github.com/google/go-containerregistry", "v0.22.1", "pkg:golang/github.com/google/go-containerregistry@v0.22.1"},
		{"github.com/Azure/go-autorest", "v14.2.0+incompatible", "pkg:golang/github.com/Azure/go-autorest@v14.2.0%2Bincompatible"},
		{"example.com/m", "", "pkg:golang/example.com/m"},
	} {
		if got := golangPURL(c.path, c.version); got != c.want {
			t.Errorf("golangPURL(%q, %q) = %q, want %q", c.path, c.version, got, c.want)
		}
	}
}

func TestSerialNumberIsStablePerDigest(t *testing.T) {
	a := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	b := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
	sa := serialNumber(a)
	if sa != serialNumber(a) || sa == serialNumber(b) {
		t.Fatalf("serials %s %s %s", sa, serialNumber(a), serialNumber(b))
	}
	if len(sa) != len("urn:uuid:")+36 || !strings.HasPrefix(sa, "urn:uuid:") || sa[len("urn:uuid:")+14] != '5' {
		t.Errorf("serial %q is not a version-5 urn:uuid", sa)
	}
}

func TestGenerateListsTheBinarysModules(t *testing.T) {
	bin := testbin.StaticGo(t, "arm64")
	p, _ := oci.ParsePlatform("linux/arm64")
	digest := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("c", 64)}
	meta := oci.Meta{Source: "https://example.test/kvcsi", Revision: "abc", Version: "v9.9.9", Created: time.Unix(1700000000, 0).UTC()}
	bom, err := Generate(Input{Platform: p, ImageDigest: digest, Meta: meta, Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]cdx.Component{}
	for _, c := range *bom.Components {
		byName[c.Name] = c
	}
	if c := byName[info.Main.Path]; c.Type != cdx.ComponentTypeApplication || c.Version != "v9.9.9" || c.Hashes == nil {
		t.Errorf("binary component %+v", c)
	}
	if c := byName["stdlib"]; c.Version != info.GoVersion {
		t.Errorf("stdlib %q, binary built with %s", c.Version, info.GoVersion)
	}
	if c := byName["ca-certificates"]; !strings.Contains(c.PackageURL, "pkg:deb/debian/ca-certificates@") {
		t.Errorf("ca-certificates purl %q", c.PackageURL)
	}
	if bom.Metadata.Timestamp != "2023-11-14T22:13:20Z" || (*bom.Metadata.Component.Hashes)[0].Value != digest.Hex {
		t.Errorf("metadata %+v", bom.Metadata)
	}

	var a, b bytes.Buffer
	if err := Encode(&a, bom); err != nil {
		t.Fatal(err)
	}
	again, _ := Generate(Input{Platform: p, ImageDigest: digest, Meta: meta, Binary: bin})
	if err := Encode(&b, again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same inputs gave two different documents")
	}
	if !bytes.Contains(a.Bytes(), []byte(`"specVersion": "1.6"`)) {
		t.Errorf("not CycloneDX 1.6:\n%.300s", a.String())
	}
	var decoded cdx.BOM
	if err := cdx.NewBOMDecoder(&a, cdx.BOMFileFormatJSON).Decode(&decoded); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateRefusesANonGoFile(t *testing.T) {
	p, _ := oci.ParsePlatform("linux/amd64")
	if _, err := Generate(Input{Platform: p, Binary: []byte("#!/bin/sh\n")}); err == nil {
		t.Fatal("a shell script got an SBOM")
	}
}
