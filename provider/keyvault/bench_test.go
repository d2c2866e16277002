package keyvault

import (
	"context"
	"testing"
)

// BenchmarkSecret is one warm GetSecret through the pool's client, the challenge
// policy, the limiter and the retry loop, against an in-memory transport: the
// provider's own CPU cost per Key Vault read, without network or TLS.
func BenchmarkSecret(b *testing.B) {
	f := newFakeVault()
	p := testPool(f, nil)
	v, err := p.Vault(urlA, "k", &fakeCred{name: "one"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Secret(ctx, "s", ""); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Secret(ctx, "s", ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVault is the per-mount lookup of a cached client set.
func BenchmarkVault(b *testing.B) {
	p := testPool(newFakeVault(), nil)
	c := &fakeCred{name: "one"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := p.Vault(urlA, "key", c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLimiter is an uncontended acquire and release.
func BenchmarkLimiter(b *testing.B) {
	l := newLimiter(16)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t, err := l.acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			l.release(t, outcomeOK)
		}
	})
}
