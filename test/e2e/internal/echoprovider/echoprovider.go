// Package echoprovider is a tiny Secrets Store CSI provider that runs inside
// the test process. It returns the files named in its SecretProviderClass
// parameters and records every Mount request, so the suite can check the
// rig itself (what the real driver sends, rotation calls) independently of
// kvcsi.
//
// SPC parameters:
//
//	objects: "name=value,dir/name=value"   files to return (mode 0644)
//	version: "v1"                          the ObjectVersion of every file
//	errorCode: "X"                         answer with MountResponse.error.code X
package echoprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// Request is one recorded Mount call, decoded.
type Request struct {
	Attributes     map[string]string
	Secrets        map[string]string
	TargetPath     string
	Permission     string
	CurrentVersion []*v1alpha1.ObjectVersion
}

// Provider is a running echo provider.
type Provider struct {
	v1alpha1.UnimplementedCSIDriverProviderServer

	srv *grpc.Server
	ln  net.Listener

	mu       sync.Mutex
	requests []Request
}

// Start listens on the unix socket path.
func Start(socket string) (*Provider, error) {
	_ = os.Remove(socket)
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, err
	}
	p := &Provider{srv: grpc.NewServer(), ln: ln}
	v1alpha1.RegisterCSIDriverProviderServer(p.srv, p)
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Stop stops the server and removes the socket.
func (p *Provider) Stop() {
	p.srv.Stop()
	_ = os.Remove(p.ln.Addr().String())
}

// Requests returns the recorded Mount requests for a pod (all when pod == "").
func (p *Provider) Requests(podName string) []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Request
	for _, r := range p.requests {
		if podName == "" || r.Attributes["csi.storage.k8s.io/pod.name"] == podName {
			out = append(out, r)
		}
	}
	return out
}

// Version implements v1alpha1.CSIDriverProviderServer.
func (p *Provider) Version(context.Context, *v1alpha1.VersionRequest) (*v1alpha1.VersionResponse, error) {
	return &v1alpha1.VersionResponse{Version: "v1alpha1", RuntimeName: "e2e-echo", RuntimeVersion: "v0.0.1"}, nil
}

// Mount implements v1alpha1.CSIDriverProviderServer.
func (p *Provider) Mount(_ context.Context, req *v1alpha1.MountRequest) (*v1alpha1.MountResponse, error) {
	r := Request{TargetPath: req.GetTargetPath(), Permission: req.GetPermission(), CurrentVersion: req.GetCurrentObjectVersion()}
	if err := json.Unmarshal([]byte(req.GetAttributes()), &r.Attributes); err != nil {
		return nil, fmt.Errorf("echoprovider: attributes: %w", err)
	}
	if err := json.Unmarshal([]byte(req.GetSecrets()), &r.Secrets); err != nil {
		return nil, fmt.Errorf("echoprovider: secrets: %w", err)
	}
	p.mu.Lock()
	p.requests = append(p.requests, r)
	p.mu.Unlock()

	if code := r.Attributes["errorCode"]; code != "" {
		return &v1alpha1.MountResponse{Error: &v1alpha1.Error{Code: code}}, nil
	}
	version := r.Attributes["version"]
	resp := &v1alpha1.MountResponse{}
	var names []string
	files := map[string]string{}
	for _, kv := range strings.Split(r.Attributes["objects"], ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || name == "" {
			continue
		}
		files[name] = val
		names = append(names, name)
	}
	sort.Strings(names)
	for _, n := range names {
		resp.Files = append(resp.Files, &v1alpha1.File{Path: n, Mode: 0o644, Contents: []byte(files[n])})
		resp.ObjectVersion = append(resp.ObjectVersion, &v1alpha1.ObjectVersion{Id: "secret/" + n, Version: version})
	}
	if len(resp.ObjectVersion) == 0 {
		resp.ObjectVersion = []*v1alpha1.ObjectVersion{{Id: "none", Version: version}}
	}
	return resp, nil
}
