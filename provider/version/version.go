// Package version holds the build identity stamped in by the linker.
package version

import (
	"encoding/json"
	"fmt"
	"runtime"
)

// Set with -ldflags "-X github.com/kvcsi/kvcsi/provider/version.BuildVersion=v0.1.0 ...".
var (
	BuildVersion = "v0.0.0-dev"
	BuildDate    = "unknown"
	Vcs          = "unknown"
)

// RuntimeName is reported in the gRPC Version response.
const RuntimeName = "kvcsi"

// JSON is what --version prints, in the Azure provider's shape.
func JSON() string {
	b, _ := json.Marshal(struct {
		Version   string `json:"version"`
		BuildDate string `json:"buildDate"`
	}{BuildVersion, BuildDate})
	return string(b)
}

// UserAgent identifies kvcsi to Entra ID and Key Vault; custom is --custom-user-agent.
func UserAgent(custom string) string {
	ua := fmt.Sprintf("kvcsi/%s (%s/%s)", BuildVersion, runtime.GOOS, runtime.GOARCH)
	if custom != "" {
		ua = custom + " " + ua
	}
	return ua
}
