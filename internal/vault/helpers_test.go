package vault

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/keycrypto"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

const (
	testTenant = "11111111-1111-1111-1111-111111111111"
	otherTen   = "22222222-2222-2222-2222-222222222222"
	testSub    = "33333333-3333-3333-3333-333333333333"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func caller(oid string) Caller {
	return Caller{TenantID: testTenant, ObjectID: oid, AppID: "app-" + oid, ClientIP: "127.0.0.1", CorrelationID: "cid-" + oid, RequestID: "rid"}
}

var (
	owner    = caller("owner")
	stranger = caller("stranger")
)

// fakeRoles grants data actions per object id (an action "*" grants all).
type fakeRoles struct {
	mu    sync.Mutex
	grant map[string][]string
	calls int
	fail  error
}

func (f *fakeRoles) HasDataAction(ctx context.Context, tenantID, oid, scope, action string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return false, f.fail
	}
	for _, a := range f.grant[oid] {
		if a == "*" || a == action {
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeRoles) set(oid string, actions ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.grant == nil {
		f.grant = map[string][]string{}
	}
	f.grant[oid] = actions
}

type env struct {
	s     *Service
	clk   *clock.Manual
	st    store.Store
	dk    *seal.DataKey
	dir   string
	roles *fakeRoles
	cfg   Config
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := seal.NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{clk: clock.NewManual(t0), st: st, dk: dk, dir: dir, roles: &fakeRoles{},
		cfg: Config{DNSSuffix: "vault.test.local", Port: "8443"}}
	e.s, err = New(st, dk, e.clk, nil, e.cfg, e.roles)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.s.Close()
		st.Close()
	})
	return e
}

// reopen closes the service and opens a new one on the same store.
func (e *env) reopen(t testing.TB) {
	t.Helper()
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := New(e.st, e.dk, e.clk, nil, e.cfg, e.roles)
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
}

func ptr[T any](v T) *T { return &v }

func allKeys() Permissions { return Permissions{Keys: []string{"all"}} }

func (e *env) vault(t testing.TB, name string, mod func(*VaultSpec)) Vault {
	t.Helper()
	spec := VaultSpec{
		SubscriptionID: testSub, ResourceGroup: "rg", Name: name, Location: "westeurope",
		TenantID: ptr(testTenant), SKU: &SKU{Family: "A", Name: "standard"},
		AccessPolicies: []AccessPolicy{{TenantID: testTenant, ObjectID: owner.ObjectID, Permissions: allKeys()}},
	}
	if mod != nil {
		mod(&spec)
	}
	v, created, err := e.s.CreateOrUpdateVault(context.Background(), owner, spec)
	if err != nil {
		t.Fatalf("create vault %s: %v", name, err)
	}
	if !created {
		t.Fatalf("vault %s was not created", name)
	}
	return v
}

func (e *env) rsaKey(t testing.TB, vault, name string, mod func(*CreateKeyParams)) KeyBundle {
	t.Helper()
	p := CreateKeyParams{Kty: keycrypto.KeyTypeRSA, Size: 2048}
	if mod != nil {
		mod(&p)
	}
	kb, err := e.s.CreateKey(context.Background(), owner, vault, name, p)
	if err != nil {
		t.Fatalf("create key %s: %v", name, err)
	}
	return kb
}

// wantErr checks that err is a vault *Error with the given status and code
// (and inner code and message part, when not empty).
func wantErr(t testing.TB, err error, status int, code, inner, msgPart string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %d %s", status, code)
	}
	var ve *Error
	if !errors.As(err, &ve) {
		t.Fatalf("got %v (%T), want a *vault.Error %d %s", err, err, status, code)
	}
	if ve.Status != status || ve.Code != code {
		t.Fatalf("got %d %s (%s), want %d %s", ve.Status, ve.Code, ve.Message, status, code)
	}
	if inner != "" && ve.InnerCode != inner {
		t.Fatalf("got inner code %q, want %q (%s)", ve.InnerCode, inner, ve.Message)
	}
	if msgPart != "" && !strings.Contains(ve.Message, msgPart) {
		t.Fatalf("message %q does not contain %q", ve.Message, msgPart)
	}
}

// events collects published events.
type events struct {
	mu  sync.Mutex
	got []Event
	ch  chan Event
}

func (e *env) subscribe(t testing.TB) *events {
	ev := &events{ch: make(chan Event, 1000)}
	cancel := e.s.Subscribe(func(x Event) {
		ev.mu.Lock()
		ev.got = append(ev.got, x)
		ev.mu.Unlock()
		ev.ch <- x
	})
	t.Cleanup(cancel)
	return ev
}

// wait returns the next event of type typ, failing after a timeout.
func (ev *events) wait(t testing.TB, typ string) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case x := <-ev.ch:
			if x.Type == typ {
				return x
			}
		case <-timeout:
			t.Fatalf("no %s event within 10s", typ)
			return Event{}
		}
	}
}

// privateScalar returns an EC key's private scalar, read back from the
// private serialization (keycrypto exports public JWKs only).
func privateScalar(t testing.TB, k *keycrypto.Key) []byte {
	t.Helper()
	blob, err := keycrypto.MarshalPrivate(k)
	if err != nil {
		t.Fatal(err)
	}
	der := blob[5+int(blob[4]):]
	pk, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pk.(*ecdsa.PrivateKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
