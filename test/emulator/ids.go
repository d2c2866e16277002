package emulator

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
)

// idSource yields reproducible random-looking identifiers: the same seed and
// the same sequence of calls give the same identifiers.
type idSource struct {
	mu  sync.Mutex
	rng *rand.ChaCha8
}

const defaultSeed = 0x6b766373692d656d // "kvcsi-em"

func newIDSource(seed uint64) *idSource {
	if seed == 0 {
		seed = defaultSeed
	}
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	binary.LittleEndian.PutUint64(s[8:], ^seed)
	return &idSource{rng: rand.NewChaCha8(s)}
}

func (s *idSource) bytes(n int) []byte {
	b := make([]byte, n)
	s.mu.Lock()
	_, _ = s.rng.Read(b)
	s.mu.Unlock()
	return b
}

// version is 32 lower-case hex characters, like a Key Vault object version.
func (s *idSource) version() string { return hex.EncodeToString(s.bytes(16)) }

// guid is a version-4 style UUID string.
func (s *idSource) guid() string {
	b := s.bytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// float is uniform in [0,1).
func (s *idSource) float() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return float64(s.rng.Uint64()>>11) / (1 << 53)
}
