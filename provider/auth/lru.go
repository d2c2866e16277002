package auth

import (
	"container/list"
	"time"
)

// lru is a size- and idle-bounded map. It is not safe for concurrent use; the
// owner serialises access. Entries are ordered by last use, so the entries that
// have been idle longest are always at the back.
type lru[K comparable, V any] struct {
	max     int
	idleTTL time.Duration // <= 0: no idle expiry
	order   *list.List    // front = most recently used; values are *lruEntry[K, V]
	index   map[K]*list.Element
	onEvict func(K, V) // optional, called for entries dropped by size or idleness
}

type lruEntry[K comparable, V any] struct {
	key      K
	value    V
	lastUsed time.Time
}

func newLRU[K comparable, V any](max int, idleTTL time.Duration, onEvict func(K, V)) *lru[K, V] {
	if max < 1 {
		max = 1
	}
	return &lru[K, V]{max: max, idleTTL: idleTTL, order: list.New(), index: make(map[K]*list.Element), onEvict: onEvict}
}

// get returns the value for k and marks it used at now. Idle entries are
// expired first, so a value unused for idleTTL is never returned.
func (c *lru[K, V]) get(k K, now time.Time) (V, bool) {
	c.expire(now)
	el, ok := c.index[k]
	if !ok {
		var zero V
		return zero, false
	}
	e := el.Value.(*lruEntry[K, V])
	e.lastUsed = now
	c.order.MoveToFront(el)
	return e.value, true
}

// put stores v under k (replacing any previous value without calling onEvict
// for it) and evicts the least recently used entries beyond max.
func (c *lru[K, V]) put(k K, v V, now time.Time) {
	c.expire(now)
	if el, ok := c.index[k]; ok {
		e := el.Value.(*lruEntry[K, V])
		e.value, e.lastUsed = v, now
		c.order.MoveToFront(el)
		return
	}
	c.index[k] = c.order.PushFront(&lruEntry[K, V]{key: k, value: v, lastUsed: now})
	for c.order.Len() > c.max {
		c.removeElement(c.order.Back())
	}
}

// expire drops every entry idle for idleTTL or longer.
func (c *lru[K, V]) expire(now time.Time) {
	if c.idleTTL <= 0 {
		return
	}
	for el := c.order.Back(); el != nil; el = c.order.Back() {
		if now.Sub(el.Value.(*lruEntry[K, V]).lastUsed) < c.idleTTL {
			return
		}
		c.removeElement(el)
	}
}

func (c *lru[K, V]) removeElement(el *list.Element) {
	e := el.Value.(*lruEntry[K, V])
	c.order.Remove(el)
	delete(c.index, e.key)
	if c.onEvict != nil {
		c.onEvict(e.key, e.value)
	}
}

func (c *lru[K, V]) len() int { return c.order.Len() }
