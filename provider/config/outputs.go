package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/kvcsi/kvcsi/provider/vocab"
)

// output is one path a validated object writes, relative to the mount.
type output struct {
	obj   int    // index into the objects slice
	field string // what names the path, for messages ("objectAlias", "jmesPath[0].objectAlias")
	path  string
	// n > 1 marks a version-history directory: the object writes path/0 .. path/n-1 (the
	// files are described, not listed, since n can be large).
	n int32
}

func outputsOf(k int, o *Object) []output {
	field := FieldObjectName
	if o.Alias != "" {
		field = FieldObjectAlias
	}
	outs := []output{{obj: k, field: field, path: o.FileName()}}
	if o.VersionHistory > 1 {
		outs[0].n = o.VersionHistory
	}
	for j, jp := range o.JSONPaths {
		outs = append(outs, output{obj: k, field: fmt.Sprintf("jmesPath[%d].objectAlias", j), path: jp.ObjectAlias})
	}
	return outs
}

// under reports whether p lies strictly inside directory dir, and returns the rest.
func under(dir, p string) (string, bool) {
	if len(p) > len(dir) && strings.HasPrefix(p, dir) && p[len(dir)] == '/' {
		return p[len(dir)+1:], true
	}
	return "", false
}

// historyIndex reports whether s is how the history file for some index < n is named.
func historyIndex(s string, n int32) bool {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return err == nil && v < uint64(n)
}

func firstElement(p string) string {
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return p
}

const (
	noClash = iota
	sameFile
	fileAndDir
)

// clash compares the paths of two outputs and returns the path they clash on.
func clash(a, b output) (string, int) {
	if a.path == b.path {
		switch {
		case a.n > 1 && b.n > 1:
			return a.path + "/0", sameFile
		case a.n > 1 || b.n > 1:
			return a.path, fileAndDir
		}
		return a.path, sameFile
	}
	// Order them so that a's path is the directory holding b's, if either holds the other.
	rest, ok := under(a.path, b.path)
	if !ok {
		if rest, ok = under(b.path, a.path); !ok {
			return "", noClash
		}
		a, b = b, a
	}
	if a.n <= 1 {
		return a.path, fileAndDir // a writes a file where b needs a directory
	}
	first := firstElement(rest)
	if !historyIndex(first, a.n) {
		return "", noClash // b is a sibling of a's version files
	}
	p := a.path + "/" + first
	if rest == first && b.n <= 1 {
		return p, sameFile
	}
	return p, fileAndDir
}

func describe(o *Object) string {
	return fmt.Sprintf("objects.array[%d] (objectType:%s, objectName:%s)", o.Index, o.Type, o.Name)
}

func objectErrFor(o *Object, err *Error) *vocab.ObjectError {
	return &vocab.ObjectError{Index: o.Index, Type: o.Type, Name: o.Name, Version: o.Version, Err: err}
}

// checkOutputs finds output paths written twice, or used as a file by one object and as a
// directory by another, and files that collide with the .crt/.key companions of a
// splitCertAndKey object. Each error is reported on the later output and names the
// earlier object. Outputs are indexed by path, so the cost grows with the number and
// depth of the paths, not with their pairs.
func checkOutputs(objs []Object) []*vocab.ObjectError {
	var outs []output
	for k := range objs {
		outs = append(outs, outputsOf(k, &objs[k])...)
	}
	// Companions are known up front: a clash with one is reported on the other file,
	// whichever comes first.
	companions := map[string]int{}   // companion path -> output of a plain splitCertAndKey file
	splitHistory := map[string]int{} // history directory of a splitCertAndKey object -> output
	for i, a := range outs {
		if !objs[a.obj].SplitCertAndKey || !isMainOutput(a) {
			continue
		}
		if a.n > 1 {
			setFirst(splitHistory, a.path, i)
			continue
		}
		setFirst(companions, a.path+".crt", i)
		setFirst(companions, a.path+".key", i)
	}

	ix := pathIndex{exact: map[string]int{}, inside: map[string]int{}, indexed: map[string][]int{}}
	var errs []*vocab.ObjectError
	for j, b := range outs {
		ob := &objs[b.obj]
		if i, p, kind := ix.find(outs, b); kind != noClash {
			a := outs[i]
			var other string
			if a.obj == b.obj {
				other = fmt.Sprintf("%s and %s of this object both use it", a.field, b.field)
			} else {
				other = fmt.Sprintf("%s of %s uses it too", a.field, describe(&objs[a.obj]))
			}
			msg := fmt.Sprintf("duplicate output path %s: %s", quoteShort(p), other)
			if kind == fileAndDir {
				msg = fmt.Sprintf("output path %s is needed both as a file and as a directory: %s", quoteShort(p), other)
			}
			errs = append(errs, objectErrFor(ob, invalid(b.field, msg,
				"give one of them a different objectAlias; every file in the volume needs its own path")))
			continue
		}
		ix.add(j, b)
		if i, ok := companionOf(outs, companions, splitHistory, b); ok {
			errs = append(errs, objectErrFor(ob, invalid(b.field,
				fmt.Sprintf("duplicate output path %s: %s has splitCertAndKey and writes its certificate or key there",
					quoteShort(b.path), describe(&objs[outs[i].obj])),
				"give this file a different objectAlias")))
		}
	}
	return errs
}

