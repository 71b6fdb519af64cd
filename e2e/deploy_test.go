package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armdeployments"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3"

	"github.com/keyward/keyward/internal/testenv"
)

const identitiesTemplate = `{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "prefix": {"type": "string", "minLength": 3},
    "count": {"type": "int", "defaultValue": 2, "minValue": 1, "maxValue": 5},
    "location": {"type": "string", "defaultValue": "[resourceGroup().location]"}
  },
  "variables": {"base": "[toLower(parameters('prefix'))]"},
  "resources": [
    {
      "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
      "apiVersion": "2023-01-31",
      "name": "[format('{0}-{1}', variables('base'), copyIndex())]",
      "location": "[parameters('location')]",
      "tags": {"index": "[string(copyIndex())]"},
      "copy": {"name": "ids", "count": "[parameters('count')]"}
    },
    {
      "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
      "apiVersion": "2023-01-31",
      "name": "[concat(variables('base'), '-last')]",
      "location": "[parameters('location')]",
      "dependsOn": ["ids"],
      "tags": {"first": "[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', format('{0}-0', variables('base')))).principalId]"}
    }
  ],
  "outputs": {
    "lastId": {"type": "string", "value": "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', concat(variables('base'), '-last'))]"},
    "n": {"type": "int", "value": "[parameters('count')]"}
  }
}`

func TestTemplateDeployment(t *testing.T) {
	env := testenv.Start(t, nil)
	ctx := ctxT(t)
	cred := env.Bootstrap(t)
	sub := env.Conn.SubscriptionID
	rgc, _ := armresources.NewResourceGroupsClient(sub, cred, env.ARMOptions())
	if _, err := rgc.CreateOrUpdate(ctx, "deploy-rg", armresources.ResourceGroup{Location: to.Ptr("northeurope")}, nil); err != nil {
		t.Fatal(err)
	}
	dc, err := armdeployments.NewDeploymentsClient(sub, cred, env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]any
	json.Unmarshal([]byte(identitiesTemplate), &tmpl)
	poller, err := dc.BeginCreateOrUpdate(ctx, "deploy-rg", "ids", armdeployments.Deployment{Properties: &armdeployments.DeploymentProperties{
		Mode: to.Ptr(armdeployments.DeploymentModeIncremental), Template: tmpl,
		Parameters: map[string]*armdeployments.DeploymentParameter{"prefix": {Value: "App"}, "count": {Value: 3}},
	}}, nil)
	if err != nil {
		t.Fatalf("begin deployment: %v", err)
	}
	res, err := poller.PollUntilDone(ctx, fastPoll)
	if err != nil {
		t.Fatalf("deployment: %v", err)
	}
	p := res.Properties
	if *p.ProvisioningState != armdeployments.ProvisioningStateSucceeded || len(p.OutputResources) != 4 {
		t.Fatalf("deployment result: %s, %d output resources", *p.ProvisioningState, len(p.OutputResources))
	}
	outs := p.Outputs.(map[string]any)
	last := outs["lastId"].(map[string]any)
	if last["type"] != "String" || !strings.HasSuffix(last["value"].(string), "/userAssignedIdentities/app-last") {
		t.Fatalf("outputs: %v", outs)
	}
	if n := outs["n"].(map[string]any); n["type"] != "Int" || n["value"].(float64) != 3 {
		t.Fatalf("int output: %v", n)
	}
	mc, _ := armmsi.NewUserAssignedIdentitiesClient(sub, cred, env.ARMOptions())
	first, err := mc.Get(ctx, "deploy-rg", "app-0", nil)
	if err != nil {
		t.Fatal(err)
	}
	lastID, err := mc.Get(ctx, "deploy-rg", "app-last", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *lastID.Tags["first"] != *first.Properties.PrincipalID || *first.Location != "northeurope" || *first.Tags["index"] != "0" {
		t.Fatalf("reference()/location/copyIndex not applied: %v %v", lastID.Tags, first.Tags)
	}

	// A failing deployment names the failing resource and the reason.
	poller, err = dc.BeginCreateOrUpdate(ctx, "deploy-rg", "bad", armdeployments.Deployment{Properties: &armdeployments.DeploymentProperties{
		Mode: to.Ptr(armdeployments.DeploymentModeIncremental), Template: tmpl,
		Parameters: map[string]*armdeployments.DeploymentParameter{"prefix": {Value: "bad"}, "count": {Value: 1}, "location": {Value: "atlantis"}},
	}}, nil)
	if err != nil {
		t.Fatalf("begin bad deployment: %v", err)
	}
	_, err = poller.PollUntilDone(ctx, fastPoll)
	if err == nil || !strings.Contains(err.Error(), "LocationNotAvailableForResourceType") {
		t.Fatalf("bad deployment: %v", err)
	}
	got, err := dc.Get(ctx, "deploy-rg", "bad", nil)
	if err != nil || *got.Properties.ProvisioningState != armdeployments.ProvisioningStateFailed || got.Properties.Error == nil {
		t.Fatalf("failed deployment state: %v %+v", err, got.Properties)
	}
	if b, _ := json.Marshal(got.Properties.Error); !strings.Contains(string(b), "bad-0") {
		t.Fatalf("error does not name the failing resource: %s", b)
	}

	// An invalid template is refused at once with InvalidTemplate and a position.
	_, err = dc.BeginCreateOrUpdate(ctx, "deploy-rg", "invalid", armdeployments.Deployment{Properties: &armdeployments.DeploymentProperties{
		Mode: to.Ptr(armdeployments.DeploymentModeIncremental), Template: map[string]any{"$schema": "x", "contentVersion": "1.0.0.0", "resources": []any{map[string]any{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "[concat('a',)]", "location": "westus"}}},
	}}, nil)
	mustStatus(t, err, 400, "InvalidTemplate")
	// A missing parameter.
	_, err = dc.BeginCreateOrUpdate(ctx, "deploy-rg", "noparam", armdeployments.Deployment{Properties: &armdeployments.DeploymentProperties{
		Mode: to.Ptr(armdeployments.DeploymentModeIncremental), Template: tmpl,
	}}, nil)
	mustStatus(t, err, 400, "")
}
