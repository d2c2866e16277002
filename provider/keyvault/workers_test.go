package keyvault

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWorkersRunAndReuse(t *testing.T) {
	w := newWorkers(2, time.Hour)
	want := errors.New("boom")
	if err := w.do(func() error { return want }); err != want {
		t.Fatalf("err = %v", err)
	}
	for i := 0; i < 10; i++ {
		if err := w.do(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if live, idle := w.stats(); live != 1 || idle != 1 {
		t.Fatalf("live %d idle %d: sequential calls should reuse one worker", live, idle)
	}
}

func TestWorkersPanicIsAnError(t *testing.T) {
	w := newWorkers(2, time.Hour)
	err := w.do(func() error { panic("nil map") })
	if err == nil || !strings.Contains(err.Error(), "nil map") {
		t.Fatalf("err = %v", err)
	}
	if err := w.do(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// Beyond the limit calls run on the caller's goroutine; idle workers exit.
func TestWorkersLimitAndIdleExit(t *testing.T) {
	w := newWorkers(3, 50*time.Millisecond)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	var running atomic.Int32
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = w.do(func() error { running.Add(1); <-gate; return nil })
		}()
	}
	// All ten calls run at once: three on workers, seven on their callers' goroutines.
	waitFor(t, "ten running calls", func() bool { return running.Load() == 10 })
	if live, _ := w.stats(); live != 3 {
		t.Fatalf("live %d, want the limit 3", live)
	}
	close(gate)
	wg.Wait()
	waitFor(t, "idle workers to exit", func() bool { live, idle := w.stats(); return live == 0 && idle == 0 })
	if err := w.do(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// Workers racing with their idle timeout never lose a job.
func TestWorkersTimeoutRace(t *testing.T) {
	w := newWorkers(4, time.Millisecond)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				if err := w.do(func() error { return nil }); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					time.Sleep(2 * time.Millisecond) // not a synchronisation: lets idle timeouts fire mid-run
				}
			}
		}()
	}
	wg.Wait()
}

func TestWorkersClose(t *testing.T) {
	w := newWorkers(4, time.Hour)
	for i := 0; i < 3; i++ {
		if err := w.do(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	release := make(chan struct{})
	busy := make(chan error, 1)
	started := make(chan struct{})
	go func() { busy <- w.do(func() error { close(started); <-release; return nil }) }()
	<-started
	w.close()
	// A call after close runs on the caller's goroutine and still works.
	if err := w.do(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-busy; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "no live workers after close", func() bool { live, _ := w.stats(); return live == 0 })
	w.close() // idempotent
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
