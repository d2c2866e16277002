package spctest

import (
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestObjects(t *testing.T) {
	got := Objects("objectName: a\nobjectType: secret\n", "objectName: b")
	want := "array:\n  - |\n    objectName: a\n    objectType: secret\n  - |\n    objectName: b\n"
	if got != want {
		t.Fatalf("Objects = %q, want %q", got, want)
	}
	var doc struct{ Array []string }
	if err := yaml.Unmarshal([]byte(got), &doc); err != nil || len(doc.Array) != 2 || doc.Array[0] != "objectName: a\nobjectType: secret\n" {
		t.Fatalf("decoded %q, %v", doc.Array, err)
	}
}

func TestWith(t *testing.T) {
	base := map[string]string{"a": "1", "b": "2"}
	got := With(base, "b", "", "c", "3")
	if len(got) != 2 || got["a"] != "1" || got["c"] != "3" || base["b"] != "2" {
		t.Fatalf("With = %v (base %v)", got, base)
	}
}

func TestRepositoryExamples(t *testing.T) {
	root := filepath.Join("..", "..")
	paths, err := Examples(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		m, err := ReadManifest(p)
		if err != nil || m.Spec.Provider != "azure" || len(m.Spec.Parameters) == 0 {
			t.Errorf("%s: %+v, %v", p, m, err)
		}
	}
	if blocks, err := READMEExamples(root); err != nil || len(blocks) == 0 {
		t.Errorf("README examples: %d, %v", len(blocks), err)
	}
}
