package format

import (
	"errors"
	"strings"
	"testing"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/provider/vocab"
)

func TestCertPart(t *testing.T) {
	p := mustPKI(t)
	pfxText := b64(mustPFX(t, pkcs12.Modern2023, p.leafKey, p.root, p.inter, p.leaf))
	key := pkcs8PEM(t, p.leafKey)
	stored := string(cat(certsPEM(p.root), key, certsPEM(p.leaf)))
	for _, tc := range []struct {
		name string
		req  Request
		f    Fetched
		opts Options
		want want
	}{
		{"PFX chain, constructed", Request{CertPart: vocab.CertPartChain}, certSecret(ContentTypePKCS12, pfxText), chainOn,
			want{files: one("out", certsPEM(p.leaf, p.inter, p.root))}},
		{"PFX chain, stored order", Request{CertPart: vocab.CertPartChain}, certSecret(ContentTypePKCS12, pfxText), Options{},
			want{files: one("out", certsPEM(p.root, p.inter, p.leaf))}},
		{"PFX key", Request{CertPart: vocab.CertPartKey}, certSecret(ContentTypePKCS12, pfxText), chainOn,
			want{files: one("out", key)}},
		{"PEM chain as stored, even with constructChain", Request{CertPart: vocab.CertPartChain}, certSecret(ContentTypePEM, stored), chainOn,
			want{files: one("out", certsPEM(p.root, p.leaf))}},
		{"PEM key", Request{CertPart: vocab.CertPartKey, Format: "pem"}, certSecret(ContentTypePEM, stored), chainOn,
			want{files: one("out", key)}},
		{"global split flag does not add companions to a part", Request{CertPart: vocab.CertPartKey}, certSecret(ContentTypePKCS12, pfxText), Options{true, true},
			want{files: one("out", key)}},
		{"part of a plain PFX secret with convertPFXToPEM", Request{CertPart: vocab.CertPartChain, ConvertPFX: true},
			Fetched{Type: vocab.Secret, Name: "app", Value: ptr(pfxText), ContentType: ptr(ContentTypePKCS12)}, chainOn,
			want{files: one("out", certsPEM(p.leaf, p.inter, p.root))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Path = "out"
			runRender(t, tc.req, tc.f, tc.opts, tc.want)
		})
	}
}

func TestConvertPFX(t *testing.T) {
	p := mustPKI(t)
	pfx := mustPFX(t, pkcs12.LegacyRC2, p.leafECKey, p.inter, p.leafEC)
	plain := Fetched{Type: vocab.Secret, Name: "appsvc", Value: ptr(b64(pfx)), ContentType: ptr(ContentTypePKCS12)}
	converted := cat(pkcs8PEM(t, p.leafECKey), certsPEM(p.leafEC, p.inter))
	for _, tc := range []struct {
		name string
		req  Request
		opts Options
		want want
	}{
		{"without convertPFXToPEM: base64 text (upstream #273)", Request{}, chainOn, want{files: one("out", []byte(b64(pfx)))}},
		{"converted", Request{ConvertPFX: true}, chainOn, want{files: one("out", converted)}},
		{"converted, split per object", Request{ConvertPFX: true, Split: true}, chainOn,
			want{files: []vocab.File{fileOf("out.crt", 0o644, certsPEM(p.leafEC, p.inter)), fileOf("out.key", 0o644, pkcs8PEM(t, p.leafECKey)), fileOf("out", 0o644, converted)}}},
		{"converted, global split flag", Request{ConvertPFX: true}, Options{true, true},
			want{files: []vocab.File{fileOf("out.crt", 0o644, certsPEM(p.leafEC, p.inter)), fileOf("out.key", 0o644, pkcs8PEM(t, p.leafECKey)), fileOf("out", 0o644, converted)}}},
		{"objectFormat pfx keeps the PFX", Request{ConvertPFX: true, Format: "pfx", Encoding: "base64"}, chainOn, want{files: one("out", pfx)}},
		{"key part", Request{ConvertPFX: true, CertPart: vocab.CertPartKey}, chainOn, want{files: one("out", pkcs8PEM(t, p.leafECKey))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Path = "out"
			runRender(t, tc.req, plain, tc.opts, tc.want)
		})
	}
	t.Run("not a PFX", func(t *testing.T) {
		f := plain
		f.Value = ptr(b64([]byte(marker)))
		runRender(t, Request{Path: "out", ConvertPFX: true}, f, chainOn, want{err: "converting the PFX to PEM"})
	})
}

