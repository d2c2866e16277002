package config

import (
	"fmt"
	"math"
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
		outs = appendOutputs(outs, k, &objs[k])
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

func TestHistoryFilesAndPath(t *testing.T) {
	// n+1 for n > 1: the Azure provider appends a version before it checks the count.
	for n, want := range map[int32]int64{-1: 0, 0: 0, 1: 0, 2: 3, 5: 6, math.MaxInt32: math.MaxInt32 + 1} {
		if got := HistoryFiles(n); got != want {
			t.Errorf("HistoryFiles(%d) = %d, want %d", n, got, want)
		}
	}
	// Moved from provider/mount.
	tests := []struct {
		base, sep string
		i         int64
		want      string
	}{
		{"ring", "/", 0, "ring/0"},
		{"dir/ring", "/", 12, "dir/ring/12"},
		{"ring", `\`, 1, `ring\1`}, // Windows nodes, like the Azure provider's filepath.Join
		{`dir\ring`, `\`, 3, `dir\ring\3`},
	}
	for _, tc := range tests {
		if got := HistoryPath(tc.base, tc.i, tc.sep); got != tc.want {
			t.Errorf("HistoryPath(%q, %d, %q) = %q, want %q", tc.base, tc.i, tc.sep, got, tc.want)
		}
	}
}

func TestOutputs(t *testing.T) {
	type written struct {
		file           string
		written, maybe bool
	}
	for _, tt := range []struct {
		name  string
		obj   Object
		flags OutputFlags
		want  []Output
		files []string // Files(8) of the main output
		check []written
	}{
		{"plain secret", Object{Name: "db", Type: vocab.Secret}, OutputFlags{},
			[]Output{{Field: FieldObjectName, Path: "db", Companions: MaybeCompanions}}, []string{"db"},
			[]written{{"db", true, false}, {"db.crt", false, true}, {"db.key", false, true}, {"db.pem", false, false}, {"db/0", false, false}}},
		{"plain secret, provider flag", Object{Name: "db", Type: vocab.Secret}, OutputFlags{WriteCertAndKeySeparately: true},
			[]Output{{Field: FieldObjectName, Path: "db", Companions: WithCompanions}}, []string{"db", "db.crt", "db.key"},
			[]written{{"db.crt", true, false}, {"db.key", true, false}}},
		{"split, aliased", Object{Name: "web", Alias: "tls", Type: vocab.Secret, SplitCertAndKey: true}, OutputFlags{},
			[]Output{{Field: FieldObjectAlias, Path: "tls", Companions: WithCompanions}}, []string{"tls", "tls.crt", "tls.key"},
			[]written{{"tls.key", true, false}, {"web", false, false}}},
		{"pfx: no companions", Object{Name: "p", Type: vocab.Secret, Format: "pfx"}, OutputFlags{WriteCertAndKeySeparately: true},
			[]Output{{Field: FieldObjectName, Path: "p"}}, []string{"p"}, []written{{"p.crt", false, false}}},
		{"certificate part", Object{Name: "p", Type: vocab.Secret, CertPart: vocab.CertPartKey}, OutputFlags{WriteCertAndKeySeparately: true},
			[]Output{{Field: FieldObjectName, Path: "p"}}, []string{"p"}, nil},
		{"cert and key objects", Object{Name: "c", Type: vocab.Cert}, OutputFlags{WriteCertAndKeySeparately: true},
			[]Output{{Field: FieldObjectName, Path: "c"}}, []string{"c"}, nil},
		{"history", Object{Name: "ring", Type: vocab.Secret, VersionHistory: 3, SplitCertAndKey: true}, OutputFlags{},
			[]Output{{Field: FieldObjectName, Path: "ring", History: 4, Companions: WithCompanions}},
			[]string{"ring/0", "ring/0.crt", "ring/0.key", "ring/1", "ring/1.crt", "ring/1.key", "ring/2", "ring/2.crt"},
			[]written{{"ring", false, false}, {"ring/2", true, false}, {"ring/3", true, false}, {"ring/4", false, false}, {"ring/02", false, false}, {"ring/1.key", true, false}}},
		{"huge history is described, not listed", Object{Name: "ring", Type: vocab.Key, VersionHistory: math.MaxInt32}, OutputFlags{},
			[]Output{{Field: FieldObjectName, Path: "ring", History: math.MaxInt32 + 1}},
			[]string{"ring/0", "ring/1", "ring/2", "ring/3", "ring/4", "ring/5", "ring/6", "ring/7"},
			[]written{{"ring/2147483647", true, false}, {"ring/2147483648", false, false}}},
		{"jmesPath", Object{Name: "db", Type: vocab.Secret, JSONPaths: []JSONPath{{ObjectAlias: "u"}, {ObjectAlias: "d/p"}}}, OutputFlags{},
			[]Output{{Field: FieldObjectName, Path: "db", Companions: MaybeCompanions},
				{Field: "jmesPath[0].objectAlias", Path: "u"}, {Field: "jmesPath[1].objectAlias", Path: "d/p"}}, []string{"db"},
			nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Outputs(&tt.obj, tt.flags)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("Outputs = %+v\nwant %+v", got, tt.want)
			}
			if files := got[0].Files(8); fmt.Sprint(files) != fmt.Sprint(tt.files) {
				t.Errorf("Files(8) = %q, want %q", files, tt.files)
			}
			for _, c := range tt.check {
				if w, m := got[0].Writes(c.file); w != c.written || m != c.maybe {
					t.Errorf("Writes(%q) = %v, %v; want %v, %v", c.file, w, m, c.written, c.maybe)
				}
			}
		})
	}
}
