package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/keyward/keyward/internal/client"
	"github.com/keyward/keyward/internal/testenv"
)

// azCLI runs the Azure CLI against one keyward, with its own configuration
// directory.
type azCLI struct {
	t   *testing.T
	bin string
	env []string
}

// newAzCLI finds `az` (Debian's azure-cli; .ci/run installs it) and
// prepares its environment: a fresh configuration directory, keyward's CA,
// and a CONNECT proxy that reaches keyward's host names.
func newAzCLI(t *testing.T, env *testenv.Env) *azCLI {
	t.Helper()
	bin, err := exec.LookPath("az")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("az is not installed: .ci/run installs azure-cli")
		}
		t.Skip("az is not installed (apt-get install azure-cli)")
	}
	proxy := startConnectProxy(t, env)
	return &azCLI{t: t, bin: bin, env: append(append(os.Environ(),
		"AZURE_CONFIG_DIR="+t.TempDir(),
		"AZURE_CORE_COLLECT_TELEMETRY=false", "AZURE_CORE_NO_COLOR=true", "AZURE_CORE_SURVEY_MESSAGE=false",
		"REQUESTS_CA_BUNDLE="+filepath.Join(env.DataDir, "ca.pem"),
		"PYTHONDONTWRITEBYTECODE=1",
	), proxyEnv(proxy)...)}
}

func (a *azCLI) exec(args ...string) (stdout, stderr string, err error) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.bin, args...)
	cmd.Env = a.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// run runs an az command that must succeed and decodes its JSON output
