package cache

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestLRUSizeAndRecency(t *testing.T) {
	var evicted []string
	c := New[string, int](2, 0, nil, func(k string, _ int) { evicted = append(evicted, k) })
	mk := func(v int) func() (int, error) { return func() (int, error) { return v, nil } }
	c.GetOrCreate("a", mk(1))
	c.GetOrCreate("b", mk(2))
	if v, hit, _ := c.GetOrCreate("a", mk(99)); !hit || v != 1 {
		t.Fatalf("a: got %d hit=%v, want cached 1", v, hit)
	}
	c.GetOrCreate("c", mk(3)) // evicts b, the least recently used
	if fmt.Sprint(evicted) != "[b]" {
		t.Fatalf("evicted %v, want [b]", evicted)
	}
	if _, hit, _ := c.GetOrCreate("b", mk(4)); hit {
		t.Fatal("b should have been evicted")
	}
	if c.Len() != 2 {
		t.Fatalf("Len = %d", c.Len())
	}
}

func TestLRUIdleExpiry(t *testing.T) {
	now := time.Unix(0, 0)
	c := New[string, int](10, time.Minute, func() time.Time { return now }, nil)
	c.GetOrCreate("a", func() (int, error) { return 1, nil })
	now = now.Add(59 * time.Second)
	if _, hit, _ := c.GetOrCreate("a", func() (int, error) { return 2, nil }); !hit {
		t.Fatal("entry expired early")
	}
	now = now.Add(61 * time.Second)
	if c.Len() != 0 {
		t.Fatal("idle entry not expired")
	}
}

func TestLRUCreateErrorNotCached(t *testing.T) {
	c := New[string, int](2, 0, nil, nil)
	if _, _, err := c.GetOrCreate("a", func() (int, error) { return 0, errors.New("boom") }); err == nil {
		t.Fatal("want error")
	}
	if c.Len() != 0 {
		t.Fatal("failed create was cached")
	}
}

func TestLRUConcurrent(t *testing.T) {
	c := New[int, int](16, time.Millisecond, nil, func(int, int) {})
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				k := (g*31 + i) % 64
				v, _, err := c.GetOrCreate(k, func() (int, error) { return k * 2, nil })
				if err != nil || v != k*2 {
					t.Errorf("key %d: got %d, %v", k, v, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if n := c.Len(); n > 16 {
		t.Fatalf("size bound broken: %d", n)
	}
}

func TestLRUGetAndAdd(t *testing.T) {
	now := time.Unix(0, 0)
	var evicted []string
	c := New[string, int](2, time.Minute, func() time.Time { return now }, func(k string, v int) {
		evicted = append(evicted, fmt.Sprintf("%s=%d", k, v))
	})
	if _, ok := c.Get("a"); ok {
		t.Fatal("hit in an empty cache")
	}
	c.Add("a", 1)
	c.Add("b", 2)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("a: got %d %v", v, ok)
	}
	c.Add("a", 10) // replaces, and the old value is released
	c.Add("c", 3)  // evicts b: a was used more recently
	if v, ok := c.Get("a"); !ok || v != 10 {
		t.Fatalf("a: got %d %v, want 10", v, ok)
	}
	if _, ok := c.Get("b"); ok {
		t.Fatal("b should have been evicted")
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.Get("c"); ok {
		t.Fatal("c should have expired")
	}
	if got := fmt.Sprint(evicted); got != "[a=1 b=2 c=3 a=10]" { // expiry runs from the least recently used
		t.Fatalf("evicted %s", got)
	}
}
