package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/mount"
)

// FuzzDecode sends arbitrary raw MountRequest fields through Server.Mount (decode,
// config.Parse, the response) with a mounter that echoes the parsed objects. It checks
// that nothing panics, that a request gets either an error or a response with at least
// one ObjectVersion, that errors are InvalidArgument with a message, and that no error
// quotes a nodePublishSecretRef value or a service-account token that the rest of the
// request does not also contain.
func FuzzDecode(f *testing.F) {
	for _, seed := range decodeSeeds(f) {
		f.Add(seed.Attributes, seed.Secrets, seed.Permission, seed.TargetPath)
	}
	s := &Server{Mounter: fakeMounter{func(_ context.Context, m *config.Mount) (*mount.Result, error) { return okResult(m), nil }}}
	f.Fuzz(func(t *testing.T, attributes, secrets, permission, target string) {
		req := &v1alpha1.MountRequest{Attributes: attributes, Secrets: secrets, Permission: permission, TargetPath: target}
		resp, err := s.Mount(context.Background(), req)
		if err == nil {
			if resp == nil || len(resp.ObjectVersion) == 0 {
				t.Fatalf("success without object versions: %v", resp)
			}
			for _, fl := range resp.Files {
				if !driverPathOK(fl.Path) {
					t.Fatalf("accepted a path the driver rejects: %q", fl.Path)
				}
			}
			return
		}
		if resp != nil {
			t.Fatal("an error and a response")
		}
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || st.Message() == "" {
			t.Fatalf("status %s %q, want InvalidArgument", st.Code(), st.Message())
		}
		var attrib, sec map[string]string
		_ = json.Unmarshal([]byte(attributes), &attrib)
		_ = json.Unmarshal([]byte(secrets), &sec)
		elsewhere := func(v, except string) bool {
			if strings.Contains(permission, v) || strings.Contains(target, v) {
				return true
			}
			for k, a := range attrib {
				if k != except && strings.Contains(k+a, v) {
					return true
				}
			}
			return false
		}
		for k, v := range sec {
			if len(v) >= 6 && strings.Contains(st.Message(), v) && !elsewhere(v, "") && !strings.Contains(k, v) {
				t.Fatalf("error quotes the secrets value of %q: %s", k, st.Message())
			}
		}
		var tokens map[string]struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal([]byte(attrib[config.AttrServiceAccountToken]), &tokens)
		for aud, tok := range tokens {
			if len(tok.Token) >= 6 && strings.Contains(st.Message(), tok.Token) && !elsewhere(tok.Token, config.AttrServiceAccountToken) && !strings.Contains(aud, tok.Token) {
				t.Fatalf("error quotes the service-account token: %s", st.Message())
			}
		}
	})
}

func driverPathOK(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "..") || len(p) > 4096 {
		return false
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." || el == "." || el == "" || len(el) > 255 {
			return false
		}
	}
	return true
}

// decodeSeeds are requests shaped like the driver's (also committed under
// testdata/fuzz/FuzzDecode).
func decodeSeeds(t testing.TB) []*v1alpha1.MountRequest {
	ok := request(t, "p", "objectName: a\nobjectType: secret", "objectName: b\nobjectType: cert\nobjectAlias: dir/b\nfilePermission: \"0600\"")
	wi := request(t, "p", "objectName: a\nobjectType: secret\nobjectVersionHistory: 3")
	wi.Secrets = "{}"
	var a map[string]string
	_ = json.Unmarshal([]byte(wi.Attributes), &a)
	a["clientID"] = "cid"
	b, _ := json.Marshal(a)
	wi.Attributes = string(b)
	traversal := request(t, "p", "objectName: a\nobjectType: secret\nobjectAlias: ../../etc/shadow")
	flow := request(t, "p")
	_ = json.Unmarshal([]byte(flow.Attributes), &a)
	a["objects"] = `array: ["objectName: a\nobjectType: key", "{objectName: b, objectType: secret, jmesPath: [{path: x, objectAlias: y}]}"]`
	b, _ = json.Marshal(a)
	flow.Attributes = string(b)
	return []*v1alpha1.MountRequest{
		ok, wi, traversal, flow,
		{Attributes: "{", Secrets: "{}", Permission: "420"},
		{Attributes: ok.Attributes, Secrets: `{"clientsecret":`, Permission: "420"},
		{Attributes: ok.Attributes, Secrets: ok.Secrets, Permission: `"0644"`},
		{Attributes: `{"objects":"array:\n  - |\n    objectName: [[[[[["}`, Secrets: "null", Permission: "-1"},
	}
}
