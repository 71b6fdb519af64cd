package servicebus

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/servicebus/sqlfilter"
	"github.com/keyward/keyward/internal/store"
)

// snapshotStore returns every key and value of the store.
func snapshotStore(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := store.ForEach(context.Background(), st, nil, func(k, v []byte) error {
		out[string(k)] = string(v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// peekAll returns every message of a receivable path, in order.
func (e *env) peekAll(path string) []*ReceivedMessage {
	e.t.Helper()
	ms, err := e.ns.Peek(e.ctx, path, 1, MaxReceiveBatch)
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

// populate fills a namespace with one of everything.
func populate(e *env, marker string) {
	e.t.Helper()
	props := map[string]any{marker + "name": marker + "value", "n": int32(1), "bin": []byte(marker)}
	full := func(body string, session string) Message {
		return Message{Body: []byte(body + marker), MessageID: body + marker, SessionID: session,
			CorrelationID: marker, Subject: marker, To: marker, ReplyTo: marker, ReplyToSessionID: marker,
			ContentType: marker, PartitionKey: session, ApplicationProperties: props, Raw: []byte("raw" + marker)}
	}
	q := "q" + marker
	e.queue(q, func(p *QueueProperties) {
		p.RequiresDuplicateDetection = true
		p.UserMetadata = marker
		p.AuthorizationRules = []AuthorizationRule{{KeyName: marker, Rights: []string{"Listen"}, PrimaryKey: marker}}
	})
	e.send(q, full("m1", ""), full("m2", ""), full("m3", ""), full("m4", ""))
	ms := e.recv(q, 2, PeekLock)
	e.must(e.ns.Defer(e.ctx, q, ms[0].LockToken, map[string]any{marker: marker}))
	e.must(e.ns.DeadLetter(e.ctx, q, ms[1].LockToken, marker, marker, nil))
	sched := full("m5", "")
	sched.ScheduledEnqueueTime = t0.Add(time.Hour)
	_, err := e.ns.Schedule(e.ctx, q, []Message{sched})
	e.must(err)

	sq := "s" + marker
	e.queue(sq, func(p *QueueProperties) { p.RequiresSession = true })
	e.send(sq, full("s1", "sess"+marker), full("s2", "sess"+marker))
	s, err := e.ns.AcceptSession(e.ctx, sq, "sess"+marker)
	e.must(err)
	e.must(s.SetState(e.ctx, []byte("state"+marker)))
	e.must(s.Close())

	tp := "t" + marker
	_, err = e.ns.CreateTopic(e.ctx, tp, TopicProperties{UserMetadata: marker})
	e.must(err)
	_, err = e.ns.CreateSubscription(e.ctx, tp, "sub"+marker, SubscriptionProperties{UserMetadata: marker}, &Rule{Name: "r" + marker,
		Properties: RuleProperties{Filter: RuleFilter{Type: FilterSQL, SQLExpression: "Subject = '" + marker + "' OR @p = '" + marker + "'", Parameters: map[string]any{"@p": marker}},
			Action: &RuleAction{SQLExpression: "SET x = '" + marker + "'"}}})
	e.must(err)
	_, err = e.ns.CreateRule(e.ctx, tp, "sub"+marker, "c"+marker, RuleProperties{Filter: RuleFilter{Type: FilterCorrelation,
		Correlation: &sqlfilter.CorrelationFilter{CorrelationID: marker, Properties: map[string]any{marker: marker}}}})
	e.must(err)
	e.send(tp, full("t1", ""))
}

func TestRevokeAndRestore(t *testing.T) {
	e := newEnv(t)
	populate(e, "")
	q, sq, tp := "q", "s", "t"
	before := map[string][]*ReceivedMessage{}
	paths := []string{q, q + "/$DeadLetterQueue", sq, tp + "/Subscriptions/sub"}
	for _, p := range paths {
		before[p] = e.peekAll(p)
	}
	e.queue("waitq", nil)
	locked := e.recv1(q)
	blocked := make(chan error, 1)
	lq := e.lq("waitq")
	go func() {
		_, err := e.ns.Receive(e.ctx, "waitq", ReceiveOptions{MaxWait: WaitForever})
		blocked <- err
	}()
	waitUntil(t, "receiver waiting", func() bool { return lq.waiting() == 1 })
	sess, err := e.ns.AcceptSession(e.ctx, sq, "sess")
	e.must(err)
	snap := snapshotStore(t, e.st)

	e.keys.setRevoked(testNS, true)
	wantCode(t, e.b.NamespaceStatusChanged(e.ctx, testNS), CodeRevoked)
	if err := <-blocked; !errors.Is(err, ErrRevoked) || CodeOf(err) != CodeRevoked {
		t.Fatalf("blocked receive: %v", err)
	}
	if e.ns.Status() != NamespaceRevoked {
		t.Fatalf("status %s", e.ns.Status())
	}
	ops := []struct {
		name string
		op   func() error
	}{
		{"send", func() error { return e.ns.Send(e.ctx, q, []Message{msg("x")}) }},
		{"receive", func() error { _, err := e.ns.Receive(e.ctx, q, ReceiveOptions{MaxWait: WaitForever}); return err }},
		{"peek", func() error { _, err := e.ns.Peek(e.ctx, q, 1, 1); return err }},
		{"complete", func() error { return e.ns.Complete(e.ctx, q, locked.LockToken) }},
		{"settle", func() error {
			return e.ns.Settle(e.ctx, q, []uuid.UUID{locked.LockToken}, Disposition{Kind: DispositionAbandon})
		}},
		{"renew", func() error { _, err := e.ns.RenewLock(e.ctx, q, []uuid.UUID{locked.LockToken}); return err }},
		{"deferred", func() error { _, err := e.ns.ReceiveDeferred(e.ctx, q, []int64{1}, PeekLock); return err }},
		{"schedule", func() error {
			_, err := e.ns.Schedule(e.ctx, q, []Message{{ScheduledEnqueueTime: t0.Add(time.Hour)}})
			return err
		}},
		{"cancel", func() error { return e.ns.CancelScheduled(e.ctx, q, []int64{5}) }},
		{"create queue", func() error { _, err := e.ns.CreateQueue(e.ctx, "new", QueueProperties{}); return err }},
		{"get queue", func() error { _, err := e.ns.GetQueue(e.ctx, q); return err }},
		{"list queues", func() error { _, err := e.ns.ListQueues(e.ctx); return err }},
		{"update queue", func() error { _, err := e.ns.UpdateQueue(e.ctx, q, QueueProperties{}); return err }},
		{"delete queue", func() error { return e.ns.DeleteQueue(e.ctx, q) }},
		{"list topics", func() error { _, err := e.ns.ListTopics(e.ctx); return err }},
		{"get subscription", func() error { _, err := e.ns.GetSubscription(e.ctx, tp, "sub"); return err }},
		{"list rules", func() error { _, err := e.ns.ListRules(e.ctx, tp, "sub"); return err }},
		{"create rule", func() error {
			_, err := e.ns.CreateRule(e.ctx, tp, "sub", "x", RuleProperties{Filter: RuleFilter{Type: FilterTrue}})
			return err
		}},
		{"accept session", func() error { _, err := e.ns.AcceptSession(e.ctx, sq, "other"); return err }},
		{"accept next session", func() error {
			_, err := e.ns.AcceptNextSession(e.ctx, sq, AcceptSessionOptions{MaxWait: WaitForever})
			return err
		}},
		{"list sessions", func() error { _, err := e.ns.ListSessions(e.ctx, sq, time.Time{}, 0, 0); return err }},
		{"session state", func() error { _, err := sess.State(e.ctx); return err }},
		{"set session state", func() error { return sess.SetState(e.ctx, []byte("x")) }},
		{"session receive", func() error { _, err := sess.Receive(e.ctx, ReceiveOptions{}); return err }},
		{"session renew", func() error { _, err := sess.RenewLock(e.ctx); return err }},
	}
	for _, o := range ops {
		if err := o.op(); !errors.Is(err, ErrRevoked) || CodeOf(err) != CodeRevoked {
			t.Errorf("%s while revoked: %v", o.name, err)
		}
	}
	// Nothing is processed or deleted while revoked, even as deadlines pass.
	e.advance(2 * time.Hour)
	if after := snapshotStore(t, e.st); !reflect.DeepEqual(after, snap) {
		t.Fatalf("the store changed while revoked (%d keys before, %d after)", len(snap), len(after))
	}
	// Revoked across a restart too.
	e.reopen()
	if e.ns.Status() != NamespaceRevoked {
		t.Fatalf("status after reopen %s", e.ns.Status())
	}
	_, err = e.ns.GetQueue(e.ctx, q)
	wantCode(t, err, CodeRevoked)

	e.keys.setRevoked(testNS, false)
	e.must(e.b.NamespaceStatusChanged(e.ctx, testNS))
	if e.ns.Status() != NamespaceActive {
		t.Fatalf("status after restore %s", e.ns.Status())
	}
	for _, p := range paths {
		after := e.peekAll(p)
		if p == q {
			// The scheduled message activated once the broker could read it again.
			e.advance(0)
			after = e.peekAll(p)
		}
		if len(after) != len(before[p]) {
			t.Fatalf("%s: %d messages before, %d after", p, len(before[p]), len(after))
		}
		for i := range after {
			a, b := after[i], before[p][i]
			if !bytes.Equal(a.Body, b.Body) || !bytes.Equal(a.Raw, b.Raw) || !reflect.DeepEqual(a.ApplicationProperties, b.ApplicationProperties) ||
				a.SequenceNumber != b.SequenceNumber || a.MessageID != b.MessageID {
				t.Fatalf("%s message %d differs:\n%+v\n%+v", p, i, a, b)
			}
		}
	}
}

func TestRevocationByPollingWithinASecond(t *testing.T) {
	e := newEnv(t)
	e.b.Close()
	b, err := New(Options{Store: e.st, Keys: e.keys, Clock: e.clk}) // default 1 s revalidation
	e.must(err)
	e.b = b
	e.ns, err = b.OpenNamespace(e.ctx, testNS, NamespaceOptions{})
	e.must(err)
	e.queue("q", nil)
	e.keys.setRevoked(testNS, true)
	e.clk.Advance(time.Second)
	waitUntil(t, "revocation noticed", func() bool { return e.ns.Status() == NamespaceRevoked })
	wantCode(t, e.ns.Send(e.ctx, "q", []Message{msg("x")}), CodeRevoked)
	e.keys.setRevoked(testNS, false)
	calls := e.keys.calls.Load()
	e.clk.Advance(time.Second)
	waitUntil(t, "restoration noticed", func() bool { return e.ns.Status() == NamespaceActive })
	e.send("q", msg("x"))
	// No key-source call per message.
	for range 50 {
		e.send("q", msg("y"))
	}
	if c := e.keys.calls.Load(); c > calls+2 {
		t.Fatalf("%d key source calls for 51 sends", c-calls)
	}
}

func TestTransientKeyErrorsKeepTheKey(t *testing.T) {
	e := newEnv(t)
	e.queue("q", nil)
	e.keys.mu.Lock()
	e.keys.failErr = errors.New("vault unreachable")
	e.keys.mu.Unlock()
	wantCode(t, e.b.NamespaceStatusChanged(e.ctx, testNS), CodeServiceUnavailable)
	e.send("q", msg("still works"))
}

func TestDataKeyMismatch(t *testing.T) {
	e := newEnv(t)
	e.queue("q", nil)
	e.send("q", msg("a"))
	e.keys.mu.Lock()
	other, _ := seal.NewDataKey()
	e.keys.keys[testNS] = other
	e.keys.mu.Unlock()
	e.close()
	st, err := store.Open(e.dir, nil)
	e.must(err)
	e.st = st
	e.b, err = New(Options{Store: st, Keys: e.keys, Clock: e.clk, RevalidateInterval: -1})
	e.must(err)
	e.ns, err = e.b.OpenNamespace(e.ctx, testNS, NamespaceOptions{})
	wantCode(t, err, CodeInternal)
	if e.ns.Status() != NamespaceUnavailable {
		t.Fatalf("status %s", e.ns.Status())
	}
	_, err = e.ns.GetQueue(e.ctx, "q")
	if err == nil || !strings.Contains(err.Error(), "data key") {
		t.Fatalf("get with the wrong key: %v", err)
	}
	wantCode(t, e.b.NamespaceStatusChanged(e.ctx, testNS), CodeInternal)
}

func TestDeleteNamespace(t *testing.T) {
	e := newEnv(t)
	populate(e, "")
	e.queue("waitq", nil)
	lq := e.lq("waitq")
	blocked := make(chan error, 1)
	go func() {
		_, err := e.ns.Receive(e.ctx, "waitq", ReceiveOptions{MaxWait: WaitForever})
		blocked <- err
	}()
	waitUntil(t, "receiver waiting", func() bool { return lq.waiting() == 1 })
	e.must(e.b.DeleteNamespace(e.ctx, testNS))
	if err := <-blocked; CodeOf(err) != CodeEntityNotFound {
		t.Fatalf("blocked receive: %v", err)
	}
	if n := len(snapshotStore(t, e.st)); n != 0 {
		t.Fatalf("%d keys left", n)
	}
	_, err := e.b.Namespace(testNS)
	wantCode(t, err, CodeEntityNotFound)
	// A new namespace of the same name starts empty.
	e.ns, err = e.b.OpenNamespace(e.ctx, testNS, NamespaceOptions{})
	e.must(err)
	if qs, err := e.ns.ListQueues(e.ctx); err != nil || len(qs) != 0 {
		t.Fatalf("queues %v %v", qs, err)
	}
}

func TestRecoveryRebuildsCounters(t *testing.T) {
	e := newEnv(t)
	populate(e, "")
	want := map[string]RuntimeProperties{}
	names := []string{"q", "s"}
	for _, n := range names {
		want[n] = e.queueRuntime(n)
	}
	wantSub := e.subRuntime("t", "sub")
	e.reopen()
	for _, n := range names {
		got := e.queueRuntime(n)
		w := want[n]
		got.AccessedAt, w.AccessedAt = time.Time{}, time.Time{}
		if got != w {
			t.Errorf("%s runtime after reopen:\n got %+v\nwant %+v", n, got, w)
		}
	}
	if got := e.subRuntime("t", "sub"); got.ActiveMessageCount != wantSub.ActiveMessageCount || got.SizeInBytes != wantSub.SizeInBytes {
		t.Errorf("subscription runtime %+v, want %+v", got, wantSub)
	}
	if w := want["q"]; w.ActiveMessageCount != 3 || w.DeadLetterMessageCount != 1 || w.ScheduledMessageCount != 1 || w.TotalMessageCount != 5 {
		t.Errorf("populated runtime %+v", w)
	}
}

const marker = "ZQXJMARKER7"

// scanDir reports the files under dir that contain needle.
func scanDir(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func TestMarkerNeverReachesTheStore(t *testing.T) {
	// Control: the scan finds a marker written in the clear.
	ctl := t.TempDir()
	cst, err := store.Open(ctl, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &store.Batch{Sync: true}
	b.Set([]byte("k"), []byte("xx"+marker+"yy"))
	if err := cst.Apply(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if hits := scanDir(t, ctl, []byte(marker)); len(hits) == 0 {
		t.Fatal("control: marker written in the clear not found")
	}
	cst.Close()
	if hits := scanDir(t, ctl, []byte(marker)); len(hits) == 0 {
		t.Fatal("control: marker not found after close")
	}

	e := newEnv(t)
	populate(e, marker)
	// While running (write-ahead log), after a restart, and after a clean close
	// (flushed tables).
	if hits := scanDir(t, e.dir, []byte(marker)); len(hits) != 0 {
		t.Fatalf("marker found in %v", hits)
	}
	e.reopen()
	if qi, err := e.ns.GetQueue(e.ctx, "q"+marker); err != nil || qi.Properties.UserMetadata != marker {
		t.Fatalf("populated data not readable: %v", err)
	}
	e.close()
	if hits := scanDir(t, e.dir, []byte(marker)); len(hits) != 0 {
		t.Fatalf("marker found in %v", hits)
	}
}

// Crash durability: a child process sends with 8 concurrent senders and
// prints each acknowledged message id; it is killed with SIGKILL; every
// acknowledged message must be in the store afterwards, none twice.
func TestCrashDurability(t *testing.T) {
	if dir := os.Getenv("KEYWARD_SB_CRASH_DIR"); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	rk, _, err := seal.LoadOrCreateRootKey(filepath.Join(dir, "root.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := seal.NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	env, err := seal.Wrap(context.Background(), dk, rk)
	if err != nil {
		t.Fatal(err)
	}
	envBytes, _ := env.MarshalBinary()
	if err := os.WriteFile(filepath.Join(dir, "dk.env"), envBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KEYWARD_SB_CRASH_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(60 * time.Second)
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "ACK "); ok {
			acked[id] = true
		}
		if len(acked) >= 400 || time.Now().After(deadline) {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	for sc.Scan() { // lines already written before the kill
		if id, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
			acked[id] = true
		}
	}
	cmd.Wait()
	if len(acked) < 50 {
		t.Fatalf("child acknowledged only %d messages", len(acked))
	}
	st, err := store.Open(filepath.Join(dir, "store"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := New(Options{Store: st, Keys: staticKeys{dk}, RevalidateInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ns, err := b.OpenNamespace(context.Background(), testNS, NamespaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for {
		ms, err := ns.Receive(context.Background(), "q", ReceiveOptions{Mode: ReceiveAndDelete, MaxMessages: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			seen[m.MessageID]++
			if !bytes.Equal(m.Body, []byte("body-"+m.MessageID)) {
				t.Fatalf("message %s has body %q", m.MessageID, m.Body)
			}
		}
	}
	for id := range acked {
		if seen[id] == 0 {
			t.Errorf("acknowledged message %s lost", id)
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("message %s stored %d times", id, n)
		}
	}
	t.Logf("%d acknowledged, %d stored", len(acked), len(seen))
}

type staticKeys struct{ dk *seal.DataKey }

func (s staticKeys) DataKey(context.Context, string) (*seal.DataKey, error) { return s.dk, nil }

func crashChild(dir string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	rk, _, err := seal.LoadOrCreateRootKey(filepath.Join(dir, "root.key"), false)
	if err != nil {
		fail(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "dk.env"))
	if err != nil {
		fail(err)
	}
	var env seal.Envelope
	if err := env.UnmarshalBinary(raw); err != nil {
		fail(err)
	}
	dk, _, err := seal.Open(context.Background(), env, seal.ResolveByID(rk))
	if err != nil {
		fail(err)
	}
	st, err := store.Open(filepath.Join(dir, "store"), nil)
	if err != nil {
		fail(err)
	}
	b, err := New(Options{Store: st, Keys: staticKeys{dk}})
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	ns, err := b.OpenNamespace(ctx, testNS, NamespaceOptions{})
	if err != nil {
		fail(err)
	}
	if _, err := ns.CreateQueue(ctx, "q", QueueProperties{}); err != nil {
		fail(err)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for s := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("m-%d-%d", s, i)
				batch := []Message{{MessageID: id, Body: []byte("body-" + id)}}
				if i%5 == 0 { // some batches of three
					batch = nil
					for j := range 3 {
						bid := fmt.Sprintf("%s-%d", id, j)
						batch = append(batch, Message{MessageID: bid, Body: []byte("body-" + bid)})
					}
				}
				if err := ns.Send(ctx, "q", batch); err != nil {
					fail(err)
				}
				mu.Lock()
				for _, m := range batch {
					fmt.Fprintf(w, "ACK %s\n", m.MessageID)
				}
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
