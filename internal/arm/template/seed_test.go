package template

import (
	"context"
	"encoding/json"
	"testing"
)

const nsID = "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.ServiceBus/namespaces/"

func deploySeed(t *testing.T, tmplFile string, params Parameters) (*fakeDeployer, *Result) {
	t.Helper()
	tm, err := Parse(readTestdata(t, tmplFile))
	if err != nil {
		t.Fatalf("Parse(%s): %v", tmplFile, err)
	}
	f := newFake()
	res, err := Deploy(context.Background(), tm, params, testScope(), f, Incremental)
	if err != nil {
		t.Fatalf("Deploy(%s): %v", tmplFile, err)
	}
	return f, res
}

func TestSeedCreatePremiumNamespaceWithParameterFile(t *testing.T) {
	params, err := ParseParameters(readTestdata(t, "CreateServiceBusPremiumNamespaceParams.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, res := deploySeed(t, "CreateServiceBusPremiumNamespace.json", params)
	if len(f.puts) != 1 {
		t.Fatalf("puts = %d, want 1", len(f.puts))
	}
	p := f.puts[0]
	want := ResourceRequest{
		ID: nsID + "<ServiceBusNamespaceName>", Type: "Microsoft.ServiceBus/namespaces",
		Name: "<ServiceBusNamespaceName>", APIVersion: "2018-01-01-preview", Location: "<Location>",
	}
	if p.ID != want.ID || p.Type != want.Type || p.Name != want.Name || p.APIVersion != want.APIVersion || p.Location != want.Location {
		t.Fatalf("request = %+v, want %+v", p, want)
	}
	wantBody := `{"identity":{"type":"SystemAssigned"},"location":"\u003cLocation\u003e","properties":{},"sku":{"capacity":1,"name":"Premium","tier":"Premium"}}`
	if got := jsonOf(t, p.Body); got != wantBody {
		t.Fatalf("body = %s\nwant   %s", got, wantBody)
	}
	if got := jsonOf(t, res.Outputs); got != `{"ServiceBusNamespaceId":{"type":"String","value":"`+nsID+`\u003cServiceBusNamespaceName\u003e"}}` {
		t.Fatalf("outputs = %s", got)
	}
	if len(res.OutputResources) != 1 || res.OutputResources[0].ID != p.ID {
		t.Fatalf("outputResources = %+v", res.OutputResources)
	}
	if len(res.Operations) != 1 || res.Operations[0].ProvisioningState != "Succeeded" || res.Operations[0].ProvisioningOperation != "Create" {
		t.Fatalf("operations = %+v", res.Operations)
	}
}

func TestSeedCreatePremiumNamespaceDefaultsLocationToResourceGroup(t *testing.T) {
	f, res := deploySeed(t, "CreateServiceBusPremiumNamespace.json", Parameters{"namespaceName": "sbns1"})
	p := f.puts[0]
	if p.Location != "westeurope" || p.Body["location"] != "westeurope" {
		t.Fatalf("location = %q / %v, want westeurope", p.Location, p.Body["location"])
	}
	if p.ID != nsID+"sbns1" {
		t.Fatalf("id = %s", p.ID)
	}
	identity := p.Body["identity"].(map[string]any)
	if identity["type"] != "SystemAssigned" || len(identity) != 1 {
		t.Fatalf("identity = %v", identity)
	}
	sku := p.Body["sku"].(map[string]any)
	if sku["name"] != "Premium" || sku["tier"] != "Premium" || sku["capacity"] != int64(1) {
		t.Fatalf("sku = %#v", sku)
	}
	if out := res.Outputs["ServiceBusNamespaceId"]; out.Type != "String" || out.Value != nsID+"sbns1" {
		t.Fatalf("output = %+v", out)
	}
}

func TestSeedUpdateNamespaceWithEncryption(t *testing.T) {
	params, err := ParseParameters(readTestdata(t, "UpdateServiceBusNamespaceWithEncryptionParams.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, res := deploySeed(t, "UpdateServiceBusNamespaceWithEncryption.json", params)
	if len(f.puts) != 1 {
		t.Fatalf("puts = %d", len(f.puts))
	}
	p := f.puts[0]
	if p.Type != "Microsoft.ServiceBus/namespaces" || p.Name != "<ServiceBusNamespaceName>" || p.APIVersion != "2018-01-01-preview" || p.Location != "<Location>" {
		t.Fatalf("request = %+v", p)
	}
	wantBody := `{"identity":{"type":"SystemAssigned"},"location":"\u003cLocation\u003e","properties":{"encryption":{"keySource":"Microsoft.KeyVault","keyVaultProperties":[{"keyName":"\u003cKeyName\u003e","keyVaultUri":"https://\u003cKeyVaultName\u003e.vault.azure.net"}]}},"sku":{"capacity":1,"name":"Premium","tier":"Premium"}}`
	if got := jsonOf(t, p.Body); got != wantBody {
		t.Fatalf("body = %s\nwant   %s", got, wantBody)
	}
	if len(res.Outputs) != 0 {
		t.Fatalf("outputs = %v", res.Outputs)
	}
}

// The two seed templates run one after the other against the same group,
// with the parameters given inline as a deployment request carries them.
func TestSeedSequenceInlineParameters(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	var raw map[string]any
	if err := json.Unmarshal([]byte(`{"namespaceName":{"value":"contoso-sb"}}`), &raw); err != nil {
		t.Fatal(err)
	}
	params, err := ParametersFromRequest(raw)
	if err != nil {
		t.Fatal(err)
	}
	create := mustParse(t, string(readTestdata(t, "CreateServiceBusPremiumNamespace.json")))
	res, err := Deploy(ctx, create, params, testScope(), f, Incremental)
	if err != nil {
		t.Fatal(err)
	}
	nsIDOut := res.Outputs["ServiceBusNamespaceId"].Value.(string)
	update := mustParse(t, string(readTestdata(t, "UpdateServiceBusNamespaceWithEncryption.json")))
	_, err = Deploy(ctx, update, Parameters{
		"namespaceName": "contoso-sb", "keyName": "k1", "keyVaultUri": "https://kv1.vault.keyward.localhost:8443",
	}, testScope(), f, Incremental)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.puts) != 2 || f.puts[1].ID != nsIDOut {
		t.Fatalf("puts = %+v", f.puts)
	}
	enc := f.puts[1].Body["properties"].(map[string]any)["encryption"].(map[string]any)
	kvp := enc["keyVaultProperties"].([]any)[0].(map[string]any)
	if enc["keySource"] != "Microsoft.KeyVault" || kvp["keyName"] != "k1" || kvp["keyVaultUri"] != "https://kv1.vault.keyward.localhost:8443" {
		t.Fatalf("encryption = %v", enc)
	}
	if f.puts[1].Location != "westeurope" {
		t.Fatalf("location = %s", f.puts[1].Location)
	}
}

func TestSeedMissingParameter(t *testing.T) {
	tm := mustParse(t, string(readTestdata(t, "UpdateServiceBusNamespaceWithEncryption.json")))
	f := newFake()
	_, err := Deploy(context.Background(), tm, Parameters{"namespaceName": "n"}, testScope(), f, Incremental)
	te := asError(t, err)
	want := "Deployment template validation failed: 'The value for the template parameter 'keyVaultUri' at line '18' and column '21' is not provided. Please see https://aka.ms/arm-create-parameter-file for usage details'."
	if te.Code != CodeInvalidTemplate || te.Target != "keyVaultUri" || te.Message != want {
		t.Fatalf("error = %+v\nwant message %s", te, want)
	}
	if len(f.puts) != 0 {
		t.Fatal("nothing may be deployed after a validation error")
	}
}
