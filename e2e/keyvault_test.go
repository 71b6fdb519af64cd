package e2e

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keyward/keyward/internal/testenv"
)

// kvFixture is a keyward with a resource group, ready for vaults.
type kvFixture struct {
	env    *testenv.Env
	admin  azcore.TokenCredential
	vaults *armkeyvault.VaultsClient
	rg     string
}

func newKVFixture(t testing.TB, env *testenv.Env) *kvFixture {
	t.Helper()
	ctx := ctxT(t)
	admin := env.Bootstrap(t)
	rgc, _ := armresources.NewResourceGroupsClient(env.Conn.SubscriptionID, admin, env.ARMOptions())
	if _, err := rgc.CreateOrUpdate(ctx, "kv-rg", armresources.ResourceGroup{Location: to.Ptr("westeurope")}, nil); err != nil {
		t.Fatal(err)
	}
	vc, err := armkeyvault.NewVaultsClient(env.Conn.SubscriptionID, admin, env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	return &kvFixture{env: env, admin: admin, vaults: vc, rg: "kv-rg"}
}

// createVault creates a vault the way `az keyvault create --enable-soft-delete
// true --enable-purge-protection true` does, with an access policy for the
// bootstrap principal.
func (f *kvFixture) createVault(t testing.TB, name string, purgeProtection bool) armkeyvault.Vault {
	t.Helper()
	ctx := ctxT(t)
	props := &armkeyvault.VaultProperties{
		TenantID: to.Ptr(f.env.Conn.TenantID), SKU: &armkeyvault.SKU{Family: to.Ptr(armkeyvault.SKUFamilyA), Name: to.Ptr(armkeyvault.SKUNameStandard)},
		EnableSoftDelete: to.Ptr(true), SoftDeleteRetentionInDays: to.Ptr[int32](7),
		AccessPolicies: []*armkeyvault.AccessPolicyEntry{{
			TenantID: to.Ptr(f.env.Conn.TenantID), ObjectID: to.Ptr(f.env.Conn.ObjectID),
			Permissions: &armkeyvault.Permissions{Keys: []*armkeyvault.KeyPermissions{to.Ptr(armkeyvault.KeyPermissionsAll)}},
		}},
	}
	if purgeProtection {
		props.EnablePurgeProtection = to.Ptr(true)
	}
	p, err := f.vaults.BeginCreateOrUpdate(ctx, f.rg, name, armkeyvault.VaultCreateOrUpdateParameters{Location: to.Ptr("westeurope"), Properties: props}, nil)
	if err != nil {
		t.Fatalf("create vault %s: %v", name, err)
	}
	res, err := p.PollUntilDone(ctx, fastPoll)
	if err != nil {
		t.Fatalf("create vault %s: %v", name, err)
	}
	return res.Vault
}

// grantManagedIdentity creates a managed identity for an App Service-style
// site, gives it get, wrapKey and unwrapKey on vault and returns its
// IDENTITY_HEADER secret (for ManagedIdentityCredential).
func (kv *kvFixture) grantManagedIdentity(t *testing.T, vault, site string) string {
	t.Helper()
	ctx := ctxT(t)
	env := kv.env
	mi, err := env.App.Identity.CreateManagedIdentity(ctx, env.Conn.TenantID, "/subscriptions/"+env.Conn.SubscriptionID+"/resourceGroups/"+kv.rg+"/providers/Microsoft.Web/sites/"+site, site)
	mustNoErr(t, "managed identity", err)
	secret, err := env.App.Identity.CreateIdentityEndpointSecret(ctx, env.Conn.TenantID, mi.ResourceID, mi.ObjectID, nil)
	mustNoErr(t, "identity endpoint secret", err)
	_, err = kv.vaults.UpdateAccessPolicy(ctx, kv.rg, vault, armkeyvault.AccessPolicyUpdateKindAdd, armkeyvault.VaultAccessPolicyParameters{
		Properties: &armkeyvault.VaultAccessPolicyProperties{AccessPolicies: []*armkeyvault.AccessPolicyEntry{{
			TenantID: to.Ptr(env.Conn.TenantID), ObjectID: to.Ptr(mi.ObjectID),
			Permissions: &armkeyvault.Permissions{Keys: []*armkeyvault.KeyPermissions{to.Ptr(armkeyvault.KeyPermissionsGet),
				to.Ptr(armkeyvault.KeyPermissionsWrapKey), to.Ptr(armkeyvault.KeyPermissionsUnwrapKey)}},
		}}}}, nil)
	mustNoErr(t, "access policy for the managed identity", err)
	return secret
}

// keysClient returns an azkeys client for vault with default options except
// the transport (DNS and trust of the local CA).
func (f *kvFixture) keysClient(t testing.TB, vaultURI string, cred azcore.TokenCredential) *azkeys.Client {
	t.Helper()
	c, err := azkeys.NewClient(vaultURI, cred, &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: f.env.HTTP}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKeyVaultManagementAndDataPlane(t *testing.T) {
	env := testenv.Start(t, nil)
	f := newKVFixture(t, env)
	ctx := ctxT(t)
	v := f.createVault(t, "kv-e2e-1", false)
	uri := *v.Properties.VaultURI
	if !strings.HasPrefix(uri, "https://kv-e2e-1.vault.keyward.localhost:") || v.Properties.EnablePurgeProtection != nil {
		t.Fatalf("vault: %s %v", uri, v.Properties.EnablePurgeProtection)
	}
	// az keyvault update --enable-purge-protection true
	upd, err := f.vaults.Update(ctx, f.rg, "kv-e2e-1", armkeyvault.VaultPatchParameters{Properties: &armkeyvault.VaultPatchProperties{EnablePurgeProtection: to.Ptr(true)}}, nil)
	if err != nil || !*upd.Properties.EnablePurgeProtection {
		t.Fatalf("enable purge protection: %v", err)
	}
	// Once on, never off.
	_, err = f.vaults.Update(ctx, f.rg, "kv-e2e-1", armkeyvault.VaultPatchParameters{Properties: &armkeyvault.VaultPatchProperties{EnablePurgeProtection: to.Ptr(false)}}, nil)
	mustStatus(t, err, 400, "")

	// azkeys with default options: the challenge, then every basic operation.
	kc := f.keysClient(t, uri, f.admin)
	created, err := kc.CreateKey(ctx, "cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)}, nil)
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	if created.Key.KID.Name() != "cmk" || created.Key.KID.Version() == "" {
		t.Fatalf("kid: %s", *created.Key.KID)
	}
	wrapped, err := kc.WrapKey(ctx, "cmk", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: []byte("0123456789abcdef0123456789abcdef")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := kc.UnwrapKey(ctx, "cmk", created.Key.KID.Version(), azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: wrapped.Result}, nil)
	if err != nil || string(back.Result) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("unwrap: %v", err)
	}

	// A second principal: no access policy → 403; Set-AzKeyVaultAccessPolicy
	// -PermissionsToKeys get,wrapKey,unwrapKey,list → works.
	gtok, _ := getToken(t, f.admin, graphScope)
	clientID, secret, objectID := graphCreatePrincipal(t, env, gtok.Token, "kv-user")
	user := f.keysClient(t, uri, env.Credential(t, clientID, secret))
	_, err = user.GetKey(ctx, "cmk", "", nil)
	mustStatus(t, err, 403, "Forbidden")
	_, err = f.vaults.UpdateAccessPolicy(ctx, f.rg, "kv-e2e-1", armkeyvault.AccessPolicyUpdateKindAdd, armkeyvault.VaultAccessPolicyParameters{
		Properties: &armkeyvault.VaultAccessPolicyProperties{AccessPolicies: []*armkeyvault.AccessPolicyEntry{{
			TenantID: to.Ptr(env.Conn.TenantID), ObjectID: to.Ptr(objectID),
			Permissions: &armkeyvault.Permissions{Keys: []*armkeyvault.KeyPermissions{to.Ptr(armkeyvault.KeyPermissionsGet), to.Ptr(armkeyvault.KeyPermissionsWrapKey), to.Ptr(armkeyvault.KeyPermissionsUnwrapKey), to.Ptr(armkeyvault.KeyPermissionsList)}},
		}}},
	}, nil)
	if err != nil {
		t.Fatalf("add access policy: %v", err)
	}
	if _, err := user.GetKey(ctx, "cmk", "", nil); err != nil {
		t.Fatalf("get with policy: %v", err)
	}
	if _, err := user.UnwrapKey(ctx, "cmk", created.Key.KID.Version(), azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: wrapped.Result}, nil); err != nil {
		t.Fatalf("unwrap with policy: %v", err)
	}
	_, err = user.Sign(ctx, "cmk", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: make([]byte, 32)}, nil)
	mustStatus(t, err, 403, "Forbidden")

	// Soft delete, purge refused under purge protection, recover.
	if _, err := f.vaults.Delete(ctx, f.rg, "kv-e2e-1", nil); err != nil {
		t.Fatal(err)
	}
	dv, err := f.vaults.GetDeleted(ctx, "kv-e2e-1", "westeurope", nil)
	if err != nil || !*dv.Properties.PurgeProtectionEnabled {
		t.Fatalf("deleted vault: %v", err)
	}
	// The name stays taken.
	_, err = f.vaults.BeginCreateOrUpdate(ctx, f.rg, "kv-e2e-1", armkeyvault.VaultCreateOrUpdateParameters{Location: to.Ptr("westeurope"), Properties: &armkeyvault.VaultProperties{
		TenantID: to.Ptr(env.Conn.TenantID), SKU: &armkeyvault.SKU{Family: to.Ptr(armkeyvault.SKUFamilyA), Name: to.Ptr(armkeyvault.SKUNameStandard)}}}, nil)
	mustStatus(t, err, 409, "")
	pp, err := f.vaults.BeginPurgeDeleted(ctx, "kv-e2e-1", "westeurope", nil)
	if err == nil {
		_, err = pp.PollUntilDone(ctx, fastPoll)
	}
	if err == nil {
		t.Fatal("purge under purge protection succeeded")
	}
	rp, err := f.vaults.BeginCreateOrUpdate(ctx, f.rg, "kv-e2e-1", armkeyvault.VaultCreateOrUpdateParameters{Location: to.Ptr("westeurope"), Properties: &armkeyvault.VaultProperties{
		TenantID: to.Ptr(env.Conn.TenantID), SKU: &armkeyvault.SKU{Family: to.Ptr(armkeyvault.SKUFamilyA), Name: to.Ptr(armkeyvault.SKUNameStandard)},
		CreateMode: to.Ptr(armkeyvault.CreateModeRecover)}}, nil)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	if _, err := rp.PollUntilDone(ctx, fastPoll); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.GetKey(ctx, "cmk", "", nil); err != nil {
		t.Fatalf("key after vault recovery: %v", err)
	}
	// Listed through the generic resources API.
	pager := f.vaults.NewListPager(nil)
	page, err := pager.NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("list vaults: %v %d", err, len(page.Value))
	}
	// A vault without purge protection can be purged after deletion.
	f.createVault(t, "kv-e2e-2", false)
	if _, err := f.vaults.Delete(ctx, f.rg, "kv-e2e-2", nil); err != nil {
		t.Fatal(err)
	}
	pp, err = f.vaults.BeginPurgeDeleted(ctx, "kv-e2e-2", "westeurope", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pp.PollUntilDone(ctx, fastPoll); err != nil {
		t.Fatalf("purge: %v", err)
	}
	_, err = f.vaults.GetDeleted(ctx, "kv-e2e-2", "westeurope", nil)
	mustStatus(t, err, 404, "")
}
