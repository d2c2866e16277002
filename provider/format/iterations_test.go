package format

import (
	"encoding/asn1"
	"strings"
	"testing"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func TestPFXIterationLimit(t *testing.T) {
	p := mustPKI(t)
	type macData struct {
		Mac        asn1.RawValue
		Salt       []byte
		Iterations int
	}
	// A real file with its MAC iteration count raised: refused before any work.
	pfx := mustPFX(t, pkcs12.Modern2023, p.leafECKey, p.leafEC)
	var outer asnPFX
	mustUnmarshal(t, pfx, &outer)
	var mac macData
	mustUnmarshal(t, outer.MacData.FullBytes, &mac)
	if mac.Iterations != 2048 {
		t.Fatalf("unexpected MAC iterations %d", mac.Iterations)
	}
	mac.Iterations = 1 << 30
	outer.MacData = asn1.RawValue{FullBytes: mustMarshal(t, mac)}
	_, err := PFXToPEM(mustMarshal(t, outer), true)
	if err == nil || !strings.Contains(err.Error(), "1073741824 key-derivation iterations") {
		t.Fatalf("got %v", err)
	}

	type params struct {
		Salt       []byte
		Iterations int
	}
	for _, tc := range []struct {
		name string
		der  []byte
		bad  bool
	}{
		{"at the limit", mustMarshal(t, params{[]byte("salt"), maxPFXIterations}), false},
		{"above the limit", mustMarshal(t, params{[]byte("salt"), maxPFXIterations + 1}), true},
		{"inside an OCTET STRING", mustMarshal(t, []any{mustMarshal(t, params{[]byte("s"), 1 << 25})}), true},
		{"integer not after an OCTET STRING", mustMarshal(t, []any{1 << 30, []byte("s")}), false},
		{"negative", mustMarshal(t, params{[]byte("s"), -(1 << 30)}), false},
		{"malformed", []byte{0x30, 0x05, 0x04}, false},
	} {
		if err := checkPFXIterations(tc.der); (err != nil) != tc.bad {
			t.Errorf("%s: got %v", tc.name, err)
		}
	}
}
