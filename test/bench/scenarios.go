package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/kvcsi/kvcsi/provider/keyvault"
	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

// Injected service latency, per request (the emulator sleeps before answering).
const (
	kvLatency    = 10 * time.Millisecond
	entraLatency = 30 * time.Millisecond
	maxSecrets   = 50
)

// mode is one way of running the provider.
type mode struct {
	key, name string
	args      []string
}

var modes = []mode{
	{"kvcsi", "kvcsi (defaults)", nil},
	{"naive", "naive (--no-reuse)", []string{"--no-reuse"}},
}

// Plan is how much of each scenario runs.
type Plan struct {
	Sizes          []int // secrets per SecretProviderClass
	WarmSamples    int   // warm mounts per size (kvcsi); naive takes NaiveSamples
	ColdSamples    int   // cold mounts per size (each a new pod)
	NaiveSamples   int   // warm and cold mounts per size in naive mode
	Concurrency    []int
	ThroughputTime time.Duration
	Rotation       int // rotation mounts of one pod, and pods of one service account
	Concurrent     int // concurrent mounts for CPU and RSS
	WarmRounds     int // rounds of Concurrent warm mounts after the cold one
	MemoryMounts   int // mounts with distinct tokens
	MemoryConc     int
	MemoryEvery    int // RSS sample interval
}

func plan(quick bool) Plan {
	p := Plan{
		Sizes: []int{1, 10, 50}, WarmSamples: 150, ColdSamples: 40, NaiveSamples: 15,
		Concurrency: []int{1, 16, 64}, ThroughputTime: 2 * time.Second,
		Rotation: 50, Concurrent: 500, WarmRounds: 3,
		MemoryMounts: 10000, MemoryConc: 64, MemoryEvery: 1000,
	}
	if quick {
		p.WarmSamples, p.ColdSamples, p.NaiveSamples = 10, 5, 3
		p.ThroughputTime = 500 * time.Millisecond
		p.Concurrent, p.WarmRounds = 50, 1
		p.MemoryMounts, p.MemoryEvery = 500, 100
	}
	return p
}

// Results of one run.
type Results struct {
	Started  time.Time
	Duration time.Duration
	Go       string
	CPUs     int
	CPUModel string
	Commit   string
	Plan     Plan
	Modes    []*ModeResults
	Memory   *MemoryResults
	Floor    Floor
}

// Errors counts failed mounts over the whole run.
func (r *Results) Errors() int {
	n := 0
	for _, m := range r.Modes {
		n += int(m.Failures.Load())
	}
	if r.Memory != nil {
		n += int(r.Memory.Failures.Load())
	}
	return n
}

// ModeResults are one mode's numbers.
type ModeResults struct {
	Key, Name  string
	Args       []string
	RTT        Dist               // single Key Vault GET through the emulator
	Latency    map[int][2]Dist    // size → {cold, warm} mount latency
	Throughput map[int]float64    // concurrency → warm mounts per second (10 secrets)
	Busy       map[int][2]float64 // concurrency → CPU use in % of one CPU: {provider, emulator + client}
	Rotation   Counts             // Plan.Rotation mounts of one pod, one token
	Pods       Counts             // Plan.Rotation pods of one service account
	Load       LoadResults        // Plan.Concurrent concurrent mounts, real binary
	Failures   atomic.Int64
	FirstError string
	errOnce    sync.Once
}

func (m *ModeResults) fail(err error) {
	m.Failures.Add(1)
	m.errOnce.Do(func() { m.FirstError = err.Error() })
}

// Dist is a latency distribution.
type Dist struct {
	N             int
	P50, P99, Max time.Duration
}

func dist(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(float64(len(s))*p+0.999999) - 1 // nearest rank
		return s[min(max(i, 0), len(s)-1)]
	}
	return Dist{N: len(s), P50: rank(0.50), P99: rank(0.99), Max: s[len(s)-1]}
}

// Counts are what the emulator saw during a scenario.
type Counts struct {
	Mounts        int
	Objects       int // secrets per mount
	TokenRequests int // Entra ID token endpoint
	Discovery     int // Entra ID instance discovery and OpenID configuration
	KeyVault      int // every Key Vault request, challenges included
	Challenges    int // 401 challenges
	Gets          int // GetSecret with a token
}

