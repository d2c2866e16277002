package format

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Encodings accepted by Decode (objectEncoding), compared case-insensitively.
const (
	EncodingUTF8   = "utf-8"
	EncodingBase64 = "base64"
	EncodingHex    = "hex"
)

// Decode turns stored text into the bytes to write, as objectEncoding asks: "" and
// "utf-8" keep it as is, "base64" decodes standard base64 with padding (line breaks
// are ignored), "hex" decodes hexadecimal. The result never aliases content.
//
// Error messages give at most a byte offset, never a character of the content.
func Decode(content []byte, encoding string) ([]byte, error) {
	switch strings.ToLower(encoding) {
	case "", EncodingUTF8:
		return append([]byte(nil), content...), nil
	case EncodingBase64:
		out := make([]byte, base64.StdEncoding.DecodedLen(len(content)))
		n, err := base64.StdEncoding.Decode(out, content)
		if err != nil {
			// CorruptInputError prints an offset only.
			return nil, err
		}
		return out[:n], nil
	case EncodingHex:
		return decodeHex(content)
	}
	return nil, fmt.Errorf("invalid objectEncoding. Should be utf-8, base64, or hex")
}

// decodeHex is hex.Decode with errors that name the offset rather than the byte:
// encoding/hex's InvalidByteError would print a character of the secret.
func decodeHex(content []byte) ([]byte, error) {
	for i, c := range content {
		if !isHexDigit(c) {
			return nil, fmt.Errorf("invalid hex data at input byte %d", i)
		}
	}
	if len(content)%2 != 0 {
		return nil, fmt.Errorf("odd length hex data (%d bytes)", len(content))
	}
	out := make([]byte, hex.DecodedLen(len(content)))
	if _, err := hex.Decode(out, content); err != nil {
		return nil, fmt.Errorf("invalid hex data")
	}
	return out, nil
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
