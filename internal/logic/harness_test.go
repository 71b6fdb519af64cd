package logic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/keybinding"
	"github.com/keyward/keyward/internal/managedidentity"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// fakeVault is a key vault with one RSA key per name: it lets principals in
// allowed use the key and wraps by tagging the plaintext (a test stand-in for
// RSA-OAEP).
type fakeVault struct {
	mu       sync.Mutex
	allowed  map[string]bool // object id -> may use the key
	disabled bool
	subs     []func(keybinding.Event)
	vsubs    []func(string)
	rbac     bool
	purge    bool
	size     int
	kty      string
}

func (v *fakeVault) check(p keybinding.Principal) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.allowed[p.ObjectID] {
		return fmt.Errorf("%w: no access policy for %s", keybinding.ErrKeyDenied, p.ObjectID)
	}
	return nil
}

func (v *fakeVault) GetKey(_ context.Context, p keybinding.Principal, vaultName, key, version string) (keybinding.KeyInfo, error) {
	if err := v.check(p); err != nil {
		return keybinding.KeyInfo{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	info := keybinding.KeyInfo{Version: "v1", Kty: "RSA", Size: 2048, Enabled: !v.disabled}
	if v.size != 0 {
		info.Size = v.size
	}
	if v.kty != "" {
		info.Kty = v.kty
	}
	return info, nil
}

func (v *fakeVault) WrapKey(_ context.Context, p keybinding.Principal, vaultName, key, version, alg string, pt []byte) (string, []byte, error) {
	if err := v.check(p); err != nil {
		return "", nil, err
	}
	return "v1", append([]byte("wrapped:"), pt...), nil
}

func (v *fakeVault) UnwrapKey(_ context.Context, p keybinding.Principal, vaultName, key, version, alg string, ct []byte) ([]byte, error) {
	if err := v.check(p); err != nil {
		return nil, err
	}
	v.mu.Lock()
	disabled := v.disabled
	v.mu.Unlock()
	if disabled {
		return nil, fmt.Errorf("%w: disabled", keybinding.ErrKeyDisabled)
	}
	pt, ok := bytes.CutPrefix(ct, []byte("wrapped:"))
	if !ok {
		return nil, errors.New("not wrapped here")
	}
	return pt, nil
}

func (v *fakeVault) Subscribe(fn func(keybinding.Event)) func() {
	v.mu.Lock()
	v.subs = append(v.subs, fn)
	v.mu.Unlock()
	return func() {}
}

// event tells both the engine and the logic service that the vault changed.
func (v *fakeVault) event() {
	v.mu.Lock()
	subs, vsubs := append([]func(keybinding.Event){}, v.subs...), append([]func(string){}, v.vsubs...)
	v.mu.Unlock()
	for _, fn := range subs {
		fn(keybinding.Event{VaultName: "kv1"})
	}
	for _, fn := range vsubs {
		fn("kv1")
	}
}

// allow grants or removes access and publishes a vault event.
func (v *fakeVault) allow(oid string, on bool) {
	v.mu.Lock()
	v.allowed[oid] = on
	v.mu.Unlock()
	v.event()
}

// logic.Vaults
type fakeVaults struct{ v *fakeVault }

func (f fakeVaults) Vault(_ context.Context, name string) (VaultInfo, error) {
	if name != "kv1" {
		return VaultInfo{}, errors.New("no such vault")
	}
	f.v.mu.Lock()
	defer f.v.mu.Unlock()
	return VaultInfo{ID: "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1", Name: "kv1",
		URI: "https://kv1.vault.test/", SoftDelete: true, PurgeProtection: f.v.purge, RBAC: f.v.rbac}, nil
}

func (f fakeVaults) Subscribe(fn func(string)) func() {
	f.v.mu.Lock()
	f.v.vsubs = append(f.v.vsubs, fn)
	f.v.mu.Unlock()
	return func() {}
}

// fakeDirectory makes managed identities.
type fakeDirectory struct{}

func (fakeDirectory) CreateManagedIdentity(_ context.Context, tenantID, resourceID, name string) (identity.Principal, error) {
	return identity.Principal{ObjectID: uuid.NewString(), AppID: uuid.NewString(), TenantID: tenantID, DisplayName: name}, nil
}
func (fakeDirectory) DeletePrincipal(context.Context, string, string) error { return nil }
func (fakeDirectory) Principal(context.Context, string, string) (identity.Principal, error) {
	return identity.Principal{}, identity.ErrNotFound
}
func (fakeDirectory) CreateIdentityEndpointSecret(context.Context, string, string, string, []string) (string, error) {
	return "", nil
}

// denyPolicies allows everything but writing vault access policies.
type denyPolicies struct{}

func (denyPolicies) Allowed(_, _, action string) bool { return action != accessPolicyWriteAction }

// fakeSB records sent messages.
type fakeSB struct {
	mu   sync.Mutex
	sent []ServiceBusMessage
	to   []string
}

func (f *fakeSB) Send(_ context.Context, conn ServiceBusConnection, entity string, m ServiceBusMessage) error {
	if conn.Key != "secret" {
		return errors.New("unauthorized")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, m)
	f.to = append(f.to, conn.Host+"/"+entity)
	return nil
}

// fakeHTTP answers every request with a JSON echo.
type fakeHTTP struct {
	mu   sync.Mutex
	reqs []HTTPRequest
}

func (f *fakeHTTP) Do(_ context.Context, r HTTPRequest) (HTTPResponse, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, r)
	f.mu.Unlock()
	if strings.Contains(r.URL, "/fail") {
		return HTTPResponse{StatusCode: 500, Headers: map[string]string{"Content-Type": "text/plain"}, Body: []byte("boom")}, nil
	}
	b, _ := json.Marshal(map[string]any{"method": r.Method, "url": r.URL, "body": string(r.Body)})
	return HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: b}, nil
}

