package integration

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

// TestLoadNoLeaks runs 1,000 mounts at concurrency 64 against the in-process provider
// (run under -race: no data race), with mixed identities: workload identity with
// several service-account tokens and a service principal. Every mount must return
// exactly its files; afterwards goroutines and the live heap must be back near their
// baselines, and once the provider stops, goroutines back to what they were before it
// started.
func TestLoadNoLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const (
		mounts      = 1000
		concurrency = 64
		wiPods      = 8
	)
	// Workers of earlier in-process daemons may still idle out in this process.
	goroutinesBefore, workersBefore := settledGoroutines(0, time.Second)

	h, err := harness.New(context.Background(), harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			h.Close()
		}
	}()
	objects := []string{"load-a", "load-b", "load-c"}
	for _, o := range objects {
		h.Vault.SetSecret(o, "value-"+o+"-old", emulator.SecretOptions{Created: time.Now().Add(-time.Hour)})
		h.Vault.SetSecret(o, "value-"+o, emulator.SecretOptions{})
	}
	wiObjects := []string{"objectName: load-a\nobjectType: secret", "objectName: load-b\nobjectType: secret\nobjectVersionHistory: 2"}
	spObjects := []string{"objectName: load-c\nobjectType: secret", "objectName: load-a\nobjectType: secret\nobjectAlias: dir/a\nfilePermission: \"0600\""}
	inputs := make([]harness.MountInput, 0, wiPods+1)
	wants := make([][]string, 0, wiPods+1)
	for i := 0; i < wiPods; i++ {
		pod := harness.Pod{Name: fmt.Sprintf("load-%d", i), Namespace: harness.Namespace,
			UID: fmt.Sprintf("00000000-0000-4000-a000-%012d", i), ServiceAccount: harness.SAName}
		inputs = append(inputs, harness.MountInput{Params: wiParams(wiObjects...), Pod: pod, Tokens: h.WorkloadToken(pod, harness.WIAudience, time.Hour)})
		wants = append(wants, []string{"value-load-a", "value-load-b", "value-load-b-old"})
	}
	inputs = append(inputs, harness.MountInput{Params: spParams(spObjects...), Secrets: spSecrets()})
	wants = append(wants, []string{"value-load-c", "value-load-a"})

	var failures atomic.Int64
	run := func(n int) time.Duration {
		start := time.Now()
		jobs := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					k := i % len(inputs)
					c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					resp, err := h.Mount(c, inputs[k])
					cancel()
					if err != nil {
						if failures.Add(1) <= 5 {
							t.Errorf("mount %d: %v", i, err)
						}
						continue
					}
					if len(resp.Files) != len(wants[k]) {
						if failures.Add(1) <= 5 {
							t.Errorf("mount %d: %d files, want %d", i, len(resp.Files), len(wants[k]))
						}
						continue
					}
					for j, w := range wants[k] {
						if string(resp.Files[j].Contents) != w {
							if failures.Add(1) <= 5 {
								t.Errorf("mount %d file %s = %q, want %q", i, resp.Files[j].Path, resp.Files[j].Contents, w)
							}
						}
					}
				}
			}()
		}
		for i := 0; i < n; i++ {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		return time.Since(start)
	}

	// Warm up with the same concurrency, so connection pools and caches are at their
	// working size before the baselines are taken.
	run(2 * concurrency)
	if failures.Load() > 0 {
		t.FailNow()
	}
	goroutinesBase, _ := settledGoroutines(0, 500*time.Millisecond)
	heapBase := liveHeap()
	h.Emu.ResetCounts()

	elapsed := run(mounts)
	if failures.Load() > 0 {
		t.Fatalf("%d of %d mounts failed", failures.Load(), mounts)
	}
	c := h.Emu.Counts()
	t.Logf("%d mounts at concurrency %d in %v (%.0f/s); token requests during the run: %d; Key Vault GETs: %d",
		mounts, concurrency, elapsed.Round(time.Millisecond), float64(mounts)/elapsed.Seconds(), c.TokenRequests, c.KeyVaultByOp["GetSecret"])
	if c.TokenRequests != 0 {
		t.Errorf("%d token requests after warm-up: tokens are cached per credential", c.TokenRequests)
	}
	if v := scrapeValue(t, h.Metrics, "kvcsi_inflight_mounts"); v != 0 {
		t.Errorf("kvcsi_inflight_mounts = %v after the load", v)
	}

	goroutinesAfter, workers := settledGoroutines(goroutinesBase+8, 5*time.Second)
	heapAfter := liveHeap()
	t.Logf("goroutines: %d before the provider, %d after warm-up, %d after the load (+ %d Key Vault workers); live heap %.1f MiB after warm-up, %.1f MiB after the load",
		goroutinesBefore, goroutinesBase, goroutinesAfter, workers, mib(heapBase), mib(heapAfter))
	if goroutinesAfter > goroutinesBase+8 {
		t.Errorf("goroutine leak: %d after the load, %d before\n%s", goroutinesAfter, goroutinesBase, goroutineDump())
	}
	if workers-workersBefore > 256 {
		t.Errorf("%d Key Vault workers: the pool is bounded at 256", workers-workersBefore)
	}
	if heapAfter > heapBase+16<<20 {
		t.Errorf("live heap grew from %.1f MiB to %.1f MiB over %d mounts", mib(heapBase), mib(heapAfter), mounts)
	}

	if err := h.Close(); err != nil {
		t.Errorf("stop: %v", err)
	}
	closed = true
	// HTTP/2 and keep-alive connections close asynchronously; allow a little.
	goroutinesStopped, workers := settledGoroutines(goroutinesBefore+3, 10*time.Second)
	t.Logf("goroutines after the provider and emulator stopped: %d (+ %d Key Vault workers)", goroutinesStopped, workers)
	if goroutinesStopped > goroutinesBefore+3 {
		t.Errorf("goroutines left after stop: %d, %d before start\n%s", goroutinesStopped, goroutinesBefore, goroutineDump())
	}
	// daemon.Run closes the Key Vault pool: its workers stop with it.
	if workers > workersBefore {
		t.Errorf("%d Key Vault workers left after stop (%d before start)", workers, workersBefore)
	}
}

// goroutines counts the live goroutines, apart from the Key Vault pool's workers
// (keyvault.workers: a bounded pool of long-lived goroutines that leave after a minute
// idle), which it counts separately.
func goroutines() (others, workers int) {
	for _, g := range strings.Split(goroutineDump(), "\n\ngoroutine ") {
		if strings.Contains(g, "provider/keyvault.(*worker).loop") {
			workers++
		} else {
			others++
		}
	}
	return others, workers
}

// settledGoroutines waits up to max for the goroutine count (Key Vault workers apart)
// to drop to want (0: just let it settle for max) and returns the last counts.
func settledGoroutines(want int, max time.Duration) (int, int) {
	deadline := time.Now().Add(max)
	n, w := goroutines()
	for time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
		n, w = goroutines()
		if want > 0 && n <= want {
			return n, w
		}
	}
	return n, w
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func goroutineDump() string {
	buf := make([]byte, 16<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
