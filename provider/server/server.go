// Package server is the gRPC adapter between the Secrets Store CSI Driver and the mount
// use case: it decodes MountRequest, validates it into a config.Mount, calls the mounter,
// and turns the result or the failure into a MountResponse or a gRPC status.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"k8s.io/klog/v2"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/provider/mount"
	"github.com/kvcsi/kvcsi/provider/version"
)

// Mounter is the use case the server delegates to.
type Mounter interface {
	Mount(ctx context.Context, m *config.Mount) (*mount.Result, error)
}

// Observer receives one call per finished mount (metrics); may be nil.
type Observer interface {
	MountStarted()
	MountDone(outcome diag.Outcome, objects int, elapsed time.Duration)
}

// Server implements v1alpha1.CSIDriverProviderServer.
type Server struct {
	v1alpha1.UnimplementedCSIDriverProviderServer
	Mounter  Mounter
	Observer Observer
	// MaxResponseBytes fails mounts whose response the driver cannot receive; 0 means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int
	// Parser validates the parameters; nil parses every request from scratch.
	Parser *config.Parser
}

var _ v1alpha1.CSIDriverProviderServer = (*Server)(nil)

// errorPrefix is kept from the Azure provider: users and docs grep for it.
const errorPrefix = "failed to mount objects, error: "

// Version answers the driver's health check.
func (s *Server) Version(context.Context, *v1alpha1.VersionRequest) (*v1alpha1.VersionResponse, error) {
	return &v1alpha1.VersionResponse{
		Version:        "v1alpha1",
		RuntimeName:    version.RuntimeName,
		RuntimeVersion: version.BuildVersion,
	}, nil
}