type harness struct {
	s     *Service
	clock *clock.Manual
	vault *fakeVault
	kb    *keybinding.Engine
	sb    *fakeSB
	http  *fakeHTTP
	m     *arm.Manager
	st    store.Store
	dk    *seal.DataKey
	msi   *managedidentity.Service
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dk, err := seal.NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	root, err := seal.NewRootKey()
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	v := &fakeVault{allowed: map[string]bool{}, purge: true}
	log := slog.New(slog.DiscardHandler)
	kb := keybinding.New(st, dk, root, v, clk, log, keybinding.Config{PollInterval: time.Hour})
	if err := kb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kb.Close)
	m := arm.NewManager(st, dk, clk, log, denyPolicies{}, nil, arm.Config{})
	t.Cleanup(m.Close)
	msi := managedidentity.New(st, dk, fakeDirectory{}, clk.Now)
	h := &harness{clock: clk, vault: v, kb: kb, sb: &fakeSB{}, http: &fakeHTTP{}, m: m, st: st, dk: dk, msi: msi}
	h.start(t)
	return h
}

// start starts a (new) Service on the harness's store, as a restart would.
func (h *harness) start(t *testing.T) {
	t.Helper()
	h.s = New(h.st, h.dk, h.kb, h.msi, h.m, fakeVaults{h.vault}, h.sb, h.http, h.clock, slog.New(slog.DiscardHandler), Config{
		KeyAccessTimeout: 30 * time.Minute, AccessPollInterval: 10 * time.Second, CallbackBase: "https://management.test:8443",
	})
	if err := h.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.s.Close)
}

var caller = arm.Caller{TenantID: "tenant1", ObjectID: "admin"}

func subnets() []string {
	var out []string
	for _, s := range []string{"a", "b", "c", "d"} {
		out = append(out, "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/v/subnets/"+s)
	}
	return out
}

func iseSpec(name string, withKey bool) ISESpec {
	spec := ISESpec{SubscriptionID: "sub1", ResourceGroup: "rg1", Name: name, TenantID: "tenant1", Location: "westeurope",
		Identity: &managedidentity.JSON{Type: "SystemAssigned"}, Network: &NetworkSpec{AccessEndpoint: "External", Subnets: subnets()}}
	if withKey {
		spec.Key = &KeySpec{VaultID: "subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1", KeyName: "k1"}
		spec.KeyGiven = true
	}
	return spec
}

// eventually waits (in real time) for cond; background goroutines react to
// the manual clock asynchronously.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *harness) state(id string) string {
	x, _ := h.s.GetISE(id)
	return x.ProvisioningState
}