func TestJSON(t *testing.T) {
	const doc = `{"username":"admin","password":"p<&>w","port":5432,"ratio":0.5,"big":12345678901234567890,
		"tls":true,"none":null,"tags":["a","b"],"nested":{"k":"v","n":[1,2]},"Case":"upper"}`
	ex := func(path string) []JSONExtract { return []JSONExtract{{Path: path, Alias: "x"}} }
	for _, tc := range []struct {
		name string
		json []JSONExtract
		want string
		err  string
	}{
		{"string raw, no quotes", ex("username"), "admin", ""},
		{"string not HTML-escaped", ex("password"), "p<&>w", ""},
		{"number", ex("port"), "5432", ""},
		{"fraction", ex("ratio"), "0.5", ""},
		{"large integer goes through float64", ex("big"), "12345678901234567000", ""},
		{"bool", ex("tls"), "true", ""},
		{"array, compact", ex("tags"), `["a","b"]`, ""},
		{"object, compact", ex("nested"), `{"k":"v","n":[1,2]}`, ""},
		{"nested path", ex("nested.k"), "v", ""},
		{"projection", ex("nested.n[1]"), "2", ""},
		{"function", ex("join(',', tags)"), "a,b", ""},
		{"quoted identifier", ex(`"Case"`), "upper", ""},
		{"null value", ex("none"), "", "matched nothing (null)"},
		{"missing field", ex("nope"), "", `jmesPath "nope"`},
		{"case-sensitive", ex("case"), "", "matched nothing"},
		{"syntax error", ex("a.[b"), "", "invalid JMESPath expression"},
		{"type error hides the value", ex("abs(username)"), "", "a function argument has the wrong type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := Request{Path: "cfg", Mode: 0o640, JSON: tc.json}
			files, err := Render(req, plainSecret(doc), Options{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), `"plain"`) {
					t.Fatalf("got %v, want error containing %q and the object name", err, tc.err)
				}
				if strings.Contains(err.Error(), "admin") {
					t.Fatalf("error leaks content: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 2 || files[0].Path != "cfg" || string(files[0].Contents) != doc {
				t.Fatalf("the object's own file is missing or changed: %v", paths(files))
			}
			if files[1].Path != "x" || files[1].Mode != 0o640 || string(files[1].Contents) != tc.want {
				t.Fatalf("got %s %v %q, want x 0640 %q", files[1].Path, files[1].Mode, files[1].Contents, tc.want)
			}
		})
	}

	t.Run("several entries, own modes, after the main file", func(t *testing.T) {
		req := Request{Path: "db", Mode: 0o644, JSON: []JSONExtract{
			{Path: "username", Alias: "db/user", Mode: 0o600}, {Path: "port", Alias: "db/port"}}}
		files, err := Render(req, plainSecret(doc), Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := []vocab.File{fileOf("db", 0o644, []byte(doc)), fileOf("db/user", 0o600, []byte("admin")), fileOf("db/port", 0o644, []byte("5432"))}
		for i := range want {
			if i >= len(files) || files[i].Path != want[i].Path || files[i].Mode != want[i].Mode || string(files[i].Contents) != string(want[i].Contents) {
				t.Fatalf("got %+v", files)
			}
		}
	})
	t.Run("applied after objectEncoding", func(t *testing.T) {
		req := Request{Path: "db", Encoding: "base64", JSON: ex("username")}
		files, err := Render(req, plainSecret(b64([]byte(doc))), Options{})
		if err != nil || string(files[0].Contents) != doc || string(files[1].Contents) != "admin" {
			t.Fatalf("got %v %+v", err, files)
		}
	})
	t.Run("byte-order mark", func(t *testing.T) {
		files, err := Render(Request{Path: "db", JSON: ex("username")}, plainSecret("\ufeff"+doc), Options{})
		if err != nil || string(files[1].Contents) != "admin" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		_, err := Render(Request{Path: "db", JSON: ex("a")}, plainSecret(`{"a": `+marker), Options{})
		if !errors.Is(err, ErrNotJSON) || strings.Contains(err.Error(), marker) || !strings.Contains(err.Error(), "syntax error at byte") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("empty value", func(t *testing.T) {
		_, err := Render(Request{Path: "db", JSON: ex("a")}, plainSecret(""), Options{})
		if !errors.Is(err, ErrNotJSON) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("string value at the top", func(t *testing.T) {
		out, err := ExtractJSON([]byte(`"just a string"`), "@")
		if err != nil || string(out) != "just a string" {
			t.Fatalf("got %q %v", out, err)
		}
	})
}
