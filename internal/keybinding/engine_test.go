package keybinding

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// fakeVault is an in-memory vault with RSA keys, versions, enable flags and
// per-principal access.
type fakeVault struct {
	mu      sync.Mutex
	keys    map[string][]*fakeVersion // vault/key -> versions, oldest first
	deleted map[string]bool
	denied  map[string]bool // vault/key/objectID
	subs    []func(Event)
	calls   map[string]int
	// unreachable makes GetKey fail with ErrVaultUnreachable.
	unreachable bool
}

type fakeVersion struct {
	id      string
	key     *rsa.PrivateKey
	enabled bool
}

func newFakeVault() *fakeVault {
	return &fakeVault{keys: map[string][]*fakeVersion{}, deleted: map[string]bool{}, denied: map[string]bool{}, calls: map[string]int{}}
}

var testKeys = map[int]*rsa.PrivateKey{}
var testKeysMu sync.Mutex

func rsaKey(t *testing.T, i int) *rsa.PrivateKey {
	testKeysMu.Lock()
	defer testKeysMu.Unlock()
	if k, ok := testKeys[i]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	testKeys[i] = k
	return k
}

func (f *fakeVault) addVersion(t *testing.T, vault, key string, n int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := fmt.Sprintf("v%d", len(f.keys[vault+"/"+key])+1)
	f.keys[vault+"/"+key] = append(f.keys[vault+"/"+key], &fakeVersion{id: id, key: rsaKey(t, n), enabled: true})
	return id
}

func (f *fakeVault) publish(ev Event) {
	f.mu.Lock()
	subs := append([]func(Event){}, f.subs...)
	f.mu.Unlock()
	for _, s := range subs {
		s(ev)
	}
}

func (f *fakeVault) version(p Principal, vault, key, version string) (*fakeVersion, error) {
	k := vault + "/" + key
	if f.deleted[k] {
		return nil, fmt.Errorf("%w: deleted", ErrKeyNotFound)
	}
	if f.denied[k+"/"+p.ObjectID] {
		return nil, fmt.Errorf("%w: no policy", ErrKeyDenied)
	}
	vs := f.keys[k]
	if len(vs) == 0 {
		return nil, ErrKeyNotFound
	}
	if version == "" {
		return vs[len(vs)-1], nil
	}
	for _, v := range vs {
		if v.id == version {
			return v, nil
		}
	}
	return nil, ErrKeyNotFound
}

func (f *fakeVault) GetKey(ctx context.Context, p Principal, vault, key, version string) (KeyInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["get"]++
	if f.unreachable {
		return KeyInfo{}, ErrVaultUnreachable
	}
	v, err := f.version(p, vault, key, version)
	if err != nil {
		return KeyInfo{}, err
	}
	return KeyInfo{Version: v.id, Kty: "RSA", Size: v.key.N.BitLen(), Enabled: v.enabled}, nil
}

func (f *fakeVault) WrapKey(ctx context.Context, p Principal, vault, key, version, alg string, pt []byte) (string, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["wrap"]++
	v, err := f.version(p, vault, key, version)
	if err != nil {
		return "", nil, err
	}
	if !v.enabled {
		return "", nil, ErrKeyDisabled
	}
	ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, &v.key.PublicKey, pt, nil)
	return v.id, ct, err
}

func (f *fakeVault) UnwrapKey(ctx context.Context, p Principal, vault, key, version, alg string, ct []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["unwrap"]++
	v, err := f.version(p, vault, key, version)
	if err != nil {
		return nil, err
	}
	if !v.enabled {
		return nil, ErrKeyDisabled
	}
	return rsa.DecryptOAEP(sha1.New(), nil, v.key, ct, nil)
}

func (f *fakeVault) Subscribe(fn func(Event)) func() {
	f.mu.Lock()
	f.subs = append(f.subs, fn)
	f.mu.Unlock()
	return func() {}
}

func (f *fakeVault) set(fn func()) {
	f.mu.Lock()
	fn()
	f.mu.Unlock()
}

type harness struct {
	t     *testing.T
	st    store.Store
	sys   *seal.DataKey
	root  *seal.RootKey
	fv    *fakeVault
	clk   *clock.Manual
	eng   *Engine
	dir   string
	grace time.Duration
}

func newHarness(t *testing.T) *harness {
	dir := t.TempDir()
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sys, _ := seal.NewDataKey()
	root, _ := seal.NewRootKey()
	h := &harness{t: t, st: st, sys: sys, root: root, fv: newFakeVault(), clk: clock.NewManual(time.Now()), dir: dir}
	h.start()
	return h
}

