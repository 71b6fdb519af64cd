package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/logic/armlogic"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/servicebus/armservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/internal/vault"
)

// seedISEBody is the ISE definition of the ISE seed document ("Create ISE
// with key and managed identity support"), verbatim: its placeholders are
// filled in by seedISE.
const seedISEBody = `{
   <other-ISE-definition-properties>,
   "properties": {
      "networkConfiguration": {
         "accessEndpoint": {
            "type": "External"
         },
         "subnets": [
            {
               "id": "/subscriptions/<Azure-subscription-ID>/resourceGroups/<Azure-resource-group>/providers/Microsoft.Network/virtualNetworks/<virtual-network-name>/subnets/<subnet-1>",
               "type": "Microsoft.Network/virtualNetworks/subnets"
            },
            {
               "id": "/subscriptions/<Azure-subscription-ID>/resourceGroups/<Azure-resource-group>/providers/Microsoft.Network/virtualNetworks/<virtual-network-name>/subnets/<subnet-2>",
               "type": "Microsoft.Network/virtualNetworks/subnets"
            },
            {
               "id": "/subscriptions/<Azure-subscription-ID>/resourceGroups/<Azure-resource-group>/providers/Microsoft.Network/virtualNetworks/<virtual-network-name>/subnets/<subnet-3>",
               "type": "Microsoft.Network/virtualNetworks/subnets"
            },
            {
               "id": "/subscriptions/<Azure-subscription-ID>/resourceGroups/<Azure-resource-group>/providers/Microsoft.Network/virtualNetworks/<virtual-network-name>/subnets/<subnet-4>",
               "type": "Microsoft.Network/virtualNetworks/subnets"
            }
         ]
      },
      "encryptionConfiguration": {
         "encryptionKeyReference": {
            "keyVault": {
               "name": "<key-vault-name>",
               "id": "subscriptions/<Azure-subscription-ID>/resourceGroups/<Azure-resource-group>/providers/Microsoft.KeyVault/vaults/<key-vault-name>",
               "type": "Microsoft.KeyVault/vaults"
            },
            "keyName": "<customer-managed-key-name>",
            "keyVersion": "<key-version-number>"
         }
      }
   },
   "id": "/subscriptions/<Azure-subscription-ID>/resourceGroups/<Azure-resource-group>/providers/Microsoft.Logic/integrationServiceEnvironments/<ISE-name>",
   "name": "<ISE-name>",
   "type": "Microsoft.Logic/integrationServiceEnvironments",
   "location": "<Azure-region>",
   "identity": {
      "type": "SystemAssigned"
   }
}`

// iseFixture is a keyward with a vault and an RSA key for ISEs.
type iseFixture struct {
	*kvFixture
	ises    *armlogic.IntegrationServiceEnvironmentsClient
	keys    *azkeys.Client
	vault   armkeyvault.Vault
	key     string
	version string
}

