package daemon

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// metadataAddress is the instance metadata service (IMDS) of Azure VMs.
const metadataAddress = "169.254.169.254"

// ProxyFunc is the proxy rule of every outbound request: next decides (in production
// http.ProxyFromEnvironment, i.e. HTTPS_PROXY/HTTP_PROXY/NO_PROXY), except that the
// instance metadata address and loopback hosts (aad-pod-identity's NMI on localhost)
// always go direct, whatever NO_PROXY says. Microsoft documents that IMDS must be
// queried bypassing proxies, and IMDS refuses proxied requests; a proxy cannot reach
// the node's own loopback either. A cluster-wide HTTP_PROXY without 169.254.169.254 in
// NO_PROXY would otherwise break every managed-identity mount.
func ProxyFunc(next func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return func(r *http.Request) (*url.URL, error) {
		if neverProxied(r.URL.Hostname()) {
			return nil, nil
		}
		return next(r)
	}
}

func neverProxied(host string) bool {
	if host == metadataAddress || strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.Equal(net.ParseIP(metadataAddress)))
}
