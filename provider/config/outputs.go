package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/kvcsi/kvcsi/provider/format"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// OutputFlags are the provider flags that change which files an object writes.
type OutputFlags struct {
	WriteCertAndKeySeparately bool // --write-cert-and-key-in-separate-files
}

// Companions says whether an output also gets <file>.crt and <file>.key.
type Companions uint8

const (
	NoCompanions Companions = iota
	// MaybeCompanions: a secret written as PEM gets them if it is a certificate's (only
	// the fetch tells) and the provider runs with --write-cert-and-key-in-separate-files.
	MaybeCompanions
	// WithCompanions: splitCertAndKey, or the provider flag: a certificate's secret
	// gets them.
	WithCompanions
)

// Output is one file an object writes, or the version-history family of files that
// takes its place.
type Output struct {
	// Field names the path in messages: "objectName", "objectAlias" or
	// "jmesPath[0].objectAlias".
	Field string
	Path  string // relative to the mount, "/"-separated
	// History > 0 is the number of version files the object writes instead of Path:
	// HistoryPath(Path, 0 … History-1). They are described, not listed, since History
	// can be large.
	History    int64
	Companions Companions
	// Selector: the output is the matches of a selector, files under Path ("" for the
	// volume's root) whose names only the vault's listing tells.
	Selector bool
	// Optional: the object is optional, so the files may be missing.
	Optional bool
}

// Outputs answers "which files does this object write": its main file (or its version
// history), the .crt/.key companions beside each of those, and its jmesPath files. It
// is the one answer for config's collision checks, lint's secretObjects check and the
// mount's history paths.
func Outputs(o *Object, flags OutputFlags) []Output {
	if o.Selector != nil {
		return []Output{{Field: FieldSelector, Path: o.Alias, Selector: true}}
	}
	main := Output{Field: FieldObjectName, Path: o.FileName(), History: o.HistoryFiles(), Optional: o.Optional}
	if o.Alias != "" {
		main.Field = FieldObjectAlias
	}
	switch {
	case o.SplitCertAndKey:
		main.Companions = WithCompanions
	case o.Type == vocab.Secret && o.Format != format.FormatPFX && o.CertPart == vocab.CertPartFull:
		main.Companions = MaybeCompanions
		if flags.WriteCertAndKeySeparately {
			main.Companions = WithCompanions
		}
	}
	outs := []Output{main}
	for j, jp := range o.JSONPaths {
		outs = append(outs, Output{Field: fmt.Sprintf("jmesPath[%d].objectAlias", j), Path: jp.ObjectAlias, Optional: o.Optional})
	}
	return outs
}

// HistoryFiles is the most version files an object with objectVersionHistory n
// writes, <file>/0 (the newest) … <file>/HistoryFiles(n)-1; 0 means the object writes
// one plain file. Exactly like the Azure provider, which appends a version before it
// checks the count: n+1 files when more than n versions exist (<file>/0 … <file>/n),
// all of them otherwise. A migrated pod reading a key ring from that folder depends on
// the oldest extra file.
func HistoryFiles(n int32) int64 {
	if n <= 1 {
		return 0
	}
	return int64(n) + 1
}

// HistoryFiles is HistoryFiles(o.VersionHistory).
func (o Object) HistoryFiles() int64 { return HistoryFiles(o.VersionHistory) }

// HistoryPath is the file of version index i of a version history at base. sep is
// HistorySeparator on the node; lint and the collision checks use "/", the driver's
// separator on Linux nodes.
func HistoryPath(base string, i int64, sep string) string {
	return base + sep + strconv.FormatInt(i, 10)
}

// Writes reports whether the output writes the file p ("/"-separated): written when it
// certainly does, maybe when p is a companion only a certificate's secret with the
// provider flag gets.
func (out Output) Writes(p string) (written, maybe bool) {
	if out.Selector {
		return false, out.Path == "" || isUnder(out.Path, p)
	}
	if out.isBase(p) {
		return true, false
	}
	if out.Companions == NoCompanions {
		return false, false
	}
	for _, ext := range []string{".crt", ".key"} {
		if stem, ok := strings.CutSuffix(p, ext); ok && out.isBase(stem) {
			return out.Companions == WithCompanions, out.Companions == MaybeCompanions
		}
	}
	return false, false
}

