package authz

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

func TestMatchAction(t *testing.T) {
	cases := []struct {
		p, a string
		want bool
	}{
		{"*", "Microsoft.KeyVault/vaults/write", true},
		{"*/read", "Microsoft.KeyVault/vaults/read", true},
		{"*/read", "Microsoft.KeyVault/vaults/write", false},
		{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write", true},
		{"Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keys/unwrap/action", true},
		{"Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/secrets/getSecret/action", false},
		{"Microsoft.ServiceBus/*/send/action", "Microsoft.ServiceBus/namespaces/queues/send/action", true},
		{"Microsoft.ServiceBus/*/send/action", "Microsoft.ServiceBus/namespaces/queues/receive/action", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
	}
	for _, c := range cases {
		if got := MatchAction(c.p, c.a); got != c.want {
			t.Errorf("MatchAction(%q, %q) = %v", c.p, c.a, got)
		}
	}
}

func TestScopeContains(t *testing.T) {
	sub := "/subscriptions/S1"
	rg := sub + "/resourceGroups/RG"
	if !ScopeContains(sub, rg+"/providers/Microsoft.KeyVault/vaults/kv") || !ScopeContains("/", sub) || !ScopeContains(rg, rg+"/") {
		t.Fatal("containment")
	}
	if ScopeContains(rg, sub+"/resourceGroups/RG2") || ScopeContains(rg+"/providers/x/y/kv", rg) {
		t.Fatal("false containment")
	}
}

func TestEvaluatorInheritanceAndNotActions(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dk, _ := seal.NewDataKey()
	s, err := New(ctx, st, dk, clock.NewManual(time.Now()), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := uuid.NewString()
	sub := "/subscriptions/" + uuid.NewString()
	rg := sub + "/resourceGroups/rg1"
	vault := rg + "/providers/Microsoft.KeyVault/vaults/kv1"
	if s.Allowed(p, vault, "Microsoft.KeyVault/vaults/read") {
		t.Fatal("no role, but read allowed")
	}
	if _, err := s.Create(ctx, Assignment{Name: uuid.NewString(), Scope: sub, RoleDefinitionID: RoleReader, PrincipalID: p}); err != nil {
		t.Fatal(err)
	}
	if !s.Allowed(p, vault, "Microsoft.KeyVault/vaults/read") || s.Allowed(p, vault, "Microsoft.KeyVault/vaults/write") {
		t.Fatal("reader at subscription")
	}
	name := uuid.NewString()
	if _, err := s.Create(ctx, Assignment{Name: name, Scope: rg, RoleDefinitionID: RoleContributor, PrincipalID: p}); err != nil {
		t.Fatal(err)
	}
	if !s.Allowed(p, vault, "Microsoft.KeyVault/vaults/write") {
		t.Fatal("contributor inherited from group")
	}
	if s.Allowed(p, vault, "Microsoft.Authorization/roleAssignments/write") || s.Allowed(p, sub+"/resourceGroups/rg2/providers/x/y/z", "Microsoft.KeyVault/vaults/write") {
		t.Fatal("contributor's notActions or scope ignored")
	}
	if s.AllowedData(p, vault, "Microsoft.KeyVault/vaults/keys/unwrap/action") {
		t.Fatal("contributor has no data actions")
	}
	if _, err := s.Create(ctx, Assignment{Name: uuid.NewString(), Scope: rg, RoleDefinitionID: RoleContributor, PrincipalID: p}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := s.Create(ctx, Assignment{Name: uuid.NewString(), Scope: vault, RoleDefinitionID: RoleKeyVaultCryptoServiceEncUser, PrincipalID: p}); err != nil {
		t.Fatal(err)
	}
	if !s.AllowedData(p, vault, "Microsoft.KeyVault/vaults/keys/unwrap/action") || s.AllowedData(p, vault, "Microsoft.KeyVault/vaults/keys/sign/action") {
		t.Fatal("crypto service encryption user data actions")
	}
	// Reload from the store.
	s2, err := New(ctx, st, dk, clock.Real{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.Allowed(p, vault, "Microsoft.KeyVault/vaults/write") {
		t.Fatal("assignments not persisted")
	}
	if _, err := s2.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if s2.Allowed(p, vault, "Microsoft.KeyVault/vaults/write") {
		t.Fatal("deleted assignment still grants")
	}
	if err := s2.DeleteUnder(ctx, rg); err != nil {
		t.Fatal(err)
	}
	if s2.AllowedData(p, vault, "Microsoft.KeyVault/vaults/keys/unwrap/action") || !s2.Allowed(p, vault, "Microsoft.KeyVault/vaults/read") {
		t.Fatal("DeleteUnder removed the wrong assignments")
	}
}
