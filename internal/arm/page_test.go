package arm

import (
	"net/url"
	"strings"
	"testing"
)

func TestPageNextLink(t *testing.T) {
	items := make([]any, 250)
	for i := range items {
		items[i] = i
	}
	tgt, err := ParseTarget("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.KeyVault/vaults")
	if err != nil {
		t.Fatal(err)
	}
	req := &Request{Target: tgt, Query: url.Values{"api-version": {"2024-11-01"}}, BaseURL: "https://management.example:8443"}
	var got []any
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		lb := page(req, items)
		got = append(got, lb.Value...)
		if lb.NextLink == "" {
			break
		}
		u, err := url.Parse(lb.NextLink)
		if err != nil || !strings.HasPrefix(lb.NextLink, "https://management.example:8443/subscriptions/s1/resourceGroups/rg/providers/Microsoft.KeyVault/vaults?") || u.Query().Get("api-version") != "2024-11-01" {
			t.Fatalf("nextLink %q", lb.NextLink)
		}
		req.Query = u.Query()
	}
	if len(got) != 250 || got[0] != 0 || got[249] != 249 {
		t.Fatalf("paged %d items", len(got))
	}
}

func TestParseTarget(t *testing.T) {
	cases := []struct {
		path, id, typ string
		coll          bool
	}{
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/ns1/queues/q1", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/ns1/queues/q1", "Microsoft.ServiceBus/namespaces/queues", false},
		{"/subscriptions/s/resourcegroups/rg/providers/Microsoft.KeyVault/vaults", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults", "Microsoft.KeyVault/vaults", true},
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/providers/Microsoft.Authorization/roleAssignments/ra1", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/providers/Microsoft.Authorization/roleAssignments/ra1", "Microsoft.Authorization/roleAssignments", false},
	}
	for _, c := range cases {
		tg, err := ParseTarget(c.path)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if tg.ResourceID() != c.id || tg.ResourceType() != c.typ || tg.IsCollection() != c.coll {
			t.Errorf("%s: id %s type %s coll %v", c.path, tg.ResourceID(), tg.ResourceType(), tg.IsCollection())
		}
	}
	if _, err := ParseTarget("/foo/bar"); err == nil {
		t.Error("a non-ARM path parsed")
	}
}

func FuzzParseTarget(f *testing.F) {
	f.Add("/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/providers/Microsoft.Authorization/roleAssignments/x")
	f.Fuzz(func(t *testing.T, p string) {
		tg, err := ParseTarget(p)
		if err != nil || tg.Kind != KindProviderResource {
			return
		}
		_ = tg.ResourceID()
		_ = tg.ParentID()
		_ = tg.AsAction()
	})
}
