package mount

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kvcsi/kvcsi/provider/config"
	"github.com/kvcsi/kvcsi/provider/diag"
	"github.com/kvcsi/kvcsi/provider/format"
	"github.com/kvcsi/kvcsi/provider/vocab"
)

// producedFile is one file of the volume before composition, with its object's version.
type producedFile struct {
	file    vocab.File
	version ObjectVersion
	obj     *config.Object
}

// RenderedID is the ObjectVersion id of a rendered file.
func RenderedID(path string) string { return "file/" + path }

// compose finishes the volume once every object is rendered: password-protected PFX
// outputs, then the rendered files (the files parameter), whose inputs are the files
// produced so far; hidden inputs leave the volume but keep their versions (in
// res.HiddenVersions). skipped maps the objects.array index of each skipped optional
// object to the reason.
func (mt *Mounter) compose(m *config.Mount, files []producedFile, skipped map[int]string, res *Result) ([]producedFile, error) {
	byPath := make(map[string]int, len(files))
	for i, f := range files {
		byPath[f.file.Path] = i
	}
	for i := range files {
		f := &files[i]
		o := f.obj
		if o.PFXPasswordFile == "" || f.file.Path != o.FileName() {
			continue
		}
		j, ok := byPath[o.PFXPasswordFile]
		if !ok {
			return nil, objectError(o, diag.New(diag.KindNotFound,
				fmt.Errorf("pfxPasswordFile %q is not in the volume (its object is optional and was skipped)", o.PFXPasswordFile),
				"create the password secret in Key Vault, or remove optional from its object"))
		}
		pfx, err := format.ProtectPFX(f.file.Contents, string(files[j].file.Contents))
		if err != nil {
			return nil, objectError(o, diag.New(diag.KindInvalid, fmt.Errorf("writing a password-protected PFX: %w", err),
				"objectFormat: pfx with pfxPasswordFile needs a certificate's secret (with its private key)"))
		}
		f.file.Contents = pfx
	}
	if len(m.Files) == 0 {
		return files, nil
	}
	hidden := map[string]bool{}
	var rendered []producedFile
	for k := range m.Files {
		rf := &m.Files[k]
		p, hides, err := renderOne(rf, files, byPath, skipped)
		if err != nil {
			return nil, diag.New(diag.KindInvalid, err, "")
		}
		rendered = append(rendered, p)
		if rf.HideInputs {
			for _, h := range hides {
				hidden[h] = true
			}
		}
	}
	out := make([]producedFile, 0, len(files)+len(rendered))
	for _, f := range files {
		if hidden[f.file.Path] {
			res.HiddenVersions = append(res.HiddenVersions, f.version)
			continue
		}
		out = append(out, f)
	}
	return append(out, rendered...), nil
}

// renderOne renders one files entry and returns it with the paths of its inputs.
func renderOne(rf *config.RenderedFile, files []producedFile, byPath map[string]int, skipped map[int]string) (producedFile, []string, error) {
	var (
		entries []format.Entry
		inputs  []string
		ids     []string
	)
	add := func(in config.Input, f *producedFile) {
		entries = append(entries, format.Entry{Key: rf.KeyFor(in, f.file.Path), Input: f.file.Path, Value: f.file.Contents, Base64: in.Base64})
		inputs = append(inputs, f.file.Path)
		ids = append(ids, f.version.ID+"\x00"+f.version.Version+"\x00"+f.file.Path)
	}
	for _, in := range rf.Inputs {
		if in.Dir {
			var under []int
			for i := range files {
				if strings.HasPrefix(files[i].file.Path, in.File+"/") {
					under = append(under, i)
				}
			}
			sort.Slice(under, func(a, b int) bool { return files[under[a]].file.Path < files[under[b]].file.Path })
			for _, i := range under {
				add(in, &files[i])
			}
			continue
		}
		i, ok := byPath[in.File]
		if !ok {
			reason, optional := skipped[in.Object]
			if optional && rf.SkipMissingInputs {
				ids = append(ids, "missing\x00"+in.File)
				continue
			}
			if optional {
				return producedFile{}, nil, &format.RenderError{File: rf.Path, Input: in.File,
					Reason: fmt.Sprintf("its object objects.array[%d] is optional and was skipped (%s)", in.Object, reason),
					Fix:    "create the object in Key Vault (or enable it), or set skipMissingInputs: true to render the file without it"}
			}
			return producedFile{}, nil, &format.RenderError{File: rf.Path, Input: in.File, Reason: "the input file is not in the volume"}
		}
		add(in, &files[i])
	}
	var (
		contents []byte
		err      error
	)
	if rf.Format == format.FileTemplate {
		contents, err = rf.Template.Execute(rf.Path, entries)
	} else {
		contents, err = format.RenderFile(rf.Path, rf.Format, entries)
	}
	if err != nil {
		var re *format.RenderError
		if !errors.As(err, &re) {
			err = &format.RenderError{File: rf.Path, Reason: "cannot be rendered", Err: err}
		}
		return producedFile{}, nil, err
	}
	return producedFile{
		file:    vocab.File{Path: rf.Path, Mode: rf.Mode, Contents: contents},
		version: ObjectVersion{ID: RenderedID(rf.Path), Version: RenderedVersion(rf.Definition, ids)},
	}, inputs, nil
}

// RenderedVersion is a rendered file's version: a hash of its definition and of its
// inputs' object version ids, versions and files, in sorted order, so that the driver
// sees a new version whenever any input changes and the same one otherwise.
func RenderedVersion(definition string, inputs []string) string {
	sorted := append([]string(nil), inputs...)
	sort.Strings(sorted)
	h := sha256.New()
	h.Write([]byte(definition))
	for _, s := range sorted {
		h.Write([]byte{0})
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
