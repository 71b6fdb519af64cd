package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/testenv"
)

// cli runs the CLI against env's keyward and decodes its JSON output.
type cli struct {
	t    *testing.T
	conn string
}

func newCLI(t *testing.T, env *testenv.Env) *cli {
	return &cli{t: t, conn: filepath.Join(env.DataDir, "connection.json")}
}

// ok runs args and fails the test on an error; it returns the output.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, err := run(c.t, append(args, "--connection", c.conn)...)
	if err != nil {
		c.t.Fatalf("keyward %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// json runs args and decodes the output into v.
func (c *cli) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok(args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("keyward %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fails runs args and checks that they fail with an error naming want.
func (c *cli) fails(want string, args ...string) {
	c.t.Helper()
	out, err := run(c.t, append(args, "--connection", c.conn)...)
	if err == nil {
		c.t.Fatalf("keyward %s: no error\n%s", strings.Join(args, " "), out)
	}
	if !strings.Contains(err.Error(), want) {
		c.t.Fatalf("keyward %s: error %q does not name %q", strings.Join(args, " "), err, want)
	}
}

type keyOutput struct {
	Key struct {
		KID    string   `json:"kid"`
		Kty    string   `json:"kty"`
		N      string   `json:"n"`
		KeyOps []string `json:"key_ops"`
	} `json:"key"`
	Attributes struct {
		Enabled   bool    `json:"enabled"`
		Created   string  `json:"created"`
		Expires   *string `json:"expires"`
		NotBefore *string `json:"notBefore"`
	} `json:"attributes"`
}

func (k keyOutput) version() string { return k.Key.KID[strings.LastIndex(k.Key.KID, "/")+1:] }

// TestSeedVaultAndNamespaceWithCLI walks the vault part of the Service Bus
// seed document, then the namespace with customer-managed keys, with the
// CLI only.
func TestSeedVaultAndNamespaceWithCLI(t *testing.T) {
	env := testenv.Start(t, nil)
	c := newCLI(t, env)
	start := time.Now().Add(-time.Second)
	c.ok("group", "create", "--name", "seed-rg", "--location", "westeurope")

	// The vault: soft delete and purge protection, the creator's policy.
	var kv struct {
		ID         string
		Location   string
		Properties struct {
			VaultURI                  string `json:"vaultUri"`
			EnableSoftDelete          bool
			EnablePurgeProtection     bool
			SoftDeleteRetentionInDays int
			AccessPolicies            []struct {
				ObjectID    string
				Permissions struct{ Keys []string }
			}
		}
	}
	c.json(&kv, "keyvault", "create", "--name", "seed-kv", "-g", "seed-rg", "--enable-soft-delete", "true", "--enable-purge-protection", "true", "--retention-days", "7")
	if !kv.Properties.EnableSoftDelete || !kv.Properties.EnablePurgeProtection || kv.Properties.SoftDeleteRetentionInDays != 7 || kv.Location != "westeurope" {
		t.Fatalf("vault: %+v", kv)
	}
	if len(kv.Properties.AccessPolicies) != 1 || kv.Properties.AccessPolicies[0].ObjectID != env.Conn.ObjectID {
		t.Fatalf("the creator has no access policy: %+v", kv.Properties.AccessPolicies)
	}
	c.fails("BadParameter", "keyvault", "update", "--name", "seed-kv", "--retention-days", "30")
	c.fails("ResourceNotFound", "keyvault", "show", "--name", "no-such-kv")

	// The key: RSA 2048.
	var k1 keyOutput
	c.json(&k1, "keyvault", "key", "create", "--vault-name", "seed-kv", "--name", "cmk", "--kty", "RSA", "--size", "2048", "--ops", "wrapKey", "unwrapKey")
	if k1.Key.Kty != "RSA" || len(k1.Key.N) < 340 || !k1.Attributes.Enabled || !reflect.DeepEqual(k1.Key.KeyOps, []string{"wrapKey", "unwrapKey"}) {
		t.Fatalf("key: %+v", k1)
	}
	if _, err := time.Parse(time.RFC3339, k1.Attributes.Created); err != nil {
		t.Fatalf("created is not ISO 8601: %q", k1.Attributes.Created)
	}
	c.fails("BadParameter", "keyvault", "key", "create", "--vault-name", "seed-kv", "--name", "small", "--size", "1000")

	// The namespace: Premium, system-assigned identity.
	var ns struct {
		Identity struct {
			Type        string
			PrincipalID string `json:"principalId"`
		}
		SKU        struct{ Name, Tier string }
		Properties struct {
			Status             string
			ServiceBusEndpoint string `json:"serviceBusEndpoint"`
			Encryption         *struct {
				KeyVaultProperties []struct{ KeyName, KeyVaultURI, KeyVersion string }
			}
		}
	}
	c.json(&ns, "servicebus", "namespace", "create", "-g", "seed-rg", "--name", "seed-sb-ns", "--sku", "Premium", "--mi-system-assigned")
	if ns.Identity.PrincipalID == "" || ns.SKU.Tier != "Premium" || ns.Properties.Encryption != nil {
		t.Fatalf("namespace: %+v", ns)
	}

	// Without access, encryption is refused with the server's code.
	c.fails("KeyVaultAccessDenied", "servicebus", "namespace", "encryption", "add", "--namespace-name", "seed-sb-ns", "-g", "seed-rg",
		"--key-name", "cmk", "--key-vault-uri", kv.Properties.VaultURI)

	// The seed's access policy for the namespace's identity.
	var withPolicy struct {
		Properties struct {
			AccessPolicies []struct {
				ObjectID    string
				Permissions struct{ Keys []string }
			}
		}
	}
	c.json(&withPolicy, "keyvault", "set-policy", "--name", "seed-kv", "--object-id", ns.Identity.PrincipalID, "--key-permissions", "get", "wrapKey", "unwrapKey", "list")
	found := false
	for _, p := range withPolicy.Properties.AccessPolicies {
		if p.ObjectID == ns.Identity.PrincipalID {
			found = reflect.DeepEqual(p.Permissions.Keys, []string{"get", "wrapKey", "unwrapKey", "list"})
		}
	}
	if !found {
		t.Fatalf("no policy for the namespace: %+v", withPolicy)
	}

	var enc struct {
		Encryption struct {
			KeySource          string
			KeyVaultProperties []struct{ KeyName, KeyVaultURI string }
		}
		Status string
	}
	c.ok("servicebus", "namespace", "encryption", "add", "--namespace-name", "seed-sb-ns", "-g", "seed-rg", "--key-name", "cmk", "--key-vault-uri", kv.Properties.VaultURI)
	c.json(&enc, "servicebus", "namespace", "encryption", "show", "--namespace-name", "seed-sb-ns", "-g", "seed-rg")
	if enc.Encryption.KeySource != "Microsoft.KeyVault" || len(enc.Encryption.KeyVaultProperties) != 1 || enc.Encryption.KeyVaultProperties[0].KeyName != "cmk" || enc.Status != "Active" {
		t.Fatalf("encryption: %+v", enc)
	}
	c.fails("KeyVaultPropertiesRequired", "servicebus", "namespace", "encryption", "remove", "--namespace-name", "seed-sb-ns", "-g", "seed-rg", "--key-name", "cmk", "--key-vault-uri", kv.Properties.VaultURI)

	// Rotate, then disable the old version: the namespace stays Active.
	var k2 keyOutput
	c.json(&k2, "keyvault", "key", "rotate", "--vault-name", "seed-kv", "--name", "cmk")
	if k2.version() == k1.version() || k2.Key.N == k1.Key.N {
		t.Fatalf("rotate gave the same version: %s", k2.Key.KID)
	}
	var old keyOutput
	c.json(&old, "keyvault", "key", "set-attributes", "--vault-name", "seed-kv", "--name", "cmk", "--version", k1.version(), "--enabled", "false")
	if old.Attributes.Enabled || old.version() != k1.version() {
		t.Fatalf("set-attributes: %+v", old)
	}
	var cur keyOutput
	c.json(&cur, "keyvault", "key", "show", "--id", k1.Key.KID[:strings.LastIndex(k1.Key.KID, "/")])
	if cur.version() != k2.version() || !cur.Attributes.Enabled {
		t.Fatalf("show: current version %s, want %s", cur.version(), k2.version())
	}
	c.json(&enc, "servicebus", "namespace", "encryption", "show", "--namespace-name", "seed-sb-ns", "-g", "seed-rg")
	if enc.Status != "Active" {
		t.Fatalf("status after rotation and disabling the old version: %s", enc.Status)
	}

	// Entities and connection strings.
	var q struct {
		Name       string
		Properties struct {
			CountDetails map[string]int64 `json:"countDetails"`
			MaxDelivery  int              `json:"maxDeliveryCount"`
			LockDuration string           `json:"lockDuration"`
		}
	}
	c.ok("servicebus", "queue", "create", "-g", "seed-rg", "--namespace-name", "seed-sb-ns", "--name", "orders", "--max-delivery-count", "5", "--lock-duration", "PT45S")
	c.json(&q, "servicebus", "queue", "show", "-g", "seed-rg", "--namespace-name", "seed-sb-ns", "--name", "orders")
	if q.Name != "orders" || q.Properties.MaxDelivery != 5 || q.Properties.LockDuration != "PT45S" {
		t.Fatalf("queue: %+v", q)
	}
	if v, ok := q.Properties.CountDetails["activeMessageCount"]; !ok || v != 0 {
		t.Fatalf("queue countDetails: %+v", q.Properties.CountDetails)
	}
	var keys struct {
		PrimaryConnectionString string `json:"primaryConnectionString"`
		KeyName                 string `json:"keyName"`
	}
	c.json(&keys, "servicebus", "namespace", "authorization-rule", "keys", "list", "-g", "seed-rg", "--namespace-name", "seed-sb-ns", "--name", "RootManageSharedAccessKey")
	if !strings.Contains(keys.PrimaryConnectionString, "Endpoint=sb://seed-sb-ns."+env.Conn.ServiceBusDNSSuffix) || !strings.Contains(keys.PrimaryConnectionString, "SharedAccessKeyName=RootManageSharedAccessKey") {
		t.Fatalf("connection string: %q", keys.PrimaryConnectionString)
	}

	// The audit log has every operation, by whom.
	out := c.ok("audit", "--vault", "seed-kv", "--key", "cmk", "--since", start.UTC().Format(time.RFC3339))
	ops := map[string]bool{}
	byNamespace := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e struct {
			Operation  string `json:"operationName"`
			ObjectID   string `json:"objectId"`
			ResultType string `json:"resultType"`
			KeyName    string `json:"keyName"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line is not JSON: %v: %s", err, sc.Text())
		}
		if e.KeyName != "cmk" {
			t.Fatalf("--key cmk gave an entry for %q", e.KeyName)
		}
		if e.ResultType == "Success" {
			ops[e.Operation] = true
			if e.ObjectID == ns.Identity.PrincipalID {
				byNamespace[e.Operation] = true
			}
		}
	}
	for _, op := range []string{"KeyCreate", "KeyRotate", "KeyUpdate", "KeyGet"} {
		if !ops[op] {
			t.Errorf("audit: no successful %s in\n%s", op, out)
		}
	}
	if !byNamespace["KeyWrap"] {
		t.Errorf("audit: the namespace's identity never wrapped: %v", byNamespace)
	}
	// Filters: the caller, a limit, and every vault at once.
	out = c.ok("audit", "--caller", ns.Identity.PrincipalID, "--limit", "1")
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, ns.Identity.PrincipalID) {
		t.Errorf("audit --caller --limit 1:\n%s", out)
	}
	if out = c.ok("audit", "--vault", "seed-kv", "--since", "1s", "--operation", "NoSuchOperation"); out != "" {
		t.Errorf("audit of nothing printed:\n%s", out)
	}

	// A Standard namespace cannot have customer keys.
	c.ok("servicebus", "namespace", "create", "-g", "seed-rg", "--name", "seed-std-ns", "--sku", "Standard")
	c.fails("CustomerManagedKeyNotSupported", "servicebus", "namespace", "encryption", "add", "--namespace-name", "seed-std-ns", "-g", "seed-rg", "--key-name", "cmk", "--key-vault-uri", kv.Properties.VaultURI)
}

// TestKeyVaultLifecycleWithCLI covers the remaining vault and key
// commands: list, update, policies, key delete/recover/purge, rotation
// policy, vault delete/recover/purge.
func TestKeyVaultLifecycleWithCLI(t *testing.T) {
	env := testenv.Start(t, nil)
	c := newCLI(t, env)
	c.ok("group", "create", "--name", "life-rg", "--location", "westus")
	c.ok("keyvault", "create", "--name", "life-kv", "-g", "life-rg", "--retention-days", "7")
	c.ok("keyvault", "create", "--name", "rbac-kv", "-g", "life-rg", "--enable-rbac-authorization")

	var list []struct {
		Name       string
		Properties struct {
			EnableRbacAuthorization bool
			EnablePurgeProtection   *bool
			AccessPolicies          []any
		}
	}
	c.json(&list, "keyvault", "list", "-g", "life-rg")
	if len(list) != 2 {
		t.Fatalf("list: %+v", list)
	}
	for _, v := range list {
		if v.Name == "rbac-kv" && (!v.Properties.EnableRbacAuthorization || len(v.Properties.AccessPolicies) != 0) {
			t.Fatalf("rbac vault: %+v", v)
		}
	}
	var upd struct {
		Properties struct{ EnablePurgeProtection bool }
	}
	c.json(&upd, "keyvault", "update", "--name", "life-kv", "--enable-purge-protection", "true")
	if !upd.Properties.EnablePurgeProtection {
		t.Fatal("purge protection not on")
	}
	c.fails("enablePurgeProtection", "keyvault", "update", "--name", "life-kv", "--enable-purge-protection", "false")

	// Policies: add for a principal, then remove.
	pr := struct{ ObjectID string }{}
	c.json(&pr, "principal", "create", "life-app")
	c.ok("keyvault", "set-policy", "-n", "life-kv", "--object-id", pr.ObjectID, "--key-permissions", "get,list")
	out := c.ok("keyvault", "delete-policy", "-n", "life-kv", "--object-id", pr.ObjectID)
	if strings.Contains(out, pr.ObjectID) {
		t.Fatalf("policy still there:\n%s", out)
	}

	// Keys: EC, dates, list, delete/recover/purge, rotation policy.
	var ec keyOutput
	c.json(&ec, "keyvault", "key", "create", "--vault-name", "life-kv", "-n", "sig", "--kty", "EC", "--curve", "P-384", "--expires", "2040-01-02T03:04:05Z", "--not-before", "2020-01-01", "--disabled")
	if ec.Key.Kty != "EC" || ec.Attributes.Enabled || ec.Attributes.Expires == nil || *ec.Attributes.Expires != "2040-01-02T03:04:05Z" || ec.Attributes.NotBefore == nil || *ec.Attributes.NotBefore != "2020-01-01T00:00:00Z" {
		t.Fatalf("EC key: %+v", ec)
	}
	c.fails("--expires", "keyvault", "key", "create", "--vault-name", "life-kv", "-n", "x", "--expires", "next week")
	c.fails("BadParameter", "keyvault", "key", "create", "--vault-name", "life-kv", "-n", "x", "--kty", "EC", "--curve", "P-999")
	c.ok("keyvault", "key", "create", "--vault-name", "life-kv", "-n", "tmp")
	var items []struct{ KID string }
	c.json(&items, "keyvault", "key", "list", "--vault-name", "life-kv")
	if len(items) != 2 {
		t.Fatalf("key list: %+v", items)
	}
	c.json(&items, "keyvault", "key", "list-versions", "--vault-name", "life-kv", "-n", "tmp")
	if len(items) != 1 {
		t.Fatalf("key list-versions: %+v", items)
	}
	var del struct {
		RecoveryID         string `json:"recoveryId"`
		ScheduledPurgeDate string `json:"scheduledPurgeDate"`
	}
	c.json(&del, "keyvault", "key", "delete", "--vault-name", "life-kv", "-n", "tmp")
	if del.RecoveryID == "" || del.ScheduledPurgeDate == "" {
		t.Fatalf("key delete: %+v", del)
	}
	c.json(&items, "keyvault", "key", "list-deleted", "--vault-name", "life-kv")
	if len(items) != 1 {
		t.Fatalf("list-deleted: %+v", items)
	}
	c.fails("Conflict", "keyvault", "key", "create", "--vault-name", "life-kv", "-n", "tmp")
	c.ok("keyvault", "key", "recover", "--vault-name", "life-kv", "-n", "tmp")
	c.ok("keyvault", "key", "show", "--vault-name", "life-kv", "-n", "tmp")
	c.ok("keyvault", "key", "delete", "--vault-name", "life-kv", "-n", "tmp")
	c.fails("Forbidden", "keyvault", "key", "purge", "--vault-name", "life-kv", "-n", "tmp") // purge protection

	pol := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(pol, []byte(`{"lifetime_actions":[{"trigger":{"time_after_create":"P90D"},"action":{"type":"Rotate"}},{"trigger":{"timeBeforeExpiry":"P30D"},"action":{"type":"Notify"}}],"attributes":{"expiryTime":"P1Y"}}`), 0o600)
	var rp struct {
		LifetimeActions []struct {
			Trigger struct{ TimeAfterCreate, TimeBeforeExpiry string }
			Action  struct{ Type string }
		}
		Attributes struct{ ExpiryTime string }
	}
	c.json(&rp, "keyvault", "key", "rotation-policy", "update", "--vault-name", "life-kv", "-n", "sig", "--value", "@"+pol)
	if len(rp.LifetimeActions) != 2 || rp.Attributes.ExpiryTime != "P1Y" {
		t.Fatalf("rotation policy: %+v", rp)
	}
	c.json(&rp, "keyvault", "key", "rotation-policy", "show", "--vault-name", "life-kv", "-n", "sig")
	if len(rp.LifetimeActions) != 2 || rp.LifetimeActions[0].Trigger.TimeAfterCreate != "P90D" {
		t.Fatalf("rotation policy show: %+v", rp)
	}

	// Vaults: delete, recover, delete, purge (refused under protection).
	c.ok("keyvault", "delete", "--name", "rbac-kv")
	c.fails("ResourceNotFound", "keyvault", "show", "--name", "rbac-kv")
	var rec struct{ Name string }
	c.json(&rec, "keyvault", "recover", "--name", "rbac-kv")
	if rec.Name != "rbac-kv" {
		t.Fatalf("recover: %+v", rec)
	}
	c.ok("keyvault", "show", "--name", "rbac-kv", "-g", "life-rg")
	c.ok("keyvault", "delete", "--name", "rbac-kv", "-g", "life-rg")
	c.ok("keyvault", "purge", "--name", "rbac-kv", "--location", "westus")
	c.fails("NotFound", "keyvault", "recover", "--name", "rbac-kv")
	c.ok("keyvault", "delete", "--name", "life-kv")
	c.fails("MethodNotAllowed", "keyvault", "purge", "--name", "life-kv")

	// Client-side checks.
	c.fails("vault name", "keyvault", "key", "show", "--vault-name", "bad.name", "-n", "k")
	c.fails(`required flag(s) "name"`, "keyvault", "show")
	c.fails("unexpected argument", "keyvault", "show", "-n", "x", "stray")
}

// TestServiceBusCommands covers namespace update/list/delete, identities
// and topics.
func TestServiceBusCommands(t *testing.T) {
	env := testenv.Start(t, nil)
	c := newCLI(t, env)
	c.ok("group", "create", "--name", "sb-rg", "--location", "westus")
	var id struct{ ID string }
	c.json(&id, "deployment", "group", "create", "-g", "sb-rg", "--template-file", writeFile(t, "uai.json", `{"$schema":"x","contentVersion":"1.0.0.0",
"resources":[{"type":"Microsoft.ManagedIdentity/userAssignedIdentities","apiVersion":"2023-01-31","name":"sb-uai","location":"westus"}]}`))
	uai := "/subscriptions/" + env.Conn.SubscriptionID + "/resourceGroups/sb-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/sb-uai"

	var ns struct {
		SKU struct {
			Name, Tier string
			Capacity   int
		}
		Identity struct {
			Type                   string
			UserAssignedIdentities map[string]any
		}
		Tags map[string]string
	}
	c.json(&ns, "servicebus", "namespace", "create", "-g", "sb-rg", "-n", "sb-cli-ns", "--sku", "Premium", "--capacity", "2", "--mi-user-assigned", uai, "--tags", "env=test")
	if ns.SKU.Capacity != 2 || ns.Identity.Type != "UserAssigned" || len(ns.Identity.UserAssignedIdentities) != 1 || ns.Tags["env"] != "test" {
		t.Fatalf("namespace: %+v", ns)
	}
	c.json(&ns, "servicebus", "namespace", "update", "-g", "sb-rg", "-n", "sb-cli-ns", "--capacity", "4", "--mi-system-assigned", "true")
	if ns.SKU.Capacity != 4 || ns.SKU.Tier != "Premium" || ns.Identity.Type != "SystemAssigned, UserAssigned" || len(ns.Identity.UserAssignedIdentities) != 1 {
		t.Fatalf("namespace update: %+v", ns)
	}
	c.fails("InvalidSkuCapacity", "servicebus", "namespace", "update", "-g", "sb-rg", "-n", "sb-cli-ns", "--capacity", "3")
	c.fails("InvalidNamespaceName", "servicebus", "namespace", "create", "-g", "sb-rg", "-n", "x")

	c.ok("servicebus", "topic", "create", "-g", "sb-rg", "--namespace-name", "sb-cli-ns", "-n", "events", "--enable-ordering", "true")
	c.ok("servicebus", "queue", "create", "-g", "sb-rg", "--namespace-name", "sb-cli-ns", "-n", "q1")
	var ents []struct {
		Name       string
		Properties map[string]any
	}
	c.json(&ents, "servicebus", "topic", "list", "-g", "sb-rg", "--namespace-name", "sb-cli-ns")
	if len(ents) != 1 || ents[0].Name != "events" || ents[0].Properties["supportOrdering"] != true {
		t.Fatalf("topic list: %+v", ents)
	}
	c.ok("servicebus", "topic", "delete", "-g", "sb-rg", "--namespace-name", "sb-cli-ns", "-n", "events")
	c.json(&ents, "servicebus", "queue", "list", "-g", "sb-rg", "--namespace-name", "sb-cli-ns")
	if len(ents) != 1 {
		t.Fatalf("queue list: %+v", ents)
	}
	c.ok("servicebus", "queue", "delete", "-g", "sb-rg", "--namespace-name", "sb-cli-ns", "-n", "q1")
	c.fails("EntityNotFound", "servicebus", "queue", "show", "-g", "sb-rg", "--namespace-name", "sb-cli-ns", "-n", "q1")
	var rules []struct{ Name string }
	c.json(&rules, "servicebus", "namespace", "authorization-rule", "list", "-g", "sb-rg", "--namespace-name", "sb-cli-ns")
	if len(rules) != 1 || rules[0].Name != "RootManageSharedAccessKey" {
		t.Fatalf("rules: %+v", rules)
	}

	var all []struct{ Name string }
	c.json(&all, "servicebus", "namespace", "list")
	if len(all) != 1 {
		t.Fatalf("namespace list: %+v", all)
	}
	c.ok("servicebus", "namespace", "delete", "-g", "sb-rg", "-n", "sb-cli-ns")
	c.json(&all, "servicebus", "namespace", "list", "-g", "sb-rg")
	if len(all) != 0 {
		t.Fatalf("namespace still listed: %+v", all)
	}
	c.fails("NotFound", "servicebus", "namespace", "show", "-g", "sb-rg", "-n", "sb-cli-ns")
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testArgsCmd is a command with one flag of each kind azArgs treats.
func testArgsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "x"}
	cmd.Flags().BoolP("flag", "f", false, "")
	cmd.Flags().StringSliceP("list", "L", nil, "")
	cmd.Flags().StringP("name", "n", "", "")
	return cmd
}

func TestAzArgs(t *testing.T) {
	cases := []struct {
		in, want []string
	}{
		{[]string{"--flag", "true", "--name", "a"}, []string{"--flag=true", "--name", "a"}},
		{[]string{"--flag", "FALSE"}, []string{"--flag=false"}},
		{[]string{"-f", "false"}, []string{"--flag=false"}},
		{[]string{"--flag", "--name", "true"}, []string{"--flag", "--name", "true"}},
		{[]string{"--flag", "yesplease"}, []string{"--flag", "yesplease"}},
		{[]string{"--list", "get", "wrapKey", "unwrapKey", "--name", "x"}, []string{"--list=get", "--list=wrapKey", "--list=unwrapKey", "--name", "x"}},
		{[]string{"-L", "a,b", "c"}, []string{"--list=a,b", "--list=c"}},
		{[]string{"--list"}, []string{"--list"}},
		{[]string{"--list=a", "b"}, []string{"--list=a", "b"}},
		{[]string{"--", "--flag", "true"}, []string{"--", "--flag", "true"}},
		{[]string{"--unknown", "true"}, []string{"--unknown", "true"}},
	}
	for _, c := range cases {
		if got := azArgs(testArgsCmd(), c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("azArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// Parsed: the values land where az puts them.
	cmd := testArgsCmd()
	if err := cmd.Flags().Parse(azArgs(cmd, []string{"--list", "get", "list", "-f", "true", "-n", "kv"})); err != nil {
		t.Fatal(err)
	}
	l, _ := cmd.Flags().GetStringSlice("list")
	f, _ := cmd.Flags().GetBool("flag")
	if !reflect.DeepEqual(l, []string{"get", "list"}) || !f || len(cmd.Flags().Args()) != 0 {
		t.Fatalf("parsed: %v %v %v", l, f, cmd.Flags().Args())
	}
}

func FuzzAzArgs(f *testing.F) {
	f.Add("--flag true --list a b -n x")
	f.Add("-f false -- --list")
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Fields(s)
		out := azArgs(testArgsCmd(), args)
		if len(out) > len(args) {
			t.Fatalf("azArgs grew %q into %q", args, out)
		}
		// Rewriting is idempotent.
		if again := azArgs(testArgsCmd(), out); !reflect.DeepEqual(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q", args, out, again)
		}
	})
}

func TestTimeFlags(t *testing.T) {
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2031-01-02T03:04:05Z", want: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)},
		{in: "2031-01-02T03:04:05+02:00", want: time.Date(2031, 1, 2, 1, 4, 5, 0, time.UTC)},
		{in: "2031-01-02T03:04:05", want: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)},
		{in: "2031-01-02", want: time.Date(2031, 1, 2, 0, 0, 0, 0, time.UTC)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "PT1H", want: now.Add(-time.Hour)},
		{in: "P1D", want: now.Add(-24 * time.Hour)},
		{in: "-5m", bad: true},
		{in: "yesterday", bad: true},
		{in: "NaNd", bad: true},
		{in: "", bad: true},
	}
	for _, c := range cases {
		got, err := auditTime("since", c.in, now)
		if c.bad {
			if err == nil || !strings.Contains(err.Error(), "--since") {
				t.Errorf("auditTime(%q) = %v, %v; want an error naming --since", c.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) {
			t.Errorf("auditTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func FuzzAuditTime(f *testing.F) {
	for _, s := range []string{"2031-01-02T03:04:05Z", "90m", "7d", "PT1H", "P1Y2M", "x"} {
		f.Add(s)
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := auditTime("since", s, now)
		if err == nil && got.IsZero() {
			t.Fatalf("auditTime(%q) gave the zero time without an error", s)
		}
	})
}

func TestCamelPolicyAndKeyOutput(t *testing.T) {
	var in any
	json.Unmarshal([]byte(`{"lifetime_actions":[{"trigger":{"time_before_expiry":"P30D"},"action":{"type":"Notify"}}],"attributes":{"expiry_time":"P1Y"}}`), &in)
	b, _ := json.Marshal(camelPolicy(in))
	if want := `{"attributes":{"expiryTime":"P1Y"},"lifetimeActions":[{"action":{"type":"Notify"},"trigger":{"timeBeforeExpiry":"P30D"}}]}`; string(b) != want {
		t.Fatalf("camelPolicy: %s", b)
	}
	var kb any
	json.Unmarshal([]byte(`{"key":{"kid":"k"},"attributes":{"enabled":true,"created":1700000000,"exp":1800000000},"deletedDate":1700000001}`), &kb)
	b, _ = json.Marshal(azKeyOut(kb))
	if want := `{"attributes":{"created":"2023-11-14T22:13:20Z","enabled":true,"expires":"2027-01-15T08:00:00Z","notBefore":null},"deletedDate":"2023-11-14T22:13:21Z","key":{"kid":"k"}}`; string(b) != want {
		t.Fatalf("azKeyOut: %s", b)
	}
}
