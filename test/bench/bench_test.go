package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"k8s.io/klog/v2"

	"github.com/kvcsi/kvcsi/provider/daemon"
	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

// Go benchmarks of whole mounts through the in-process provider and emulator (no
// injected latency): allocations and time per mount, for quick before/after
// comparisons while changing code. They share the process with the emulator, so their
// CPU is not the provider's alone; `make bench` measures that.
//
//	go test -run '^$' -bench . -benchmem ./test/bench

// TestMain silences the in-process provider's per-mount log lines, which would bury
// the benchmark results.
func TestMain(m *testing.M) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
	os.Exit(m.Run())
}

func benchHarness(b *testing.B, noReuse bool) *harness.Harness {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := harness.New(ctx, harness.Options{Daemon: func(o *daemon.Options) {
		o.Parallelism, o.VaultConcurrency, o.NoReuse = 32, 32, noReuse
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	for i := 0; i < maxSecrets; i++ {
		h.Vault.SetSecret(secretName(i), secretValue(i), emulator.SecretOptions{})
	}
	return h
}

func benchMount(b *testing.B, noReuse bool, n int) {
	h := benchHarness(b, noReuse)
	e := &env{h: h}
	p := pod("bench", 0)
	tok := e.tokenFor(p)
	ctx := context.Background()
	if _, err := e.mount(ctx, p, tok, n); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.mount(ctx, p, tok, n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWarmMount is a rotation remount (same pod, same token).
func BenchmarkWarmMount(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) { benchMount(b, false, n) })
	}
}

// BenchmarkNaiveMount is the same remount with --no-reuse.
func BenchmarkNaiveMount(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) { benchMount(b, true, n) })
	}
}

// BenchmarkConcurrentWarmMounts is warm remounts of 64 pods at once.
func BenchmarkConcurrentWarmMounts(b *testing.B) {
	h := benchHarness(b, false)
	e := &env{h: h}
	const pods = 64
	ps := make([]harness.Pod, pods)
	toks := make([]map[string]harness.Token, pods)
	for i := range ps {
		ps[i] = pod("bench-conc", i)
		toks[i] = e.tokenFor(ps[i])
		if _, err := e.mount(context.Background(), ps[i], toks[i], 10); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(pods / 2) // 2 CPUs × 32 goroutines
	next := make(chan int, pods)
	for i := 0; i < pods; i++ {
		next <- i
	}
	b.RunParallel(func(pb *testing.PB) {
		i := <-next
		for pb.Next() {
			if _, err := e.mount(context.Background(), ps[i], toks[i], 10); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
