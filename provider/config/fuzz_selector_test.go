package config

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzSelector drives a selector entry from a fuzzed prefix, tag, alias and list of
// secret names: parsing never panics; every expanded match is a valid driver path under
// the selector's directory, one per name, so the output grows with the listing and
// nothing else; Matches agrees with a restatement of its rule.
func FuzzSelector(f *testing.F) {
	f.Add("shop-", "app", "shop", "dir", true, "shop-db,shop-web,other,SHOP-x,shop-")
	f.Add("", "team", "", "", false, "a,b,c")
	f.Add("a", "", "", "x/y", true, "a,aa,ab-c")
	f.Add("-", "k", "v", "../up", false, "-,--")
	f.Fuzz(func(t *testing.T, prefix, tagKey, tagValue, alias string, strip bool, names string) {
		obj := fmt.Sprintf("objectType: secret\nselector:\n  namePrefix: %q\n  contentType: ''\n", prefix)
		if tagKey != "" {
			obj += fmt.Sprintf("  tags: {%q: %q}\n", tagKey, tagValue)
		}
		if alias != "" {
			obj += fmt.Sprintf("objectAlias: %q\n", alias)
		}
		if strip {
			obj += "stripPrefix: true\n"
		}
		a := attrs(ParamObjects, objectsYAML(obj))
		m, err := Parse(a, spSecrets(), 0o644)
		checkLintAgrees(t, a, spSecrets(), 0o644, err)
		if err != nil {
			return
		}
		o := &m.Objects[0]
		list := strings.Split(names, ",")
		if len(list) > 2*MaxSelectorMatches {
			list = list[:2*MaxSelectorMatches]
		}
		var valid []string
		for _, n := range list {
			if keyVaultNameChars.MatchString(n) {
				valid = append(valid, n)
			}
		}
		expanded := Expand(o, valid)
		if len(expanded) != len(valid) {
			t.Fatalf("%d names expanded to %d objects", len(valid), len(expanded))
		}
		for _, e := range expanded {
			if e.Selector != nil || e.Name == "" {
				t.Fatalf("expanded object %+v", e)
			}
			p := e.FileName()
			if !driverAccepts(p) || checkPath("objectAlias", p) != nil {
				t.Fatalf("match %q gives the path %q the driver refuses", e.Name, p)
			}
			if o.Alias != "" && !strings.HasPrefix(p, o.Alias+"/") {
				t.Fatalf("match %q outside the selector's directory: %q", e.Name, p)
			}
			if len(p) > len(o.Alias)+1+len(e.Name) {
				t.Fatalf("path %q longer than its name and directory", p)
			}
		}
		if err := CheckExpanded(expanded, nil); err != nil && !strings.Contains(err.Error(), "duplicate output path") {
			t.Fatalf("CheckExpanded: %v", err)
		}
		for _, n := range valid {
			want := len(n) >= len(o.Selector.NamePrefix) && strings.EqualFold(n[:len(o.Selector.NamePrefix)], o.Selector.NamePrefix)
			tags := map[string]string{}
			for k, v := range o.Selector.Tags {
				tags[k] = v
			}
			if got := o.Selector.Matches(n, tags, ""); got != want {
				t.Fatalf("Matches(%q) = %v, want %v", n, got, want)
			}
			if len(o.Selector.Tags) > 0 && o.Selector.Matches(n, nil, "") {
				t.Fatalf("Matches(%q) without tags = true", n)
			}
		}
	})
}
