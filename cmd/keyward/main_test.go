package main

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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/keyward/keyward/internal/testenv"
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
