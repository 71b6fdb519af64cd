package servicebus

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyward/keyward/internal/servicebus/sqlfilter"
)

func smsg(session, body string) Message {
	return Message{Body: []byte(body), MessageID: body, SessionID: session}
}

func TestSessions(t *testing.T) {
	e := newEnv(t)
	e.queue("sq", func(p *QueueProperties) { p.RequiresSession = true; p.LockDuration = 30 * time.Second })
	wantCode(t, e.ns.Send(e.ctx, "sq", []Message{msg("nosession")}), CodeInvalidOperation)
	e.send("sq", smsg("A", "a1"), smsg("B", "b1"), smsg("A", "a2"), smsg("B", "b2"), smsg("A", "a3"))
	_, err := e.ns.Receive(e.ctx, "sq", ReceiveOptions{})
	wantCode(t, err, CodeInvalidOperation)

	s, err := e.ns.AcceptNextSession(e.ctx, "sq", AcceptSessionOptions{})
	e.must(err)
	if s.ID() != "A" || !s.LockedUntil().Equal(t0.Add(30*time.Second)) {
		t.Fatalf("next session %q until %v", s.ID(), s.LockedUntil())
	}
	_, err = e.ns.AcceptSession(e.ctx, "sq", "A")
	wantCode(t, err, CodeSessionCannotBeLocked)
	ms, err := s.Receive(e.ctx, ReceiveOptions{MaxMessages: 2})
	e.must(err)
	if strings.Join(bodies(ms), ",") != "a1,a2" || !ms[0].LockedUntil.Equal(s.LockedUntil()) {
		t.Fatalf("session A: %v", bodies(ms))
	}
	e.must(e.ns.Complete(e.ctx, "sq", ms[0].LockToken))
	e.must(e.ns.Defer(e.ctx, "sq", ms[1].LockToken, nil))
	_, err = e.ns.RenewLock(e.ctx, "sq", []uuid.UUID{ms[1].LockToken})
	wantCode(t, err, CodeMessageLockLost)

	// Session state.
	st, err := s.State(e.ctx)
	e.must(err)
	if st != nil {
		t.Fatalf("initial state %q", st)
	}
	e.must(s.SetState(e.ctx, []byte("checkpoint-1")))
	st, err = s.State(e.ctx)
	e.must(err)
	if string(st) != "checkpoint-1" {
		t.Fatalf("state %q", st)
	}

	b, err := e.ns.AcceptNextSession(e.ctx, "sq", AcceptSessionOptions{})
	e.must(err)
	if b.ID() != "B" {
		t.Fatalf("second session %q", b.ID())
	}
	_, err = e.ns.AcceptNextSession(e.ctx, "sq", AcceptSessionOptions{})
	wantCode(t, err, CodeTimeout)

	ids, err := e.ns.ListSessions(e.ctx, "sq", time.Time{}, 0, 0)
	e.must(err)
	if strings.Join(ids, ",") != "A,B" {
		t.Fatalf("sessions %v", ids)
	}
	ids, err = e.ns.ListSessions(e.ctx, "sq", t0.Add(-time.Second), 0, 10)
	e.must(err)
	if strings.Join(ids, ",") != "A" {
		t.Fatalf("sessions with state %v", ids)
	}

	// Session lock expiry: B's unsettled message returns, with its delivery counted.
	bm, err := b.Receive(e.ctx, ReceiveOptions{})
	e.must(err)
	until, err := s.RenewLock(e.ctx)
	e.must(err)
	e.advance(20 * time.Second)
	_, err = s.RenewLock(e.ctx) // A stays alive
	e.must(err)
	e.advance(20 * time.Second)
	if !until.Before(s.LockedUntil()) {
		t.Fatal("renew did not extend")
	}
	wantCode(t, e.ns.Complete(e.ctx, "sq", bm[0].LockToken), CodeMessageLockLost)
	_, err = b.Receive(e.ctx, ReceiveOptions{})
	wantCode(t, err, CodeSessionLockLost)
	b2, err := e.ns.AcceptSession(e.ctx, "sq", "B")
	e.must(err)
	bm2, err := b2.Receive(e.ctx, ReceiveOptions{MaxMessages: 5})
	e.must(err)
	if strings.Join(bodies(bm2), ",") != "b1,b2" || bm2[0].DeliveryCount != 2 {
		t.Fatalf("B after expiry: %v %+v", bodies(bm2), bm2[0])
	}
	// A session message settles only while its session lock holds.
	e.must(b2.Close())
	wantCode(t, e.ns.Complete(e.ctx, "sq", bm2[0].LockToken), CodeMessageLockLost)

	// Deferred session messages come back through the session.
	_, err = e.ns.ReceiveDeferred(e.ctx, "sq", []int64{ms[1].SequenceNumber}, PeekLock)
	wantCode(t, err, CodeInvalidOperation)
	d, err := s.ReceiveDeferred(e.ctx, []int64{ms[1].SequenceNumber}, ReceiveAndDelete)
	e.must(err)
	if len(d) != 1 || string(d[0].Body) != "a2" {
		t.Fatalf("deferred %v", bodies(d))
	}
	peek, err := s.Peek(e.ctx, 1, 10)
	e.must(err)
	if strings.Join(bodies(peek), ",") != "a3" {
		t.Fatalf("session peek %v", bodies(peek))
	}
	e.must(s.Close())

	// Everything survives a restart: messages, state, session ids.
	e.reopen()
	a, err := e.ns.AcceptSession(e.ctx, "sq", "A")
	e.must(err)
	st, err = a.State(e.ctx)
	e.must(err)
	if string(st) != "checkpoint-1" {
		t.Fatalf("state after reopen %q", st)
	}
	am, err := a.Receive(e.ctx, ReceiveOptions{MaxMessages: 10, Mode: ReceiveAndDelete})
	e.must(err)
	if strings.Join(bodies(am), ",") != "a3" {
		t.Fatalf("A after reopen %v", bodies(am))
	}
	e.must(a.SetState(e.ctx, nil))
	e.must(a.Close())
	next, err := e.ns.AcceptNextSession(e.ctx, "sq", AcceptSessionOptions{})
	e.must(err)
	if next.ID() != "B" {
		t.Fatalf("next after reopen %q", next.ID())
	}
	if rt := e.queueRuntime("sq"); rt.ActiveMessageCount != 2 {
		t.Fatalf("runtime %+v", rt)
	}
}

