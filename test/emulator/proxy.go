package emulator

import (
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// connListener is a net.Listener fed with connections taken over from CONNECT
// tunnels, so that one TLS server answers every tunnelled host.
type connListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

func (l *connListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

// bufferedConn replays bytes the proxy's reader already buffered.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// serveProxy is the HTTP proxy: CONNECT tunnels go to the TLS server,
// absolute-form plain-HTTP requests for the metadata address are IMDS.
func (e *Emulator) serveProxy(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		e.serveConnect(w, r)
		return
	}
	host := hostOnly(r.Host)
	if r.URL.IsAbs() && host == imdsHost {
		// A forwarding proxy sends the request on with X-Forwarded-For, and IMDS
		// refuses it (serveIMDS): managed identity must never use the proxy.
		r.Header.Add("X-Forwarded-For", hostOnly(r.RemoteAddr))
		e.serveIMDS(w, r)
		return
	}
	if !r.URL.IsAbs() {
		// A request addressed to the proxy itself.
		http.Error(w, "this is the azure-emulator proxy; use it as HTTP(S)_PROXY", http.StatusBadRequest)
		return
	}
	e.logf("proxy: refusing plain HTTP to %s", host)
	http.Error(w, "azure-emulator: no such host "+host, http.StatusBadGateway)
}

func (e *Emulator) serveConnect(w http.ResponseWriter, r *http.Request) {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "443"
	}
	host = strings.ToLower(host)
	e.countTunnel(host)
	if port != "443" || !e.knowsHost(host) {
		e.logf("proxy: refusing CONNECT %s", r.Host)
		http.Error(w, "azure-emulator: cannot reach "+r.Host, http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "hijacking unsupported", http.StatusInternalServerError)
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		return
	}
	var c net.Conn = conn
	if brw != nil && brw.Reader.Buffered() > 0 {
		c = &bufferedConn{Conn: conn, r: io.MultiReader(io.LimitReader(brw.Reader, int64(brw.Reader.Buffered())), conn)}
	}
	if !e.tunnels.push(c) {
		conn.Close()
	}
}

// serveTLS routes a request that arrived through a tunnel by its Host.
func (e *Emulator) serveTLS(w http.ResponseWriter, r *http.Request) {
	host := hostOnly(r.Host)
	if r.TLS != nil && r.TLS.ServerName != "" && !strings.EqualFold(r.TLS.ServerName, host) {
		http.Error(w, "misdirected request", http.StatusMisdirectedRequest)
		return
	}
	if e.isLoginHost(host) {
		e.serveEntra(w, r, host)
		return
	}
	if vault, suffix, c, ok := e.vaultForHost(host); ok {
		e.serveKeyVault(w, r, vault, host, suffix, c)
		return
	}
	http.Error(w, "azure-emulator: unknown host "+host, http.StatusNotFound)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.ToLower(h)
	}
	return strings.ToLower(hostport)
}

// resetConnection closes the client's TCP connection without answering.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

func quietLogger() *log.Logger { return log.New(io.Discard, "", 0) }
