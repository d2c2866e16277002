// Command demo is `make demo`: it builds kvcsi (or takes the one --binary names, such
// as the image's unpacked /bin/kvcsi), starts the bundled Azure emulator with a few
// sample objects, runs the provider binary exactly as in production (reaching the
// emulator through HTTPS_PROXY and SSL_CERT_FILE), sends the mount the Secrets Store CSI
// Driver would send for a SecretProviderClass file, writes the returned files into a
// local folder like the driver does, and prints them.
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
	"github.com/kvcsi/kvcsi/test/pki"
	"github.com/kvcsi/kvcsi/test/spctest"
)

func main() {
	spcPath := flag.String("spc", "examples/secretproviderclass.yaml", "SecretProviderClass manifest to mount")
	target := flag.String("target", "demo-mount", "folder to write the volume into (emptied first)")
	binary := flag.String("binary", "", "kvcsi executable to run (e.g. the one unpacked from the image); built from ./cmd/kvcsi when empty")
	flag.Parse()
	if err := run(*spcPath, *target, *binary); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(spcPath, target, bin string) error {
	spc, err := spctest.ReadManifest(spcPath)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kvcsi-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	if bin == "" {
		fmt.Println("== building kvcsi")
		if bin, err = harness.BuildBinary(work); err != nil {
			return err
		}
	} else {
		fmt.Printf("== using the kvcsi binary %s\n", bin)
	}
	fmt.Println("== starting the Azure emulator and the provider")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logPath := filepath.Join(work, "kvcsi.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	h, err := harness.New(ctx, harness.Options{Binary: bin, Output: logFile, Dir: work})
	if err != nil {
		return err
	}
	defer h.Close()
	if err := seed(h.Vault); err != nil {
		return err
	}
	fmt.Printf("   emulator proxy %s, CA %s\n   provider socket %s\n", h.Emu.ProxyURL(), h.Emu.CAFile(), h.Socket)

	fmt.Printf("== mounting SecretProviderClass %s (%s) for pod %s/%s\n", spc.Metadata.Name, spcPath, harness.Namespace, harness.PodName)
	resp, err := h.Mount(ctx, harness.MountInput{
		Params:  spc.Spec.Parameters,
		SPCName: spc.Metadata.Name,
		Tokens:  h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour),
	})
	if err != nil {
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("mount failed: %w\nprovider log:\n%s", err, log)
	}
	if err := harness.WriteFiles(target, resp); err != nil {
		return err
	}
	fmt.Printf("== %d files written to %s/\n", len(resp.Files), target)
	for i, f := range resp.GetFiles() {
		ov := resp.ObjectVersion[i]
		fmt.Printf("\n--- %s  (mode %v, %d bytes, %s @ %s)\n", f.Path, fs.FileMode(f.Mode), len(f.Contents), ov.Id, ov.Version)
		fmt.Println(preview(f.Contents))
	}
	c := h.Emu.Counts()
	fmt.Printf("\n== emulator saw %d token request(s) and %d Key Vault request(s)\n", c.TokenRequests, c.KeyVaultRequests)
	return nil
}

// seed puts the sample objects the example SecretProviderClass names into the vault.
func seed(v *emulator.Vault) error {
	v.SetSecret("db-password", "correct-horse-battery-staple-v1", emulator.SecretOptions{Created: time.Now().Add(-time.Hour)})
	v.SetSecret("db-password", "correct-horse-battery-staple-v2", emulator.SecretOptions{})
	v.SetSecret("api-token", base64.StdEncoding.EncodeToString([]byte("binary\x00token\x01")), emulator.SecretOptions{})
	key := pki.MustKey(pki.P256)
	jwk, err := emulator.JWKFromPublicKey(key.Public())
	if err != nil {
		return err
	}
	v.SetKey("signing-key", jwk, emulator.KeyOptions{})
	chain := pki.MustChain("web.example.test", 1, pki.RSA2048)
	var ders [][]byte
	for _, c := range chain.Intermediates {
		ders = append(ders, c.Cert.Raw)
	}
	ders = append(ders, chain.Root.Cert.Raw)
	v.SetCertificate("web-tls", emulator.CertificateInput{Leaf: chain.Leaf.Cert, Chain: ders, Key: chain.Leaf.Key, ContentType: "application/x-pkcs12"})
	return nil
}

// preview shows text as text and binary as base64, shortened.
func preview(b []byte) string {
	var s string
	if utf8.Valid(b) && !strings.ContainsRune(string(b), 0) {
		s = string(b)
	} else {
		s = "(binary, base64) " + base64.StdEncoding.EncodeToString(b)
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 8 {
		lines = append(lines[:6], fmt.Sprintf("… (%d more lines)", len(lines)-7), lines[len(lines)-1])
	}
	return strings.Join(lines, "\n")
}
