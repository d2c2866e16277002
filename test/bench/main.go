// Command bench measures kvcsi against the Azure emulator and writes the results to
// <out>/performance.md and <out>/performance.svg (`make bench` = `go run ./test/bench
// --out docs`).
//
// The provider is the real kvcsi binary on a real unix socket, reached through the
// driver's gRPC client (test/harness); it reaches the emulator through HTTPS_PROXY like
// a node behind a proxy. Key Vault answers after 10 ms and Entra ID after 30 ms. Every
// scenario runs twice in the same run: with kvcsi's defaults, and with --no-reuse, the
// naive baseline (new credential and SDK clients per mount, no token cache, sequential
// fetch, no dedup). Request counts come from the emulator, CPU time and memory from
// the provider's /proc entries, latency from the client side of the gRPC call.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

type config struct {
	out        string
	quick      bool
	profileDir string
	only       string
	loadOnly   bool
	extraArgs  []string
}

func main() {
	if v := os.Getenv(floorEnv); v != "" {
		conc, _ := strconv.Atoi(v)
		if err := floorChild(max(conc, 1)); err != nil {
			fmt.Fprintln(os.Stderr, "bench floor:", err)
			os.Exit(1)
		}
		return
	}
	var cfg config
	flag.StringVar(&cfg.out, "out", "docs", "directory for performance.md and performance.svg")
	flag.BoolVar(&cfg.quick, "quick", false, "few samples: a smoke test of the benchmark, not a measurement")
	flag.StringVar(&cfg.profileDir, "profile", "", "also write a CPU profile of the provider during the 500-mount phase (kvcsi-warm.pprof) into this directory")
	flag.StringVar(&cfg.only, "only", "", "run only this mode (kvcsi or naive) and do not write the report (for profiling)")
	flag.BoolVar(&cfg.loadOnly, "load-only", false, "with --only: run only the concurrent-mounts scenario")
	args := flag.String("args", "", "with --only: extra provider flags, space separated (experiments)")
	flag.Parse()
	cfg.extraArgs = strings.Fields(*args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, cfg config) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("the benchmark reads /proc and needs Linux, not %s", runtime.GOOS)
	}
	began := time.Now()
	dir, err := os.MkdirTemp("", "kvcsi-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logf("building kvcsi")
	bin, err := buildBinary(dir)
	if err != nil {
		return err
	}
	p := plan(cfg.quick)
	res := &Results{
		Started:  began,
		Go:       runtime.Version(),
		CPUs:     runtime.NumCPU(),
		CPUModel: cpuModel(),
		Commit:   gitDescribe(),
		Plan:     p,
	}
	for _, m := range modes {
		if cfg.only != "" && cfg.only != m.key {
			continue
		}
		mr, err := benchMode(ctx, cfg, p, bin, m, &res.Floor)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		res.Modes = append(res.Modes, mr)
	}
	if cfg.only == "" || (cfg.only == "kvcsi" && !cfg.loadOnly) {
		mem, err := benchMemory(ctx, p, bin)
		if err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		res.Memory = mem
	}
	res.Duration = time.Since(began)
	if cfg.only != "" {
		for _, m := range res.Modes {
			logf("%s: RTT p50 %s ms; warm p50 %v; mounts/s %v; CPU/mount cold %s ms warm %s ms; peak RSS %s",
				m.Name, ms(m.RTT.P50), warmSummary(m), m.Throughput, ms(m.Load.ColdCPU), ms(m.Load.WarmCPU), mibs(m.Load.PeakRSS))
		}
		logf("done in %s (report not written with --only)", res.Duration.Round(time.Second))
		return nil
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return err
	}
	targets := evaluate(res)
	if err := os.WriteFile(filepath.Join(cfg.out, "performance.svg"), []byte(chart(res)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.out, "performance.md"), []byte(report(res, targets)), 0o644); err != nil {
		return err
	}
	logf("wrote %s and %s in %s", filepath.Join(cfg.out, "performance.md"), filepath.Join(cfg.out, "performance.svg"), res.Duration.Round(time.Second))
	missed := 0
	for _, t := range targets {
		mark := "met"
		if !t.Met {
			mark = "MISSED"
			missed++
		}
		logf("target %-6s %s: %s", mark, t.Name, t.Measured)
	}
	if res.Errors() > 0 {
		return fmt.Errorf("%d mounts failed during the benchmark (see the report)", res.Errors())
	}
	return nil
}

func warmSummary(m *ModeResults) string {
	var parts []string
	for n, d := range m.Latency {
		parts = append(parts, fmt.Sprintf("%d:%sms", n, ms(d[1].P50)))
	}
	return strings.Join(parts, " ")
}

func buildBinary(dir string) (string, error) {
	// The harness builds ./cmd/kvcsi of this module, as `make build` does.
	return harnessBuild(dir)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func gitDescribe() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
