package vault

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestValidVaultName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"kv1", true}, {"a-b-c", true}, {"Contoso-SB-BYOK-kv", true}, {"abcdefghijklmnopqrstuvwx", true},
		{"ab", false}, {"abcdefghijklmnopqrstuvwxy", false}, {"1kv", false}, {"kv-", false},
		{"k--v", false}, {"k_v", false}, {"kv.x", false}, {"", false}, {"kvé", false},
	} {
		if got := ValidVaultName(tc.name); got != tc.ok {
			t.Errorf("ValidVaultName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestCreateVaultDefaultsAndURI(t *testing.T) {
	e := newEnv(t)
	v := e.vault(t, "Contoso-KV", nil)
	if v.VaultURI != "https://contoso-kv.vault.test.local:8443/" {
		t.Errorf("VaultURI = %q", v.VaultURI)
	}
	if v.ID != "/subscriptions/"+testSub+"/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/Contoso-KV" {
		t.Errorf("ID = %q", v.ID)
	}
	if !v.EnableSoftDelete || v.SoftDeleteRetentionInDays != 90 || v.EnablePurgeProtection || v.EnableRbacAuthorization {
		t.Errorf("defaults: %+v", v)
	}
	if v.SKU != (SKU{Family: "A", Name: "standard"}) || v.Location != "westeurope" || v.CreatedAt != t0 {
		t.Errorf("got %+v", v)
	}
	got, err := e.s.GetVault(context.Background(), owner, VaultRef{Name: "contoso-kv"})
	if err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("GetVault = %+v, %v; want %+v", got, err, v)
	}
	_, err = e.s.GetVault(context.Background(), owner, VaultRef{SubscriptionID: testSub, ResourceGroup: "other", Name: "contoso-kv"})
	wantErr(t, err, 404, "ResourceNotFound", "", "")
}

func TestCreateOrUpdateVaultValidation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.vault(t, "existing", func(s *VaultSpec) { s.EnablePurgeProtection = ptr(true); s.SoftDeleteRetentionInDays = ptr(30) })
	base := func() VaultSpec {
		return VaultSpec{SubscriptionID: testSub, ResourceGroup: "rg", Name: "newvault", Location: "westeurope",
			TenantID: ptr(testTenant), SKU: &SKU{Family: "A", Name: "premium"}}
	}
	for _, tc := range []struct {
		name       string
		mod        func(*VaultSpec)
		code, part string
	}{
		{"bad name", func(s *VaultSpec) { s.Name = "x" }, "VaultNameNotValid", "3-24"},
		{"no location", func(s *VaultSpec) { s.Location = "" }, "BadParameter", "location"},
		{"no tenant", func(s *VaultSpec) { s.TenantID = nil }, "BadParameter", "tenantId"},
		{"bad tenant", func(s *VaultSpec) { s.TenantID = ptr("nope") }, "BadParameter", "GUID"},
		{"no sku", func(s *VaultSpec) { s.SKU = nil }, "BadParameter", "sku"},
		{"bad sku family", func(s *VaultSpec) { s.SKU = &SKU{Family: "B", Name: "standard"} }, "BadParameter", "family"},
		{"bad sku name", func(s *VaultSpec) { s.SKU = &SKU{Family: "A", Name: "gold"} }, "BadParameter", "sku name"},
		{"soft delete off", func(s *VaultSpec) { s.EnableSoftDelete = ptr(false) }, "BadParameter", "enableSoftDelete"},
		{"retention 6", func(s *VaultSpec) { s.SoftDeleteRetentionInDays = ptr(6) }, "BadParameter", "between 7 and 90"},
		{"retention 91", func(s *VaultSpec) { s.SoftDeleteRetentionInDays = ptr(91) }, "BadParameter", "between 7 and 90"},
		{"purge protection false", func(s *VaultSpec) { s.EnablePurgeProtection = ptr(false) }, "BadRequest", "irreversible"},
		{"bad policy tenant", func(s *VaultSpec) {
			s.AccessPolicies = []AccessPolicy{{TenantID: "x", ObjectID: "o", Permissions: allKeys()}}
		}, "BadParameter", "GUID"},
		{"bad permission", func(s *VaultSpec) {
			s.AccessPolicies = []AccessPolicy{{TenantID: testTenant, ObjectID: "o", Permissions: Permissions{Keys: []string{"fly"}}}}
		}, "BadParameter", "'fly'"},
		{"name taken elsewhere", func(s *VaultSpec) { s.Name = "existing"; s.ResourceGroup = "rg2" }, "VaultAlreadyExists", "already in use"},
		{"retention change", func(s *VaultSpec) { s.Name = "existing"; s.SoftDeleteRetentionInDays = ptr(90) }, "BadParameter", "can't be modified"},
		{"purge protection off", func(s *VaultSpec) { s.Name = "existing"; s.EnablePurgeProtection = ptr(false) }, "BadRequest", "irreversible"},
		{"location change", func(s *VaultSpec) { s.Name = "existing"; s.Location = "eastus" }, "LocationNotAvailableForResourceType", "cannot be changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := base()
			tc.mod(&spec)
			_, _, err := e.s.CreateOrUpdateVault(ctx, owner, spec)
			if err == nil {
				t.Fatal("no error")
			}
			ve, _ := AsError(err)
			if ve == nil || ve.Code != tc.code {
				t.Fatalf("got %v, want code %s", err, tc.code)
			}
			wantErr(t, err, ve.Status, tc.code, "", tc.part)
		})
	}
	// Nothing was created by the failures.
	vs, _ := e.s.ListVaults(ctx, owner, "", "")
	if len(vs) != 1 {
		t.Fatalf("ListVaults = %d vaults, want 1", len(vs))
	}
	// A valid update: purge protection stays, tags and RBAC change.
	v, created, err := e.s.CreateOrUpdateVault(ctx, owner, VaultSpec{SubscriptionID: testSub, ResourceGroup: "rg", Name: "EXISTING",
		EnableRbacAuthorization: ptr(true), Tags: map[string]string{"a": "b"}})
	if err != nil || created {
		t.Fatalf("update: %v created=%v", err, created)
	}
	if !v.EnablePurgeProtection || !v.EnableRbacAuthorization || v.SoftDeleteRetentionInDays != 30 || v.Tags["a"] != "b" || len(v.AccessPolicies) != 1 {
		t.Fatalf("after update: %+v", v)
	}
}

