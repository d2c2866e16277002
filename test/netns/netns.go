// Package netns gives tests a network namespace of their own in which the
// instance metadata address 169.254.169.254 is bound, the way a node reaches
// IMDS: directly, on a link-local address, never through a proxy. A test binds
// listeners inside the namespace (Listen) and runs processes there (Command);
// the namespace has only a loopback interface, so nothing inside can reach
// anything but those listeners. Linux only, and it needs root and iproute2's ip.
package netns

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// MetadataAddress is the address bound inside every namespace.
const MetadataAddress = "169.254.169.254"

// Require returns a namespace for the test, removed when the test ends. When
// namespaces cannot be made here (not root, no ip command, not Linux) it skips
// the test saying why, unless KVCSI_REQUIRE_NETNS=1 or CI=true is set: CI runs
// as root, so there the test fails instead of passing silently.
func Require(t *testing.T) *NS {
	t.Helper()
	ns, err := New(fmt.Sprintf("kvcsi-%d-%s", os.Getpid(), shortName(t.Name())))
	if err != nil {
		if os.Getenv("KVCSI_REQUIRE_NETNS") == "1" || os.Getenv("CI") == "true" {
			t.Fatalf("a network namespace is required here (KVCSI_REQUIRE_NETNS=1 or CI=true) but cannot be made: %v", err)
		}
		t.Skipf("skipping: needs a network namespace (root and iproute2's ip): %v", err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Errorf("remove network namespace %s: %v", ns.Name, err)
		}
	})
	return ns
}

// Try is Require for tests that can do without: it returns nil (and logs why) where
// namespaces cannot be made, except under KVCSI_REQUIRE_NETNS=1 or CI=true, where it
// fails the test.
func Try(t *testing.T) *NS {
	t.Helper()
	ns, err := New(fmt.Sprintf("kvcsi-%d-%s", os.Getpid(), shortName(t.Name())))
	if err != nil {
		if os.Getenv("KVCSI_REQUIRE_NETNS") == "1" || os.Getenv("CI") == "true" {
			t.Fatalf("a network namespace is required here (KVCSI_REQUIRE_NETNS=1 or CI=true) but cannot be made: %v", err)
		}
		t.Logf("no network namespace (root and iproute2's ip needed): %v; the parts that reach IMDS are left out", err)
		return nil
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Errorf("remove network namespace %s: %v", ns.Name, err)
		}
	})
	return ns
}

// shortName keeps namespace names short and to [a-z0-9-].
func shortName(s string) string {
	out := make([]byte, 0, 16)
	for i := 0; i < len(s) && len(out) < 16; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			out = append(out, c)
		case c >= 'A' && c <= 'Z':
			out = append(out, c+'a'-'A')
		}
	}
	return string(out)
}

func ipCommand() (string, error) {
	p, err := exec.LookPath("ip")
	if err != nil {
		return "", fmt.Errorf("iproute2's ip is not installed (apt-get install iproute2): %w", err)
	}
	return p, nil
}