func (h *harness) start() {
	h.eng = New(h.st, h.sys, h.root, h.fv, h.clk, slog.New(slog.DiscardHandler), Config{PollInterval: time.Minute, UnreachableGrace: h.grace})
	if err := h.eng.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(h.eng.Close)
}

var principal = func(string) (Principal, error) { return Principal{TenantID: "t", ObjectID: "ns-identity"}, nil }

func ref(key string) KeyRef {
	return KeyRef{VaultURI: "https://kv1.vault.keyward.localhost:8443/", KeyName: key}
}

// waitStatus polls the binding until it reaches want (events are async).
func (h *harness) waitStatus(id string, want Status) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if info, _ := h.eng.Info(id); info.Status == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	info, _ := h.eng.Info(id)
	h.t.Fatalf("status %s, want %s: %+v", info.Status, want, info.Keys)
}

func TestRootWrappedAndCustomerKeys(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/ns1"
	if err := h.eng.Create(ctx, id, "t"); err != nil {
		t.Fatal(err)
	}
	dk, err := h.eng.DataKey(id)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := dk.Seal([]byte("ctx"), []byte("hello"))
	for i, k := range []string{"k1", "k2", "k3", "k4"} {
		h.fv.addVersion(t, "kv1", k, i)
	}
	// Four keys are refused; a 1024-bit key would be refused by the size check.
	if err := h.eng.SetKeys(ctx, id, []KeyRef{ref("k1"), ref("k2"), ref("k3"), ref("k4")}, principal, Options{}); err == nil {
		t.Fatal("four keys accepted")
	}
	if err := h.eng.SetKeys(ctx, id, []KeyRef{ref("k1"), ref("k2"), ref("k3")}, principal, Options{}); err != nil {
		t.Fatal(err)
	}
	// The data key did not change: old data still opens.
	dk2, _ := h.eng.DataKey(id)
	if pt, err := dk2.Open([]byte("ctx"), sealed); err != nil || string(pt) != "hello" {
		t.Fatalf("data sealed before the keys were set: %v", err)
	}
	// The envelope no longer holds a root wrap: only customer keys open it.
	info, _ := h.eng.Info(id)
	if !info.CustomerManaged || len(info.Keys) != 3 || info.Status != StatusActive {
		t.Fatalf("info: %+v", info)
	}
	rec, _ := h.eng.tab.Get(ctx, lower(id))
	var env seal.Envelope
	env.UnmarshalBinary(rec.Envelope)
	for _, w := range env.Wraps {
		if w.KEKID == seal.RootKEKID {
			t.Fatal("customer-managed envelope still root-wrapped")
		}
	}

	// Two disabled: still Active. All three: Revoked in under a second via events.
	h.fv.set(func() { h.fv.keys["kv1/k1"][0].enabled = false; h.fv.keys["kv1/k2"][0].enabled = false })
	h.fv.publish(Event{VaultName: "kv1", KeyName: "k1"})
	h.fv.publish(Event{VaultName: "kv1", KeyName: "k2"})
	time.Sleep(50 * time.Millisecond)
	h.waitStatus(id, StatusActive)
	start := time.Now()
	h.fv.set(func() { h.fv.keys["kv1/k3"][0].enabled = false })
	h.fv.publish(Event{VaultName: "kv1", KeyName: "k3"})
	h.waitStatus(id, StatusRevoked)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("revocation took %v", d)
	}
	if _, err := h.eng.DataKey(id); !errors.Is(err, ErrRevoked) {
		t.Fatalf("DataKey while revoked: %v", err)
	}
	// Re-enable one: Active again with the same data key.
	h.fv.set(func() { h.fv.keys["kv1/k2"][0].enabled = true })
	h.fv.publish(Event{VaultName: "kv1", KeyName: "k2"})
	h.waitStatus(id, StatusActive)
	dk3, err := h.eng.DataKey(id)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := dk3.Open([]byte("ctx"), sealed); err != nil || string(pt) != "hello" {
		t.Fatalf("after restore: %v", err)
	}
}

