// Package kubeletsim plays the part of kubelet for CSI ephemeral inline
// volumes: it builds NodePublishVolume and NodeUnpublishVolume requests the
// way kubelet v1.35 does (pkg/volume/csi/csi_mounter.go) and sends them to a
// CSI node plugin over its unix socket.
//
// What it reproduces:
//   - volume_id "csi-" + hex(sha256(podUID + volumeName)),
//   - target path <root>/pods/<uid>/volumes/kubernetes.io~csi/<volume>/mount,
//   - Mount access type, SINGLE_NODE_WRITER, the volume's readOnly flag,
//   - volume context = volumeAttributes + the podInfoOnMount keys,
//   - service-account tokens minted through the TokenRequest API for every
//     tokenRequests audience of the CSIDriver object, bound to the pod, put in
//     the volume context or (serviceAccountTokenInSecrets) in the secrets,
//   - secrets = the data of the nodePublishSecretRef Secret,
//   - a 2 minute deadline per call (kubelet's csiTimeout).
package kubeletsim

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kvcsi/kvcsi/test/e2e/internal/mounts"
)

// Attribute keys kubelet adds to the volume context.
const (
	AttrPodName            = "csi.storage.k8s.io/pod.name"
	AttrPodNamespace       = "csi.storage.k8s.io/pod.namespace"
	AttrPodUID             = "csi.storage.k8s.io/pod.uid"
	AttrServiceAccountName = "csi.storage.k8s.io/serviceAccount.name"
	AttrEphemeral          = "csi.storage.k8s.io/ephemeral"
	AttrServiceAccountToks = "csi.storage.k8s.io/serviceAccount.tokens"
)

// CSITimeout is kubelet's deadline for one CSI call.
const CSITimeout = 2 * time.Minute

// Kubelet is one simulated kubelet talking to one CSI driver.
type Kubelet struct {
	// Root is the kubelet root directory (normally /var/lib/kubelet).
	Root string
	// Client reads Pods, Secrets, the CSIDriver object and mints tokens.
	Client kubernetes.Interface

	conn *grpc.ClientConn
	node csi.NodeClient
}

// New connects to the CSI node plugin listening on socket.
func New(root, socket string, client kubernetes.Interface) (*Kubelet, error) {
	conn, err := grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("kubeletsim: dial %s: %w", socket, err)
	}
	return &Kubelet{Root: root, Client: client, conn: conn, node: csi.NewNodeClient(conn)}, nil
}

// Close closes the connection to the driver.
func (k *Kubelet) Close() error { return k.conn.Close() }

// VolumeHandle is the volume_id kubelet uses for an ephemeral inline volume.
func VolumeHandle(podUID, volumeName string) string {
	return fmt.Sprintf("csi-%x", sha256.Sum256([]byte(podUID+volumeName)))
}

// TargetPath is where kubelet asks the driver to mount the volume.
func (k *Kubelet) TargetPath(podUID, volumeName string) string {
	return filepath.Join(k.Root, "pods", podUID, "volumes", "kubernetes.io~csi", volumeName, "mount")
}