// isBase reports whether p is the output's file, or one of its version files.
func (out Output) isBase(p string) bool {
	if out.History == 0 {
		return p == out.Path
	}
	rest, ok := under(out.Path, p)
	return ok && historyIndex(rest, out.History)
}

// Files lists up to limit of the files the output certainly writes, for messages.
func (out Output) Files(limit int) []string {
	if out.Selector {
		return nil
	}
	var files []string
	add := func(base string) {
		files = append(files, base)
		if out.Companions == WithCompanions {
			files = append(files, base+".crt", base+".key")
		}
	}
	if out.History == 0 {
		add(out.Path)
	}
	for i := int64(0); i < out.History && len(files) < limit; i++ {
		add(HistoryPath(out.Path, i, "/"))
	}
	if len(files) > limit {
		files = files[:limit]
	}
	return files
}

// output is one Output of objs[obj], for the collision checks.
type output struct {
	obj int
	Output
}

// appendOutputs appends the outputs of objs[k] = o (without provider flags: Parse
// knows none).
func appendOutputs(outs []output, k int, o *Object) []output {
	for _, out := range Outputs(o, OutputFlags{}) {
		outs = append(outs, output{obj: k, Output: out})
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
func historyIndex(s string, n int64) bool {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	v, err := strconv.ParseUint(s, 10, 63)
	return err == nil && int64(v) < n
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
	if a.Path == b.Path {
		switch {
		case a.History > 0 && b.History > 0:
			return HistoryPath(a.Path, 0, "/"), sameFile
		case a.History > 0 || b.History > 0:
			return a.Path, fileAndDir
		}
		return a.Path, sameFile
	}
	// Order them so that a's path is the directory holding b's, if either holds the other.
	rest, ok := under(a.Path, b.Path)
	if !ok {
		if rest, ok = under(b.Path, a.Path); !ok {
			return "", noClash
		}
		a, b = b, a
	}
	if a.History == 0 {
		return a.Path, fileAndDir // a writes a file where b needs a directory
	}
	first := firstElement(rest)
	if !historyIndex(first, a.History) {
		return "", noClash // b is a sibling of a's version files
	}
	p := a.Path + "/" + first
	if rest == first && b.History == 0 {
		return p, sameFile
	}
	return p, fileAndDir
}

func describe(o *Object) string {
	if o.Selector != nil {
		return fmt.Sprintf("objects.array[%d] (objectType:%s, selector)", o.Index, o.Type)
	}
	return fmt.Sprintf("objects.array[%d] (objectType:%s, objectName:%s)", o.Index, o.Type, o.Name)
}

// checkOutputs finds output paths written twice, or used as a file by one object and as a
// directory by another, and files that collide with the .crt/.key companions of a
// splitCertAndKey object. Each error is reported on the later output and names the
// earlier object. Outputs are indexed by path, so the cost grows with the number and
// depth of the paths, not with their pairs.
func checkOutputs(objs []Object) []*vocab.ObjectError {
	outs := make([]output, 0, len(objs))
	var selectors []output
	for k := range objs {
		for _, out := range Outputs(&objs[k], OutputFlags{}) {
			if out.Selector {
				selectors = append(selectors, output{obj: k, Output: out})
				continue
			}
			outs = append(outs, output{obj: k, Output: out})
		}
	}
	errs := checkSelectorDirs(objs, outs, selectors)
	// Companions are known up front: a clash with one is reported on the other file,
	// whichever comes first.
	companions := map[string]int{}   // companion path -> output of a plain splitCertAndKey file
	splitHistory := map[string]int{} // history directory of a splitCertAndKey object -> output
	for i, a := range outs {
		if a.Companions != WithCompanions {
			continue
		}
		if a.History > 0 {
			setFirst(splitHistory, a.Path, i)
			continue
		}
		setFirst(companions, a.Path+".crt", i)
		setFirst(companions, a.Path+".key", i)
	}

	ix := pathIndex{exact: map[string]int{}, inside: map[string]int{}, indexed: map[string][]int{}}
	for j, b := range outs {
		ob := &objs[b.obj]
		if i, p, kind := ix.find(outs, b); kind != noClash {
			a := outs[i]
			var other string
			if a.obj == b.obj {
				other = fmt.Sprintf("%s and %s of this object both use it", a.Field, b.Field)
			} else {
				other = fmt.Sprintf("%s of %s uses it too", a.Field, describe(&objs[a.obj]))
			}
			msg := fmt.Sprintf("duplicate output path %s: %s", quoteShort(p), other)
			if kind == fileAndDir {
				msg = fmt.Sprintf("output path %s is needed both as a file and as a directory: %s", quoteShort(p), other)
			}
			errs = append(errs, objectErrFor(ob, invalid(b.Field, msg,
				"give one of them a different objectAlias; every file in the volume needs its own path")))
			continue
		}
		ix.add(j, b)
		if i, ok := companionOf(outs, companions, splitHistory, b); ok {
			errs = append(errs, objectErrFor(ob, invalid(b.Field,
				fmt.Sprintf("duplicate output path %s: %s has splitCertAndKey and writes its certificate or key there",
					quoteShort(b.Path), describe(&objs[outs[i].obj])),
				"give this file a different objectAlias")))
		}
	}
	return errs
}

// checkSelectorDirs finds outputs inside (or on the way to) the directory of a
// selector's matches, and selectors sharing a directory: only the listing would tell
// which files collide, so the directory belongs to the selector alone. A selector
// without objectAlias writes to the root; its collisions are found once it is expanded
// (CheckExpanded).
func checkSelectorDirs(objs []Object, outs, selectors []output) []*vocab.ObjectError {
	var errs []*vocab.ObjectError
	for si, s := range selectors {
		if s.Path == "" {
			continue
		}
		for _, a := range outs {
			if a.Path == s.Path || isUnder(s.Path, a.Path) || isUnder(a.Path, s.Path) {
				later, earlier := &objs[a.obj], &objs[s.obj]
				if s.obj > a.obj {
					later, earlier = earlier, later
				}
				errs = append(errs, objectErrFor(later, invalid(FieldObjectAlias,
					fmt.Sprintf("output path %s clashes with the directory %s of a selector's matches: %s uses it too", quoteShort(a.Path), quoteShort(s.Path), describe(earlier)),
					"give the selector an objectAlias directory of its own")))
			}
		}
		for _, t := range selectors[:si] {
			if t.Path != "" && (t.Path == s.Path || isUnder(t.Path, s.Path) || isUnder(s.Path, t.Path)) {
				errs = append(errs, objectErrFor(&objs[s.obj], invalid(FieldObjectAlias,
					fmt.Sprintf("the selector's directory %s overlaps the directory %s of %s's selector", quoteShort(s.Path), quoteShort(t.Path), describe(&objs[t.obj])),
					"give each selector an objectAlias directory of its own")))
			}
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
	if b.History > 0 {
		return 0, false
	}
	if i, ok := companions[b.Path]; ok {
		return i, true
	}
	for _, suffix := range []string{".crt", ".key"} {
		stem, ok := strings.CutSuffix(b.Path, suffix)
		if !ok {
			continue
		}
		slash := strings.LastIndexByte(stem, '/')
		if slash < 0 {
			continue
		}
		if i, ok := splitHistory[stem[:slash]]; ok && historyIndex(stem[slash+1:], outs[i].History) {
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
func isDecimal(s string) bool { return historyIndex(s, math.MaxInt64) }

func (ix *pathIndex) add(j int, b output) {
	setFirst(ix.exact, b.Path, j)
	ancestors(b.Path, func(dir, next string) bool {
		setFirst(ix.inside, dir, j)
		if isDecimal(next) {
			ix.indexed[dir] = append(ix.indexed[dir], j)
		}
		return true
	})
}

// find returns an earlier output that clashes with b, the path they clash on and how.
func (ix *pathIndex) find(outs []output, b output) (int, string, int) {
	if i, ok := ix.exact[b.Path]; ok {
		p, kind := clash(outs[i], b)
		return i, p, kind
	}
	found, foundPath, foundKind := 0, "", noClash
	ancestors(b.Path, func(dir, _ string) bool {
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
	if b.History == 0 {
		if i, ok := ix.inside[b.Path]; ok {
			return i, b.Path, fileAndDir
		}
		return 0, "", noClash
	}
	for _, i := range ix.indexed[b.Path] {
		if p, kind := clash(outs[i], b); kind != noClash {
			return i, p, kind
		}
	}
	return 0, "", noClash
}