func TestSessionWaitAndEmptySessionCleanup(t *testing.T) {
	e := newEnv(t)
	e.queue("sq", func(p *QueueProperties) { p.RequiresSession = true })
	lq := e.lq("sq")
	done := make(chan *Session, 1)
	go func() {
		s, err := e.ns.AcceptNextSession(e.ctx, "sq", AcceptSessionOptions{MaxWait: WaitForever})
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	waitUntil(t, "acceptor waiting", func() bool {
		lq.mu.Lock()
		defer lq.mu.Unlock()
		return len(lq.sess.waiters.list) == 1
	})
	e.send("sq", smsg("late", "x"))
	s := <-done
	if s == nil || s.ID() != "late" {
		t.Fatal("wrong session")
	}
	// A receiver of a specific (empty) session waits for its messages.
	w, err := e.ns.AcceptSession(e.ctx, "sq", "waiting")
	e.must(err)
	got := make(chan []*ReceivedMessage, 1)
	go func() {
		m, err := w.Receive(e.ctx, ReceiveOptions{MaxWait: WaitForever})
		if err != nil {
			t.Error(err)
		}
		got <- m
	}()
	waitUntil(t, "session receiver waiting", func() bool {
		lq.mu.Lock()
		defer lq.mu.Unlock()
		ss := lq.sess.byID["waiting"]
		return ss != nil && len(ss.waiters.list) == 1
	})
	e.send("sq", smsg("waiting", "y"))
	if m := <-got; len(m) != 1 || string(m[0].Body) != "y" {
		t.Fatalf("got %v", bodies(m))
	}
	sm, err := s.Receive(e.ctx, ReceiveOptions{})
	e.must(err)
	if len(sm) != 1 || string(sm[0].Body) != "x" {
		t.Fatalf("late session: %v", bodies(sm))
	}
	e.must(e.ns.Complete(e.ctx, "sq", sm[0].LockToken))
	e.must(w.Close())
	e.must(s.Close())
	// Sessions with nothing left are forgotten, in memory and in the store.
	ms, err := e.ns.AcceptSession(e.ctx, "sq", "waiting")
	e.must(err)
	rm, err := ms.Receive(e.ctx, ReceiveOptions{Mode: ReceiveAndDelete})
	e.must(err)
	if len(rm) != 1 {
		t.Fatalf("waiting session has %d messages", len(rm))
	}
	e.must(ms.Close())
	e.advance(0)
	lq.mu.Lock()
	n := len(lq.sess.byID)
	lq.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	ids, err := e.ns.ListSessions(e.ctx, "sq", time.Time{}, 0, 0)
	e.must(err)
	if len(ids) != 0 {
		t.Fatalf("sessions %v", ids)
	}
	e.reopen()
	lq = e.lq("sq")
	lq.mu.Lock()
	n = len(lq.sess.byID)
	lq.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d sessions after reopen", n)
	}
}

