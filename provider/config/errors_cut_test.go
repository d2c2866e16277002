package config

import (
	"strings"
	"testing"
)

func TestObjectErrorCutsHugeNames(t *testing.T) {
	huge := strings.Repeat("n", 1<<20)
	e := &ObjectError{Type: "secret", Name: huge, Err: invalid("objectName", "file name must not contain '..'", "")}
	msg := e.Error()
	if len(msg) > 1024 || !strings.Contains(msg, "(1048576 bytes)") || !strings.Contains(msg, "objectName:nnnn") {
		t.Fatalf("message of %d bytes: %.200s", len(msg), msg)
	}
	short := &ObjectError{Type: "secret", Name: "db-password", Version: "v1", Err: invalid("x", "boom", "")}
	if got := short.Error(); !strings.HasPrefix(got, "failed to get objectType:secret, objectName:db-password, objectVersion:v1: boom") {
		t.Fatalf("got %q", got)
	}
}
