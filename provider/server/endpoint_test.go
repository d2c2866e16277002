package server

import "testing"

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in, network, address, target string
		bad                          bool
	}{
		{in: "unix:///provider/azure.sock", network: "unix", address: "/provider/azure.sock", target: "passthrough:////provider/azure.sock"},
		{in: "UNIX:///tmp/azure.sock", network: "unix", address: "/tmp/azure.sock"},
		{in: `unix://C:\provider\azure.sock`, network: "unix", address: `C:\provider\azure.sock`, target: `passthrough:///C:\provider\azure.sock`},
		{in: "unix://relative.sock", network: "unix", address: "relative.sock"},
		{in: "tcp://127.0.0.1:9000", network: "tcp", address: "127.0.0.1:9000"},
		{in: "/tmp/azure.sock", bad: true},
		{in: "unix://", bad: true},
		{in: "http://localhost:80", bad: true},
		{in: "", bad: true},
		{in: "://x", bad: true},
	}
	for _, tc := range tests {
		e, err := ParseEndpoint(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseEndpoint(%q) = %+v, want an error", tc.in, e)
			}
			continue
		}
		if err != nil || e.Network != tc.network || e.Address != tc.address {
			t.Errorf("ParseEndpoint(%q) = %+v, %v", tc.in, e, err)
			continue
		}
		if tc.target != "" && e.DialTarget() != tc.target {
			t.Errorf("DialTarget(%q) = %q, want %q", tc.in, e.DialTarget(), tc.target)
		}
		if e.String() != tc.network+"://"+tc.address {
			t.Errorf("String() = %q", e.String())
		}
	}
}
