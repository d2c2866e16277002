package config

import (
	"fmt"
	"strconv"
	"strings"
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

// companionClash reports whether the plain file q is one of the .crt/.key files that the
// splitCertAndKey output a gets at fetch time.
func companionClash(a, q output) bool {
	if q.n > 1 {
		return false
	}
	for _, suffix := range []string{".crt", ".key"} {
		if a.n <= 1 {
			if q.path == a.path+suffix {
				return true
			}
			continue
		}
		if rest, ok := under(a.path, q.path); ok {
			if idx, ok := strings.CutSuffix(rest, suffix); ok && historyIndex(idx, a.n) {
				return true
			}
		}
	}
	return false
}

func describe(o *Object) string {
	return fmt.Sprintf("objects.array[%d] (objectType:%s, objectName:%s)", o.Index, o.Type, o.Name)
}

func objectErrFor(o *Object, err *Error) *ObjectError {
	return &ObjectError{Index: o.Index, Type: string(o.Type), Name: o.Name, Version: o.Version, Err: err}
}

// checkOutputs finds output paths written twice, or used as a file by one object and as a
// directory by another. Each error is reported on the later object and names the earlier.
func checkOutputs(objs []Object) []*ObjectError {
	var outs []output
	for k := range objs {
		outs = append(outs, outputsOf(k, &objs[k])...)
	}
	var errs []*ObjectError
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
				other = fmt.Sprintf("%s and %s of this object both use it", a.field, b.field)
			} else {
				other = fmt.Sprintf("%s of %s uses it too", a.field, describe(oa))
			}
			msg := fmt.Sprintf("duplicate output path %s: %s", quoteShort(p), other)
			if kind == fileAndDir {
				msg = fmt.Sprintf("output path %s is needed both as a file and as a directory: %s", quoteShort(p), other)
			}
			errs = append(errs, objectErrFor(ob, invalid(b.field, msg,
				"give one of them a different objectAlias; every file in the volume needs its own path")))
			reported = true
			break
		}
		if reported {
			continue
		}
		for _, a := range outs {
			if (a.obj == b.obj && a.field == b.field) || !objs[a.obj].SplitCertAndKey || !isMainOutput(a) {
				continue
			}
			if companionClash(a, b) {
				errs = append(errs, objectErrFor(ob, invalid(b.field,
					fmt.Sprintf("duplicate output path %s: %s has splitCertAndKey and writes its certificate or key there",
						quoteShort(b.path), describe(&objs[a.obj])),
					"give this file a different objectAlias")))
				break
			}
		}
	}
	return errs
}

func isMainOutput(o output) bool { return !strings.HasPrefix(o.field, "jmesPath[") }
