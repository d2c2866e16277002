package e2e

import (
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/test/e2e/internal/tools"
)

// TestDriverVersionsUnderTest needs no rig: an unknown KVCSI_E2E_DRIVERS value is an
// error, never a run of no test.
func TestDriverVersionsUnderTest(t *testing.T) {
	for _, tc := range []struct {
		env, want, err string
	}{
		{"", strings.Join(tools.DriverVersions, ","), ""},
		{tools.DriverVersions[0], tools.DriverVersions[0], ""},
		{" " + tools.DriverVersions[0] + " ,", tools.DriverVersions[0], ""},
		{"v1.9.9", "", `unknown driver version "v1.9.9"`},
		{tools.DriverVersions[0] + ",1.6.1x", "", `unknown driver version "1.6.1x"`},
		{",", "", "names no driver version"},
	} {
		t.Setenv("KVCSI_E2E_DRIVERS", tc.env)
		got, err := driverVersionsUnderTest()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, %v; want error %q", tc.env, got, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("%q: %v, %v; want %s", tc.env, got, err, tc.want)
		}
	}
}