// (nil when it prints nothing).
func (a *azCLI) run(args ...string) map[string]any {
	a.t.Helper()
	out, errOut, err := a.exec(append(args, "-o", "json")...)
	if err != nil {
		a.t.Fatalf("az %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	if strings.TrimSpace(out) == "" {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		a.t.Fatalf("az %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{"value": v}
}

// fail runs an az command that must fail and returns its error output.
func (a *azCLI) fail(args ...string) string {
	a.t.Helper()
	out, errOut, err := a.exec(args...)
	if err == nil {
		a.t.Fatalf("az %s succeeded, want an error:\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

// jsonPath returns the value at a dotted path of nested JSON objects.
func jsonPath(v map[string]any, path string) any {
	var cur any = v
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// TestAzureCLI runs the seeds' management steps with the Azure CLI
// (Debian's azure-cli 2.45), unmodified: a cloud registered from
// `keyward az-cloud`, a service-principal login, a resource group, a vault
// with soft delete and purge protection and its access policies, a Premium
// Service Bus namespace with a system-assigned identity and a
// customer-managed key, a queue and the namespace's keys, the seed's two
// ARM templates deployed with `az deployment group create`, the ISE seed's
// HTTPS PUT with `az rest`, and Azure's errors for what Azure refuses. Messages then flow through the namespace
// with the connection string the CLI printed.
//
// Debian's azure-cli lacks the packages its key data-plane and role
// commands import (azure.keyvault.v7_0, the role clients' config): those
// commands fail in az before they send anything, so the key is created and
// used with `az rest` against the vault's data plane.
func TestAzureCLI(t *testing.T) {
	env := testenv.Start(t, nil)
	az := newAzCLI(t, env)
	ctx := ctxT(t)

	cloud, err := client.AzureCLICloud(env.Conn)
	mustNoErr(t, "cloud config", err)
	cfgFile := filepath.Join(t.TempDir(), "keyward-cloud.json")
	b, _ := json.Marshal(cloud)
	mustNoErr(t, "write cloud config", os.WriteFile(cfgFile, b, 0o600))
	az.run("cloud", "register", "-n", "keyward", "--cloud-config", "@"+cfgFile)
	az.run("cloud", "set", "-n", "keyward")
	az.run("login", "--service-principal", "-u", env.Conn.ClientID, "-p", env.Conn.ClientSecret, "--tenant", env.Conn.TenantID)
	acct := az.run("account", "show")
	if acct["id"] != env.Conn.SubscriptionID || acct["tenantId"] != env.Conn.TenantID {
		t.Fatalf("az account show: %v", acct)
	}

	rg := az.run("group", "create", "-n", "az-rg", "-l", "westeurope")
	if jsonPath(rg, "properties.provisioningState") != "Succeeded" {
		t.Fatalf("group create: %v", rg)
	}

	// The seed's vault: soft delete and purge protection.
	v := az.run("keyvault", "create", "-n", "az-cli-vault", "-g", "az-rg", "--enable-purge-protection", "true")
	if jsonPath(v, "properties.enablePurgeProtection") != true || jsonPath(v, "properties.enableSoftDelete") != true {
		t.Fatalf("keyvault create: %v", v["properties"])
	}
	vaultURI, _ := jsonPath(v, "properties.vaultUri").(string)
	if !strings.HasPrefix(vaultURI, "https://az-cli-vault.vault.") {
		t.Fatalf("vault uri %q", vaultURI)
	}
	// Purge protection cannot be turned off once on.
	if e := az.fail("keyvault", "update", "-n", "az-cli-vault", "-g", "az-rg", "--enable-purge-protection", "false"); !strings.Contains(e, "urge") {
		t.Fatalf("turning purge protection off: %s", e)
	}
	az.run("keyvault", "set-policy", "-n", "az-cli-vault", "-g", "az-rg", "--object-id", env.Conn.ObjectID,
		"--key-permissions", "all")

	// The key, through the vault's data plane with `az rest` and the CLI's
	// token for https://vault.azure.net (Debian's `az keyvault key` cannot run).
	key := az.run("rest", "--method", "post", "--url", vaultURI+"keys/sb-key/create?api-version=7.4",
		"--resource", "https://vault.azure.net", "--body", `{"kty": "RSA", "key_size": 2048, "key_ops": ["wrapKey", "unwrapKey"]}`)
	kid, _ := jsonPath(key, "key.kid").(string)
	if !strings.HasPrefix(kid, vaultURI+"keys/sb-key/") || jsonPath(key, "attributes.enabled") != true {
		t.Fatalf("create key: %v", key)
	}
	wrapped := az.run("rest", "--method", "post", "--url", kid+"/wrapkey?api-version=7.4", "--resource", "https://vault.azure.net",
		"--body", `{"alg": "RSA-OAEP-256", "value": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}`)
	unwrapped := az.run("rest", "--method", "post", "--url", kid+"/unwrapkey?api-version=7.4", "--resource", "https://vault.azure.net",
		"--body", `{"alg": "RSA-OAEP-256", "value": "`+wrapped["value"].(string)+`"}`)
	if unwrapped["value"] != "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" {
		t.Fatalf("wrap/unwrap through az rest: %v", unwrapped)
	}

	// The seed's namespace: Premium, a system-assigned identity allowed to
	// use the key, then the key.
	ns := az.run("servicebus", "namespace", "create", "-n", "az-cli-ns", "-g", "az-rg", "--sku", "Premium", "--mi-system-assigned")
	pid, _ := jsonPath(ns, "identity.principalId").(string)
	if pid == "" || jsonPath(ns, "sku.name") != "Premium" {
		t.Fatalf("namespace create: %v", ns)
	}
	az.run("keyvault", "set-policy", "-n", "az-cli-vault", "-g", "az-rg", "--object-id", pid,
		"--key-permissions", "get", "wrapKey", "unwrapKey")
	ns = az.run("servicebus", "namespace", "encryption", "add", "--namespace-name", "az-cli-ns", "-g", "az-rg",
		"--encryption-config", "key-name=sb-key", "key-vault-uri="+vaultURI)
	kvp, _ := jsonPath(ns, "encryption.keyVaultProperties").([]any)
	if jsonPath(ns, "encryption.keySource") != "Microsoft.KeyVault" || len(kvp) != 1 || kvp[0].(map[string]any)["keyName"] != "sb-key" {
		t.Fatalf("encryption add: %v", ns["encryption"])
	}

	q := az.run("servicebus", "queue", "create", "-n", "orders", "--namespace-name", "az-cli-ns", "-g", "az-rg", "--max-delivery-count", "5")
	if q["maxDeliveryCount"] != float64(5) {
		t.Fatalf("queue create: %v", q)
	}
	if l := az.run("servicebus", "queue", "list", "--namespace-name", "az-cli-ns", "-g", "az-rg"); len(l["value"].([]any)) != 1 {
		t.Fatalf("queue list: %v", l)
	}
	// `encryption add` appends to the namespace's keys: the same key twice
	// is refused, and nothing changes.
	if e := az.fail("servicebus", "namespace", "encryption", "add", "--namespace-name", "az-cli-ns", "-g", "az-rg",
		"--encryption-config", "key-name=sb-key", "key-vault-uri="+vaultURI); !strings.Contains(e, "InvalidKeyVaultProperties") {
		t.Fatalf("encryption add of the same key again: %s", e)
	}

	// Generic resource commands: the resource list filtered by group and type.
	names := map[string]bool{}
	for _, r := range az.run("resource", "list", "-g", "az-rg")["value"].([]any) {
		names[r.(map[string]any)["name"].(string)] = true
	}
	if !names["az-cli-vault"] || !names["az-cli-ns"] {
		t.Fatalf("resource list -g: %v", names)
	}
	if l := az.run("resource", "list", "--resource-type", "Microsoft.KeyVault/vaults")["value"].([]any); len(l) != 1 {
		t.Fatalf("resource list --resource-type: %v", l)
	}
	if e := az.fail("group", "delete", "-n", "no-such-rg", "--yes"); !strings.Contains(e, "ResourceGroupNotFound") {
		t.Fatalf("deleting a missing group: %s", e)
	}

	k := az.run("servicebus", "namespace", "authorization-rule", "keys", "list", "--namespace-name", "az-cli-ns", "-g", "az-rg", "-n", "RootManageSharedAccessKey")
	cs, _ := k["primaryConnectionString"].(string)
	if !strings.HasPrefix(cs, "Endpoint=sb://az-cli-ns.servicebus.") {
		t.Fatalf("keys list: %v", k)
	}
	c, err := azservicebus.NewClientFromConnectionString(cs, &azservicebus.ClientOptions{CustomEndpoint: env.AMQPAddr(), TLSConfig: env.AMQPTLSConfig()})
	mustNoErr(t, "client", err)
	defer c.Close(ctx)
	snd, err := c.NewSender("orders", nil)
	mustNoErr(t, "sender", err)
	mustNoErr(t, "send", snd.SendMessage(ctx, &azservicebus.Message{Body: []byte("ordered with az")}, nil))
	rcv, err := c.NewReceiverForQueue("orders", nil)
	mustNoErr(t, "receiver", err)
	m := receiveN(t, rcv, 1)[0]
	if string(m.Body) != "ordered with az" {
		t.Fatalf("received %q", m.Body)
	}
	mustNoErr(t, "complete", rcv.CompleteMessage(ctx, m, nil))

	// The seed's ARM templates, verbatim, deployed with az (the seed uses
	// New-AzResourceGroupDeployment): a Premium namespace with a managed
	// identity, then its encryption with the vault's key.
	tmpl := func(name string) string { return filepath.Join("..", "internal", "arm", "template", "testdata", name) }
	d := az.run("deployment", "group", "create", "-g", "az-rg", "-n", "CreateServiceBusPremiumNamespace",
		"--template-file", tmpl("CreateServiceBusPremiumNamespace.json"),
		"--parameters", "namespaceName=az-seed-ns", "location=westeurope")
	if id, _ := jsonPath(d, "properties.outputs.ServiceBusNamespaceId.value").(string); !strings.HasSuffix(id, "/namespaces/az-seed-ns") {
		t.Fatalf("deployment outputs: %v", jsonPath(d, "properties.outputs"))
	}
	seedNS := az.run("servicebus", "namespace", "show", "-n", "az-seed-ns", "-g", "az-rg")
	az.run("keyvault", "set-policy", "-n", "az-cli-vault", "-g", "az-rg", "--object-id", jsonPath(seedNS, "identity.principalId").(string),
		"--key-permissions", "get", "wrapKey", "unwrapKey", "list")
	az.run("deployment", "group", "create", "-g", "az-rg", "-n", "UpdateServiceBusNamespaceWithEncryption",
		"--template-file", tmpl("UpdateServiceBusNamespaceWithEncryption.json"),
		"--parameters", "namespaceName=az-seed-ns", "location=westeurope", "keyName=sb-key", "keyVaultUri="+strings.TrimRight(vaultURI, "/"))
	seedNS = az.run("servicebus", "namespace", "show", "-n", "az-seed-ns", "-g", "az-rg")
	if kvp, _ := jsonPath(seedNS, "encryption.keyVaultProperties").([]any); jsonPath(seedNS, "encryption.keySource") != "Microsoft.KeyVault" || len(kvp) != 1 {
		t.Fatalf("seed namespace encryption: %v", seedNS["encryption"])
	}
	// A template with an error gets ARM's error, from az.
	bad := filepath.Join(t.TempDir(), "bad.json")
	mustNoErr(t, "bad template", os.WriteFile(bad, []byte(`{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[{"type":"Microsoft.ServiceBus/namespaces","apiVersion":"2021-11-01","name":"[parameters('missing')]","location":"westeurope"}]}`), 0o600))
	if e := az.fail("deployment", "group", "create", "-g", "az-rg", "-n", "bad", "--template-file", bad); !strings.Contains(e, "InvalidTemplate") {
		t.Fatalf("a bad template: %s", e)
	}
	az.run("servicebus", "namespace", "delete", "-n", "az-seed-ns", "-g", "az-rg")

	// The ISE seed document's HTTPS PUT, sent with `az rest` (which adds
	// the CLI's token for the resource manager), then the access policy for
	// the ISE's identity; the ISE provisions once it can use its key.
	ise := newISEFixture(t, env, "az-ise-kv")
	body := filepath.Join(t.TempDir(), "ise.json")
	mustNoErr(t, "ise body", os.WriteFile(body, []byte(ise.seedISE("az-ise", "az-ise-kv", ise.version)), 0o600))
	iseURL := env.Conn.ResourceManagerEndpoint + "subscriptions/" + env.Conn.SubscriptionID + "/resourceGroups/" + ise.rg +
		"/providers/Microsoft.Logic/integrationServiceEnvironments/az-ise?api-version=2018-07-01-preview"
	created := az.run("rest", "--method", "put", "--url", iseURL, "--body", "@"+body)
	isePID, _ := jsonPath(created, "identity.principalId").(string)
	if isePID == "" || jsonPath(created, "properties.provisioningState") != "InProgress" {
		t.Fatalf("az rest PUT ISE: %v", created)
	}
	az.run("keyvault", "set-policy", "-n", "az-ise-kv", "-g", ise.rg, "--object-id", isePID, "--key-permissions", "get", "wrapKey", "unwrapKey")
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := az.run("rest", "--method", "get", "--url", iseURL)
		if st := jsonPath(got, "properties.provisioningState"); st == "Succeeded" {
			break
		} else if st == "Failed" || time.Now().After(deadline) {
			t.Fatalf("ISE provisioning: %v", got["properties"])
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Soft delete keeps the vault among the deleted ones; purge protection
	// refuses to purge it.
	az.run("servicebus", "namespace", "delete", "-n", "az-cli-ns", "-g", "az-rg")
	az.run("keyvault", "delete", "-n", "az-cli-vault", "-g", "az-rg")
	deleted := az.run("keyvault", "list-deleted")
	if l, _ := deleted["value"].([]any); len(l) != 1 || l[0].(map[string]any)["name"] != "az-cli-vault" {
		t.Fatalf("list-deleted: %v", deleted)
	}
	if e := az.fail("keyvault", "purge", "-n", "az-cli-vault"); !strings.Contains(strings.ToLower(e), "purge") {
		t.Fatalf("purge under purge protection: %s", e)
	}
	az.run("keyvault", "recover", "-n", "az-cli-vault")
	if v := az.run("keyvault", "show", "-n", "az-cli-vault"); jsonPath(v, "properties.vaultUri") != vaultURI {
		t.Fatalf("recovered vault: %v", v)
	}
}
