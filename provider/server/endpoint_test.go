package server

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Endpoint handling is tested as data on every OS: the Windows forms must parse the same
// way on Linux CI as on a Windows node (the Azure provider's 1.8.1 crash-looped on them).
func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in               string
		network, address string
		target           string
		wantErr          bool
	}{
		{in: "unix:///provider/azure.sock", network: "unix", address: "/provider/azure.sock", target: "passthrough:////provider/azure.sock"},
		{in: "unix:///tmp/azure.sock", network: "unix", address: "/tmp/azure.sock", target: "passthrough:////tmp/azure.sock"},
		{in: `unix://C:\provider\azure.sock`, network: "unix", address: `C:\provider\azure.sock`, target: `passthrough:///C:\provider\azure.sock`},
		{in: `unix://C:\\provider\\azure.sock`, network: "unix", address: `C:\\provider\\azure.sock`, target: `passthrough:///C:\\provider\\azure.sock`},
		{in: "UNIX:///provider/azure.sock", network: "unix", address: "/provider/azure.sock", target: "passthrough:////provider/azure.sock"},
		{in: "unix://relative.sock", network: "unix", address: "relative.sock", target: "passthrough:///relative.sock"},
		{in: "tcp://127.0.0.1:9000", network: "tcp", address: "127.0.0.1:9000", target: "passthrough:///127.0.0.1:9000"},
		{in: "TCP://localhost:1", network: "tcp", address: "localhost:1", target: "passthrough:///localhost:1"},
		{in: "/provider/azure.sock", wantErr: true},
		{in: "unix://", wantErr: true},
		{in: "http://x", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			e, err := ParseEndpoint(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %+v", e)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Network != tc.network || e.Address != tc.address || e.DialTarget() != tc.target {
				t.Fatalf("got %s %q %q", e.Network, e.Address, e.DialTarget())
			}
			// The health check's own client must accept the target (Windows paths included).
			conn, err := grpc.NewClient(e.DialTarget(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatalf("grpc.NewClient(%q): %v", e.DialTarget(), err)
			}
			conn.Close()
		})
	}
}
