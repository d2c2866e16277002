package mount

import (
	"strings"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/provider/keyvault"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

func TestLatestVersions(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC) }
	list := []keyvault.VersionInfo{
		{Version: "a", Enabled: true, Created: at(1)},
		{Version: "d", Enabled: false, Created: at(4)},
		{Version: "c", Enabled: true, Created: at(3)},
		{Version: "b", Enabled: true, Created: at(2)},
		{Version: "z", Enabled: true}, // no created time: the epoch, oldest
	}
	tests := []struct {
		name, start string
		n           int
		want        string
		errKind     diag.Kind
	}{
		{"newest first, disabled skipped", "", 3, "c,b,a", 0},
		{"latest keyword", "LATEST", 2, "c,b", 0},
		{"more than exist", "", 10, "c,b,a,z", 0},
		{"from a start version", "b", 2, "b,a", 0},
		{"start version disabled", "d", 2, "", diag.KindNotFound},
		{"start version unknown", "nope", 2, "", diag.KindNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LatestVersions(list, tc.start, tc.n)
			if tc.errKind != 0 {
				if err == nil || diag.Classify(err) != tc.errKind {
					t.Fatalf("err = %v (kind %v), want kind %v", err, diag.Classify(err), tc.errKind)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
	if _, err := LatestVersions(nil, "", 2); diag.Classify(err) != diag.KindNotFound {
		t.Fatalf("no versions: %v", err)
	}
}

func TestErrorsText(t *testing.T) {
	es := Errors{
		{Type: vocab.Secret, Name: "a", Version: "", Err: diag.New(diag.KindNotFound, errString("not found"), "")},
		{Type: vocab.Key, Name: "b", Version: "v1", Err: errString("boom")},
	}
	want := "failed to get objectType:secret, objectName:a, objectVersion:: not found; failed to get objectType:key, objectName:b, objectVersion:v1: boom"
	if es.Error() != want {
		t.Fatalf("got %q", es.Error())
	}
	if es.Kind() != diag.KindNotFound {
		t.Fatalf("kind %v", es.Kind())
	}
}

type errString string

func (e errString) Error() string { return string(e) }
