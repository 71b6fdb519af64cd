package servicebus

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// fakeKeys is a KeySource whose namespaces can be revoked and restored.
type fakeKeys struct {
	mu      sync.Mutex
	keys    map[string]*seal.DataKey
	revoked map[string]bool
	failErr error
	calls   atomic.Int64
}

func newFakeKeys() *fakeKeys {
	return &fakeKeys{keys: map[string]*seal.DataKey{}, revoked: map[string]bool{}}
}

func (f *fakeKeys) DataKey(ctx context.Context, ns string) (*seal.DataKey, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failErr != nil {
		return nil, f.failErr
	}
	if f.revoked[ns] {
		return nil, fmt.Errorf("fake key source: every key of %s is unusable: %w", ns, ErrRevoked)
	}
	k := f.keys[ns]
	if k == nil {
		var err error
		if k, err = seal.NewDataKey(); err != nil {
			return nil, err
		}
		f.keys[ns] = k
	}
	return k, nil
}

func (f *fakeKeys) setRevoked(ns string, v bool) {
	f.mu.Lock()
	f.revoked[ns] = v
	f.mu.Unlock()
}

const testNS = "testns01"

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

type env struct {
	t    testing.TB
	ctx  context.Context
	dir  string
	st   *store.Pebble
	keys *fakeKeys
	clk  *clock.Manual
	b    *Broker
	ns   *Namespace
	opts NamespaceOptions
}

func newEnv(t testing.TB, opts ...NamespaceOptions) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), dir: t.TempDir(), keys: newFakeKeys(), clk: clock.NewManual(t0)}
	if len(opts) > 0 {
		e.opts = opts[0]
	}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	e.t.Helper()
	st, err := store.Open(e.dir, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = st
	var clk clock.Clock = clock.Real{}
	if e.clk != nil {
		clk = e.clk
	}
	b, err := New(Options{Store: st, Keys: e.keys, Clock: clk, RevalidateInterval: -1})
	if err != nil {
		e.t.Fatal(err)
	}
	e.b = b
	ns, err := b.OpenNamespace(e.ctx, testNS, e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.ns = ns
}

func (e *env) close() {
	if e.b != nil {
		e.b.Close()
		e.b = nil
	}
	if e.st != nil {
		e.st.Close()
		e.st = nil
	}
}

// reopen simulates a restart: the store is closed without closing the
// broker first (no clean shutdown of the service), then both reopen.
func (e *env) reopen() {
	e.t.Helper()
	e.st.Close()
	e.st = nil
	e.b.Close()
	e.b = nil
	e.open()
}

// advance moves the clock and serves everything that became due.
func (e *env) advance(d time.Duration) {
	e.clk.Advance(d)
	e.b.runDue(e.ctx)
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) queue(name string, mod func(*QueueProperties)) {
	e.t.Helper()
	p := DefaultQueueProperties(e.ns.tier())
	if mod != nil {
		mod(&p)
	}
	if _, err := e.ns.CreateQueue(e.ctx, name, p); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) send(path string, msgs ...Message) {
	e.t.Helper()
	if err := e.ns.Send(e.ctx, path, msgs); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) recv(path string, n int, mode ReceiveMode) []*ReceivedMessage {
	e.t.Helper()
	msgs, err := e.ns.Receive(e.ctx, path, ReceiveOptions{Mode: mode, MaxMessages: n})
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

func (e *env) recv1(path string) *ReceivedMessage {
	e.t.Helper()
	msgs := e.recv(path, 1, PeekLock)
	if len(msgs) != 1 {
		e.t.Fatalf("receive %s: got %d messages, want 1", path, len(msgs))
	}
	return msgs[0]
}

func (e *env) expectEmpty(path string) {
	e.t.Helper()
	if msgs := e.recv(path, 10, PeekLock); len(msgs) != 0 {
		e.t.Fatalf("receive %s: got %d messages (first %q), want none", path, len(msgs), msgs[0].Body)
	}
}

func (e *env) queueRuntime(name string) RuntimeProperties {
	e.t.Helper()
	qi, err := e.ns.GetQueue(e.ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return qi.Runtime
}

func (e *env) subRuntime(topic, name string) RuntimeProperties {
	e.t.Helper()
	si, err := e.ns.GetSubscription(e.ctx, topic, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return si.Runtime
}

func wantCode(t testing.TB, err error, code Code) {
	t.Helper()
	if got := CodeOf(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func msg(body string) Message { return Message{Body: []byte(body), MessageID: body} }

func bodies(msgs []*ReceivedMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Body)
	}
	return out
}

// waitUntil spins (yielding) until cond holds; for synchronizing with
// goroutines, never for timing.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *env) lq(path string) *lqueue {
	e.t.Helper()
	e.ns.opMu.RLock()
	defer e.ns.opMu.RUnlock()
	lq, err := e.ns.receiverQueue(path)
	if err != nil {
		e.t.Fatal(err)
	}
	return lq
}

func (lq *lqueue) waiting() int {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	return len(lq.waiters.list)
}
