package format

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/provider/vocab"
)

func TestCAPart(t *testing.T) {
	p := mustECPKI(t)
	// The leaf is recognised by its key wherever it is, else as the certificate that
	// issued no other.
	for name, content := range map[string][]byte{
		"leaf first":     cat(pkcs8PEM(t, p.leafECKey), certsPEM(p.leafEC, p.inter, p.root)),
		"leaf last":      cat(certsPEM(p.inter, p.root, p.leafEC), pkcs8PEM(t, p.leafECKey)),
		"without key":    certsPEM(p.leafEC, p.inter, p.root),
		"without key, ≠": certsPEM(p.inter, p.leafEC, p.root),
	} {
		got, err := CAPart(content)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := certsPEM(p.inter, p.root); !bytes.Equal(got, want) {
			t.Errorf("%s: got\n%s", name, got)
		}
	}
	if _, err := CAPart(cat(pkcs8PEM(t, p.leafECKey), certsPEM(p.leafEC))); !errors.Is(err, ErrNoCA) {
		t.Errorf("leaf alone: %v", err)
	}
	// Through Render, on a certificate's secret.
	value := string(cat(pkcs8PEM(t, p.leafECKey), certsPEM(p.leafEC, p.inter, p.root)))
	files, err := Render(Request{Path: "ca.crt", Mode: 0o644, CertPart: vocab.CertPartCA},
		Fetched{Type: vocab.Secret, Name: "web", Value: &value, ContentType: ptr(ContentTypePEM), KID: ptr("https://kv/keys/web/1")}, Options{})
	if err != nil || len(files) != 1 || !bytes.Equal(files[0].Contents, certsPEM(p.inter, p.root)) {
		t.Fatalf("Render ca: %v %v", err, files)
	}
}

func TestProtectPFX(t *testing.T) {
	p := mustECPKI(t)
	content := cat(pkcs8PEM(t, p.leafECKey), certsPEM(p.leafEC, p.inter, p.root))
	const password = "pa55 wörd!"
	pfx, err := ProtectPFX(content, password)
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, cas, err := pkcs12.DecodeChain(pfx, password)
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.Equal(p.leafEC) || len(cas) != 2 || !cas[0].Equal(p.inter) || key == nil {
		t.Fatalf("decoded leaf %v, %d CAs", leaf.Subject, len(cas))
	}
	if _, _, _, err := pkcs12.DecodeChain(pfx, ""); err == nil {
		t.Error("opens without the password")
	}
	if _, err := ProtectPFX(certsPEM(p.leafEC), password); !errors.Is(err, ErrPFXInput) || strings.Contains(err.Error(), password) {
		t.Errorf("no key: %v", err)
	}
}
