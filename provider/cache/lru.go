// Package cache is a size- and idle-bounded LRU map, safe for concurrent use. It holds
// reusable credentials, clients and parsed parameters; each owner creates its own
// (no globals).
package cache

import (
	"container/list"
	"sync"
	"time"
)

// Defaults of the caches that keep credentials, Key Vault clients and parsed parameters
// across mounts (--cache-size, --cache-idle-ttl), for their owners' zero values.
const (
	DefaultSize = 1024
	// DefaultIdleTTL drops what no mount used for half an hour: the driver's rotation
	// poll (2 minutes by default) touches what pods still mount long before that, and
	// a token kept longer than its pod would not be used again.
	DefaultIdleTTL = 30 * time.Minute
)

// LRU evicts the least recently used entry beyond Size and any entry idle longer than
// IdleTTL (checked on access, so an idle cache costs nothing).
type LRU[K comparable, V any] struct {
	mu      sync.Mutex
	size    int
	idleTTL time.Duration
	now     func() time.Time
	order   *list.List // front = most recent
	items   map[K]*list.Element
	onEvict func(K, V)
}

type entry[K comparable, V any] struct {
	key  K
	val  V
	used time.Time
}

// New returns an LRU holding at most size entries (size < 1 means 1); idleTTL 0 disables
// idle expiry. onEvict, if non-nil, runs outside the lock for every evicted entry.
func New[K comparable, V any](size int, idleTTL time.Duration, now func() time.Time, onEvict func(K, V)) *LRU[K, V] {
	if size < 1 {
		size = 1
	}
	if now == nil {
		now = time.Now
	}
	return &LRU[K, V]{size: size, idleTTL: idleTTL, now: now, order: list.New(), items: map[K]*list.Element{}, onEvict: onEvict}
}

// GetOrCreate returns the entry for k, creating it with create (under the lock, so
// create must be cheap and must not block) when absent or expired.
func (c *LRU[K, V]) GetOrCreate(k K, create func() (V, error)) (V, bool, error) {
	c.mu.Lock()
	now := c.now()
	evicted := c.expireLocked(now)
	if el, ok := c.items[k]; ok {
		e := el.Value.(*entry[K, V])
		e.used = now
		c.order.MoveToFront(el)
		c.mu.Unlock()
		c.evict(evicted)
		return e.val, true, nil
	}
	v, err := create()
	if err != nil {
		c.mu.Unlock()
		c.evict(evicted)
		var zero V
		return zero, false, err
	}
	c.items[k] = c.order.PushFront(&entry[K, V]{key: k, val: v, used: now})
	for c.order.Len() > c.size {
		evicted = append(evicted, c.removeLocked(c.order.Back()))
	}
	c.mu.Unlock()
	c.evict(evicted)
	return v, false, nil
}

// Get returns the live entry for k, marking it used.
func (c *LRU[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	now := c.now()
	evicted := c.expireLocked(now)
	var (
		v  V
		ok bool
	)
	if el, found := c.items[k]; found {
		e := el.Value.(*entry[K, V])
		e.used = now
		c.order.MoveToFront(el)
		v, ok = e.val, true
	}
	c.mu.Unlock()
	c.evict(evicted)
	return v, ok
}

// Add stores v for k, replacing an entry k already has, and evicts beyond Size.
func (c *LRU[K, V]) Add(k K, v V) {
	c.mu.Lock()
	now := c.now()
	evicted := c.expireLocked(now)
	if el, found := c.items[k]; found {
		evicted = append(evicted, c.removeLocked(el))
	}
	c.items[k] = c.order.PushFront(&entry[K, V]{key: k, val: v, used: now})
	for c.order.Len() > c.size {
		evicted = append(evicted, c.removeLocked(c.order.Back()))
	}
	c.mu.Unlock()
	c.evict(evicted)
}

// Len is the number of live entries.
func (c *LRU[K, V]) Len() int {
	c.mu.Lock()
	evicted := c.expireLocked(c.now())
	n := c.order.Len()
	c.mu.Unlock()
	c.evict(evicted)
	return n
}

func (c *LRU[K, V]) expireLocked(now time.Time) []*entry[K, V] {
	if c.idleTTL <= 0 {
		return nil
	}
	var out []*entry[K, V]
	for el := c.order.Back(); el != nil; el = c.order.Back() {
		if now.Sub(el.Value.(*entry[K, V]).used) < c.idleTTL {
			break
		}
		out = append(out, c.removeLocked(el))
	}
	return out
}

func (c *LRU[K, V]) removeLocked(el *list.Element) *entry[K, V] {
	e := el.Value.(*entry[K, V])
	c.order.Remove(el)
	delete(c.items, e.key)
	return e
}

func (c *LRU[K, V]) evict(es []*entry[K, V]) {
	if c.onEvict == nil {
		return
	}
	for _, e := range es {
		c.onEvict(e.key, e.val)
	}
}
