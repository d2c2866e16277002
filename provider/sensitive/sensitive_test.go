package sensitive

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestStringNeverPrints(t *testing.T) {
	const value = "hunter2-very-secret"
	s := String(value)
	type holder struct {
		Token String
		Ptr   *String
	}
	h := holder{Token: s, Ptr: &s}
	outputs := map[string]string{
		"%v":        fmt.Sprintf("%v", s),
		"%s":        fmt.Sprintf("%s", s),
		"%q":        fmt.Sprintf("%q", s),
		"%x":        fmt.Sprintf("%x", s),
		"%#v":       fmt.Sprintf("%#v", s),
		"%+v":       fmt.Sprintf("%+v", h),
		"Sprint":    fmt.Sprint(s),
		"struct #v": fmt.Sprintf("%#v", h),
	}
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(js)
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "token", s)
	outputs["slog"] = b.String()
	for name, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) {
			t.Errorf("%s leaked the value: %s", name, out)
		}
		if !strings.Contains(out, "REDACTED") && name != "struct #v" {
			t.Errorf("%s: want the redaction marker, got %s", name, out)
		}
	}
	if s.Reveal() != value {
		t.Fatalf("Reveal() = %q", s.Reveal())
	}
	if s.IsEmpty() || !String("").IsEmpty() {
		t.Fatal("IsEmpty is wrong")
	}
}
