package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/internal/vault"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestPrincipalCreateGetsItsOwnToken(t *testing.T) {
	env := testenv.Start(t, nil)
	out, err := run(t, "principal", "create", "ci-app", "--data-dir", env.DataDir)
	if err != nil {
		t.Fatalf("principal create: %v\n%s", err, out)
	}
	var p struct{ ClientID, ClientSecret, ObjectID, TenantID string }
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if p.TenantID != env.Conn.TenantID || p.ClientID == "" || p.ClientSecret == "" || p.ObjectID == "" {
		t.Fatalf("incomplete output: %+v", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := env.Credential(t, p.ClientID, p.ClientSecret).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err != nil {
		t.Fatalf("token for the new principal: %v", err)
	}
	c, err := env.App.Identity.ValidateToken(tok.Token, "https://vault.azure.net")
	if err != nil || c.ObjectID != p.ObjectID {
		t.Fatalf("claims %+v, %v", c, err)
	}
}

func TestHostsAndVersion(t *testing.T) {
	env := testenv.Start(t, nil)
	out, err := run(t, "hosts", "--connection", filepath.Join(env.DataDir, "connection.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "127.0.0.1 login.keyward.localhost\n") || !strings.Contains(out, "management.keyward.localhost") {
		t.Fatalf("hosts output:\n%s", out)
	}
	// Vaults and namespaces appear once they exist.
	conn := filepath.Join(env.DataDir, "connection.json")
	if _, err := run(t, "group", "create", "--name", "hosts-rg", "--connection", conn); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.App.Vault.CreateOrUpdateVault(context.Background(), vault.Caller{ObjectID: env.Conn.ObjectID}, vault.VaultSpec{
		SubscriptionID: env.Conn.SubscriptionID, ResourceGroup: "hosts-rg", Name: "hosts-kv", Location: "westus",
		TenantID: &env.Conn.TenantID, SKU: &vault.SKU{Family: "A", Name: "standard"},
	}); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "hosts", "--connection", conn)
	if err != nil || !strings.Contains(out, "127.0.0.1 hosts-kv.vault.keyward.localhost\n") {
		t.Fatalf("hosts with a vault: %v\n%s", err, out)
	}
	// az-cloud: the Azure CLI cloud configuration (e2e/TestAzureCLI uses it).
	out, err = run(t, "az-cloud", "--connection", conn)
	var cloud struct {
		Endpoints map[string]string
		Suffixes  map[string]string
	}
	if err != nil || json.Unmarshal([]byte(out), &cloud) != nil {
		t.Fatalf("az-cloud: %v\n%s", err, out)
	}
	_, port, _ := net.SplitHostPort(env.Conn.HTTPSAddr)
	if cloud.Endpoints["activeDirectory"] != strings.TrimRight(env.Conn.AuthorityHost, "/")+"/adfs" ||
		cloud.Endpoints["resourceManager"] != env.Conn.ResourceManagerEndpoint ||
		cloud.Suffixes["keyvaultDns"] != ".vault.keyward.localhost:"+port {
		t.Fatalf("az-cloud output:\n%s", out)
	}
	out, err = run(t, "version")
	if err != nil || !strings.HasPrefix(out, "keyward ") {
		t.Fatalf("version: %q %v", out, err)
	}
}

// TestServeBadFlags runs the real binary: a bad flag or data dir stops the
// start with one line naming the flag and a non-zero exit.
func TestServeBadFlags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "keyward")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o600)
	cases := []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"serve", "--key-poll-interval", "soon"}, nil, "--key-poll-interval"},
		{[]string{"serve", "--addr", "nohostport"}, nil, "--addr"},
		{[]string{"serve", "--log-format", "xml"}, nil, "--log-format"},
		{[]string{"serve", "--domain", "Bad_Domain"}, nil, "--domain"},
		{[]string{"serve"}, []string{"KEYWARD_ISE_KEY_ACCESS_TIMEOUT=forever"}, "--ise-key-access-timeout (from KEYWARD_ISE_KEY_ACCESS_TIMEOUT)"},
		{[]string{"serve", "--data-dir", filepath.Join(file, "sub")}, nil, "data dir"},
	}
	for _, c := range cases {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%v: exit 0", c.args)
			continue
		}
		s := strings.TrimRight(string(out), "\n")
		if strings.Count(s, "\n") != 0 || !strings.Contains(s, c.want) {
			t.Errorf("%v %v: want one line naming %q, got:\n%s", c.args, c.env, c.want, s)
		}
	}
}

