package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testenv"
)

func TestLogicCommands(t *testing.T) {
	env := testenv.Start(t, func(c *app.Config) { c.ISEKeyAccessTimeout = time.Minute })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := filepath.Join(env.DataDir, "connection.json")
	sub, tenant := env.Conn.SubscriptionID, env.Conn.TenantID
	if out, err := run(t, "group", "create", "--name", "logic-rg", "--location", "westeurope", "--connection", conn); err != nil {
		t.Fatalf("group create: %v\n%s", err, out)
	}
	// A vault with purge protection and an RSA key (SDK: the keyvault commands are not this test's subject).
	admin := env.Bootstrap(t)
	vc, _ := armkeyvault.NewVaultsClient(sub, admin, env.ARMOptions())
	p, err := vc.BeginCreateOrUpdate(ctx, "logic-rg", "cli-ise-kv", armkeyvault.VaultCreateOrUpdateParameters{Location: to.Ptr("westeurope"), Properties: &armkeyvault.VaultProperties{
		TenantID: to.Ptr(tenant), SKU: &armkeyvault.SKU{Family: to.Ptr(armkeyvault.SKUFamilyA), Name: to.Ptr(armkeyvault.SKUNameStandard)},
		EnableSoftDelete: to.Ptr(true), EnablePurgeProtection: to.Ptr(true),
		AccessPolicies: []*armkeyvault.AccessPolicyEntry{{TenantID: to.Ptr(tenant), ObjectID: to.Ptr(env.Conn.ObjectID),
			Permissions: &armkeyvault.Permissions{Keys: []*armkeyvault.KeyPermissions{to.Ptr(armkeyvault.KeyPermissionsAll)}}}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	kc, _ := azkeys.NewClient(*v.Properties.VaultURI, admin, &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: env.HTTP}})
	if _, err := kc.CreateKey(ctx, "cli-cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)}, nil); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	subnet := "/subscriptions/" + sub + "/resourceGroups/logic-rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/"
	iseFile := filepath.Join(dir, "ise.json")
	os.WriteFile(iseFile, []byte(`{"location":"westeurope","sku":{"name":"Developer","capacity":0},"identity":{"type":"SystemAssigned"},
 "properties":{"networkConfiguration":{"accessEndpoint":{"type":"External"},"subnets":[{"id":"`+subnet+`s1"},{"id":"`+subnet+`s2"},{"id":"`+subnet+`s3"},{"id":"`+subnet+`s4"}]},
  "encryptionConfiguration":{"encryptionKeyReference":{"keyVault":{"id":"`+*v.ID+`"},"keyName":"cli-cmk"}}}}`), 0o600)
	out, err := run(t, "logic", "ise", "create", "-n", "cli-ise", "-g", "logic-rg", "-f", iseFile, "--no-wait", "--connection", conn)
	if err != nil {
		t.Fatalf("ise create: %v\n%s", err, out)
	}
	var accepted struct {
		Identity   struct{ PrincipalID string }
		Properties struct{ ProvisioningState, KeyAccessDeadline string }
	}
	if err := json.Unmarshal([]byte(out), &accepted); err != nil || accepted.Identity.PrincipalID == "" || accepted.Properties.ProvisioningState != "InProgress" || accepted.Properties.KeyAccessDeadline == "" {
		t.Fatalf("ise create output: %v\n%s", err, out)
	}
	if _, err := vc.UpdateAccessPolicy(ctx, "logic-rg", "cli-ise-kv", armkeyvault.AccessPolicyUpdateKindAdd, armkeyvault.VaultAccessPolicyParameters{
		Properties: &armkeyvault.VaultAccessPolicyProperties{AccessPolicies: []*armkeyvault.AccessPolicyEntry{{TenantID: to.Ptr(tenant), ObjectID: to.Ptr(accepted.Identity.PrincipalID),
			Permissions: &armkeyvault.Permissions{Keys: []*armkeyvault.KeyPermissions{to.Ptr(armkeyvault.KeyPermissionsGet), to.Ptr(armkeyvault.KeyPermissionsWrapKey), to.Ptr(armkeyvault.KeyPermissionsUnwrapKey)}}}}}}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err = run(t, "logic", "ise", "show", "-n", "cli-ise", "-g", "logic-rg", "--connection", conn)
		if err == nil && strings.Contains(out, `"provisioningState": "Succeeded"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ise show: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err = run(t, "logic", "ise", "list", "--connection", conn); err != nil || !strings.Contains(out, "cli-ise") {
		t.Fatalf("ise list: %v\n%s", err, out)
	}

	def := filepath.Join(dir, "echo.json")
	os.WriteFile(def, []byte(`{"parameters":{"greeting":{"type":"String"}},"triggers":{"manual":{"type":"Request","kind":"Http"}},
 "actions":{"Response":{"type":"Response","inputs":{"statusCode":200,"body":{"echo":"@triggerBody()?['msg']","greeting":"@parameters('greeting')"}}}}}`), 0o600)
	params := filepath.Join(dir, "params.json")
	os.WriteFile(params, []byte(`{"greeting":{"value":"hi"}}`), 0o600)
	out, err = run(t, "logic", "workflow", "create", "-n", "cli-wf", "-g", "logic-rg", "-f", def, "-p", params, "--ise", "cli-ise", "--connection", conn)
	if err != nil || !strings.Contains(out, "integrationServiceEnvironments/cli-ise") {
		t.Fatalf("workflow create: %v\n%s", err, out)
	}
	if out, err = run(t, "logic", "workflow", "show", "-n", "cli-wf", "-g", "logic-rg", "--connection", conn); err != nil || !strings.Contains(out, `"state": "Enabled"`) {
		t.Fatalf("workflow show: %v\n%s", err, out)
	}
	out, err = run(t, "logic", "workflow", "run", "-n", "cli-wf", "-g", "logic-rg", "--body-json", `{"msg":"ping"}`, "--connection", conn)
	var ran struct {
		StatusCode int
		RunName    string
		Body       map[string]any
	}
	if err != nil || json.Unmarshal([]byte(out), &ran) != nil || ran.StatusCode != 200 || ran.Body["echo"] != "ping" || ran.Body["greeting"] != "hi" {
		t.Fatalf("workflow run: %v\n%s", err, out)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		out, err = run(t, "logic", "workflow", "runs", "-n", "cli-wf", "-g", "logic-rg", "--run", ran.RunName, "--connection", conn)
		if err == nil && strings.Contains(out, `"status": "Succeeded"`) && strings.Contains(out, `"name": "Response"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow runs --run: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err = run(t, "logic", "workflow", "runs", "-n", "cli-wf", "-g", "logic-rg", "--connection", conn); err != nil || !strings.Contains(out, ran.RunName) {
		t.Fatalf("workflow runs: %v\n%s", err, out)
	}
	if out, err = run(t, "logic", "ise", "delete", "-n", "cli-ise", "-g", "logic-rg", "--connection", conn); err != nil {
		t.Fatalf("ise delete: %v\n%s", err, out)
	}
	if _, err = run(t, "logic", "workflow", "show", "-n", "cli-wf", "-g", "logic-rg", "--connection", conn); err == nil {
		t.Fatal("the workflow outlived its ISE")
	}
}