func TestVaultSoftDeleteRecoverPurge(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ev := e.subscribe(t)
	e.vault(t, "kv1", func(s *VaultSpec) { s.EnablePurgeProtection = ptr(true); s.SoftDeleteRetentionInDays = ptr(7) })
	e.rsaKey(t, "kv1", "k1", nil)
	ref := VaultRef{SubscriptionID: testSub, ResourceGroup: "rg", Name: "kv1"}
	if err := e.s.DeleteVault(ctx, owner, ref); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, EventVaultDeleted)
	_, err := e.s.GetVault(ctx, owner, ref)
	wantErr(t, err, 404, "ResourceNotFound", "", "")
	_, err = e.s.GetKey(ctx, owner, "kv1", "k1", "")
	wantErr(t, err, 404, "VaultNotFound", "", "deleted")
	dvs, err := e.s.DeletedVaults(ctx, owner, testSub)
	if err != nil || len(dvs) != 1 {
		t.Fatalf("DeletedVaults = %v, %v", dvs, err)
	}
	dv := dvs[0]
	if dv.ID != "/subscriptions/"+testSub+"/providers/Microsoft.KeyVault/locations/westeurope/deletedVaults/kv1" ||
		!dv.ScheduledPurgeDate.Equal(t0.AddDate(0, 0, 7)) || !dv.PurgeProtectionEnabled {
		t.Fatalf("deleted vault %+v", dv)
	}
	// The name stays taken.
	_, _, err = e.s.CreateOrUpdateVault(ctx, owner, VaultSpec{SubscriptionID: testSub, ResourceGroup: "rg2", Name: "kv1", Location: "westeurope", TenantID: ptr(testTenant), SKU: &SKU{"A", "standard"}})
	wantErr(t, err, 409, "ConflictError", "", "deleted state")
	// Purge protection refuses purge before the scheduled date.
	err = e.s.PurgeDeletedVault(ctx, owner, testSub, "westeurope", "kv1")
	wantErr(t, err, 405, "MethodNotAllowed", "", "DeletedVaultPurge")
	// Recover brings the keys back.
	if _, err := e.s.RecoverVault(ctx, owner, ref); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, EventVaultRecovered)
	if _, err := e.s.GetKey(ctx, owner, "kv1", "k1", ""); err != nil {
		t.Fatal(err)
	}
	// Delete again; the scheduler purges after retention.
	if err := e.s.DeleteVault(ctx, owner, ref); err != nil {
		t.Fatal(err)
	}
	e.s.Start(ctx)
	e.clk.Advance(7*24*time.Hour + time.Second)
	ev.wait(t, EventVaultPurged)
	if dvs, _ := e.s.DeletedVaults(ctx, owner, ""); len(dvs) != 0 {
		t.Fatalf("still deleted vaults: %v", dvs)
	}
	// The name is free again, with no keys left.
	e.vault(t, "kv1", nil)
	l, err := e.s.ListKeys(ctx, owner, "kv1", Page{})
	if err != nil || len(l.Items) != 0 {
		t.Fatalf("keys after purge: %v %v", l, err)
	}
}

