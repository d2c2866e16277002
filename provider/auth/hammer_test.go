package auth

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// TestHammer runs many goroutines mounting with a mix of identities against
// in-process Entra ID, IMDS and NMI fakes, with a small credential cache (so
// credentials are evicted and rebuilt) and a clock that runs fast (so tokens
// are refreshed and idle credentials expire), and checks that every caller
// always gets a token minted for its own identity.
func TestHammer(t *testing.T) {
	entra := &fakeEntra{t: t}
	nmi := nmiOK(fmt.Sprint(time.Now().Add(time.Hour).Unix()))
	imds := imdsHandler(nil)
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Host {
		case "nmi.test":
			nmi(w, r)
		case "169.254.169.254":
			imds(w, r)
		default:
			entra.ServeHTTP(w, r)
		}
	})
	clock := &fakeClock{t: time.Now()}
	m := NewManager(Options{
		Transport:   handlerTransport{mux},
		NMIEndpoint: "http://nmi.test/host/token/",
		CacheSize:   12,
		IdleTTL:     3 * time.Minute,
		Now:         clock.Now,
	})

	type workload struct {
		id   config.Identity
		pod  config.Pod
		want func(token string) bool
	}
	var loads []workload
	for i := 0; i < 4; i++ {
		sa, secret, client := fmt.Sprintf("sa-%d", i), fmt.Sprintf("secret-%d", i), fmt.Sprintf("client-%d", i%3)
		pod := config.Pod{Namespace: "ns", Name: fmt.Sprintf("pod-%d", i)}
		loads = append(loads,
			workload{wi(sa, client, tenantA), pod, func(tok string) bool {
				return strings.HasPrefix(tok, "at|"+client+"|"+tenantA+"|") && strings.HasSuffix(tok, proofOf(sa))
			}},
			workload{sp(client, secret, tenantB), pod, func(tok string) bool {
				return strings.HasPrefix(tok, "at|"+client+"|"+tenantB+"|") && strings.HasSuffix(tok, proofOf(secret))
			}},
			workload{config.Identity{Mode: vocab.PodIdentity}, pod, func(tok string) bool {
				return tok == "at-ns-"+pod.Name+"-"+kvRes
			}},
		)
	}
	for _, uami := range []string{"", "uami-a", "uami-b"} {
		loads = append(loads, workload{mi(uami), testPod, func(tok string) bool { return tok == "mi-token-"+uami }})
	}

	const workers, ops = 24, 100
	var calls atomic.Uint64
	stop := make(chan struct{})
	var ticker sync.WaitGroup
	ticker.Add(1)
	go func() { // ~4 fake hours over the run
		defer ticker.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
				clock.Advance(5 * time.Second)
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; i < ops; i++ {
				l := loads[r.IntN(len(loads))]
				cred, key, err := m.Credential(l.id, l.pod, authority, kvRes)
				if err != nil {
					t.Error(err)
					return
				}
				if key == "" {
					t.Error("empty key")
				}
				calls.Add(1)
				tok, err := cred.GetToken(context.Background(), kvScope)
				if err != nil {
					t.Errorf("%v: %v", l.id.Mode, err)
					return
				}
				if !l.want(tok.Token) {
					t.Errorf("%v for %s got token %q", l.id.Mode, l.pod.Name, tok.Token)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	ticker.Wait()

	s := m.Stats()
	t.Logf("calls %d, stats %+v", calls.Load(), s)
	if s.TokenCacheHits+s.TokenCacheMisses != calls.Load() {
		t.Errorf("hits %d + misses %d != calls %d", s.TokenCacheHits, s.TokenCacheMisses, calls.Load())
	}
	if s.Credentials > 12 || s.CredentialEvictions == 0 {
		t.Errorf("cache not bounded or never evicted: %+v", s)
	}
	if s.TokenRequests >= calls.Load()/2 {
		t.Errorf("%d token requests for %d calls: the cache did not help", s.TokenRequests, calls.Load())
	}
}