func newISEFixture(t *testing.T, env *testenv.Env, vaultName string) *iseFixture {
	t.Helper()
	f := newKVFixture(t, env)
	v := f.createVault(t, vaultName, true)
	kc := f.keysClient(t, *v.Properties.VaultURI, f.admin)
	k, err := kc.CreateKey(ctxT(t), "ise-cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ic, err := armlogic.NewIntegrationServiceEnvironmentsClient(env.Conn.SubscriptionID, f.admin, env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	return &iseFixture{kvFixture: f, ises: ic, keys: kc, vault: v, key: "ise-cmk", version: k.Key.KID.Version()}
}

// seedISE fills in the seed document's placeholders.
func (f *iseFixture) seedISE(name, vaultName, keyVersion string) string {
	r := strings.NewReplacer(
		"<other-ISE-definition-properties>", `"sku": {"name": "Developer", "capacity": 0}`,
		"<Azure-subscription-ID>", f.env.Conn.SubscriptionID, "<Azure-resource-group>", f.rg,
		"<virtual-network-name>", "ise-vnet", "<subnet-1>", "s1", "<subnet-2>", "s2", "<subnet-3>", "s3", "<subnet-4>", "s4",
		"<key-vault-name>", vaultName, "<customer-managed-key-name>", f.key, "<key-version-number>", keyVersion,
		"<ISE-name>", name, "<Azure-region>", "WestUS")
	return r.Replace(seedISEBody)
}

// iseModel is an armlogic ISE with a customer key.
func (f *iseFixture) iseModel(endpoint armlogic.IntegrationServiceEnvironmentAccessEndpointType, identity bool, vaultName string) armlogic.IntegrationServiceEnvironment {
	sub := f.env.Conn.SubscriptionID
	var subnets []*armlogic.ResourceReference
	for _, s := range []string{"a", "b", "c", "d"} {
		subnets = append(subnets, &armlogic.ResourceReference{ID: to.Ptr("/subscriptions/" + sub + "/resourceGroups/" + f.rg + "/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/" + s)})
	}
	x := armlogic.IntegrationServiceEnvironment{
		Location: to.Ptr("westeurope"),
		SKU:      &armlogic.IntegrationServiceEnvironmentSKU{Name: to.Ptr(armlogic.IntegrationServiceEnvironmentSKUNamePremium), Capacity: to.Ptr[int32](0)},
		Properties: &armlogic.IntegrationServiceEnvironmentProperties{
			NetworkConfiguration: &armlogic.NetworkConfiguration{AccessEndpoint: &armlogic.IntegrationServiceEnvironmentAccessEndpoint{Type: to.Ptr(endpoint)}, Subnets: subnets},
			EncryptionConfiguration: &armlogic.IntegrationServiceEnvironmenEncryptionConfiguration{EncryptionKeyReference: &armlogic.IntegrationServiceEnvironmenEncryptionKeyReference{
				KeyVault: &armlogic.ResourceReference{ID: to.Ptr("/subscriptions/" + sub + "/resourceGroups/" + f.rg + "/providers/Microsoft.KeyVault/vaults/" + vaultName)},
				KeyName:  to.Ptr(f.key), KeyVersion: to.Ptr(f.version),
			}},
		},
	}
	if identity {
		x.Identity = &armlogic.ManagedServiceIdentity{Type: to.Ptr(armlogic.ManagedServiceIdentityTypeSystemAssigned)}
	}
	return x
}

// principalOf reads the ISE's identity as soon as the PUT is accepted.
func (f *iseFixture) principalOf(t *testing.T, name string) string {
	t.Helper()
	got, err := f.ises.Get(ctxT(t), f.rg, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Identity == nil || got.Identity.PrincipalID == nil || *got.Identity.PrincipalID == "" {
		t.Fatalf("ISE %s has no principal id", name)
	}
	if *got.Properties.ProvisioningState != armlogic.WorkflowProvisioningStateInProgress {
		t.Fatalf("ISE %s provisioningState %s, want InProgress while it waits for access", name, *got.Properties.ProvisioningState)
	}
	return *got.Identity.PrincipalID
}

func (f *iseFixture) assignRole(t *testing.T, scope, role, principal string) {
	t.Helper()
	ctx := ctxT(t)
	sub := f.env.Conn.SubscriptionID
	rd, _ := armauthorization.NewRoleDefinitionsClient(f.admin, f.env.ARMOptions())
	page, err := rd.NewListPager("/subscriptions/"+sub, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr("roleName eq '" + role + "'")}).NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("role %s: %v", role, err)
	}
	ra, _ := armauthorization.NewRoleAssignmentsClient(sub, f.admin, f.env.ARMOptions())
	if _, err := ra.Create(ctx, scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: page.Value[0].ID, PrincipalID: to.Ptr(principal), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
	}}, nil); err != nil {
		t.Fatalf("assign %s to %s at %s: %v", role, principal, scope, err)
	}
}

func (f *iseFixture) grantPolicy(t *testing.T, vaultName, principal string, kind armkeyvault.AccessPolicyUpdateKind) {
	t.Helper()
	_, err := f.vaults.UpdateAccessPolicy(ctxT(t), f.rg, vaultName, kind, armkeyvault.VaultAccessPolicyParameters{
		Properties: &armkeyvault.VaultAccessPolicyProperties{AccessPolicies: []*armkeyvault.AccessPolicyEntry{{
			TenantID: to.Ptr(f.env.Conn.TenantID), ObjectID: to.Ptr(principal),
			Permissions: &armkeyvault.Permissions{Keys: []*armkeyvault.KeyPermissions{to.Ptr(armkeyvault.KeyPermissionsGet), to.Ptr(armkeyvault.KeyPermissionsWrapKey), to.Ptr(armkeyvault.KeyPermissionsUnwrapKey)}},
		}}}}, nil)
	if err != nil {
		t.Fatalf("access policy %s: %v", kind, err)
	}
}

