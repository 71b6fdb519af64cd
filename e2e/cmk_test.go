package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armdeployments"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/servicebus/armservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/internal/vault"
)

// seedTemplate reads one of the seed document's files, verbatim.
func seedTemplate(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../internal/arm/template/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// seedParams turns a seed parameter file into deployment parameters with
// the placeholders replaced.
func seedParams(t testing.TB, name string, values map[string]string) map[string]*armdeployments.DeploymentParameter {
	doc := seedTemplate(t, name)
	out := map[string]*armdeployments.DeploymentParameter{}
	for k := range doc["parameters"].(map[string]any) {
		v, ok := values[k]
		if !ok {
			t.Fatalf("no value for seed parameter %s", k)
		}
		out[k] = &armdeployments.DeploymentParameter{Value: v}
	}
	return out
}

func deploy(t testing.TB, dc *armdeployments.DeploymentsClient, rg, name string, tmpl map[string]any, params map[string]*armdeployments.DeploymentParameter) armdeployments.DeploymentExtended {
	t.Helper()
	ctx := ctxT(t)
	p, err := dc.BeginCreateOrUpdate(ctx, rg, name, armdeployments.Deployment{Properties: &armdeployments.DeploymentProperties{
		Mode: to.Ptr(armdeployments.DeploymentModeIncremental), Template: tmpl, Parameters: params}}, nil)
	if err != nil {
		t.Fatalf("deployment %s: %v", name, err)
	}
	res, err := p.PollUntilDone(ctx, fastPoll)
	if err != nil {
		t.Fatalf("deployment %s: %v", name, err)
	}
	return res.DeploymentExtended
}

// waitNamespaceStatus polls the namespace's status through armservicebus.
func waitNamespaceStatus(t testing.TB, nc *armservicebus.NamespacesClient, rg, ns, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got, err := nc.Get(ctxT(t), rg, ns, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *got.Properties.Status == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("namespace status %s, want %s after %v", *got.Properties.Status, want, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServiceBusSeedFlow replays the Service Bus seed document: the two
// templates deployed verbatim (only parameter values change), the access
// policy for the namespace's identity in between, then rotation,
// revocation and restore.
func TestServiceBusSeedFlow(t *testing.T) {
	env := testenv.Start(t, func(c *app.Config) { c.KeyPollInterval = time.Hour })
	f := newKVFixture(t, env)
	ctx := ctxT(t)
	sub := env.Conn.SubscriptionID
	v := f.createVault(t, "contoso-sb-byok", true)
	kc := f.keysClient(t, *v.Properties.VaultURI, f.admin)
	k1, err := kc.CreateKey(ctx, "sb-cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)}, nil)
	if err != nil {
		t.Fatal(err)
	}

	dc, _ := armdeployments.NewDeploymentsClient(sub, f.admin, env.ARMOptions())
	res := deploy(t, dc, f.rg, "CreateServiceBusPremiumNamespace", seedTemplate(t, "CreateServiceBusPremiumNamespace.json"),
		seedParams(t, "CreateServiceBusPremiumNamespaceParams.json", map[string]string{"namespaceName": "contoso-sb-ns", "location": "westeurope"}))
	out := res.Properties.Outputs.(map[string]any)["ServiceBusNamespaceId"].(map[string]any)["value"].(string)
	if !strings.HasSuffix(out, "/providers/Microsoft.ServiceBus/namespaces/contoso-sb-ns") {
		t.Fatalf("output ServiceBusNamespaceId = %s", out)
	}
	nc, _ := armservicebus.NewNamespacesClient(sub, f.admin, env.ARMOptions())
	ns, err := nc.Get(ctx, f.rg, "contoso-sb-ns", nil)
	if err != nil {
		t.Fatal(err)
	}
	principal := *ns.Identity.PrincipalID
	if *ns.SKU.Name != armservicebus.SKUNamePremium || *ns.Properties.Status != "Active" {
		t.Fatalf("namespace: %+v", ns.SKU)
	}

	// Set-AzureRmKeyVaultAccessPolicy -ObjectId $identity.PrincipalId -PermissionsToKeys get,wrapKey,unwrapKey,list
	setPolicy := func(kind armkeyvault.AccessPolicyUpdateKind) {
		t.Helper()
		_, err := f.vaults.UpdateAccessPolicy(ctx, f.rg, "contoso-sb-byok", kind, armkeyvault.VaultAccessPolicyParameters{
			Properties: &armkeyvault.VaultAccessPolicyProperties{AccessPolicies: []*armkeyvault.AccessPolicyEntry{{
				TenantID: to.Ptr(env.Conn.TenantID), ObjectID: to.Ptr(principal),
				Permissions: &armkeyvault.Permissions{Keys: []*armkeyvault.KeyPermissions{to.Ptr(armkeyvault.KeyPermissionsGet), to.Ptr(armkeyvault.KeyPermissionsWrapKey), to.Ptr(armkeyvault.KeyPermissionsUnwrapKey), to.Ptr(armkeyvault.KeyPermissionsList)}},
			}}}}, nil)
		if err != nil {
			t.Fatalf("access policy %s: %v", kind, err)
		}
	}
	setPolicy(armkeyvault.AccessPolicyUpdateKindAdd)

	deploy(t, dc, f.rg, "UpdateServiceBusNamespaceWithEncryption", seedTemplate(t, "UpdateServiceBusNamespaceWithEncryption.json"),
		seedParams(t, "UpdateServiceBusNamespaceWithEncryptionParams.json", map[string]string{
			"namespaceName": "contoso-sb-ns", "location": "westeurope", "keyName": "sb-cmk", "keyVaultUri": strings.TrimRight(*v.Properties.VaultURI, "/"),
		}))
	ns, err = nc.Get(ctx, f.rg, "contoso-sb-ns", nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := ns.Properties.Encryption
	if enc == nil || *enc.KeySource != "Microsoft.KeyVault" || len(enc.KeyVaultProperties) != 1 || *enc.KeyVaultProperties[0].KeyName != "sb-cmk" {
		t.Fatalf("encryption not set: %+v", enc)
	}

	// Data in the namespace.
	nsb, err := env.App.Broker.Namespace("contoso-sb-ns")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nsb.CreateQueue(ctx, "orders", servicebus.DefaultQueueProperties(servicebus.Premium)); err != nil {
		t.Fatal(err)
	}
	if err := nsb.Send(ctx, "orders", []servicebus.Message{{Body: []byte("order-1"), MessageID: "m1"}}); err != nil {
		t.Fatal(err)
	}

	// Rotate: the data key is re-wrapped under the new version by the namespace's identity (audit log), then
	// the old version is disabled with no effect.
	rot, err := kc.RotateKey(ctx, "sb-cmk", nil)
	if err != nil {
		t.Fatal(err)
	}
	newVersion := rot.Key.KID.Version()
	deadline := time.Now().Add(5 * time.Second)
	for {
		entries, err := env.App.Vault.Audit(ctx, vault.AuditQuery{Vault: "contoso-sb-byok", Key: "sb-cmk", Caller: principal})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			if strings.Contains(strings.ToLower(e.Operation), "wrap") && !strings.Contains(strings.ToLower(e.Operation), "unwrap") && e.KeyVersion == newVersion && e.ResultCode == 200 {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no wrapKey under the new version %s by %s in the audit log", newVersion, principal)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := kc.UpdateKey(ctx, "sb-cmk", k1.Key.KID.Version(), azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(false)}}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	waitNamespaceStatus(t, nc, f.rg, "contoso-sb-ns", "Active", time.Second)

	// Revoke through the access policy: Revoked in under a second; the data is kept but refused.
	setPolicy(armkeyvault.AccessPolicyUpdateKindRemove)
	if d := waitNamespaceStatus(t, nc, f.rg, "contoso-sb-ns", "Revoked", time.Second); d > time.Second {
		t.Fatalf("revocation took %v", d)
	}
	waitBroker := func(wantRevoked bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			_, err := nsb.Peek(ctx, "orders", 0, 10)
			if (servicebus.CodeOf(err) == servicebus.CodeRevoked) == wantRevoked {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("broker peek: %v, want revoked=%v", err, wantRevoked)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitBroker(true)
	setPolicy(armkeyvault.AccessPolicyUpdateKindAdd)
	waitNamespaceStatus(t, nc, f.rg, "contoso-sb-ns", "Active", time.Second)
	waitBroker(false)
	msgs, err := nsb.Peek(ctx, "orders", 0, 10)
	if err != nil || len(msgs) != 1 || string(msgs[0].Body) != "order-1" {
		t.Fatalf("after restore: %v %d", err, len(msgs))
	}

	// Delete the key: Revoked; recover it: Active.
	if _, err := kc.DeleteKey(ctx, "sb-cmk", nil); err != nil {
		t.Fatal(err)
	}
	waitNamespaceStatus(t, nc, f.rg, "contoso-sb-ns", "Revoked", time.Second)
	if _, err := kc.RecoverDeletedKey(ctx, "sb-cmk", nil); err != nil {
		t.Fatal(err)
	}
	waitNamespaceStatus(t, nc, f.rg, "contoso-sb-ns", "Active", time.Second)
	msgs, err = nsb.Peek(ctx, "orders", 0, 10)
	if err != nil || len(msgs) != 1 || string(msgs[0].Body) != "order-1" {
		t.Fatalf("after key recovery: %v %d", err, len(msgs))
	}
	// Every state change was counted.
	status, body := rawCall(t, env, "", "GET", "https://localhost:"+strings.Split(env.Config.Addr, ":")[1]+"/metrics", nil)
	if status != 200 {
		t.Fatalf("metrics: %d", status)
	}
	for _, want := range []string{`keyward_keybinding_events_total{event="key_added"} 1`, `keyward_keybinding_events_total{event="key_rotated"} 1`, `keyward_keybinding_events_total{event="revoked"} 2`, `keyward_keybinding_events_total{event="active"} 2`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
