package vocab

import (
	"errors"
	"strings"
	"testing"
)

func TestObjectErrorCutsHugeNames(t *testing.T) {
	huge := strings.Repeat("n", 1<<20)
	e := &ObjectError{Type: "secret", Name: huge, Err: errors.New("file name must not contain '..'")}
	msg := e.Error()
	if len(msg) > 1024 || !strings.Contains(msg, "(1048576 bytes)") || !strings.Contains(msg, "objectName:nnnn") {
		t.Fatalf("message of %d bytes: %.200s", len(msg), msg)
	}
	short := &ObjectError{Type: "secret", Name: "db-password", Version: "v1", Err: errors.New("boom")}
	if got := short.Error(); !strings.HasPrefix(got, "failed to get objectType:secret, objectName:db-password, objectVersion:v1: boom") {
		t.Fatalf("got %q", got)
	}
}

func TestObjectTypes(t *testing.T) {
	for _, tc := range []struct {
		t     ObjectType
		valid bool
		noun  string
	}{
		{Secret, true, "secret"}, {Key, true, "key"}, {Cert, true, "certificate"},
		{"Secret", false, "Secret"}, {"", false, ""}, {"certificate", false, "certificate"},
	} {
		if tc.t.Valid() != tc.valid || tc.t.Noun() != tc.noun {
			t.Errorf("%q: Valid %v Noun %q, want %v %q", tc.t, tc.t.Valid(), tc.t.Noun(), tc.valid, tc.noun)
		}
	}
	if got := ObjectTypes(); len(got) != 3 || got[0] != Secret || got[1] != Key || got[2] != Cert {
		t.Fatalf("ObjectTypes() = %v", got)
	}
}

func TestIdentityModes(t *testing.T) {
	for _, tc := range []struct {
		m              IdentityMode
		name, audience string
	}{
		{WorkloadIdentity, "workload identity", WorkloadIdentityAudience},
		{ServicePrincipal, "service principal", ""},
		{VMManagedIdentity, "VM managed identity", ""},
		{PodIdentity, "pod identity", ""},
		{IdentityBinding, "identity binding", IdentityBindingAudience},
		{0, "unknown identity mode", ""},
	} {
		if tc.m.String() != tc.name || tc.m.Audience() != tc.audience {
			t.Errorf("%d: %q %q, want %q %q", tc.m, tc.m.String(), tc.m.Audience(), tc.name, tc.audience)
		}
	}
}

func TestObjectErrorUnwraps(t *testing.T) {
	cause := errors.New("cause")
	var err error = &ObjectError{Type: Key, Name: "k", Err: cause}
	if !errors.Is(err, cause) {
		t.Fatal("ObjectError does not unwrap to its cause")
	}
}
