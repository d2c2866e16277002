package auth

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/kvcsi/kvcsi/provider/cache"
)

// Authority metadata: MSAL fetches instance discovery
// (<authority>/common/discovery/instance) and the tenant's OpenID configuration
// (<authority>/<tenant>/v2.0/.well-known/openid-configuration) for every new
// client, and kvcsi builds a client per identity — per pod for workload identity
// — so every cold mount paid two Entra ID round trips before its token request.
// Both documents are public and the same for every client of an authority and
// tenant, so one copy per URL serves all credentials for a while.
const (
	metadataTTL      = time.Hour
	metadataEntries  = 256
	maxMetadataBytes = 64 << 10
)

// metadataTransport answers repeated GETs of the two metadata documents from a
// copy of an earlier 200 answer no older than metadataTTL, and sends every other
// request (token requests above all) on.
type metadataTransport struct {
	next policy.Transporter
	now  func() time.Time
	docs *cache.LRU[string, *metadataDoc]
}

type metadataDoc struct {
	header  http.Header
	body    []byte
	fetched time.Time
}

func newMetadataTransport(next policy.Transporter, now func() time.Time) *metadataTransport {
	return &metadataTransport{next: next, now: now, docs: cache.New[string, *metadataDoc](metadataEntries, metadataTTL, now, nil)}
}

func isMetadataRequest(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		(strings.HasSuffix(r.URL.Path, "/discovery/instance") || strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"))
}

func (t *metadataTransport) Do(r *http.Request) (*http.Response, error) {
	if !isMetadataRequest(r) {
		return t.next.Do(r)
	}
	key := r.URL.String()
	if doc, ok := t.docs.Get(key); ok && t.now().Sub(doc.fetched) < metadataTTL {
		return doc.response(r), nil
	}
	resp, err := t.next.Do(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	doc := &metadataDoc{header: resp.Header.Clone(), body: body, fetched: t.now()}
	if len(body) <= maxMetadataBytes {
		t.docs.Add(key, doc)
	}
	return doc.response(r), nil
}

func (d *metadataDoc) response(r *http.Request) *http.Response {
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: d.header.Clone(), Body: io.NopCloser(bytes.NewReader(d.body)),
		ContentLength: int64(len(d.body)), Request: r,
	}
}
