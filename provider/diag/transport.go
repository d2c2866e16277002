package diag

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/kvcsi/kvcsi/provider/heuristics"
)

// explainTransport explains a request that got no HTTP answer from the service: a host
// name that does not resolve, a proxy that refused the tunnel, a refused or reset
// connection. It returns nil for anything else.
func explainTransport(err error, c Context) *Error {
	host, hostPort := "", ""
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = strings.ToLower(u.Hostname())
			hostPort = host + ":443"
			if u.Port() != "" {
				hostPort = strings.ToLower(u.Host)
			} else if u.Scheme == "http" {
				hostPort = host + ":80"
			}
		}
	}
	isVault := host == "" || host == c.vaultHost()

	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		name := strings.ToLower(strings.TrimSuffix(dns.Name, "."))
		if name == c.vaultHost() || (host != "" && isVault) {
			return &Error{Kind: KindNotFound,
				Msg: fmt.Sprintf("vault %q does not exist or is not visible from this node: its host name %s does not resolve (%s)", c.Vault, c.vaultHost(), oneLine(dns)),
				Fix: c.vaultNameFix()}
		}
		return &Error{Kind: KindUnavailable,
			Msg: fmt.Sprintf("host %s does not resolve: %s", name, oneLine(err)),
			Fix: "check cloudName and the node's DNS (Entra ID's login host must resolve)"}
	}
	if ue != nil {
		if status, ok := heuristics.ProxyRefusal(ue.Err); ok {
			if isVault {
				return &Error{Kind: KindNotFound,
					Msg: fmt.Sprintf("vault %q could not be reached: the HTTP proxy answered %q to CONNECT %s:443, as proxies do for a host name that does not resolve", c.Vault, status, c.vaultHost()),
					Fix: c.vaultNameFix() + "; if the name is right, allow " + c.vaultHost() + " in the proxy"}
			}
			return &Error{Kind: KindUnavailable,
				Msg: fmt.Sprintf("the HTTP proxy answered %q to CONNECT %s:443", status, host),
				Fix: "allow " + host + " in the HTTP proxy, or add it to NO_PROXY, and check cloudName"}
		}
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) {
		if host == "" {
			host, hostPort = c.vaultHost(), c.vaultHost()+":443"
		}
		x := &Error{Kind: KindUnavailable,
			Msg: fmt.Sprintf("no answer from %s: %s", host, oneLine(err)),
			Fix: fmt.Sprintf("check that the node reaches %s (network policy, firewall, HTTPS_PROXY/NO_PROXY); kubelet retries the mount", hostPort)}
		if ne != nil && ne.Timeout() {
			x.Kind = KindDeadline
		}
		if heuristics.TLSVerificationFailed(err) {
			x.Kind = KindUnauthenticated
			x.Msg = fmt.Sprintf("the certificate of %s did not verify: %s", host, oneLine(err))
			x.Fix = fmt.Sprintf("the node does not trust the certificate presented for %s: a TLS-inspecting proxy's CA must be in the provider's trust store (SSL_CERT_FILE or the image's CA bundle)", host)
		}
		return x
	}
	return nil
}

func (c Context) vaultNameFix() string {
	return fmt.Sprintf("check keyvaultName (the vault's name, not its URL) and cloudName (this mount looks for the vault under %s); a vault behind a private endpoint also needs the privatelink.vaultcore.azure.net DNS zone linked to the cluster's network", c.vaultSuffix())
}