func TestPurgeVaultWithoutProtection(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.vault(t, "kv2", nil)
	e.rsaKey(t, "kv2", "k", func(p *CreateKeyParams) {})
	ref := VaultRef{Name: "kv2"}
	if err := e.s.DeleteVault(ctx, owner, ref); err != nil {
		t.Fatal(err)
	}
	if err := e.s.PurgeDeletedVault(ctx, owner, testSub, "West Europe", "kv2"); err != nil {
		t.Fatal(err)
	}
	err := e.s.PurgeDeletedVault(ctx, owner, testSub, "westeurope", "kv2")
	wantErr(t, err, 404, "ResourceNotFound", "", "")
	e.reopen(t)
	if _, err := e.s.GetVault(ctx, owner, ref); err == nil {
		t.Fatal("purged vault came back after reload")
	}
}

func TestAccessPolicyUpdate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ev := e.subscribe(t)
	e.vault(t, "kvt", nil)
	ref := VaultRef{Name: "kvt"}
	p := func(oid string, keys ...string) AccessPolicy {
		return AccessPolicy{TenantID: testTenant, ObjectID: oid, Permissions: Permissions{Keys: keys}}
	}
	steps := []struct {
		kind AccessPolicyUpdateKind
		in   []AccessPolicy
		want map[string][]string
	}{
		{AccessPolicyAdd, []AccessPolicy{p("sb", "Get", "WRAPKEY", "unwrapkey", "list")}, map[string][]string{"owner": {"all"}, "sb": {"get", "wrapKey", "unwrapKey", "list"}}},
		{AccessPolicyAdd, []AccessPolicy{p("sb", "get", "sign")}, map[string][]string{"owner": {"all"}, "sb": {"get", "wrapKey", "unwrapKey", "list", "sign"}}},
		{AccessPolicyReplace, []AccessPolicy{p("sb", "get")}, map[string][]string{"owner": {"all"}, "sb": {"get"}}},
		{AccessPolicyRemove, []AccessPolicy{p("sb", "get")}, map[string][]string{"owner": {"all"}}},
		{AccessPolicyReplace, []AccessPolicy{p("x", "encrypt")}, map[string][]string{"owner": {"all"}, "x": {"encrypt"}}},
		{AccessPolicyRemove, []AccessPolicy{p("x")}, map[string][]string{"owner": {"all"}}},
	}
	for i, st := range steps {
		got, err := e.s.AccessPolicyUpdate(ctx, owner, ref, st.kind, st.in)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		m := map[string][]string{}
		for _, ap := range got {
			m[ap.ObjectID] = ap.Permissions.Keys
		}
		if !reflect.DeepEqual(m, st.want) {
			t.Fatalf("step %d (%s): got %v, want %v", i, st.kind, m, st.want)
		}
		ev.wait(t, EventVaultAccessPolicy)
	}
	_, err := e.s.AccessPolicyUpdate(ctx, owner, ref, "merge", nil)
	if err == nil {
		// An empty change list with a bad kind does nothing; with one entry it fails.
		_, err = e.s.AccessPolicyUpdate(ctx, owner, ref, "merge", []AccessPolicy{p("y", "get")})
	}
	wantErr(t, err, 400, "BadParameter", "", "update kind")
}
