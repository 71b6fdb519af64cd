package arm

import "testing"

func TestResourceFilter(t *testing.T) {
	kv := IndexEntry{ID: "/subscriptions/s/resourceGroups/RG-One/providers/Microsoft.KeyVault/vaults/kv1", Name: "kv1",
		Type: "Microsoft.KeyVault/vaults", Location: "westeurope", Tags: map[string]string{"env": "Prod"}}
	for _, tc := range []struct {
		filter string
		match  bool
	}{
		{"resourceType eq 'microsoft.keyvault/vaults'", true},
		{"resourceGroup eq 'rg-one'", true},
		{"resourceGroup eq 'rg-two'", false},
		{"resourceGroup eq 'rg-one' and resourceType eq 'Microsoft.ServiceBus/namespaces'", false},
		{"resourceGroup eq 'RG-One' AND name eq 'KV1' and location eq 'westeurope'", true},
		{"tagName eq 'ENV'", true},
		{"tagName eq 'env' and tagValue eq 'Prod'", true},
		{"tagName eq 'env' and tagValue eq 'prod'", false},
		{"name eq 'it''s'", false},
	} {
		f, err := resourceFilter(tc.filter)
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		if got := f(kv); got != tc.match {
			t.Errorf("%s: match %v, want %v", tc.filter, got, tc.match)
		}
	}
	for _, bad := range []string{"resourceType ne 'x'", "substringof('kv', name)", "tagValue eq 'x'", "resourceGroup eq 'a' or name eq 'b'"} {
		if _, err := resourceFilter(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		} else if e, ok := err.(*Error); !ok || e.Code != "InvalidFilterInQueryString" {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