func TestRotationAndPollFallback(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := "ns-rot"
	h.eng.Create(ctx, id, "t")
	h.fv.addVersion(t, "kv1", "k1", 0)
	pinned := ref("k2")
	v := h.fv.addVersion(t, "kv1", "k2", 1)
	pinned.KeyVersion = v
	if err := h.eng.SetKeys(ctx, id, []KeyRef{ref("k1"), pinned}, principal, Options{}); err != nil {
		t.Fatal(err)
	}
	// Rotate both keys, without events: the poll re-wraps the versionless one only.
	h.fv.addVersion(t, "kv1", "k1", 2)
	h.fv.addVersion(t, "kv1", "k2", 3)
	h.clk.Advance(time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, _ := h.eng.Info(id)
		if info.Keys[0].Version == "v2" {
			if info.Keys[1].Version != "v1" {
				t.Fatalf("pinned key followed a rotation: %+v", info.Keys)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation not followed: %+v", info.Keys)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The old version of k1 can now be disabled with no effect; disabling the
	// pinned k2 too leaves k1 v2 alone: still Active.
	h.fv.set(func() { h.fv.keys["kv1/k1"][0].enabled = false; h.fv.keys["kv1/k2"][0].enabled = false })
	h.eng.Check(ctx, id)
	if info, _ := h.eng.Info(id); info.Status != StatusActive || !info.Keys[0].Usable || info.Keys[1].Usable {
		t.Fatalf("after disabling old versions: %+v", info)
	}
	// Access removed on k1: revoked at the next poll.
	h.fv.set(func() { h.fv.denied["kv1/k1/ns-identity"] = true })
	h.clk.Advance(time.Minute)
	h.waitStatus(id, StatusRevoked)
	// Restart while revoked: still revoked; access granted again: active.
	h.eng.Close()
	h.start()
	if info, _ := h.eng.Info(id); info.Status != StatusRevoked {
		t.Fatalf("after restart: %s", info.Status)
	}
	h.fv.set(func() { delete(h.fv.denied, "kv1/k1/ns-identity") })
	h.fv.publish(Event{VaultName: "kv1"})
	h.waitStatus(id, StatusActive)
}

func TestDeletedKeyAndNoVaultCallPerDataKey(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := "ns-del"
	h.eng.Create(ctx, id, "t")
	h.fv.addVersion(t, "kv1", "k1", 0)
	if err := h.eng.SetKeys(ctx, id, []KeyRef{ref("k1")}, principal, Options{}); err != nil {
		t.Fatal(err)
	}
	before := h.fv.calls["unwrap"]
	for i := 0; i < 1000; i++ {
		if _, err := h.eng.DataKey(id); err != nil {
			t.Fatal(err)
		}
	}
	if h.fv.calls["unwrap"] != before {
		t.Fatal("DataKey called the vault")
	}
	h.fv.set(func() { h.fv.deleted["kv1/k1"] = true })
	h.fv.publish(Event{VaultName: "kv1", KeyName: "k1"})
	h.waitStatus(id, StatusRevoked)
	h.fv.set(func() { delete(h.fv.deleted, "kv1/k1") })
	h.fv.publish(Event{VaultName: "kv1", KeyName: "k1"})
	h.waitStatus(id, StatusActive)
	if err := h.eng.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := h.eng.DataKey(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestUnreachableGrace(t *testing.T) {
	h := newHarness(t)
	h.eng.Close()
	h.grace = 10 * time.Minute
	h.start()
	ctx := context.Background()
	id := "ns-grace"
	h.eng.Create(ctx, id, "t")
	h.fv.addVersion(t, "kv1", "k1", 0)
	if err := h.eng.SetKeys(ctx, id, []KeyRef{ref("k1")}, principal, Options{}); err != nil {
		t.Fatal(err)
	}
	h.fv.set(func() { h.fv.unreachable = true })
	h.clk.Advance(5 * time.Minute)
	h.eng.Check(ctx, id)
	if info, _ := h.eng.Info(id); info.Status != StatusActive {
		t.Fatalf("unreachable within grace: %s", info.Status)
	}
	h.clk.Advance(6 * time.Minute)
	h.eng.Check(ctx, id)
	if info, _ := h.eng.Info(id); info.Status != StatusRevoked {
		t.Fatalf("unreachable past grace: %s", info.Status)
	}
	// Denied is not unreachable: no grace.
	h.fv.set(func() { h.fv.unreachable = false })
	h.eng.Check(ctx, id)
	h.waitStatus(id, StatusActive)
	h.fv.set(func() { h.fv.denied["kv1/k1/ns-identity"] = true })
	h.eng.Check(ctx, id)
	if info, _ := h.eng.Info(id); info.Status != StatusRevoked {
		t.Fatalf("denied within grace: %s", info.Status)
	}
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }
