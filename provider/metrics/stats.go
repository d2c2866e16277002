package metrics

import "github.com/prometheus/client_golang/prometheus"

// CredentialStats are the credential cache's numbers (auth.Manager's), read on every
// scrape.
type CredentialStats struct {
	TokenRequests    uint64 // token requests made to Entra ID, IMDS or NMI
	TokenCacheHits   uint64
	TokenCacheMisses uint64
	Credentials      int // credentials cached now
}

// VaultStats are the Key Vault pool's numbers (keyvault.Pool's), read on every scrape.
type VaultStats struct {
	ClientSets       int // (vault, credential) client sets cached now
	Challenges       uint64
	ChallengesReused uint64
	Throttled        uint64
	Retries          uint64
	FailedFast       uint64
}

// WatchCredentials exports the credential metrics, reading stats once per scrape.
func (r *Registry) WatchCredentials(stats func() CredentialStats) {
	r.reg.MustRegister(&statsCollector[CredentialStats]{read: stats, metrics: []stat[CredentialStats]{
		counter("kvcsi_token_requests_total", "Token requests made to Entra ID, IMDS or NMI.", func(s CredentialStats) uint64 { return s.TokenRequests }),
		counter("kvcsi_token_cache_hits_total", "Token requests answered from the cache.", func(s CredentialStats) uint64 { return s.TokenCacheHits }),
		counter("kvcsi_token_cache_misses_total", "Token requests not answered from the cache.", func(s CredentialStats) uint64 { return s.TokenCacheMisses }),
		gauge("kvcsi_credentials_cached", "Credentials kept for reuse.", func(s CredentialStats) int { return s.Credentials }),
	}})
}

// WatchVaults exports the Key Vault pool's metrics, reading stats once per scrape.
func (r *Registry) WatchVaults(stats func() VaultStats) {
	r.reg.MustRegister(&statsCollector[VaultStats]{read: stats, metrics: []stat[VaultStats]{
		gauge("kvcsi_keyvault_client_sets_cached", "Key Vault client sets (per vault and credential) kept for reuse.", func(s VaultStats) int { return s.ClientSets }),
		counter("kvcsi_keyvault_challenges_total", "401 challenges received from Key Vault.", func(s VaultStats) uint64 { return s.Challenges }),
		counter("kvcsi_keyvault_challenges_reused_total", "Key Vault challenges answered from memory instead of a round trip.", func(s VaultStats) uint64 { return s.ChallengesReused }),
		counter("kvcsi_keyvault_throttled_total", "Key Vault answers 429 or 503.", func(s VaultStats) uint64 { return s.Throttled }),
		counter("kvcsi_keyvault_retries_total", "Key Vault request attempts after the first.", func(s VaultStats) uint64 { return s.Retries }),
		counter("kvcsi_keyvault_failed_fast_total", "Key Vault requests given up after a 429 because the wait asked for did not fit the deadline.", func(s VaultStats) uint64 { return s.FailedFast }),
	}})
}

// stat is one metric of a stats snapshot S.
type stat[S any] struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(S) float64
}

func counter[S any](name, help string, v func(S) uint64) stat[S] {
	return stat[S]{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue, func(s S) float64 { return float64(v(s)) }}
}

func gauge[S any](name, help string, v func(S) int) stat[S] {
	return stat[S]{prometheus.NewDesc(name, help, nil, nil), prometheus.GaugeValue, func(s S) float64 { return float64(v(s)) }}
}

// statsCollector reads one snapshot per scrape and exports each of its metrics.
type statsCollector[S any] struct {
	read    func() S
	metrics []stat[S]
}

func (c *statsCollector[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *statsCollector[S]) Collect(ch chan<- prometheus.Metric) {
	s := c.read()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(s))
	}
}
