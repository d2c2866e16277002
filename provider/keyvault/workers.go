package keyvault

import (
	"fmt"
	"sync"
	"time"
)

// workers run SDK calls on long-lived goroutines.
//
// A mount fetches each object on a goroutine of its own. A Key Vault call through the
// SDK's pipeline runs some forty frames deep, so each of those short-lived goroutines
// grew its stack several times (copying it each time) for one request, and the runtime,
// which starts new goroutines at the average stack size it has seen, then started every
// goroutine big, including the thousands that only wait for a free slot of a busy vault.
// Profiles of 500 concurrent mounts showed 10% of the CPU in stack growth and 27 MB of
// stacks. Running the call itself on a worker whose stack has already grown keeps the
// mount's goroutines shallow: the handoff costs two channel operations.
type workers struct {
	mu          sync.Mutex
	idle        []*worker // most recently used last
	live        int
	max         int
	idleTimeout time.Duration
	closed      bool
}

type worker struct {
	jobs chan func()
}

func newWorkers(max int, idleTimeout time.Duration) *workers {
	return &workers{max: max, idleTimeout: idleTimeout}
}

// do runs fn on a worker and waits for it to return. When every worker is busy and the
// limit is reached, fn runs on the caller's goroutine. A panic in fn is returned as an
// error rather than crashing the process.
func (w *workers) do(fn func() error) (err error) {
	done := make(chan struct{})
	job := func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("internal error in a Key Vault call: %v", r)
			}
		}()
		err = fn()
	}
	if wk := w.get(); wk != nil {
		wk.jobs <- job
	} else {
		job()
	}
	<-done
	return err
}

// get returns an idle worker, a new one, or nil when the limit is reached.
func (w *workers) get() *worker {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.idle); n > 0 {
		wk := w.idle[n-1]
		w.idle[n-1] = nil
		w.idle = w.idle[:n-1]
		return wk
	}
	if w.live >= w.max || w.closed {
		return nil
	}
	w.live++
	wk := &worker{jobs: make(chan func(), 1)}
	go wk.loop(w)
	return wk
}

func (wk *worker) loop(w *workers) {
	t := time.NewTimer(w.idleTimeout)
	defer t.Stop()
	for {
		select {
		case job, ok := <-wk.jobs:
			if !ok { // close: only idle workers are closed
				return
			}
			job()
			w.mu.Lock()
			if w.closed {
				w.live--
				w.mu.Unlock()
				return
			}
			w.idle = append(w.idle, wk)
			w.mu.Unlock()
			t.Reset(w.idleTimeout)
		case <-t.C:
			w.mu.Lock()
			for i, x := range w.idle {
				if x == wk {
					w.idle = append(w.idle[:i], w.idle[i+1:]...)
					w.live--
					w.mu.Unlock()
					return
				}
			}
			// Taken off the idle list just now: a job is on its way.
			w.mu.Unlock()
			t.Reset(w.idleTimeout)
		}
	}
}

// close stops the idle workers now and busy ones when their call returns; later calls
// run on the caller's goroutine.
func (w *workers) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	for _, wk := range w.idle {
		close(wk.jobs)
		w.live--
	}
	w.idle = nil
}

func (w *workers) stats() (live, idle int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.live, len(w.idle)
}
