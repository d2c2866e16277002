package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/mount"
)

// withObjects replaces the objects parameter of a valid request.
func withObjects(t *testing.T, objects string) *v1alpha1.MountRequest {
	t.Helper()
	r := request(t, "p")
	var a map[string]string
	if err := json.Unmarshal([]byte(r.Attributes), &a); err != nil {
		t.Fatal(err)
	}
	a["objects"] = objects
	b, _ := json.Marshal(a)
	r.Attributes = string(b)
	return r
}

// TestHostileObjects sends objects parameters an attacker with a SecretProviderClass
// could write (each within the 4 MiB a gRPC request may carry; sizes kept moderate so the
// test stays fast under -race): every one must be answered, an error or a bounded mount,
// quickly, without a stack blow-up, a crash or an error that amplifies the input.
func TestHostileObjects(t *testing.T) {
	const budget = 20 * time.Second // under -race on 2 cores; typically well under 1s
	many := func(n int) string {
		var b strings.Builder
		b.WriteString("array:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "  - |\n    objectName: o%d\n    objectType: secret\n", i)
		}
		return b.String()
	}
	laughs := "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		laughs += n + ": &" + n + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n"
		prev = n
	}
	laughs += "array: *i\n"
	tests := []struct {
		name    string
		objects string
		ok      bool // a successful parse is acceptable
	}{
		{"deep flow sequence", "array: " + strings.Repeat("[", 1<<20), false},
		{"deep flow mapping", "array: " + strings.Repeat("{a: ", 200000), false},
		{"deep block nesting", "array:\n" + deepBlock(1500), false},
		{"deep YAML inside one object", "array:\n  - |\n    objectName: " + strings.Repeat("[", 100000) + "\n", false},
		{"alias expansion (billion laughs)", laughs, false},
		{"long object name", "array:\n  - |\n    objectName: " + strings.Repeat("n", 1<<20) + "\n    objectType: secret\n", false},
		{"alias over 255 bytes", "array:\n  - |\n    objectName: a\n    objectType: secret\n    objectAlias: " + strings.Repeat("x", 256) + "\n", false},
		{"huge objects list", many(5000), true},
		{"huge duplicate list", "array:\n" + strings.Repeat("  - |\n    objectName: same\n    objectType: secret\n", 5000), false},
		{"huge version history", "array:\n  - |\n    objectName: a\n    objectType: secret\n    objectVersionHistory: 2147483647\n", true},
	}
	var got int
	s := &Server{Mounter: fakeMounter{func(_ context.Context, m *config.Mount) (*mount.Result, error) {
		got = len(m.Objects)
		return okResult(m), nil
	}}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := withObjects(t, tc.objects)
			start := time.Now()
			_, err := s.Mount(context.Background(), req)
			d := time.Since(start)
			if d > budget {
				t.Errorf("took %v", d)
			}
			if err == nil {
				if !tc.ok {
					t.Fatalf("accepted (%d objects)", got)
				}
				return
			}
			if c := status.Code(err); c != codes.InvalidArgument {
				t.Fatalf("code %s: %v", c, err)
			}
			// Names are quoted in errors, so a 1 MiB objectName gives a 1 MiB error; it
			// must never be more than the input (no amplification).
			if len(err.Error()) > len(tc.objects)+4096 {
				t.Errorf("error message is %d bytes for %d bytes of input", len(err.Error()), len(tc.objects))
			}
			t.Logf("%v, %d-byte error: %.160s", d.Round(time.Millisecond), len(err.Error()), err)
		})
	}
}

func deepBlock(depth int) string {
	var b strings.Builder
	for i := 0; i < depth; i++ {
		b.WriteString(strings.Repeat(" ", i+2))
		b.WriteString("- \n")
	}
	return b.String()
}

// TestRequestOver4MiB: the gRPC server refuses a request over its 4 MiB receive limit
// before decoding it.
func TestRequestOver4MiB(t *testing.T) {
	called := false
	s := &Server{Mounter: fakeMounter{func(_ context.Context, m *config.Mount) (*mount.Result, error) {
		called = true
		return okResult(m), nil
	}}}
	conn, _ := serve(t, s, nil)
	req := withObjects(t, "array:\n  - |\n    objectName: a\n    objectType: secret\n#"+strings.Repeat("x", 5<<20))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := v1alpha1.NewCSIDriverProviderClient(conn).Mount(ctx, req)
	if status.Code(err) != codes.ResourceExhausted || called {
		t.Fatalf("5 MiB request: %v (mounter called: %v)", err, called)
	}
	if _, err := v1alpha1.NewCSIDriverProviderClient(conn).Mount(ctx, request(t, "p", "objectName: a\nobjectType: secret")); err != nil {
		t.Fatalf("next request: %v", err)
	}
}
