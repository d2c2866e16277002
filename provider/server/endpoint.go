package server

import (
	"fmt"
	"strings"
)

// Endpoint is a parsed --endpoint value.
type Endpoint struct {
	Network string // "unix" or "tcp"
	Address string // socket path or host:port
}

// ParseEndpoint accepts the Azure provider's endpoint forms: unix:///provider/azure.sock,
// unix://C:\provider\azure.sock (Windows), unix://relative.sock and tcp://host:port.
// The scheme is case-insensitive.
func ParseEndpoint(ep string) (Endpoint, error) {
	scheme, rest, ok := strings.Cut(ep, "://")
	if !ok || rest == "" {
		return Endpoint{}, fmt.Errorf("invalid endpoint: %s: want unix:///path/to/azure.sock or tcp://host:port", ep)
	}
	switch strings.ToLower(scheme) {
	case "unix":
		return Endpoint{Network: "unix", Address: rest}, nil
	case "tcp":
		return Endpoint{Network: "tcp", Address: rest}, nil
	}
	return Endpoint{}, fmt.Errorf("invalid endpoint: %s: scheme must be unix or tcp", ep)
}

// DialTarget is a grpc-go target that reaches the endpoint without name resolution;
// "passthrough" keeps Windows paths such as C:\provider\azure.sock intact (the Azure
// provider's 1.8.1 health check crash-looped on them).
func (e Endpoint) DialTarget() string {
	return "passthrough:///" + e.Address
}

func (e Endpoint) String() string { return e.Network + "://" + e.Address }