func TestTopicFanOut(t *testing.T) {
	e := newEnv(t)
	_, err := e.ns.CreateTopic(e.ctx, "orders", TopicProperties{})
	e.must(err)
	sub := func(name string, mod func(*SubscriptionProperties), rule *Rule) {
		p := DefaultSubscriptionProperties(Standard)
		if mod != nil {
			mod(&p)
		}
		_, err := e.ns.CreateSubscription(e.ctx, "orders", name, p, rule)
		e.must(err)
	}
	sub("all", nil, nil)
	sub("red", nil, &Rule{Name: "red", Properties: RuleProperties{Filter: RuleFilter{Type: FilterSQL, SQLExpression: "color = 'red' AND qty > 10"}}})
	sub("corr", nil, &Rule{Name: "c", Properties: RuleProperties{Filter: RuleFilter{Type: FilterCorrelation,
		Correlation: &sqlfilter.CorrelationFilter{Subject: "urgent", Properties: map[string]any{"qty": int64(20)}}}}})
	sub("none", nil, &Rule{Name: "f", Properties: RuleProperties{Filter: RuleFilter{Type: FilterFalse}}})
	sub("strict", nil, &Rule{Name: "bad", Properties: RuleProperties{Filter: RuleFilter{Type: FilterSQL, SQLExpression: "qty / zero > 1"}}})
	sub("lenient", func(p *SubscriptionProperties) { p.DeadLetteringOnFilterEvaluationExceptions = false },
		&Rule{Name: "bad", Properties: RuleProperties{Filter: RuleFilter{Type: FilterSQL, SQLExpression: "qty / zero > 1"}}})
	sub("sessions", func(p *SubscriptionProperties) { p.RequiresSession = true }, nil)
	// Two matching rules with actions: one copy, both actions applied.
	sub("double", nil, &Rule{Name: "r1", Properties: RuleProperties{Filter: RuleFilter{Type: FilterTrue},
		Action: &RuleAction{SQLExpression: "SET a = 1; SET sys.Label = 'relabelled'"}}})
	_, err = e.ns.CreateRule(e.ctx, "orders", "double", "r2", RuleProperties{Filter: RuleFilter{Type: FilterSQL, SQLExpression: "EXISTS(color)"},
		Action: &RuleAction{SQLExpression: "SET b = a + 1; REMOVE color"}})
	e.must(err)

	e.send("orders", Message{Body: []byte("m1"), Subject: "urgent", ApplicationProperties: map[string]any{"color": "red", "qty": int32(20), "zero": int32(0)}})
	e.send("orders", Message{Body: []byte("m2"), ApplicationProperties: map[string]any{"color": "blue", "qty": int32(5), "zero": int32(1)}})

	cases := []struct {
		sub  string
		want string
		dlq  string
	}{
		{"all", "m1,m2", ""},
		{"red", "m1", ""},
		{"corr", "m1", ""},
		{"none", "", ""},
		{"strict", "m2", "m1"},
		{"lenient", "m2", ""},
		{"double", "m1,m2", ""},
	}
	for _, c := range cases {
		got := e.recv("orders/Subscriptions/"+c.sub, 10, ReceiveAndDelete)
		if strings.Join(bodies(got), ",") != c.want {
			t.Errorf("%s: got %v, want %s", c.sub, bodies(got), c.want)
		}
		if c.sub == "double" && len(got) == 2 {
			p := got[0].ApplicationProperties
			if p["a"] != int64(1) || p["b"] != int64(2) || p["color"] != nil || got[0].Subject != "relabelled" {
				t.Errorf("actions: %+v subject %q", p, got[0].Subject)
			}
			if got[0].SequenceNumber != 1 || got[1].SequenceNumber != 2 {
				t.Errorf("sequence numbers %d %d", got[0].SequenceNumber, got[1].SequenceNumber)
			}
		}
		dl := e.recv("orders/Subscriptions/"+c.sub+"/$DeadLetterQueue", 10, ReceiveAndDelete)
		if strings.Join(bodies(dl), ",") != c.dlq {
			t.Errorf("%s dead letters: got %v, want %s", c.sub, bodies(dl), c.dlq)
		}
		if c.dlq != "" && dl[0].DeadLetterReason != ReasonFilterEvaluation {
			t.Errorf("%s: reason %q", c.sub, dl[0].DeadLetterReason)
		}
	}
	// A session-enabled subscription dead-letters messages without a session id.
	if dl := e.recv("orders/Subscriptions/sessions/$DeadLetterQueue", 10, ReceiveAndDelete); len(dl) != 2 || dl[0].DeadLetterReason != ReasonSessionIDIsNull {
		t.Fatalf("sessions dlq: %v", bodies(dl))
	}
	// Scheduled messages wait at the topic, then fan out.
	seqs, err := e.ns.Schedule(e.ctx, "orders", []Message{{Body: []byte("s1"), ScheduledEnqueueTime: t0.Add(time.Minute)}})
	e.must(err)
	ti, err := e.ns.GetTopic(e.ctx, "orders")
	e.must(err)
	if ti.Runtime.ScheduledMessageCount != 1 {
		t.Fatalf("topic runtime %+v", ti.Runtime)
	}
	e.advance(time.Minute)
	got := e.recv("orders/Subscriptions/all", 10, PeekLock)
	if len(got) != 1 || got[0].SequenceNumber != seqs[0] {
		t.Fatalf("activated: %+v", got)
	}
	if rt := e.subRuntime("orders", "all"); rt.ActiveMessageCount != 1 {
		t.Fatalf("sub runtime %+v", rt)
	}
	// A queue forwarding into the topic fans out too.
	e.queue("intake", func(p *QueueProperties) { p.ForwardTo = "orders" })
	e.send("intake", msg("via-queue"))
	if m := e.recv("orders/Subscriptions/all", 10, ReceiveAndDelete); len(m) != 1 || string(m[0].Body) != "via-queue" || m[0].EnqueuedSequenceNumber != 1 {
		t.Fatalf("via queue: %v", bodies(m))
	}
	// Subscription forwarding.
	e.queue("sink", nil)
	sub("fwd", func(p *SubscriptionProperties) { p.ForwardTo = "sink" }, nil)
	e.send("orders", msg("to-sink"))
	if m := e.recv1("sink"); string(m.Body) != "to-sink" {
		t.Fatalf("sink got %q", m.Body)
	}
	// Sending to a subscription is not allowed; receiving from a topic neither.
	wantCode(t, e.ns.Send(e.ctx, "orders/Subscriptions/all", []Message{msg("x")}), CodeInvalidOperation)
	_, err = e.ns.Receive(e.ctx, "orders", ReceiveOptions{})
	wantCode(t, err, CodeInvalidOperation)
	// Disabled subscriptions get nothing; receive-disabled ones refuse receives.
	p := DefaultSubscriptionProperties(Standard)
	p.Status = StatusDisabled
	_, err = e.ns.UpdateSubscription(e.ctx, "orders", "red", p)
	e.must(err)
	_, err = e.ns.Receive(e.ctx, "orders/Subscriptions/red", ReceiveOptions{})
	wantCode(t, err, CodeEntityDisabled)
}
