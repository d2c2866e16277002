package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/kvcsi/kvcsi/test/spctest"
)

// Pod is the pod a volume is mounted for.
type Pod struct {
	Name, Namespace, UID, ServiceAccount string
}

// DefaultPod is the fixture pod (its service account has the fixture federated credential).
var DefaultPod = Pod{Name: PodName, Namespace: Namespace, UID: "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b", ServiceAccount: SAName}

// Token is one entry of csi.storage.k8s.io/serviceAccount.tokens.
type Token struct {
	Token               string `json:"token"`
	ExpirationTimestamp string `json:"expirationTimestamp"`
}

// MountInput is what the driver assembles for one NodePublish.
type MountInput struct {
	Params  map[string]string // SecretProviderClass spec.parameters
	Pod     Pod
	Tokens  map[string]Token  // by audience; nil = CSIDriver without tokenRequests
	Secrets map[string]string // nodePublishSecretRef data; nil = none ({} on the wire)
	// Permission is the driver's default file mode (always 0644 from the real driver).
	Permission fs.FileMode
	// SPCName is the SecretProviderClass name (volumeAttributes.secretProviderClass).
	SPCName string
	// CurrentVersions is current_object_version (driver v1.5 rotation only).
	CurrentVersions []*v1alpha1.ObjectVersion
}

// Request builds the MountRequest exactly as the driver does (driver contract §2.2):
// SPC parameters, overwritten by the volume context (secretProviderClass, kubelet's
// podInfoOnMount keys, ephemeral), then the service-account tokens.
func Request(in MountInput) (*v1alpha1.MountRequest, error) {
	attrib := map[string]string{}
	for k, v := range in.Params {
		attrib[k] = v
	}
	spc := in.SPCName
	if spc == "" {
		spc = "kvcsi-spc"
	}
	pod := in.Pod
	if pod.Name == "" {
		pod = DefaultPod
	}
	attrib["secretProviderClass"] = spc
	attrib["csi.storage.k8s.io/pod.name"] = pod.Name
	attrib["csi.storage.k8s.io/pod.namespace"] = pod.Namespace
	attrib["csi.storage.k8s.io/pod.uid"] = pod.UID
	attrib["csi.storage.k8s.io/serviceAccount.name"] = pod.ServiceAccount
	attrib["csi.storage.k8s.io/ephemeral"] = "true"
	if in.Tokens != nil {
		b, err := json.Marshal(in.Tokens)
		if err != nil {
			return nil, err
		}
		attrib["csi.storage.k8s.io/serviceAccount.tokens"] = string(b)
	}
	a, err := json.Marshal(attrib)
	if err != nil {
		return nil, err
	}
	secrets := in.Secrets
	if secrets == nil {
		secrets = map[string]string{}
	}
	s, err := json.Marshal(secrets)
	if err != nil {
		return nil, err
	}
	perm := in.Permission
	if perm == 0 {
		perm = 0o644
	}
	p, err := json.Marshal(perm)
	if err != nil {
		return nil, err
	}
	return &v1alpha1.MountRequest{
		Attributes:           string(a),
		Secrets:              string(s),
		TargetPath:           "/var/lib/kubelet/pods/" + pod.UID + "/volumes/kubernetes.io~csi/secrets-store-inline/mount",
		Permission:           string(p),
		CurrentObjectVersion: in.CurrentVersions,
	}, nil
}

// Mount sends one MountRequest to the provider with the kubelet's 2-minute deadline.
func (h *Harness) Mount(ctx context.Context, in MountInput) (*v1alpha1.MountResponse, error) {
	req, err := Request(in)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	return h.Client.Mount(ctx, req)
}

// WorkloadToken mints the fixture pod's service-account token for audience aud, as the
// kubelet would for the CSIDriver's tokenRequests.
func (h *Harness) WorkloadToken(pod Pod, aud string, ttl time.Duration) map[string]Token {
	if pod.Name == "" {
		pod = DefaultPod
	}
	exp := time.Now().Add(ttl)
	tok := h.Issuer.MintToken("system:serviceaccount:"+pod.Namespace+":"+pod.ServiceAccount, aud, ttl, map[string]any{
		"kubernetes.io": map[string]any{
			"namespace":      pod.Namespace,
			"pod":            map[string]any{"name": pod.Name, "uid": pod.UID},
			"serviceaccount": map[string]any{"name": pod.ServiceAccount, "uid": "11111111-2222-3333-4444-555555555555"},
		},
	})
	return map[string]Token{aud: {Token: tok, ExpirationTimestamp: exp.UTC().Format(time.RFC3339)}}
}

// Objects encodes SecretProviderClass objects the way users write them:
// `array:` of YAML block strings (spctest.Objects).
func Objects(objects ...string) string { return spctest.Objects(objects...) }

// WriteFiles writes a MountResponse into dir the way the driver does: the same path
// checks (clean, relative, no "..", elements ≤ 255 bytes), the exact file modes, and
// the response as the whole volume (dir is emptied first).
func WriteFiles(dir string, resp *v1alpha1.MountResponse) error {
	for _, f := range resp.GetFiles() {
		if err := validatePath(f.GetPath()); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range resp.GetFiles() {
		p := filepath.Join(dir, filepath.FromSlash(f.GetPath()))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.GetContents(), fs.FileMode(f.GetMode())); err != nil {
			return err
		}
		if err := os.Chmod(p, fs.FileMode(f.GetMode())); err != nil {
			return err
		}
	}
	return nil
}

func validatePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("invalid path: must not be empty")
	case filepath.IsAbs(p) || strings.HasPrefix(p, "/"):
		return fmt.Errorf("invalid path: must be relative: %s", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("invalid path: must not start with '..': %s", p)
	case len(p) > 4096:
		return fmt.Errorf("invalid path: longer than 4096: %s", p)
	case filepath.Clean(p) != p:
		return fmt.Errorf("invalid filepath: %q", p)
	}
	for _, el := range strings.Split(p, string(filepath.Separator)) {
		if el == ".." {
			return fmt.Errorf("invalid path: must not contain '..': %s", p)
		}
		if len(el) > 255 {
			return fmt.Errorf("invalid path: element longer than 255: %s", p)
		}
	}
	return nil
}

// Modes returns path → mode string of a response, for compact assertions.
func Modes(resp *v1alpha1.MountResponse) map[string]string {
	out := map[string]string{}
	for _, f := range resp.GetFiles() {
		out[f.GetPath()] = "0" + strconv.FormatInt(int64(f.GetMode()), 8)
	}
	return out
}
