package config

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/provider/vocab"
)

// The straightforward pairwise check, kept as the oracle for checkOutputs.

// companionClash reports whether the plain file q is one of the .crt/.key files that the
// splitCertAndKey output a gets at fetch time.
func companionClash(a, q output) bool {
	if q.History > 0 {
		return false
	}
	for _, suffix := range []string{".crt", ".key"} {
		if a.History == 0 {
			if q.Path == a.Path+suffix {
				return true
			}
			continue
		}
		if rest, ok := under(a.Path, q.Path); ok {
			if idx, ok := strings.CutSuffix(rest, suffix); ok && historyIndex(idx, a.History) {
				return true
			}
		}
	}
	return false
}

// checkOutputs finds output paths written twice, or used as a file by one object and as a
// directory by another. Each error is reported on the later object and names the earlier.
func naiveCheckOutputs(objs []Object) []*vocab.ObjectError {
	var outs []output
	for k := range objs {
		outs = append(outs, outputsOf(k, &objs[k])...)
	}
	var errs []*vocab.ObjectError
	for j, b := range outs {
		ob := &objs[b.obj]
		reported := false
		for _, a := range outs[:j] {
			p, kind := clash(a, b)
			if kind == noClash {
				continue
			}
			oa := &objs[a.obj]
			var other string
			if a.obj == b.obj {
				other = fmt.Sprintf("%s and %s of this object both use it", a.Field, b.Field)
			} else {
				other = fmt.Sprintf("%s of %s uses it too", a.Field, describe(oa))
			}
			msg := fmt.Sprintf("duplicate output path %s: %s", quoteShort(p), other)
			if kind == fileAndDir {
				msg = fmt.Sprintf("output path %s is needed both as a file and as a directory: %s", quoteShort(p), other)
			}
			errs = append(errs, objectErrFor(ob, invalid(b.Field, msg,
				"give one of them a different objectAlias; every file in the volume needs its own path")))
			reported = true
			break
		}
		if reported {
			continue
		}
		for _, a := range outs {
			if (a.obj == b.obj && a.Field == b.Field) || !objs[a.obj].SplitCertAndKey || strings.HasPrefix(a.Field, "jmesPath[") {
				continue
			}
			if companionClash(a, b) {
				errs = append(errs, objectErrFor(ob, invalid(b.Field,
					fmt.Sprintf("duplicate output path %s: %s has splitCertAndKey and writes its certificate or key there",
						quoteShort(b.Path), describe(&objs[a.obj])),
					"give this file a different objectAlias")))
				break
			}
		}
	}
	return errs
}

func TestCheckOutputsMatchesPairwise(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	elems := []string{"a", "b", "0", "1", "2", "01", "a.crt", "a.key", "0.crt", "1.key"}
	randPath := func() string {
		n := 1 + rng.Intn(3)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = elems[rng.Intn(len(elems))]
		}
		return strings.Join(parts, "/")
	}
	for iter := 0; iter < 20000; iter++ {
		var objs []Object
		for k := 0; k < 1+rng.Intn(4); k++ {
			o := Object{Index: k, Name: fmt.Sprint("o", k), Type: vocab.Secret, Alias: randPath(), SplitCertAndKey: rng.Intn(3) == 0}
			if rng.Intn(3) == 0 {
				o.VersionHistory = int32(rng.Intn(4))
			}
			for j := 0; j < rng.Intn(3); j++ {
				o.JSONPaths = append(o.JSONPaths, JSONPath{Path: "x", ObjectAlias: randPath()})
			}
			objs = append(objs, o)
		}
		fast, slow := checkOutputs(objs), naiveCheckOutputs(objs)
		if (len(fast) == 0) != (len(slow) == 0) {
			t.Fatalf("objects %+v:\nindexed: %v\npairwise: %v", objs, fast, slow)
		}
		if len(fast) > 0 && fast[0].Index != slow[0].Index {
			t.Fatalf("objects %+v:\nindexed blames %v\npairwise blames %v", objs, fast[0], slow[0])
		}
	}
}

func BenchmarkCheckOutputs(b *testing.B) {
	var objs []Object
	for i := 0; i < 2000; i++ {
		objs = append(objs, Object{Index: i, Name: fmt.Sprint("o", i), Type: vocab.Secret,
			Alias: fmt.Sprintf("dir%d/sub/o%d", i%10, i), VersionHistory: int32(i % 3), SplitCertAndKey: i%2 == 0})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if errs := checkOutputs(objs); len(errs) != 0 {
			b.Fatal(errs[0])
		}
	}
}
