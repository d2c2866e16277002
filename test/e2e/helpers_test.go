package e2e

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/kvcsi/kvcsi/test/e2e/internal/tools"
)

// driverVersionsUnderTest is tools.DriverVersions, or the comma-separated
// subset in KVCSI_E2E_DRIVERS. A value that names no known driver version is an
// error, never a silently empty (skipped) run.
func driverVersionsUnderTest() ([]string, error) {
	env := os.Getenv("KVCSI_E2E_DRIVERS")
	if strings.TrimSpace(env) == "" {
		return tools.DriverVersions, nil
	}
	var out []string
	for _, v := range strings.Split(env, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if !slices.Contains(tools.DriverVersions, v) {
			return nil, fmt.Errorf("KVCSI_E2E_DRIVERS=%q: unknown driver version %q (known: %s)", env, v, strings.Join(tools.DriverVersions, ", "))
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("KVCSI_E2E_DRIVERS=%q names no driver version (known: %s)", env, strings.Join(tools.DriverVersions, ", "))
	}
	return out, nil
}

// mustDriverVersions is driverVersionsUnderTest for a test.
func mustDriverVersions(t interface{ Fatal(...any) }) []string {
	v, err := driverVersionsUnderTest()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// firstJWK returns the kid and RSA public key of the first key of a JWKS.
func firstJWK(jwks []byte) (string, *rsa.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return "", nil, err
	}
	for _, k := range set.Keys {
		if k.Kty != "RSA" {
			continue
		}
		n, err := base64.RawURLEncoding.DecodeString(k.N)
		if err != nil {
			return "", nil, err
		}
		e, err := base64.RawURLEncoding.DecodeString(k.E)
		if err != nil {
			return "", nil, err
		}
		return k.Kid, &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	}
	return "", nil, fmt.Errorf("no RSA key in JWKS %s", jwks)
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

func mkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }
