package daemon

import (
	"net/http"
	"net/url"
	"testing"
)

func TestProxyFunc(t *testing.T) {
	proxy, _ := url.Parse("http://proxy.corp:3128")
	// next stands for HTTPS_PROXY/HTTP_PROXY with an empty NO_PROXY: everything proxied.
	rule := ProxyFunc(func(*http.Request) (*url.URL, error) { return proxy, nil })
	for _, tc := range []struct {
		url     string
		proxied bool
	}{
		{"http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01", false},
		{"http://169.254.169.254:80/metadata/identity/oauth2/token", false},
		{"http://localhost:2579/host/token/", false},
		{"http://LOCALHOST:2579/host/token/", false},
		{"http://127.0.0.1:2579/host/token/", false},
		{"http://[::1]:2579/host/token/", false},
		{"https://login.microsoftonline.com/tenant/oauth2/v2.0/token", true},
		{"https://myvault.vault.azure.net/secrets/s", true},
		{"http://169.254.169.253/", true},
	} {
		req, err := http.NewRequest(http.MethodGet, tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rule(req)
		if err != nil || (got != nil) != tc.proxied {
			t.Errorf("%s: proxy %v, %v; want proxied %v", tc.url, got, err, tc.proxied)
		}
	}
}
