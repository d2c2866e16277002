package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/test/emulator"
	"github.com/kvcsi/kvcsi/test/harness"
)

// Observability of the real binary: Prometheus metrics with bounded labels on
// --prometheus-port, pprof only on localhost and only with --enable-pprof, the bind
// address flags, and one structured log line per mount in text and JSON.

// obsScenario runs mounts that succeed, fail in Key Vault, fail validation and are
// throttled, for the pod harness.DefaultPod; it returns how many mounts it made.
// Object names are distinctive so a scrape or log can be searched for them.
func obsScenario(t *testing.T, h *harness.Harness) int {
	t.Helper()
	h.Vault.SetSecret("obsname-present-q7", "obs-value-present-Kq2", emulator.SecretOptions{})
	h.Vault.SetSecret("obsname-throttled-q7", "obs-value-throttled-Kq2", emulator.SecretOptions{})
	tokens := h.WorkloadToken(harness.Pod{}, harness.WIAudience, time.Hour)
	n := 0
	mount := func(in harness.MountInput, wantOK bool) {
		t.Helper()
		n++
		_, err := h.Mount(ctx(t), in)
		if (err == nil) != wantOK {
			t.Fatalf("mount %d: %v (want success: %v)", n, err, wantOK)
		}
	}
	mount(harness.MountInput{Params: wiParams("objectName: obsname-present-q7\nobjectType: secret"), Tokens: tokens}, true)
	// Same identity and token, another vault: new Key Vault clients whose token comes
	// from the provider's token cache.
	v2 := h.Emu.Vault("kvcsi-obs2")
	v2.SetTenant(harness.Tenant)
	v2.Grant(harness.WIClientID, emulator.AllPermissions...)
	v2.SetSecret("obsname-second-q7", "obs-value-second-Kq2", emulator.SecretOptions{})
	second := wiParams("objectName: obsname-second-q7\nobjectType: secret")
	second["keyvaultName"] = "kvcsi-obs2"
	mount(harness.MountInput{Params: second, Tokens: tokens}, true)
	mount(harness.MountInput{Params: spParams("objectName: obsname-present-q7\nobjectType: secret"), Secrets: spSecrets()}, true)
	mount(harness.MountInput{Params: wiParams("objectName: obsname-absent-q7\nobjectType: secret"), Tokens: tokens}, false)
	mount(harness.MountInput{Params: spParams("objectName: obsname-present-q7\nobjectType: secret"),
		Secrets: map[string]string{"clientid": harness.SPClientID, "clientsecret": "obs-wrong-secret-Kq2"}}, false)
	mount(harness.MountInput{Params: map[string]string{"keyvaultName": harness.VaultName, "objects": harness.Objects("objectName: obsname-invalid-q7\nobjectType: secret")}}, false)
	h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{ThrottleRate: 1, RetryAfter: 50 * time.Millisecond})
	mount(harness.MountInput{Params: wiParams("objectName: obsname-throttled-q7\nobjectType: secret"), Tokens: tokens}, false)
	h.Emu.SetFaults(emulator.ServiceKeyVault, emulator.Faults{})
	return n
}

func obsGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsScrape scrapes /metrics of the running binary after the scenario: the
// Azure provider's metric and label names, kvcsi's token, cache, in-flight and
// throttling metrics, and no object name or error text anywhere.
func TestMetricsScrape(t *testing.T) {
	h := start(t, harness.Options{Binary: kvcsiBinary(t), Output: io.Discard})
	mounts := obsScenario(t, h)
	code, body := obsGet(t, "http://"+h.Metrics+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`keyvault_request_bucket{error="",object_name="",object_type="secret",os_type="linux",provider="azure",service_name="csi-secrets-store-provider-azure",le="0.1"}`,
		`keyvault_request_count{error="not_found",object_name="",object_type="secret"`,
		`keyvault_request_count{error="throttled",object_name="",object_type="secret"`,
		`grpc_request_count{grpc_code="OK",grpc_message="",grpc_method="/v1alpha1.CSIDriverProvider/Mount"`,
		`grpc_request_count{grpc_code="NotFound",grpc_message="NotFound",grpc_method="/v1alpha1.CSIDriverProvider/Mount"`,
		`grpc_request_count{grpc_code="InvalidArgument",grpc_message="InvalidArgument"`,
		`grpc_request_count{grpc_code="OK",grpc_message="",grpc_method="/v1alpha1.CSIDriverProvider/Version"`,
		`kvcsi_mount_duration_seconds_count{outcome="ok"} 3`,
		`kvcsi_mount_duration_seconds_count{outcome="not_found"} 1`,
		`kvcsi_mount_duration_seconds_count{outcome="unauthenticated"} 1`,
		`kvcsi_mount_duration_seconds_count{outcome="invalid_argument"} 1`,
		`kvcsi_mount_duration_seconds_count{outcome="throttled"} 1`,
		"kvcsi_inflight_mounts 0",
		"kvcsi_token_requests_total ",
		"kvcsi_token_cache_hits_total ",
		"kvcsi_token_cache_misses_total ",
		"kvcsi_credentials_cached ",
		"kvcsi_throttle_waits_total ",
		"kvcsi_throttle_wait_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	sum := 0.0
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "kvcsi_mount_duration_seconds_count{") {
			v, _ := strconv.ParseFloat(l[strings.LastIndex(l, " ")+1:], 64)
			sum += v
		}
	}
	if int(sum) != mounts {
		t.Errorf("kvcsi_mount_duration_seconds counts %v mounts, %d were made", sum, mounts)
	}
	for name, min := range map[string]float64{
		"kvcsi_token_requests_total": 2, "kvcsi_token_cache_hits_total": 1, "kvcsi_token_cache_misses_total": 2, "kvcsi_throttle_waits_total": 1,
	} {
		if v := scrapeValue(t, h.Metrics, name); v < min {
			t.Errorf("%s = %v, want at least %v", name, v, min)
		}
	}
	// Bounded labels: no object name, vault or error text; every label value from a
	// known set.
	for _, leak := range []string{"obsname-", "obs-value-", "obs-wrong-secret", "kvcsi-vault", "kvcsi-obs2", "AADSTS", "SecretNotFound", "was not found",
		"Throttled", "failed to", "fix:", harness.WIClientID, harness.SPClientID, harness.Tenant} {
		if strings.Contains(body, leak) {
			t.Errorf("/metrics contains %q", leak)
		}
	}
	allowed := map[string]*regexp.Regexp{
		"error":        regexp.MustCompile(`^(|invalid_argument|unauthenticated|permission_denied|not_found|throttled|unavailable|deadline_exceeded|internal)$`),
		"object_name":  regexp.MustCompile(`^$`),
		"object_type":  regexp.MustCompile(`^(secret|key|cert)(_versions)?$`),
		"grpc_message": regexp.MustCompile(`^[A-Za-z]*$`),
		"outcome":      regexp.MustCompile(`^(ok|invalid_argument|unauthenticated|permission_denied|not_found|throttled|unavailable|deadline_exceeded|internal)$`),
	}
	label := regexp.MustCompile(`([a-z_]+)="([^"]*)"`)
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, "keyvault_request") && !strings.HasPrefix(l, "grpc_request") && !strings.HasPrefix(l, "kvcsi_") {
			continue
		}
		for _, m := range label.FindAllStringSubmatch(l, -1) {
			if re, ok := allowed[m[1]]; ok && !re.MatchString(m[2]) {
				t.Errorf("label %s=%q in %s", m[1], m[2], l)
			}
		}
	}
	// pprof is never served on the metrics port.
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/goroutine", "/debug/pprof/cmdline"} {
		if code, _ := obsGet(t, "http://"+h.Metrics+p); code != http.StatusNotFound {
			t.Errorf("metrics port serves %s: %d", p, code)
		}
	}
}