// armRaw sends a raw request to the management host as the bootstrap principal.
func armRaw(t *testing.T, env *testenv.Env, cred azcore.TokenCredential, method, url, body string) (*http.Response, []byte) {
	t.Helper()
	tok, err := getToken(t, cred, armScope)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctxT(t), method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := env.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestISECustomerKeyAccessWindow(t *testing.T) {
	env := testenv.Start(t, func(c *app.Config) { c.ISEKeyAccessTimeout = time.Minute; c.KeyPollInterval = time.Hour })
	f := newISEFixture(t, env, "ise-kv")
	ctx := ctxT(t)
	sub := env.Conn.SubscriptionID

	// 1. The seed document's HTTPS PUT (api-version 2018-07-01-preview), then an access policy.
	u := env.Conn.ResourceManagerEndpoint + "subscriptions/" + sub + "/resourceGroups/" + f.rg + "/providers/Microsoft.Logic/integrationServiceEnvironments/Fabrikam-ISE?api-version=2018-07-01-preview"
	resp, body := armRaw(t, env, f.admin, "PUT", u, f.seedISE("Fabrikam-ISE", "ise-kv", f.version))
	if resp.StatusCode != 201 || resp.Header.Get("Azure-AsyncOperation") == "" {
		t.Fatalf("seed PUT: %d %s", resp.StatusCode, body)
	}
	var created struct {
		Identity   struct{ PrincipalID, TenantID, Type string }
		Properties struct{ ProvisioningState string }
	}
	if err := json.Unmarshal(body, &created); err != nil || created.Identity.PrincipalID == "" || created.Properties.ProvisioningState != "InProgress" {
		t.Fatalf("seed PUT response: %v %s", err, body)
	}
	f.grantPolicy(t, "ise-kv", created.Identity.PrincipalID, armkeyvault.AccessPolicyUpdateKindAdd)
	opURL := resp.Header.Get("Azure-AsyncOperation")
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, b := armRaw(t, env, f.admin, "GET", opURL, "")
		var st struct{ Status string }
		_ = json.Unmarshal(b, &st)
		if st.Status == "Succeeded" {
			break
		}
		if r.StatusCode != 200 || st.Status == "Failed" || time.Now().After(deadline) {
			t.Fatalf("seed ISE operation: %d %s", r.StatusCode, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, err := f.ises.Get(ctx, f.rg, "Fabrikam-ISE", nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := got.Properties.EncryptionConfiguration.EncryptionKeyReference
	if *got.Properties.ProvisioningState != armlogic.WorkflowProvisioningStateSucceeded || *ref.KeyVersion != f.version || *ref.KeyName != f.key ||
		!strings.HasSuffix(*ref.KeyVault.ID, "/vaults/ise-kv") || *got.Properties.State != armlogic.WorkflowStateEnabled {
		t.Fatalf("seed ISE: %s %+v", *got.Properties.ProvisioningState, ref)
	}
	// The data key was wrapped by the ISE's identity (audit log).
	entries, err := env.App.Vault.Audit(ctx, vault.AuditQuery{Vault: "ise-kv", Key: f.key, Caller: created.Identity.PrincipalID})
	if err != nil || !hasOp(entries, "KeyWrap", 200) {
		t.Fatalf("no KeyWrap by the ISE's identity in the audit log: %v", err)
	}

	// 2. armlogic, a vault with RBAC and a Key Vault crypto role.
	rbac := f.createRBACVault(t, "ise-kv-rbac")
	f.assignRole(t, *rbac.ID, "Key Vault Crypto Officer", env.Conn.ObjectID)
	rkc := f.keysClient(t, *rbac.Properties.VaultURI, f.admin)
	var rk azkeys.CreateKeyResponse
	waitFor(t, 10*time.Second, func() error {
		var err error
		rk, err = rkc.CreateKey(ctx, f.key, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](3072)}, nil)
		return err
	})
	model := f.iseModel(armlogic.IntegrationServiceEnvironmentAccessEndpointTypeExternal, true, "ise-kv-rbac")
	model.Properties.EncryptionConfiguration.EncryptionKeyReference.KeyVersion = to.Ptr(rk.Key.KID.Version())
	poller, err := f.ises.BeginCreateOrUpdate(ctx, f.rg, "ise-rbac", model, nil)
	if err != nil {
		t.Fatal(err)
	}
	principal := f.principalOf(t, "ise-rbac")
	f.assignRole(t, *rbac.ID, "Key Vault Crypto Service Encryption User", principal)
	res, err := poller.PollUntilDone(ctx, fastPoll)
	if err != nil || *res.Properties.ProvisioningState != armlogic.WorkflowProvisioningStateSucceeded {
		t.Fatalf("ISE with a crypto role: %v", err)
	}

	// 3. Contributor on the vault: the ISE adds the access policy itself, as its identity, through the resource manager.
	cv := f.createVault(t, "ise-kv-contrib", true)
	ckc := f.keysClient(t, *cv.Properties.VaultURI, f.admin)
	ck, err := ckc.CreateKey(ctx, f.key, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	model = f.iseModel(armlogic.IntegrationServiceEnvironmentAccessEndpointTypeExternal, true, "ise-kv-contrib")
	model.Properties.EncryptionConfiguration.EncryptionKeyReference.KeyVersion = to.Ptr(ck.Key.KID.Version())
	poller, err = f.ises.BeginCreateOrUpdate(ctx, f.rg, "ise-contrib", model, nil)
	if err != nil {
		t.Fatal(err)
	}
	principal = f.principalOf(t, "ise-contrib")
	f.assignRole(t, *cv.ID, "Contributor", principal)
	if res, err = poller.PollUntilDone(ctx, fastPoll); err != nil || *res.Properties.ProvisioningState != armlogic.WorkflowProvisioningStateSucceeded {
		t.Fatalf("ISE with Contributor on the vault: %v", err)
	}
	entries, err = env.App.Vault.Audit(ctx, vault.AuditQuery{Vault: "ise-kv-contrib", Caller: principal})
	if err != nil || !hasOp(entries, "VaultAccessPolicyUpdate", 200) {
		t.Fatalf("the ISE's own access policy update is not in the vault's audit log: %v %+v", err, entries)
	}
	cvNow, err := f.vaults.Get(ctx, f.rg, "ise-kv-contrib", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range cvNow.Properties.AccessPolicies {
		if *p.ObjectID == principal {
			found = true
		}
	}
	if !found {
		t.Fatal("the vault has no access policy for the ISE's identity")
	}

	// 4. The rules, each refused with an Azure-style error.
	_, err = f.ises.BeginCreateOrUpdate(ctx, f.rg, "ise-internal", f.iseModel(armlogic.IntegrationServiceEnvironmentAccessEndpointTypeInternal, true, "ise-kv"), nil)
	mustStatus(t, err, 400, "CustomerManagedKeyRequiresExternalEndpoint")
	_, err = f.ises.BeginCreateOrUpdate(ctx, f.rg, "ise-noid", f.iseModel(armlogic.IntegrationServiceEnvironmentAccessEndpointTypeExternal, false, "ise-kv"), nil)
	mustStatus(t, err, 400, "CustomerManagedKeyRequiresSystemAssignedIdentity")
	f.createVault(t, "ise-kv-nopurge", false)
	_, err = f.ises.BeginCreateOrUpdate(ctx, f.rg, "ise-nopurge", f.iseModel(armlogic.IntegrationServiceEnvironmentAccessEndpointTypeExternal, true, "ise-kv-nopurge"), nil)
	mustStatus(t, err, 400, "KeyVaultSoftDeleteAndPurgeProtectionRequired")
	// Key change after creation (another version: no rotation), and removal.
	rot, err := f.keys.RotateKey(ctx, f.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	change := f.iseModel(armlogic.IntegrationServiceEnvironmentAccessEndpointTypeExternal, true, "ise-kv")
	change.Location = to.Ptr("WestUS")
	change.SKU.Name = to.Ptr(armlogic.IntegrationServiceEnvironmentSKUNameDeveloper)
	change.Properties.NetworkConfiguration = nil
	change.Properties.EncryptionConfiguration.EncryptionKeyReference.KeyVersion = to.Ptr(rot.Key.KID.Version())
	_, err = f.ises.BeginCreateOrUpdate(ctx, f.rg, "Fabrikam-ISE", change, nil)
	mustStatus(t, err, 400, "EncryptionKeyCannotBeChanged")
	_, err = f.ises.BeginUpdate(ctx, f.rg, "Fabrikam-ISE", change, nil)
	mustStatus(t, err, 400, "EncryptionKeyCannotBeChanged")
	change.Properties.EncryptionConfiguration = nil
	_, err = f.ises.BeginCreateOrUpdate(ctx, f.rg, "Fabrikam-ISE", change, nil)
	mustStatus(t, err, 400, "EncryptionKeyCannotBeRemoved")
	resp, body = armRaw(t, env, f.admin, "PATCH", u, `{"properties":{"encryptionConfiguration":null}}`)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "EncryptionKeyCannotBeRemoved") {
		t.Fatalf("PATCH removing the key: %d %s", resp.StatusCode, body)
	}
	// A key added to an ISE made without one.
	plain := f.iseModel(armlogic.IntegrationServiceEnvironmentAccessEndpointTypeInternal, false, "ise-kv")
	plain.Properties.EncryptionConfiguration = nil
	pp, err := f.ises.BeginCreateOrUpdate(ctx, f.rg, "ise-plain", plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pp.PollUntilDone(ctx, fastPoll); err != nil {
		t.Fatal(err)
	}
	withKey := f.iseModel(armlogic.IntegrationServiceEnvironmentAccessEndpointTypeExternal, true, "ise-kv")
	withKey.Properties.NetworkConfiguration = nil
	_, err = f.ises.BeginCreateOrUpdate(ctx, f.rg, "ise-plain", withKey, nil)
	mustStatus(t, err, 400, "EncryptionKeyCanOnlyBeSetAtCreation")
	// Tags can still change; the key stays pinned to its version after rotation.
	tagged := f.iseModel(armlogic.IntegrationServiceEnvironmentAccessEndpointTypeExternal, true, "ise-kv")
	tagged.Properties.NetworkConfiguration = nil
	tagged.Location = to.Ptr("WestUS")
	tagged.SKU.Name = to.Ptr(armlogic.IntegrationServiceEnvironmentSKUNameDeveloper)
	tagged.Tags = map[string]*string{"env": to.Ptr("test")}
	tp, err := f.ises.BeginUpdate(ctx, f.rg, "Fabrikam-ISE", tagged, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tp.PollUntilDone(ctx, fastPoll)
	if err != nil || *tr.Tags["env"] != "test" || *tr.Properties.EncryptionConfiguration.EncryptionKeyReference.KeyVersion != f.version {
		t.Fatalf("tag update: %v", err)
	}
	// Listing.
	n := 0
	for pager := f.ises.NewListByResourceGroupPager(f.rg, nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 4 {
		t.Fatalf("listed %d ISEs, want 4", n)
	}
}

func hasOp(entries []vault.AuditEntry, op string, code int) bool {
	for _, e := range entries {
		if e.Operation == op && e.ResultCode == code {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, within time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// createRBACVault creates a vault with the Azure RBAC permission model.
func (f *kvFixture) createRBACVault(t *testing.T, name string) armkeyvault.Vault {
	t.Helper()
	props := &armkeyvault.VaultProperties{
		TenantID: to.Ptr(f.env.Conn.TenantID), SKU: &armkeyvault.SKU{Family: to.Ptr(armkeyvault.SKUFamilyA), Name: to.Ptr(armkeyvault.SKUNameStandard)},
		EnableSoftDelete: to.Ptr(true), SoftDeleteRetentionInDays: to.Ptr[int32](7), EnablePurgeProtection: to.Ptr(true), EnableRbacAuthorization: to.Ptr(true),
	}
	p, err := f.vaults.BeginCreateOrUpdate(ctxT(t), f.rg, name, armkeyvault.VaultCreateOrUpdateParameters{Location: to.Ptr("westeurope"), Properties: props}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.PollUntilDone(ctxT(t), fastPoll)
	if err != nil {
		t.Fatal(err)
	}
	return res.Vault
}

func TestISEFailsWithoutAccessInTime(t *testing.T) {
	env := testenv.Start(t, func(c *app.Config) { c.ISEKeyAccessTimeout = 1500 * time.Millisecond })
	f := newISEFixture(t, env, "ise-kv-late")
	ctx := ctxT(t)
	poller, err := f.ises.BeginCreateOrUpdate(ctx, f.rg, "ise-late", f.iseModel(armlogic.IntegrationServiceEnvironmentAccessEndpointTypeExternal, true, "ise-kv-late"), nil)
	if err != nil {
		t.Fatal(err)
	}
	principal := f.principalOf(t, "ise-late")
	_, err = poller.PollUntilDone(ctx, fastPoll)
	mustStatus(t, err, 200, "KeyVaultPermissionsMissing")
	if !strings.Contains(err.Error(), principal) {
		t.Fatalf("the permissions error does not name the identity: %v", err)
	}
	got, err := f.ises.Get(ctx, f.rg, "ise-late", nil)
	if err != nil || *got.Properties.ProvisioningState != armlogic.WorkflowProvisioningStateFailed {
		t.Fatalf("ISE after the window: %v", err)
	}
	// Access arriving after the window changes nothing; the ISE can host nothing.
	f.grantPolicy(t, "ise-kv-late", principal, armkeyvault.AccessPolicyUpdateKindAdd)
	time.Sleep(100 * time.Millisecond)
	if got, _ := f.ises.Get(ctx, f.rg, "ise-late", nil); *got.Properties.ProvisioningState != armlogic.WorkflowProvisioningStateFailed {
		t.Fatal("a failed ISE recovered")
	}
	wc, _ := armlogic.NewWorkflowsClient(env.Conn.SubscriptionID, f.admin, env.ARMOptions())
	_, err = wc.CreateOrUpdate(ctx, f.rg, "wf-late", armlogic.Workflow{Location: to.Ptr("westeurope"), Properties: &armlogic.WorkflowProperties{
		Definition:                    map[string]any{"triggers": map[string]any{}, "actions": map[string]any{}},
		IntegrationServiceEnvironment: &armlogic.ResourceReference{ID: got.ID},
	}}, nil)
	mustStatus(t, err, 409, "IntegrationServiceEnvironmentFailed")
	if _, err := f.ises.Delete(ctx, f.rg, "ise-late", nil); err != nil {
		t.Fatal(err)
	}
}

// orderWorkflow is the logic app of the tests: a Request trigger whose body
// goes to a Service Bus queue and to a loopback HTTP endpoint, a
// condition, a loop and a response.
func orderWorkflow() map[string]any {
	var def map[string]any
	_ = json.Unmarshal([]byte(`{
  "$schema": "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {"sbConnection": {"type": "SecureString"}, "queue": {"type": "String", "defaultValue": "orders"}, "hook": {"type": "String"}},
  "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {"method": "POST", "schema": {}}}},
  "actions": {
    "Compose": {"type": "Compose", "inputs": {"order": "@triggerBody()?['orderId']", "year": "@{utcNow('yyyy')}"}, "runAfter": {}},
    "Send_message": {"type": "ServiceBus", "runAfter": {"Compose": ["Succeeded"]},
      "inputs": {"connectionString": "@parameters('sbConnection')", "entityName": "@parameters('queue')",
                 "message": {"contentData": "@triggerBody()", "properties": {"source": "logic", "order": "@outputs('Compose')?['order']"}}}},
    "Notify": {"type": "Http", "runAfter": {"Send_message": ["Succeeded"]},
      "inputs": {"method": "POST", "uri": "@parameters('hook')", "body": {"id": "@triggerBody()?['orderId']"}}},
    "Check": {"type": "If", "runAfter": {"Notify": ["Succeeded"]},
      "expression": {"and": [{"greater": ["@length(triggerBody()?['items'])", 1]}]},
      "actions": {"Many": {"type": "Compose", "inputs": "@length(triggerBody()?['items'])"}},
      "else": {"actions": {"Few": {"type": "Compose", "inputs": "few"}}}},
    "Each": {"type": "Foreach", "foreach": "@triggerBody()?['items']", "runAfter": {"Check": ["Succeeded"]},
      "actions": {"Item": {"type": "Compose", "inputs": "@toUpper(items('Each'))"}}},
    "Response": {"type": "Response", "kind": "Http", "runAfter": {"Each": ["Succeeded"]},
      "inputs": {"statusCode": 200, "headers": {"X-Run": "@{workflow()['run']['name']}"},
                 "body": {"queued": "@body('Send_message')?['messageId']", "order": "@outputs('Compose')?['order']", "hook": "@body('Notify')?['ok']", "count": "@length(triggerBody()?['items'])"}}}
  }
}`), &def)
	return def
}

func TestISEWorkflowServiceBusRevocationAndDataAtRest(t *testing.T) {
	env := testenv.Start(t, func(c *app.Config) { c.ISEKeyAccessTimeout = time.Minute; c.KeyPollInterval = time.Hour })
	f := newISEFixture(t, env, "ise-kv-wf")
	ctx := ctxT(t)
	sub := env.Conn.SubscriptionID

	// The ISE, granted access by an access policy.
	poller, err := f.ises.BeginCreateOrUpdate(ctx, f.rg, "ise-wf", f.iseModel(armlogic.IntegrationServiceEnvironmentAccessEndpointTypeExternal, true, "ise-kv-wf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	principal := f.principalOf(t, "ise-wf")
	f.grantPolicy(t, "ise-kv-wf", principal, armkeyvault.AccessPolicyUpdateKindAdd)
	ise, err := poller.PollUntilDone(ctx, fastPoll)
	if err != nil {
		t.Fatal(err)
	}

	// A Service Bus namespace with a queue, and its connection string.
	nc, _ := armservicebus.NewNamespacesClient(sub, f.admin, env.ARMOptions())
	np, err := nc.BeginCreateOrUpdate(ctx, f.rg, "ise-orders-ns", armservicebus.SBNamespace{Location: to.Ptr("westeurope"), SKU: &armservicebus.SBSKU{Name: to.Ptr(armservicebus.SKUNameStandard), Tier: to.Ptr(armservicebus.SKUTierStandard)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := np.PollUntilDone(ctx, fastPoll); err != nil {
		t.Fatal(err)
	}
	qc, _ := armservicebus.NewQueuesClient(sub, f.admin, env.ARMOptions())
	if _, err := qc.CreateOrUpdate(ctx, f.rg, "ise-orders-ns", "orders", armservicebus.SBQueue{}, nil); err != nil {
		t.Fatal(err)
	}
	keys, err := nc.ListKeys(ctx, f.rg, "ise-orders-ns", "RootManageSharedAccessKey", nil)
	if err != nil {
		t.Fatal(err)
	}

	// A loopback HTTP endpoint for the Http action.
	hooked := make(chan []byte, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooked <- b
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer hook.Close()

	// The workflow in the ISE.
	wc, _ := armlogic.NewWorkflowsClient(sub, f.admin, env.ARMOptions())
	params := map[string]*armlogic.WorkflowParameter{
		"sbConnection": {Value: *keys.PrimaryConnectionString},
		"hook":         {Value: hook.URL + "/notify"},
	}
	wf, err := wc.CreateOrUpdate(ctx, f.rg, "orders-wf", armlogic.Workflow{Location: to.Ptr("westeurope"), Properties: &armlogic.WorkflowProperties{
		Definition: orderWorkflow(), Parameters: params, IntegrationServiceEnvironment: &armlogic.ResourceReference{ID: ise.ID},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *wf.Properties.State != armlogic.WorkflowStateEnabled || !strings.EqualFold(*wf.Properties.IntegrationServiceEnvironment.ID, *ise.ID) {
		t.Fatalf("workflow: %+v", wf.Properties)
	}
	if v, ok := wf.Properties.Parameters["sbConnection"]; !ok || v.Value != nil {
		t.Fatal("the SecureString parameter's value is returned")
	}
	tc, _ := armlogic.NewWorkflowTriggersClient(sub, f.admin, env.ARMOptions())
	cb, err := tc.ListCallbackURL(ctx, f.rg, "orders-wf", "manual", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *cb.Method != "POST" || cb.Queries == nil || *cb.Queries.Sig == "" || !strings.Contains(*cb.Value, "/triggers/manual/paths/invoke?") {
		t.Fatalf("callback URL: %+v", cb.WorkflowTriggerCallbackURL)
	}

	const marker = "ord-plaintext-marker-5a1c9e7b"
	orderBody := `{"orderId":"` + marker + `","items":["apple","pear","fig"]}`
	post := func(u string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "POST", u, strings.NewReader(orderBody))
		req.Header.Set("Content-Type", "application/json")
		resp, err := env.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := post(*cb.Value)
	if resp.StatusCode != 200 {
		t.Fatalf("trigger: %d %s", resp.StatusCode, body)
	}
	var answer struct {
		Queued, Order string
		Hook          bool
		Count         int
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Order != marker || answer.Count != 3 || !answer.Hook || answer.Queued == "" || resp.Header.Get("X-Run") == "" {
		t.Fatalf("response: %v %s %v", err, body, resp.Header)
	}
	select {
	case b := <-hooked:
		if !bytes.Contains(b, []byte(marker)) {
			t.Fatalf("Http action body: %s", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the Http action did not call the hook")
	}
	// The request body is in the queue.
	nsb, err := env.App.Broker.Namespace("ise-orders-ns")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := nsb.Peek(ctx, "orders", 0, 10)
	if err != nil || len(msgs) != 1 || !sameJSON(msgs[0].Body, []byte(orderBody)) || msgs[0].MessageID != answer.Queued || msgs[0].ApplicationProperties["order"] != marker {
		t.Fatalf("queue: %v %d %q %q %q %v", err, len(msgs), msgs[0].Body, msgs[0].MessageID, answer.Queued, msgs[0].ApplicationProperties)
	}
	// A bad signature is refused.
	bad := strings.Replace(*cb.Value, "sig=", "sig=x", 1)
	if r, b := post(bad); r.StatusCode != 401 || !strings.Contains(string(b), "DirectApiInvalidAuthorizationSignature") {
		t.Fatalf("bad signature: %d %s", r.StatusCode, b)
	}

	// Run history with inputs and outputs.
	rc, _ := armlogic.NewWorkflowRunsClient(sub, f.admin, env.ARMOptions())
	var runs []*armlogic.WorkflowRun
	waitFor(t, 5*time.Second, func() error {
		runs = nil
		for pager := rc.NewListPager(f.rg, "orders-wf", nil); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return err
			}
			runs = append(runs, page.Value...)
		}
		if len(runs) != 1 || *runs[0].Properties.Status != armlogic.WorkflowStatusSucceeded {
			return errors.New("run not finished")
		}
		return nil
	})
	run := runs[0]
	if *run.Properties.Trigger.Name != "manual" || run.Properties.Trigger.OutputsLink == nil || *run.Name != resp.Header.Get("x-ms-workflow-run-id") {
		t.Fatalf("run: %+v", run.Properties.Trigger)
	}
	hc, _ := armlogic.NewWorkflowTriggerHistoriesClient(sub, f.admin, env.ARMOptions())
	hist, err := hc.NewListPager(f.rg, "orders-wf", "manual", nil).NextPage(ctx)
	if err != nil || len(hist.Value) != 1 || *hist.Value[0].Name != *run.Name || !*hist.Value[0].Properties.Fired || *hist.Value[0].Properties.Run.Name != *run.Name {
		t.Fatalf("trigger histories: %v", err)
	}
	ac, _ := armlogic.NewWorkflowRunActionsClient(sub, f.admin, env.ARMOptions())
	statuses := map[string]armlogic.WorkflowStatus{}
	var sendLink *armlogic.ContentLink
	for pager := ac.NewListPager(f.rg, "orders-wf", *run.Name, nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Value {
			statuses[*a.Name] = *a.Properties.Status
			if *a.Name == "Send_message" {
				sendLink = a.Properties.InputsLink
			}
		}
	}
	want := map[string]armlogic.WorkflowStatus{"Compose": "Succeeded", "Send_message": "Succeeded", "Notify": "Succeeded", "Check": "Succeeded",
		"Many": "Succeeded", "Few": "Skipped", "Each": "Succeeded", "Item": "Succeeded", "Response": "Succeeded"}
	for n, s := range want {
		if statuses[n] != s {
			t.Errorf("action %s: %s, want %s", n, statuses[n], s)
		}
	}
	// The content link serves the action's inputs without a bearer token; the connection string's key is hidden.
	r, b := getURL(t, env, *sendLink.URI)
	if r.StatusCode != 200 || !strings.Contains(string(b), marker) || strings.Contains(string(b), *keys.PrimaryKey) {
		t.Fatalf("inputs link: %d %s", r.StatusCode, b)
	}
	item, err := ac.Get(ctx, f.rg, "orders-wf", *run.Name, "Item", nil)
	if err != nil || item.Properties.OutputsLink == nil {
		t.Fatalf("Item action: %v", err)
	}
	if _, b := getURL(t, env, *item.Properties.OutputsLink.URI); string(b) != `"FIG"` {
		t.Fatalf("Item outputs: %s", b)
	}

	// Key disabled: the ISE is Revoked, its trigger refused, its history unreadable; nothing is purged.
	setEnabled := func(on bool) {
		t.Helper()
		if _, err := f.keys.UpdateKey(ctx, f.key, f.version, azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(on)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	iseStatus := func(want string) {
		t.Helper()
		u := env.Conn.ResourceManagerEndpoint + strings.TrimPrefix(*ise.ID, "/") + "?api-version=2019-05-01"
		waitFor(t, 10*time.Second, func() error {
			_, b := armRaw(t, env, f.admin, "GET", u, "")
			var x struct {
				Properties struct{ EncryptionStatus, State string }
			}
			_ = json.Unmarshal(b, &x)
			if x.Properties.EncryptionStatus != want {
				return errors.New("ISE encryption status " + x.Properties.EncryptionStatus + ", want " + want)
			}
			return nil
		})
	}
	setEnabled(false)
	iseStatus("Revoked")
	if got, _ := f.ises.Get(ctx, f.rg, "ise-wf", nil); *got.Properties.State != armlogic.WorkflowStateSuspended {
		t.Fatalf("revoked ISE state %s", *got.Properties.State)
	}
	if r, b := post(*cb.Value); r.StatusCode != 409 || !strings.Contains(string(b), "IntegrationServiceEnvironmentRevoked") {
		t.Fatalf("trigger of a revoked ISE: %d %s", r.StatusCode, b)
	}
	_, err = rc.NewListPager(f.rg, "orders-wf", nil).NextPage(ctx)
	mustStatus(t, err, 409, "IntegrationServiceEnvironmentRevoked")
	_, err = tc.ListCallbackURL(ctx, f.rg, "orders-wf", "manual", nil)
	mustStatus(t, err, 409, "IntegrationServiceEnvironmentRevoked")
	if r, _ := getURL(t, env, *sendLink.URI); r.StatusCode != 409 {
		t.Fatalf("content link of a revoked ISE: %d", r.StatusCode)
	}

	// Re-enabled: works again, history intact.
	setEnabled(true)
	iseStatus("Active")
	if r, b := post(*cb.Value); r.StatusCode != 200 {
		t.Fatalf("trigger after restore: %d %s", r.StatusCode, b)
	}
	waitFor(t, 5*time.Second, func() error {
		runs = nil
		for pager := rc.NewListPager(f.rg, "orders-wf", nil); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return err
			}
			runs = append(runs, page.Value...)
		}
		if len(runs) != 2 || *runs[0].Properties.Status != armlogic.WorkflowStatusSucceeded {
			return errors.New("second run not finished")
		}
		return nil
	})
	if *runs[1].Name != *run.Name {
		t.Fatalf("runs are not newest first: %s %s", *runs[0].Name, *runs[1].Name)
	}
	if _, b := getURL(t, env, *sendLink.URI); !strings.Contains(string(b), marker) {
		t.Fatalf("first run's inputs after restore: %s", b)
	}
	if msgs, err := nsb.Peek(ctx, "orders", 0, 10); err != nil || len(msgs) != 2 {
		t.Fatalf("queue after restore: %v %d", err, len(msgs))
	}

	// Disabled workflows refuse their trigger.
	if _, err := wc.Disable(ctx, f.rg, "orders-wf", nil); err != nil {
		t.Fatal(err)
	}
	if r, _ := post(*cb.Value); r.StatusCode != 409 {
		t.Fatalf("disabled workflow: %d", r.StatusCode)
	}

	// No trace of the request body in plaintext anywhere in the data directory.
	env.Stop(t)
	err = filepath.WalkDir(env.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(marker)) || bytes.Contains(b, []byte("apple")) {
			t.Errorf("the request body is in plaintext in %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func getURL(t *testing.T, env *testenv.Env, u string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), "GET", u, nil)
	resp, err := env.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}
