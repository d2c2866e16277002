package metrics

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/kvcsi/kvcsi/provider/diag"
)

// TestGrafanaDashboards checks every dashboard under manifest_staging/grafana: valid
// JSON with unique panel ids, and every metric a query uses is one the provider
// exports, so a renamed metric cannot leave a dashboard silently empty.
func TestGrafanaDashboards(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "manifest_staging", "grafana", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	r := New()
	r.KeyVaultRequest("secret", diag.Success(), time.Millisecond)
	r.RPCDone("/v1alpha1.CSIDriverProvider/Mount", codes.OK, time.Millisecond)
	r.MountStarted()
	r.MountDone(diag.Success(), 1, time.Millisecond)
	r.ThrottleWait(time.Millisecond)
	r.WatchCredentials(func() CredentialStats { return CredentialStats{} })
	r.WatchVaults(func() VaultStats { return VaultStats{} })
	exported := map[string]bool{}
	for name, mf := range families(t, r) {
		exported[name] = true
		if mf.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_count", "_sum"} {
				exported[name+s] = true
			}
		}
	}
	metricRef := regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Title  string `json:"title"`
			UID    string `json:"uid"`
			Panels []struct {
				ID      int    `json:"id"`
				Type    string `json:"type"`
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.Title == "" || d.UID == "" {
			t.Errorf("%s: no title or uid", f)
		}
		ids := map[int]bool{}
		queries := 0
		for _, p := range d.Panels {
			if ids[p.ID] {
				t.Errorf("%s: duplicate panel id %d", f, p.ID)
			}
			ids[p.ID] = true
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", f, p.Title)
			}
			for _, q := range p.Targets {
				queries++
				refs := metricRef.FindAllStringSubmatch(q.Expr, -1)
				if len(refs) == 0 {
					t.Errorf("%s: panel %q: no metric in %q", f, p.Title, q.Expr)
				}
				for _, m := range refs {
					if !exported[m[1]] {
						t.Errorf("%s: panel %q uses %s, which the provider does not export", f, p.Title, m[1])
					}
				}
			}
		}
		for _, want := range []string{"keyvault_request", "grpc_request", "kvcsi_mount_duration_seconds", "kvcsi_inflight_mounts",
			"kvcsi_token_requests_total", "kvcsi_token_cache_hits_total", "kvcsi_throttle_waits_total"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s does not chart %s", f, want)
			}
		}
		t.Logf("%s: %d panels, %d queries", filepath.Base(f), len(d.Panels), queries)
	}
}