// Request is the NodePublishVolume request kubelet would send for a pod
// volume, built from the API objects. It is exposed so tests can inspect it.
func (k *Kubelet) Request(ctx context.Context, pod *corev1.Pod, volumeName string) (*csi.NodePublishVolumeRequest, error) {
	var src *corev1.CSIVolumeSource
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.Name == volumeName && v.CSI != nil {
			src = v.CSI
		}
	}
	if src == nil {
		return nil, fmt.Errorf("kubeletsim: pod %s/%s has no CSI volume %q", pod.Namespace, pod.Name, volumeName)
	}
	driver, err := k.Client.StorageV1().CSIDrivers().Get(ctx, src.Driver, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("kubeletsim: get CSIDriver %s: %w", src.Driver, err)
	}

	volCtx := map[string]string{}
	for key, val := range src.VolumeAttributes {
		volCtx[key] = val
	}
	if driver.Spec.PodInfoOnMount != nil && *driver.Spec.PodInfoOnMount {
		volCtx[AttrPodName] = pod.Name
		volCtx[AttrPodNamespace] = pod.Namespace
		volCtx[AttrPodUID] = string(pod.UID)
		volCtx[AttrServiceAccountName] = pod.Spec.ServiceAccountName
		volCtx[AttrEphemeral] = strconv.FormatBool(true)
	}

	secrets := map[string]string{}
	if src.NodePublishSecretRef != nil && src.NodePublishSecretRef.Name != "" {
		s, err := k.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, src.NodePublishSecretRef.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("kubeletsim: nodePublishSecretRef %s/%s: %w", pod.Namespace, src.NodePublishSecretRef.Name, err)
		}
		for key, val := range s.Data {
			secrets[key] = string(val)
		}
	}

	tokens, err := k.tokens(ctx, pod, driver)
	if err != nil {
		return nil, err
	}
	if tokens != "" {
		if driver.Spec.ServiceAccountTokenInSecrets != nil && *driver.Spec.ServiceAccountTokenInSecrets {
			secrets[AttrServiceAccountToks] = tokens
		} else {
			volCtx[AttrServiceAccountToks] = tokens
		}
	}

	readOnly := src.ReadOnly != nil && *src.ReadOnly
	fsType := ""
	if src.FSType != nil {
		fsType = *src.FSType
	}
	uid := string(pod.UID)
	return &csi.NodePublishVolumeRequest{
		VolumeId:      VolumeHandle(uid, volumeName),
		TargetPath:    k.TargetPath(uid, volumeName),
		Readonly:      readOnly,
		VolumeContext: volCtx,
		Secrets:       secrets,
		VolumeCapability: &csi.VolumeCapability{
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: fsType}},
		},
	}, nil
}

// tokens mints one bound token per tokenRequests audience and returns the
// JSON kubelet puts under csi.storage.k8s.io/serviceAccount.tokens, or "".
func (k *Kubelet) tokens(ctx context.Context, pod *corev1.Pod, driver *storagev1.CSIDriver) (string, error) {
	if len(driver.Spec.TokenRequests) == 0 {
		return "", nil
	}
	out := map[string]authenticationv1.TokenRequestStatus{}
	for _, tr := range driver.Spec.TokenRequests {
		auds := []string{tr.Audience}
		if tr.Audience == "" {
			auds = []string{}
		}
		req := &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{
				Audiences:         auds,
				ExpirationSeconds: tr.ExpirationSeconds,
				BoundObjectRef: &authenticationv1.BoundObjectReference{
					APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
				},
			},
		}
		res, err := k.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, req, metav1.CreateOptions{})
		if err != nil {
			return "", fmt.Errorf("kubeletsim: token for audience %q: %w", tr.Audience, err)
		}
		out[tr.Audience] = res.Status
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Publish sends NodePublishVolume for the pod's volume (first mount or
// republish) and returns the request that was sent.
func (k *Kubelet) Publish(ctx context.Context, pod *corev1.Pod, volumeName string) (*csi.NodePublishVolumeRequest, error) {
	req, err := k.Request(ctx, pod, volumeName)
	if err != nil {
		return nil, err
	}
	return req, k.PublishRequest(ctx, req)
}

// PublishRequest sends a prepared request, creating the parent of the target
// path first and removing the target again after a failed call, as kubelet does.
func (k *Kubelet) PublishRequest(ctx context.Context, req *csi.NodePublishVolumeRequest) error {
	if err := os.MkdirAll(filepath.Dir(req.TargetPath), 0o750); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, CSITimeout)
	defer cancel()
	_, err := k.node.NodePublishVolume(ctx, req)
	if err != nil {
		if ok, _ := mounts.IsMountPoint(req.TargetPath); !ok {
			_ = os.Remove(req.TargetPath)
		}
		return err
	}
	return nil
}

// Unpublish sends NodeUnpublishVolume for the pod's volume.
func (k *Kubelet) Unpublish(ctx context.Context, podUID, volumeName string) error {
	ctx, cancel := context.WithTimeout(ctx, CSITimeout)
	defer cancel()
	_, err := k.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{
		VolumeId:   VolumeHandle(podUID, volumeName),
		TargetPath: k.TargetPath(podUID, volumeName),
	})
	if err != nil {
		return err
	}
	// kubelet removes the pod's volume directory afterwards.
	dir := filepath.Dir(k.TargetPath(podUID, volumeName))
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
