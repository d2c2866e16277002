package config

import (
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParserMatchesParse(t *testing.T) {
	p := NewParser(8, time.Minute)
	objects := objectsYAML(
		"objectName: db-password\nobjectType: secret\nfilePermission: \"0600\"",
		"objectName: tls\nobjectType: secret\nsplitCertAndKey: true\nobjectAlias: certs/tls",
		"objectName: cfg\nobjectType: secret\njmesPath:\n  - path: db.user\n    objectAlias: user",
		"objectName: signing\nobjectType: key\nobjectVersionHistory: 3",
	)
	for _, tc := range []struct {
		name  string
		attrs map[string]string
		mode  fs.FileMode
	}{
		{"objects", attrs(ParamObjects, objects), 0o644},
		{"same objects, other default mode", attrs(ParamObjects, objects), 0o400},
		{"same objects, other vault", attrs(ParamObjects, objects, ParamKeyvaultName, "kv-other"), 0o644},
		{"same objects, other pod and identity", attrs(ParamObjects, objects, AttrPodName, "web-1",
			ParamUseVMManagedIdentity, "true", ParamUserAssignedIdentityID, "11111111-1111-1111-1111-111111111111"), 0o644},
		{"no objects", attrs(ParamObjects, "array: []"), 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := Parse(tc.attrs, spSecrets(), tc.mode)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 { // a miss, then a hit
				got, err := p.Parse(tc.attrs, spSecrets(), tc.mode)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("parse %d differs from Parse:\n got %+v\nwant %+v", i, got, want)
				}
			}
		})
	}
	// The default mode and the vault are part of the key; the pod and identity are not.
	if n := p.cache.Len(); n != 4 {
		t.Fatalf("%d entries, want 4", n)
	}
}

func TestParserCopiesAndErrors(t *testing.T) {
	p := NewParser(8, time.Minute)
	a := attrs(ParamObjects, objectsYAML("objectName: one\nobjectType: secret", "objectName: two\nobjectType: cert"))
	first, err := p.Parse(a, spSecrets(), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	first.Objects[0].Name = "changed by a caller"
	second, err := p.Parse(a, spSecrets(), 0o644)
	if err != nil || second.Objects[0].Name != "one" {
		t.Fatalf("a caller's change reached the next mount: %v %+v", err, second.Objects)
	}

	bad := attrs(ParamObjects, obj("objectName: a", "objectType: secret", "filePermission: 999"))
	for range 2 {
		if _, err := p.Parse(bad, spSecrets(), 0o644); err == nil || !strings.Contains(err.Error(), "filePermission") {
			t.Fatalf("got %v, want the filePermission error every time", err)
		}
	}
	huge := attrs(ParamObjects, objectsYAML("objectName: a\nobjectType: secret\nobjectAlias: "+strings.Repeat("x", 200)+"\n#"+strings.Repeat(" pad", maxCachedObjectsText/4)))
	if _, err := p.Parse(huge, spSecrets(), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := p.cache.Len(); n != 1 {
		t.Fatalf("%d entries, want 1: errors and texts over %d bytes are not kept", n, maxCachedObjectsText)
	}
}

// TestParserConcurrent runs under -race in make test.
func TestParserConcurrent(t *testing.T) {
	p := NewParser(4, time.Minute)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				name := fmt.Sprintf("obj-%d", (g+i)%6) // more texts than entries: evictions too
				m, err := p.Parse(attrs(ParamObjects, objectsYAML("objectName: "+name+"\nobjectType: secret")), spSecrets(), 0o644)
				if err != nil || len(m.Objects) != 1 || m.Objects[0].Name != name {
					t.Errorf("got %v %+v, want %s", err, m, name)
					return
				}
				m.Objects[0].Alias = "mutated"
			}
		}()
	}
	wg.Wait()
}