// Mount fetches the objects of one SecretProviderClass volume.
func (s *Server) Mount(ctx context.Context, req *v1alpha1.MountRequest) (*v1alpha1.MountResponse, error) {
	start := time.Now()
	if s.Observer != nil {
		s.Observer.MountStarted()
	}
	m, err := decode(s.Parser, req)
	if err != nil {
		outcome := diag.Failed(diag.KindInvalid)
		s.done(outcome, 0, start)
		klog.ErrorS(err, "invalid mount request", "pod", podOf(req), "objects", 0,
			"duration", time.Since(start).Round(time.Millisecond), "outcome", outcome.String())
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	pod := klog.KRef(m.Pod.Namespace, m.Pod.Name)
	res, err := s.Mounter.Mount(ctx, m)
	if err != nil {
		kind := classify(err)
		// An unclassified failure keeps gRPC code Unknown but is recorded as internal.
		outcome := diag.Failed(kind)
		s.done(outcome, len(m.Objects), start)
		klog.ErrorS(err, "failed to process mount request", "pod", pod, "objects", len(m.Objects),
			"duration", time.Since(start).Round(time.Millisecond), "outcome", outcome.String())
		return nil, status.Error(kind.Code(), errorPrefix+err.Error())
	}
	out := response(res)
	if err := checkSize(out, res, s.maxResponseBytes()); err != nil {
		outcome := diag.Failed(diag.KindInvalid)
		s.done(outcome, len(m.Objects), start)
		klog.ErrorS(err, "failed to process mount request", "pod", pod, "objects", len(m.Objects),
			"duration", time.Since(start).Round(time.Millisecond), "outcome", outcome.String())
		return nil, status.Error(codes.ResourceExhausted, errorPrefix+err.Error())
	}
	s.done(diag.Success(), len(m.Objects), start)
	kv := []any{"pod", pod, "objects", len(m.Objects), "files", len(res.Files),
		"duration", time.Since(start).Round(time.Millisecond), "outcome", diag.Success().String()}
	if len(res.Skipped) > 0 {
		kv = append(kv, "skippedOptional", len(res.Skipped), "skipped", skippedNames(res.Skipped))
	}
	klog.InfoS("mounted", kv...)
	logDetails(pod, res)
	return out, nil
}

// skippedNames names the skipped optional objects for the mount's log line.
func skippedNames(skipped []mount.Skipped) []string {
	out := make([]string, len(skipped))
	for i, s := range skipped {
		out[i] = fmt.Sprintf("objects.array[%d] %s %s in vault %s (%s)", s.Index, s.Type, s.Name, s.Vault, s.Reason)
	}
	return out
}

// logDetails logs what a selector left out and the objects expiring soon.
func logDetails(pod klog.ObjectRef, res *mount.Result) {
	for _, s := range res.Selected {
		if len(s.Disabled) > 0 || len(s.Expired) > 0 {
			klog.InfoS("selector skipped matching secrets", "pod", pod, "selector", fmt.Sprintf("objects.array[%d]", s.Index),
				"vault", s.Vault, "mounted", s.Matched, "disabled", s.Disabled, "expired", s.Expired)
		}
	}
	for _, e := range res.Expiring {
		verb := "expires"
		if !e.Expires.After(time.Now()) {
			verb = "expired"
		}
		klog.Warningf("%s %q (version %s) in vault %s %s at %s: mounted for pod %s; fix: add a new version with a later expiry date in Key Vault",
			e.Type.Noun(), e.Name, e.Version, e.Vault, verb, e.Expires.UTC().Format(time.RFC3339), pod)
	}
}

// DefaultMaxResponseBytes is the driver's default --max-call-recv-msg-size (4 MiB): a
// bigger MountResponse would fail in the driver with an opaque gRPC error.
const DefaultMaxResponseBytes = 4 << 20

func (s *Server) maxResponseBytes() int {
	if s.MaxResponseBytes > 0 {
		return s.MaxResponseBytes
	}
	return DefaultMaxResponseBytes
}

// checkSize fails a response the driver could not receive, naming the biggest objects
// (by ObjectVersion id, which is per file) so the user knows what to move or trim.
func checkSize(out *v1alpha1.MountResponse, res *mount.Result, limit int) error {
	n := proto.Size(out)
	if n <= limit {
		return nil
	}
	sizes := map[string]int{}
	var ids []string
	for i, f := range res.Files {
		id := f.Path
		if i < len(res.Versions) {
			id = res.Versions[i].ID
		}
		if _, ok := sizes[id]; !ok {
			ids = append(ids, id)
		}
		sizes[id] += len(f.Contents)
	}
	sort.SliceStable(ids, func(i, j int) bool { return sizes[ids[i]] > sizes[ids[j]] })
	if len(ids) > 3 {
		ids = ids[:3]
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%s (%d bytes)", id, sizes[id])
	}
	return fmt.Errorf("the mount's response is %d bytes, over the %d-byte limit of the Secrets Store CSI Driver's gRPC client (--max-call-recv-msg-size); biggest objects: %s; fix: mount fewer or smaller objects (split them across SecretProviderClasses) or lower objectVersionHistory",
		n, limit, strings.Join(parts, ", "))
}

func (s *Server) done(outcome diag.Outcome, objects int, start time.Time) {
	if s.Observer != nil {
		s.Observer.MountDone(outcome, objects, time.Since(start))
	}
}

func classify(err error) diag.Kind {
	var es mount.Errors
	if errors.As(err, &es) {
		return es.Kind()
	}
	if errors.Is(err, config.ErrInvalid) {
		return diag.KindInvalid
	}
	if k := diag.Classify(err); k != diag.KindUnknown {
		return k
	}
	return diag.KindUnknown
}

// podOf names the pod of a request that failed validation, when its attributes say.
func podOf(req *v1alpha1.MountRequest) klog.ObjectRef {
	var attrib map[string]string
	_ = json.Unmarshal([]byte(req.GetAttributes()), &attrib)
	return klog.KRef(attrib[config.AttrPodNamespace], attrib[config.AttrPodName])
}

func decode(p *config.Parser, req *v1alpha1.MountRequest) (*config.Mount, error) {
	var attrib, secrets map[string]string
	if err := json.Unmarshal([]byte(req.GetAttributes()), &attrib); err != nil {
		return nil, fmt.Errorf("failed to unmarshal attributes, error: %w", err)
	}
	if err := json.Unmarshal([]byte(req.GetSecrets()), &secrets); err != nil {
		// Never echo the input: it holds the nodePublishSecretRef values.
		return nil, fmt.Errorf("failed to unmarshal secrets, error: the secrets field is not a JSON object of strings")
	}
	var mode fs.FileMode
	if err := json.Unmarshal([]byte(req.GetPermission()), &mode); err != nil {
		return nil, fmt.Errorf("failed to unmarshal file permission, error: %w", err)
	}
	m, err := p.Parse(attrib, secrets, mode)
	if err != nil {
		// Upstream reports parameter errors inside the mount, under its prefix.
		return nil, errors.New(errorPrefix + err.Error())
	}
	return m, nil
}

// noObjectsID marks the response of a SecretProviderClass whose objects array is empty.
const noObjectsID = "kvcsi/no-objects"

// response always carries at least one ObjectVersion: the driver rejects an empty list
// ("missing object versions"), which is what a SecretProviderClass with no objects gives.
func response(res *mount.Result) *v1alpha1.MountResponse {
	out := &v1alpha1.MountResponse{}
	for _, f := range res.Files {
		out.Files = append(out.Files, &v1alpha1.File{Path: f.Path, Mode: int32(f.Mode), Contents: f.Contents})
	}
	for _, v := range res.Versions {
		out.ObjectVersion = append(out.ObjectVersion, &v1alpha1.ObjectVersion{Id: v.ID, Version: v.Version})
	}
	for _, v := range res.HiddenVersions {
		out.ObjectVersion = append(out.ObjectVersion, &v1alpha1.ObjectVersion{Id: v.ID, Version: v.Version})
	}
	if len(out.ObjectVersion) == 0 {
		out.ObjectVersion = []*v1alpha1.ObjectVersion{{Id: noObjectsID, Version: "0"}}
	}
	return out
}