// LoadResults are the provider process's CPU and memory under concurrent mounts.
type LoadResults struct {
	Mounts      int           // concurrent mounts per round
	ColdCPU     time.Duration // per mount, first round (every pod new)
	WarmCPU     time.Duration // per mount, later rounds (same pods, same tokens)
	WarmCPU1    time.Duration // per mount, a warm round with a one-secret SecretProviderClass
	ColdWall    time.Duration // wall time of the cold round
	WarmWall    time.Duration // mean wall time of a warm round
	PeakRSS     int64         // VmHWM at the end, bytes
	RSSAfter    int64         // VmRSS at the end, bytes
	StartRSS    int64         // VmRSS before the first round
	ProfilePath string
}

// MemoryResults track memory over many mounts with distinct tokens.
type MemoryResults struct {
	Mounts      int
	Concurrency int
	Samples     []MemSample
	PeakRSS     int64
	CacheSize   int
	Credentials float64 // kvcsi_credentials_cached at the end
	CPUPerMount time.Duration
	Wall        time.Duration
	Failures    atomic.Int64
	FirstError  string
	errOnce     sync.Once
}

// MemSample is RSS after some number of mounts.
type MemSample struct {
	Mounts int
	RSS    int64
}

// env is a running emulator and provider process.
type env struct {
	h     *harness.Harness
	pid   int
	pprof string // host:port of the provider's pprof endpoint, when enabled
}

func startEnv(ctx context.Context, bin string, args []string) (*env, error) {
	h, err := harness.New(ctx, harness.Options{Binary: bin, Args: args})
	if err != nil {
		return nil, err
	}
	h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{Latency: kvLatency})
	h.Emu.SetFaults(emulator.ServiceEntraID, emulator.Faults{Latency: entraLatency})
	for i := 0; i < maxSecrets; i++ {
		h.Vault.SetSecret(secretName(i), secretValue(i), emulator.SecretOptions{ContentType: "text/plain"})
	}
	pid, err := findProvider(h.Socket)
	if err != nil {
		h.Close()
		return nil, err
	}
	return &env{h: h, pid: pid}, nil
}

func secretName(i int) string { return fmt.Sprintf("bench-secret-%02d", i) }

// secretValue is a 64-byte value, the size of a typical password or connection string.
func secretValue(i int) string {
	return fmt.Sprintf("%-64s", fmt.Sprintf("value-%02d-", i)+strings.Repeat("x", 40))
}

var paramsCache sync.Map

// params is a workload-identity SecretProviderClass with n secrets.
func params(n int) map[string]string {
	if p, ok := paramsCache.Load(n); ok {
		return p.(map[string]string)
	}
	objs := make([]string, n)
	for i := range objs {
		objs[i] = "objectName: " + secretName(i) + "\nobjectType: secret"
	}
	p := map[string]string{
		"keyvaultName": harness.VaultName,
		"tenantID":     harness.Tenant,
		"clientID":     harness.WIClientID,
		"objects":      harness.Objects(objs...),
	}
	paramsCache.Store(n, p)
	return p
}

// pod is one pod of the fixture service account (which has the federated credential).
func pod(tag string, i int) harness.Pod {
	return harness.Pod{
		Name: fmt.Sprintf("%s-%d", tag, i), Namespace: harness.Namespace, ServiceAccount: harness.SAName,
		UID: fmt.Sprintf("%08x-0000-4000-8000-%012d", hashTag(tag), i),
	}
}

func hashTag(s string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// tokenFor mints the pod's service-account token as the kubelet would (before timing).
func (e *env) tokenFor(p harness.Pod) map[string]harness.Token {
	return e.h.WorkloadToken(p, harness.WIAudience, time.Hour)
}

// mount sends one MountRequest and checks the file count.
func (e *env) mount(ctx context.Context, p harness.Pod, tok map[string]harness.Token, n int) (time.Duration, error) {
	c, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	resp, err := e.h.Mount(c, harness.MountInput{Params: params(n), Pod: p, Tokens: tok})
	d := time.Since(start)
	if err != nil {
		return d, err
	}
	if len(resp.Files) != n {
		return d, fmt.Errorf("%d files, want %d", len(resp.Files), n)
	}
	return d, nil
}

func (e *env) counts(mounts, objects int) Counts {
	c := e.h.Emu.Counts()
	return Counts{
		Mounts: mounts, Objects: objects,
		TokenRequests: c.TokenRequests, Discovery: c.DiscoveryRequests,
		KeyVault: c.KeyVaultRequests, Challenges: c.KeyVaultChallenges, Gets: c.KeyVaultByOp["GetSecret"],
	}
}

func benchMode(ctx context.Context, cfg config, p Plan, bin string, m mode, floor *Floor) (*ModeResults, error) {
	mr := &ModeResults{Key: m.key, Name: m.name, Args: m.args, Latency: map[int][2]Dist{}, Throughput: map[int]float64{}, Busy: map[int][2]float64{}}
	if len(cfg.extraArgs) > 0 {
		m.args = append(slices.Clone(m.args), cfg.extraArgs...)
		mr.Args = m.args
	}
	const objects = 10
	if cfg.loadOnly {
		return mr, loadPhase(ctx, cfg, p, bin, m, mr, objects)
	}
	e, err := startEnv(ctx, bin, m.args)
	if err != nil {
		return nil, err
	}
	defer e.h.Close()

	// Request counts first, on a provider that has seen nothing yet: the first
	// mount pays the vault's challenge.
	logf("%s: %d rotation mounts of one pod", m.name, p.Rotation)
	e.h.Emu.ResetCounts()
	rp := pod("rotation", 0)
	rt := e.tokenFor(rp)
	for i := 0; i < p.Rotation; i++ {
		if _, err := e.mount(ctx, rp, rt, objects); err != nil {
			mr.fail(err)
		}
	}
	mr.Rotation = e.counts(p.Rotation, objects)

	logf("%s: %d pods of one service account", m.name, p.Rotation)
	pods := make([]harness.Pod, p.Rotation)
	toks := make([]map[string]harness.Token, p.Rotation)
	for i := range pods {
		pods[i] = pod("sa-pod", i)
		toks[i] = e.tokenFor(pods[i])
	}
	e.h.Emu.ResetCounts()
	for i := range pods {
		if _, err := e.mount(ctx, pods[i], toks[i], objects); err != nil {
			mr.fail(err)
		}
	}
	mr.Pods = e.counts(p.Rotation, objects)

	logf("%s: Key Vault round trip", m.name)
	if mr.RTT, err = measureRTT(ctx, e); err != nil {
		return nil, fmt.Errorf("measure RTT: %w", err)
	}
	if m.key == "kvcsi" && floor != nil {
		logf("CPU floor of one Key Vault GET (separate process, %d concurrent)", keyvault.DefaultVaultConcurrency)
		if *floor, err = measureFloor(ctx, e, keyvault.DefaultVaultConcurrency); err != nil {
			return nil, err
		}
	}

	for _, n := range p.Sizes {
		warmN, coldN := p.WarmSamples, p.ColdSamples
		if m.key == "naive" {
			warmN, coldN = p.NaiveSamples, p.NaiveSamples
		}
		logf("%s: latency, %d secrets (%d cold, %d warm)", m.name, n, coldN, warmN)
		cold := make([]time.Duration, 0, coldN)
		coldPods := make([]harness.Pod, coldN)
		coldToks := make([]map[string]harness.Token, coldN)
		for i := range coldPods {
			coldPods[i] = pod(fmt.Sprintf("cold-%d", n), i)
			coldToks[i] = e.tokenFor(coldPods[i])
		}
		for i := range coldPods {
			d, err := e.mount(ctx, coldPods[i], coldToks[i], n)
			if err != nil {
				mr.fail(err)
				continue
			}
			cold = append(cold, d)
		}
		wp := pod(fmt.Sprintf("warm-%d", n), 0)
		wt := e.tokenFor(wp)
		if _, err := e.mount(ctx, wp, wt, n); err != nil {
			mr.fail(err)
		}
		warm := make([]time.Duration, 0, warmN)
		for i := 0; i < warmN; i++ {
			d, err := e.mount(ctx, wp, wt, n)
			if err != nil {
				mr.fail(err)
				continue
			}
			warm = append(warm, d)
		}
		mr.Latency[n] = [2]Dist{dist(cold), dist(warm)}
	}

	for _, c := range p.Concurrency {
		logf("%s: mounts per second at concurrency %d", m.name, c)
		mr.Throughput[c], mr.Busy[c] = throughput(ctx, e, mr, c, objects, p.ThroughputTime)
	}
	e.h.Close()
	return mr, loadPhase(ctx, cfg, p, bin, m, mr, objects)
}

// loadPhase runs the concurrent-mounts scenario on a fresh provider process, so that its
// peak RSS is this scenario's.
func loadPhase(ctx context.Context, cfg config, p Plan, bin string, m mode, mr *ModeResults, objects int) error {
	logf("%s: %d concurrent mounts (fresh provider process)", m.name, p.Concurrent)
	args, pprofAddr := m.args, ""
	if cfg.profileDir != "" {
		port, err := freePort()
		if err != nil {
			return err
		}
		args = append(slices.Clone(args), "--enable-pprof", "--pprof-port="+strconv.Itoa(port))
		pprofAddr = "localhost:" + strconv.Itoa(port)
	}
	le, err := startEnv(ctx, bin, args)
	if err != nil {
		return err
	}
	le.pprof = pprofAddr
	defer le.h.Close()
	mr.Load, err = load(ctx, cfg, p, le, mr, objects)
	return err
}

// measureRTT times single GETs of one secret through the emulator with the Azure SDK on a
// warm connection: the Key Vault round trip every mount pays at least once.
func measureRTT(ctx context.Context, e *env) (Dist, error) {
	hc := e.h.Emu.HTTPClient()
	co := azcore.ClientOptions{Transport: hc}
	cred, err := azidentity.NewClientSecretCredential(harness.Tenant, harness.SPClientID, harness.SPSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: co})
	if err != nil {
		return Dist{}, err
	}
	c, err := azsecrets.NewClient("https://"+harness.VaultName+".vault.azure.net/", cred, &azsecrets.ClientOptions{ClientOptions: co})
	if err != nil {
		return Dist{}, err
	}
	var ds []time.Duration
	for i := 0; i < 53; i++ {
		start := time.Now()
		if _, err := c.GetSecret(ctx, secretName(0), "", nil); err != nil {
			return Dist{}, err
		}
		if i >= 3 { // the first ones pay the challenge, the token and the TLS handshake
			ds = append(ds, time.Since(start))
		}
	}
	return dist(ds), nil
}

// throughput runs c workers, each remounting its own (warm) pod, for d, and reports
// the mounts per second and how busy the provider and this process (emulator and
// client) kept the CPUs.
func throughput(ctx context.Context, e *env, mr *ModeResults, c, n int, d time.Duration) (float64, [2]float64) {
	pods := make([]harness.Pod, c)
	toks := make([]map[string]harness.Token, c)
	for i := range pods {
		pods[i] = pod(fmt.Sprintf("tp-%d", c), i)
		toks[i] = e.tokenFor(pods[i])
	}
	parallel(c, func(i int) {
		if _, err := e.mount(ctx, pods[i], toks[i], n); err != nil {
			mr.fail(err)
		}
	})
	var done atomic.Int64
	p0, _ := readProc(e.pid)
	o0 := processCPU()
	start := time.Now()
	stop := start.Add(d)
	parallel(c, func(i int) {
		for time.Now().Before(stop) {
			if _, err := e.mount(ctx, pods[i], toks[i], n); err != nil {
				mr.fail(err)
				continue
			}
			done.Add(1)
		}
	})
	el := time.Since(start)
	p1, _ := readProc(e.pid)
	o1 := processCPU()
	busy := [2]float64{100 * float64(p1.CPU-p0.CPU) / float64(el), 100 * float64(o1-o0) / float64(el)}
	return float64(done.Load()) / el.Seconds(), busy
}

// load mounts Plan.Concurrent pods at once, first cold, then warm rounds, and reads the
// provider's CPU time and memory.
func load(ctx context.Context, cfg config, p Plan, e *env, mr *ModeResults, n int) (LoadResults, error) {
	lr := LoadResults{Mounts: p.Concurrent}
	pods := make([]harness.Pod, p.Concurrent)
	toks := make([]map[string]harness.Token, p.Concurrent)
	parallel(4, func(w int) {
		for i := w; i < len(pods); i += 4 {
			pods[i] = pod("load", i)
			toks[i] = e.tokenFor(pods[i])
		}
	})
	before, err := readProc(e.pid)
	if err != nil {
		return lr, err
	}
	lr.StartRSS = before.RSS
	round := func(n int) (time.Duration, time.Duration, error) {
		s0, err := readProc(e.pid)
		if err != nil {
			return 0, 0, err
		}
		start := time.Now()
		parallel(len(pods), func(i int) {
			if _, err := e.mount(ctx, pods[i], toks[i], n); err != nil {
				mr.fail(err)
			}
		})
		wall := time.Since(start)
		s1, err := readProc(e.pid)
		return s1.CPU - s0.CPU, wall, err
	}
	var heap chan error
	if cfg.profileDir != "" && e.pprof != "" {
		// The heap while the cold round is in full swing.
		heap = make(chan error, 1)
		go func() {
			time.Sleep(time.Second)
			_ = fetchProfile(e.pprof, "heap?debug=1", filepath.Join(cfg.profileDir, mr.Key+"-cold-memstats.txt"), 0)
			_ = fetchProfile(e.pprof, "goroutine?debug=1", filepath.Join(cfg.profileDir, mr.Key+"-cold-goroutines.txt"), 0)
			heap <- fetchProfile(e.pprof, "heap", filepath.Join(cfg.profileDir, mr.Key+"-cold-heap.pprof"), 0)
		}()
	}
	cpu, wall, err := round(n)
	if err != nil {
		return lr, err
	}
	if heap != nil {
		if err := <-heap; err != nil {
			logf("heap profile: %v", err)
		}
	}
	lr.ColdCPU, lr.ColdWall = cpu/time.Duration(len(pods)), wall
	var profile chan error
	if cfg.profileDir != "" && e.pprof != "" {
		profile = make(chan error, 1)
		lr.ProfilePath = filepath.Join(cfg.profileDir, mr.Key+"-warm.pprof")
		go func() { profile <- fetchProfile(e.pprof, "profile", lr.ProfilePath, 10*time.Second) }()
	}
	var warmCPU, warmWall time.Duration
	rounds := 0
	profileUntil := time.Now().Add(10 * time.Second)
	for rounds < p.WarmRounds || (profile != nil && time.Now().Before(profileUntil)) {
		cpu, wall, err := round(n)
		if err != nil {
			return lr, err
		}
		warmCPU += cpu
		warmWall += wall
		rounds++
	}
	if profile != nil {
		if err := <-profile; err != nil {
			logf("profile: %v", err)
		}
	}
	lr.WarmCPU = warmCPU / time.Duration(rounds*len(pods))
	lr.WarmWall = warmWall / time.Duration(rounds)
	// The same pods with a one-secret SecretProviderClass: credentials and clients are
	// warm, so every round counts.
	var cpu1 time.Duration
	for i := 0; i < p.WarmRounds; i++ {
		cpu, _, err := round(1)
		if err != nil {
			return lr, err
		}
		cpu1 += cpu
	}
	lr.WarmCPU1 = cpu1 / time.Duration(p.WarmRounds*len(pods))
	after, err := readProc(e.pid)
	if err != nil {
		return lr, err
	}
	lr.PeakRSS, lr.RSSAfter = after.HWM, after.RSS
	return lr, nil
}