// nonLoopbackIP returns an address of this machine other than loopback, or "".
func obsNonLoopbackIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return ""
}

func obsFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func obsReachable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestPprofAndBindAddresses: pprof only with --enable-pprof and only on localhost;
// health and metrics bind where --healthz-bind-address and --metrics-bind-address say.
func TestPprofAndBindAddresses(t *testing.T) {
	bin := kvcsiBinary(t)
	ip := obsNonLoopbackIP()
	t.Run("pprof off by default", func(t *testing.T) {
		port := obsFreePort(t)
		h := start(t, harness.Options{Binary: bin, Args: []string{"--pprof-port=" + strconv.Itoa(port)}, Output: io.Discard})
		if obsReachable(net.JoinHostPort("127.0.0.1", strconv.Itoa(port))) {
			t.Error("pprof port open without --enable-pprof")
		}
		if code, _ := obsGet(t, "http://"+h.Metrics+"/debug/pprof/"); code != http.StatusNotFound {
			t.Errorf("metrics port serves pprof: %d", code)
		}
	})
	t.Run("pprof on localhost only", func(t *testing.T) {
		port := obsFreePort(t)
		h := start(t, harness.Options{Binary: bin, Args: []string{"--enable-pprof", "--pprof-port=" + strconv.Itoa(port)}, Output: io.Discard})
		code, body := obsGet(t, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", port))
		if code != 200 || !strings.Contains(body, "goroutine") {
			t.Fatalf("pprof on localhost: %d", code)
		}
		if code, _ := obsGet(t, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/cmdline", port)); code != 200 {
			t.Errorf("pprof cmdline: %d", code)
		}
		if code, _ := obsGet(t, "http://"+h.Metrics+"/debug/pprof/"); code != http.StatusNotFound {
			t.Errorf("metrics port serves pprof with --enable-pprof: %d", code)
		}
		if ip == "" {
			t.Log("no non-loopback address on this machine: the other-interface check is skipped")
			return
		}
		if obsReachable(net.JoinHostPort(ip, strconv.Itoa(port))) {
			t.Errorf("pprof reachable on %s", ip)
		}
	})
	t.Run("bind addresses", func(t *testing.T) {
		if ip == "" {
			t.Skip("no non-loopback address on this machine")
		}
		// The harness binds both to 127.0.0.1.
		h := start(t, harness.Options{Binary: bin, Output: io.Discard})
		for name, addr := range map[string]string{"healthz": h.Healthz, "metrics": h.Metrics} {
			_, port, _ := net.SplitHostPort(addr)
			if !obsReachable(addr) {
				t.Errorf("%s not reachable on %s", name, addr)
			}
			if obsReachable(net.JoinHostPort(ip, port)) {
				t.Errorf("%s bound to 127.0.0.1 is reachable on %s", name, ip)
			}
		}
		// Bound to that interface: reachable there and not on loopback.
		h2 := start(t, harness.Options{Binary: bin, Args: []string{"--healthz-bind-address=" + ip, "--metrics-bind-address=" + ip}, Output: io.Discard})
		for name, addr := range map[string]string{"healthz": h2.Healthz, "metrics": h2.Metrics} {
			_, port, _ := net.SplitHostPort(addr)
			if !obsReachable(net.JoinHostPort(ip, port)) {
				t.Errorf("%s not reachable on %s:%s", name, ip, port)
			}
			if obsReachable(addr) {
				t.Errorf("%s bound to %s is reachable on loopback", name, ip)
			}
		}
		if code, body := obsGet(t, "http://"+net.JoinHostPort(ip, obsPort(h2.Healthz))+"/healthz"); code != 200 || body != "ok" {
			t.Errorf("healthz on %s = %d %q", ip, code, body)
		}
	})
}

func obsPort(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// mountLineMsgs are the messages of the one line each mount logs at default verbosity.
var mountLineMsgs = []string{"mounted", "failed to process mount request", "invalid mount request"}

// TestMountLogLines: at default verbosity each mount logs exactly one line naming the
// pod as namespace/name with the object count, duration and outcome; in klog's text
// format and with --log-format-json.
func TestMountLogLines(t *testing.T) {
	bin := kvcsiBinary(t)
	t.Run("text", func(t *testing.T) {
		out := &harness.SyncBuffer{}
		h := start(t, harness.Options{Binary: bin, Output: out})
		mounts := obsScenario(t, h)
		if err := h.Stop(); err != nil {
			t.Logf("stop: %v", err)
		}
		lineRE := regexp.MustCompile(`^[IE]\d{4} [0-9:.]+ +\d+ [a-z_]+\.go:\d+\] "(mounted|failed to process mount request|invalid mount request)"`)
		var lines []string
		for _, l := range strings.Split(out.String(), "\n") {
			if lineRE.MatchString(l) {
				lines = append(lines, l)
			}
		}
		if len(lines) != mounts {
			t.Fatalf("%d mount lines for %d mounts:\n%s", len(lines), mounts, out.String())
		}
		for _, l := range lines {
			for _, want := range []string{` pod="default/app-0"`, " objects=", ` duration="`, " outcome="} {
				if !strings.Contains(l, want) {
					t.Errorf("mount line lacks %s: %.300s", want, l)
				}
			}
		}
		for _, want := range []string{`outcome="ok"`, `outcome="not_found"`, `outcome="unauthenticated"`, `outcome="invalid_argument"`, `outcome="throttled"`} {
			if !strings.Contains(strings.Join(lines, "\n"), want) {
				t.Errorf("no mount line with %s", want)
			}
		}
		if n := strings.Count(out.String(), "app-0"); n != mounts {
			t.Errorf("the pod appears on %d lines for %d mounts: one line per mount at default verbosity", n, mounts)
		}
	})
	t.Run("json", func(t *testing.T) {
		out := &harness.SyncBuffer{}
		h := start(t, harness.Options{Binary: bin, Args: []string{"--log-format-json"}, Output: out})
		mounts := obsScenario(t, h)
		if err := h.Stop(); err != nil {
			t.Logf("stop: %v", err)
		}
		n := 0
		outcomes := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("not a JSON line: %q", l)
			}
			msg, _ := rec["msg"].(string)
			isMount := false
			for _, m := range mountLineMsgs {
				isMount = isMount || msg == m
			}
			if !isMount {
				if strings.Contains(l, "app-0") {
					t.Errorf("another line names the pod: %s", l)
				}
				continue
			}
			n++
			// klog's structured form of a pod reference: {"name","namespace"} (as the
			// Azure provider's JSON logs), or the "namespace/name" string.
			switch p := rec["pod"].(type) {
			case map[string]any:
				if p["namespace"] != "default" || p["name"] != "app-0" {
					t.Errorf("pod %v", p)
				}
			case string:
				if p != "default/app-0" {
					t.Errorf("pod %q", p)
				}
			default:
				t.Errorf("no pod on a mount line: %s", l)
			}
			for _, k := range []string{"objects", "duration", "outcome", "time", "level"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("mount line lacks %q: %s", k, l)
				}
			}
			if msg != "mounted" && rec["err"] == nil {
				t.Errorf("failure line without err: %s", l)
			}
			outcomes[fmt.Sprint(rec["outcome"])] = true
		}
		if n != mounts {
			t.Fatalf("%d mount lines for %d mounts:\n%s", n, mounts, out.String())
		}
		for _, o := range []string{"ok", "not_found", "unauthenticated", "invalid_argument", "throttled"} {
			if !outcomes[o] {
				t.Errorf("no mount line with outcome %s", o)
			}
		}
	})
}