func setFirst(m map[string]int, k string, v int) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

// companionOf returns the splitCertAndKey output whose .crt/.key companion is b's path.
func companionOf(outs []output, companions, splitHistory map[string]int, b output) (int, bool) {
	if b.n > 1 {
		return 0, false
	}
	if i, ok := companions[b.path]; ok {
		return i, true
	}
	for _, suffix := range []string{".crt", ".key"} {
		stem, ok := strings.CutSuffix(b.path, suffix)
		if !ok {
			continue
		}
		slash := strings.LastIndexByte(stem, '/')
		if slash < 0 {
			continue
		}
		if i, ok := splitHistory[stem[:slash]]; ok && historyIndex(stem[slash+1:], outs[i].n) {
			return i, true
		}
	}
	return 0, false
}

// pathIndex holds the outputs seen so far.
type pathIndex struct {
	exact  map[string]int // path -> first output with exactly that path
	inside map[string]int // directory -> first output strictly inside it
	// indexed maps a directory to the outputs strictly inside it whose next element is a
	// decimal number, i.e. that may be one of the files of a version history there.
	indexed map[string][]int
}

// ancestors calls f with each proper ancestor directory of p, shortest first, and the
// path element that follows it; it stops when f returns false.
func ancestors(p string, f func(dir, next string) bool) {
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		rest := p[i+1:]
		if !f(p[:i], firstElement(rest)) {
			return
		}
	}
}

// isDecimal reports whether s names an index any version history could write.
func isDecimal(s string) bool { return historyIndex(s, math.MaxInt32) }

func (ix *pathIndex) add(j int, b output) {
	setFirst(ix.exact, b.path, j)
	ancestors(b.path, func(dir, next string) bool {
		setFirst(ix.inside, dir, j)
		if isDecimal(next) {
			ix.indexed[dir] = append(ix.indexed[dir], j)
		}
		return true
	})
}

// find returns an earlier output that clashes with b, the path they clash on and how.
func (ix *pathIndex) find(outs []output, b output) (int, string, int) {
	if i, ok := ix.exact[b.path]; ok {
		p, kind := clash(outs[i], b)
		return i, p, kind
	}
	found, foundPath, foundKind := 0, "", noClash
	ancestors(b.path, func(dir, _ string) bool {
		if i, ok := ix.exact[dir]; ok {
			if p, kind := clash(outs[i], b); kind != noClash {
				found, foundPath, foundKind = i, p, kind
				return false
			}
		}
		return true
	})
	if foundKind != noClash {
		return found, foundPath, foundKind
	}
	if b.n <= 1 {
		if i, ok := ix.inside[b.path]; ok {
			return i, b.path, fileAndDir
		}
		return 0, "", noClash
	}
	for _, i := range ix.indexed[b.path] {
		if p, kind := clash(outs[i], b); kind != noClash {
			return i, p, kind
		}
	}
	return 0, "", noClash
}

func isMainOutput(o output) bool { return !strings.HasPrefix(o.field, "jmesPath[") }