func TestGroupRoleAndDeploymentCommands(t *testing.T) {
	env := testenv.Start(t, nil)
	conn := filepath.Join(env.DataDir, "connection.json")
	out, err := run(t, "group", "create", "--name", "cli-rg", "--location", "westeurope", "--tags", "team=a", "--connection", conn)
	if err != nil || !strings.Contains(out, `"location": "westeurope"`) {
		t.Fatalf("group create: %v\n%s", err, out)
	}
	out, err = run(t, "principal", "create", "cli-reader", "--connection", conn)
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ ObjectID string }
	json.Unmarshal([]byte(out), &p)
	out, err = run(t, "role", "assignment", "create", "--assignee", p.ObjectID, "--role", "Reader", "--scope", "/subscriptions/"+env.Conn.SubscriptionID+"/resourceGroups/cli-rg", "--connection", conn)
	if err != nil || !strings.Contains(out, "acdd72a7-3385-48ef-bd42-f606fba81ae7") {
		t.Fatalf("role assignment create: %v\n%s", err, out)
	}
	if !env.App.Authz.Allowed(p.ObjectID, "/subscriptions/"+env.Conn.SubscriptionID+"/resourceGroups/cli-rg", "Microsoft.Resources/subscriptions/resourceGroups/read") {
		t.Fatal("the assignment does not grant read")
	}
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "ids.json")
	os.WriteFile(tmpl, []byte(`{"$schema":"x","contentVersion":"1.0.0.0","parameters":{"name":{"type":"string"},"location":{"type":"string","defaultValue":"[resourceGroup().location]"}},
"resources":[{"type":"Microsoft.ManagedIdentity/userAssignedIdentities","apiVersion":"2023-01-31","name":"[parameters('name')]","location":"[parameters('location')]"}],
"outputs":{"id":{"type":"string","value":"[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', parameters('name'))]"}}}`), 0o600)
	params := filepath.Join(dir, "ids.parameters.json")
	os.WriteFile(params, []byte(`{"$schema":"x","contentVersion":"1.0.0.0","parameters":{"name":{"value":"from-file"}}}`), 0o600)
	out, err = run(t, "deployment", "group", "create", "-g", "cli-rg", "--template-file", tmpl, "--parameters", params, "--connection", conn)
	if err != nil || !strings.Contains(out, `"provisioningState": "Succeeded"`) || !strings.Contains(out, "userAssignedIdentities/from-file") {
		t.Fatalf("deployment create: %v\n%s", err, out)
	}
	out, err = run(t, "deployment", "group", "create", "-g", "cli-rg", "--template-file", tmpl, "--parameters", "name=inline-id", "--connection", conn)
	if err != nil || !strings.Contains(out, "userAssignedIdentities/inline-id") {
		t.Fatalf("deployment with key=value: %v\n%s", err, out)
	}
	out, err = run(t, "group", "list", "--connection", conn)
	if err != nil || !strings.Contains(out, "cli-rg") {
		t.Fatalf("group list: %v\n%s", err, out)
	}
	if out, err = run(t, "group", "delete", "--name", "cli-rg", "--yes", "--connection", conn); err != nil {
		t.Fatalf("group delete: %v\n%s", err, out)
	}
	out, _ = run(t, "group", "list", "--connection", conn)
	if strings.Contains(out, "cli-rg") {
		t.Fatalf("group still listed after delete:\n%s", out)
	}
}

// TestServeStopsCleanlyOnSIGTERM runs the real binary, waits for it to be
// healthy and stops it with SIGTERM: exit status 0.
func TestServeStopsCleanlyOnSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "keyward")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--amqp-addr", "127.0.0.1:0", "--amqp-plain-addr", "", "--log-format", "json")
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "keyward is ready") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("not ready:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "connection.json")); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "keyward stopped") {
		t.Fatalf("no clean stop in the log:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