// benchMemory makes Plan.MemoryMounts mounts, every one with a new pod and token, and
// samples the provider's RSS: the credential and client caches must hold it flat.
func benchMemory(ctx context.Context, p Plan, bin string) (*MemoryResults, error) {
	logf("kvcsi: memory over %d mounts with distinct tokens", p.MemoryMounts)
	e, err := startEnv(ctx, bin, nil)
	if err != nil {
		return nil, err
	}
	defer e.h.Close()
	mem := &MemoryResults{Mounts: p.MemoryMounts, Concurrency: p.MemoryConc, CacheSize: 1024}
	s0, err := readProc(e.pid)
	if err != nil {
		return nil, err
	}
	var next atomic.Int64
	var done atomic.Int64
	var mu sync.Mutex
	start := time.Now()
	parallel(p.MemoryConc, func(int) {
		for {
			i := int(next.Add(1)) - 1
			if i >= p.MemoryMounts || ctx.Err() != nil {
				return
			}
			pd := pod("mem", i)
			if _, err := e.mount(ctx, pd, e.tokenFor(pd), 1); err != nil {
				mem.Failures.Add(1)
				mem.errOnce.Do(func() { mem.FirstError = err.Error() })
			}
			if d := int(done.Add(1)); d%p.MemoryEvery == 0 {
				if s, err := readProc(e.pid); err == nil {
					mu.Lock()
					mem.Samples = append(mem.Samples, MemSample{Mounts: d, RSS: s.RSS})
					mu.Unlock()
				}
			}
		}
	})
	mem.Wall = time.Since(start)
	slices.SortFunc(mem.Samples, func(a, b MemSample) int { return a.Mounts - b.Mounts })
	s1, err := readProc(e.pid)
	if err != nil {
		return nil, err
	}
	mem.PeakRSS = s1.HWM
	mem.CPUPerMount = (s1.CPU - s0.CPU) / time.Duration(p.MemoryMounts)
	mem.Credentials = scrape(e.h.Metrics, "kvcsi_credentials_cached")
	return mem, nil
}

// parallel runs f(0..n-1) on n goroutines and waits.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			f(i)
		}(i)
	}
	wg.Wait()
}

// scrape reads one unlabelled sample from a Prometheus endpoint; -1 if absent.
func scrape(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// fetchProfile saves a pprof profile (kind "profile" for CPU over d, or "heap",
// "goroutine", ...) of the provider to path.
func fetchProfile(addr, kind, path string, d time.Duration) error {
	u := fmt.Sprintf("http://%s/debug/pprof/%s", addr, kind)
	if d > 0 {
		u += fmt.Sprintf("?seconds=%d", int(d.Seconds()))
	}
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func harnessBuild(dir string) (string, error) { return harness.BuildBinary(dir, "-trimpath") }
