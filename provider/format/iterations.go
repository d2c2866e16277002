package format

import (
	"encoding/asn1"
	"fmt"
	"math/big"
)

// maxPFXIterations bounds the key-derivation iteration counts of a PFX. Tools
// write 2,000 to 600,000; a crafted file asking for 2^31 would keep this node-wide
// daemon busy for minutes per mount, since the PKCS#12 library has no limit.
const maxPFXIterations = 1 << 20

// checkPFXIterations looks through the DER of a PFX for iteration counts above
// maxPFXIterations: the INTEGER right after an OCTET STRING in one SEQUENCE, which
// is how MacData, PBEParameter and PBKDF2-params (PBES2, PBMAC1) lay out their salt
// and count. It descends into OCTET STRINGs that hold well-formed DER (the
// authenticated safe, unencrypted safe contents) but cannot see inside encrypted
// safe contents. Malformed input is left to the decoder to reject.
func checkPFXIterations(der []byte) error {
	if !wellFormed(der, 0) {
		return nil
	}
	return scanIterations(der, 0)
}

const maxASN1Depth = 32

func wellFormed(der []byte, depth int) bool {
	if depth > maxASN1Depth {
		return false
	}
	for len(der) > 0 {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(der, &v)
		if err != nil {
			return false
		}
		if v.IsCompound && !wellFormed(v.Bytes, depth+1) {
			return false
		}
		der = rest
	}
	return true
}

// scanIterations walks well-formed DER (checked by wellFormed).
func scanIterations(der []byte, depth int) error {
	afterOctets := false
	for len(der) > 0 {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(der, &v)
		if err != nil {
			return nil
		}
		universal := v.Class == asn1.ClassUniversal
		switch {
		case universal && v.Tag == asn1.TagInteger && afterOctets:
			n := new(big.Int).SetBytes(v.Bytes)
			if len(v.Bytes) > 0 && v.Bytes[0]&0x80 == 0 && n.Cmp(big.NewInt(maxPFXIterations)) > 0 {
				return fmt.Errorf("the PFX asks for %s key-derivation iterations, more than the %d allowed", n, maxPFXIterations)
			}
		case v.IsCompound:
			if err := scanIterations(v.Bytes, depth+1); err != nil {
				return err
			}
		case universal && v.Tag == asn1.TagOctetString && depth < maxASN1Depth && wellFormed(v.Bytes, depth+1):
			if err := scanIterations(v.Bytes, depth+1); err != nil {
				return err
			}
		}
		afterOctets = universal && v.Tag == asn1.TagOctetString
		der = rest
	}
	return nil
}
