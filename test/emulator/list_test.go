package emulator

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestListSecretsAndDelete: the list of all secrets through the real SDK, over several
// pages, carries tags, content type, managed and the validity attributes; a deleted
// secret answers 404 and leaves the list.
func TestListSecretsAndDelete(t *testing.T) {
	t.Parallel()
	e := newEmulator(t, Options{PageSize: 2})
	e.AddTenant(tenantA)
	e.SetClientSecret(tenantA, appSecret, secretVal)
	v := e.Vault("kv-list")
	v.Grant(appSecret, SecretGet, SecretList)
	exp := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	off := false
	v.SetSecret("shop-db", "a", SecretOptions{Tags: map[string]string{"app": "shop"}, ContentType: "text/plain", Expires: exp})
	v.SetSecret("shop-api", "b", SecretOptions{Tags: map[string]string{"app": "shop"}, Enabled: &off})
	v.SetSecret("other", "c", SecretOptions{})
	v.SetSecret("other", "c2", SecretOptions{})
	v.SetSecret("last", "d", SecretOptions{NotBefore: exp})
	c := secretsClient(t, e, v.URL(), secretCred(t, e, tenantA, appSecret, secretVal))

	list := func() map[string]bool {
		t.Helper()
		seen := map[string]bool{}
		pages := 0
		pager := c.NewListSecretPropertiesPager(nil)
		for pager.More() {
			page, err := pager.NextPage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page.Value) > 2 {
				t.Fatalf("page of %d items, page size 2", len(page.Value))
			}
			for _, it := range page.Value {
				name := it.ID.Name()
				if it.ID.Version() != "" {
					t.Errorf("%s listed with a version %q", name, it.ID.Version())
				}
				seen[name] = true
				switch name {
				case "shop-db":
					if *it.Tags["app"] != "shop" || *it.ContentType != "text/plain" || !it.Attributes.Expires.Equal(exp) || !*it.Attributes.Enabled {
						t.Errorf("shop-db listed as %+v %+v", it, it.Attributes)
					}
				case "shop-api":
					if *it.Attributes.Enabled {
						t.Error("shop-api listed enabled")
					}
				case "last":
					if it.Attributes.NotBefore == nil || !it.Attributes.NotBefore.Equal(exp) {
						t.Errorf("last listed without nbf: %+v", it.Attributes)
					}
				}
			}
		}
		if want := (len(seen) + 1) / 2; pages != want {
			t.Errorf("%d pages for %d secrets, want %d", pages, len(seen), want)
		}
		return seen
	}
	if got := list(); len(got) != 4 {
		t.Fatalf("listed %v", got)
	}
	// An expired secret is still served.
	v.SetSecret("old", "e", SecretOptions{Expires: time.Now().Add(-time.Hour)})
	if s, err := c.GetSecret(context.Background(), "old", "", nil); err != nil || *s.Value != "e" || s.Attributes.Expires == nil {
		t.Fatalf("expired secret: %v", err)
	}

	if !v.Delete(ObjectSecret, "other") || v.Delete(ObjectSecret, "other") {
		t.Fatal("Delete did not report the object once")
	}
	_, err := c.GetSecret(context.Background(), "other", "", nil)
	respErr(t, err, http.StatusNotFound, "SecretNotFound")
	if got := list(); got["other"] || len(got) != 4 {
		t.Fatalf("after delete, listed %v", got)
	}
}
