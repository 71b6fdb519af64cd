package servicebus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyward/keyward/internal/store"
)

func TestSendPeekLockComplete(t *testing.T) {
	e := newEnv(t)
	e.queue("q", nil)
	when := time.Date(2031, 5, 6, 7, 8, 9, 123000000, time.UTC)
	props := map[string]any{
		"nil": nil, "b": true, "i8": int8(-8), "i16": int16(-16), "i32": int32(-32), "i64": int64(-64), "int": 7,
		"u8": uint8(8), "u16": uint16(16), "u32": uint32(32), "u64": uint64(1 << 63), "f32": float32(1.5), "f64": 2.25,
		"s": "str", "t": when, "uuid": uuid.MustParse("01234567-89ab-cdef-0123-456789abcdef"), "bin": []byte{1, 2},
		"dur": 3 * time.Second,
	}
	in := Message{Body: []byte("hello"), MessageID: "m1", CorrelationID: "c1", Subject: "subj", To: "to",
		ReplyTo: "rt", ReplyToSessionID: "rts", ContentType: "text/plain", PartitionKey: "pk",
		TimeToLive: time.Hour, ApplicationProperties: props, Raw: []byte{0, 0x53, 0x75}}
	e.send("q", in)
	rt := e.queueRuntime("q")
	if rt.ActiveMessageCount != 1 || rt.TotalMessageCount != 1 || rt.SizeInBytes != in.Size() {
		t.Fatalf("runtime after send: %+v (size %d)", rt, in.Size())
	}
	m := e.recv1("q")
	if m.SequenceNumber != 1 || m.EnqueuedSequenceNumber != 1 || m.DeliveryCount != 1 || m.State != StateActive {
		t.Fatalf("system properties: %+v", m)
	}
	if m.LockToken == uuid.Nil || !m.LockedUntil.Equal(t0.Add(time.Minute)) || !m.EnqueuedTime.Equal(t0) || !m.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("times/lock: %+v", m)
	}
	wantProps := map[string]any{}
	for k, v := range props {
		wantProps[k] = v
	}
	wantProps["int"] = int64(7)
	if !reflect.DeepEqual(m.ApplicationProperties, wantProps) {
		t.Fatalf("properties:\n got %#v\nwant %#v", m.ApplicationProperties, wantProps)
	}
	got := m.Message
	got.ApplicationProperties, in.ApplicationProperties = nil, nil
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("message:\n got %+v\nwant %+v", got, in)
	}
	e.expectEmpty("q")
	e.must(e.ns.Complete(e.ctx, "q", m.LockToken))
	wantCode(t, e.ns.Complete(e.ctx, "q", m.LockToken), CodeMessageLockLost)
	rt = e.queueRuntime("q")
	if rt.ActiveMessageCount != 0 || rt.SizeInBytes != 0 {
		t.Fatalf("runtime after complete: %+v", rt)
	}
	// A completed message is gone from the store for good.
	e.reopen()
	e.expectEmpty("q")
}

func TestBatchSendOrderAndReceiveAndDelete(t *testing.T) {
	e := newEnv(t)
	e.queue("q", nil)
	var batch []Message
	for i := range 10 {
		batch = append(batch, msg(fmt.Sprint("m", i)))
	}
	e.send("q", batch...)
	got := e.recv("q", 4, ReceiveAndDelete)
	if strings.Join(bodies(got), ",") != "m0,m1,m2,m3" || got[0].LockToken != uuid.Nil {
		t.Fatalf("got %v", bodies(got))
	}
	if rt := e.queueRuntime("q"); rt.ActiveMessageCount != 6 {
		t.Fatalf("active %d", rt.ActiveMessageCount)
	}
	e.reopen()
	got = e.recv("q", 100, ReceiveAndDelete)
	if strings.Join(bodies(got), ",") != "m4,m5,m6,m7,m8,m9" {
		t.Fatalf("after reopen got %v", bodies(got))
	}
	// Sequence numbers never repeat after a restart.
	e.send("q", msg("later"))
	if m := e.recv1("q"); m.SequenceNumber <= 10 {
		t.Fatalf("sequence number %d reused", m.SequenceNumber)
	}
}

func TestSendValidation(t *testing.T) {
	e := newEnv(t)
	e.queue("q", nil)
	cases := []struct {
		name string
		path string
		msgs []Message
		code Code
	}{
		{"missing entity", "nope", []Message{msg("a")}, CodeEntityNotFound},
		{"sub-queue", "q/$DeadLetterQueue", []Message{msg("a")}, CodeInvalidOperation},
		{"bad property type", "q", []Message{{Body: []byte("a"), ApplicationProperties: map[string]any{"x": struct{}{}}}}, CodeBadRequest},
		{"long message id", "q", []Message{{MessageID: strings.Repeat("i", 129)}}, CodeBadRequest},
		{"partition key vs session", "q", []Message{{SessionID: "a", PartitionKey: "b"}}, CodeBadRequest},
		{"too big", "q", []Message{{Body: make([]byte, 256*1024+1)}}, CodeMessageSizeExceeded},
		{"batch too big", "q", []Message{{Body: make([]byte, 200*1024)}, {Body: make([]byte, 100*1024)}}, CodeMessageSizeExceeded},
		{"session on non-session queue is fine", "q", []Message{{SessionID: "s"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := e.ns.Send(e.ctx, c.path, c.msgs)
			if c.code == "" {
				e.must(err)
				return
			}
			wantCode(t, err, c.code)
		})
	}
	// The largest message fits exactly.
	e.send("q", Message{Body: make([]byte, 256*1024)})
	// A premium queue takes its configured size.
	p := newEnv(t, NamespaceOptions{Tier: Premium})
	_, err := p.ns.CreateQueue(p.ctx, "big", QueueProperties{MaxMessageSizeInKilobytes: 2048})
	p.must(err)
	p.must(p.ns.Send(p.ctx, "big", []Message{{Body: make([]byte, 2<<20)}}))
	wantCode(t, p.ns.Send(p.ctx, "big", []Message{{Body: make([]byte, 2<<20+1)}}), CodeMessageSizeExceeded)
}

func TestQuotaExceeded(t *testing.T) {
	e := newEnv(t)
	e.queue("small", func(p *QueueProperties) { p.MaxSizeInMegabytes = 1 })
	for range 4 {
		e.send("small", Message{Body: make([]byte, 250*1024)})
	}
	wantCode(t, e.ns.Send(e.ctx, "small", []Message{{Body: make([]byte, 250*1024)}}), CodeQuotaExceeded)
	m := e.recv("small", 1, ReceiveAndDelete)
	if len(m) != 1 {
		t.Fatal("no message")
	}
	e.send("small", Message{Body: make([]byte, 250*1024)})
}

func TestLockExpiryAndRenew(t *testing.T) {
	e := newEnv(t)
	e.queue("q", func(p *QueueProperties) { p.LockDuration = 30 * time.Second })
	e.send("q", msg("a"))
	m := e.recv1("q")
	e.advance(20 * time.Second)
	exp, err := e.ns.RenewLock(e.ctx, "q", []uuid.UUID{m.LockToken})
	e.must(err)
	if !exp[0].Equal(t0.Add(50 * time.Second)) {
		t.Fatalf("renewed until %v", exp[0])
	}
	e.advance(20 * time.Second) // past the original lock, before the renewed one
	e.expectEmpty("q")
	e.advance(11 * time.Second)
	_, err = e.ns.RenewLock(e.ctx, "q", []uuid.UUID{m.LockToken})
	wantCode(t, err, CodeMessageLockLost)
	wantCode(t, e.ns.Complete(e.ctx, "q", m.LockToken), CodeMessageLockLost)
	m2 := e.recv1("q")
	if string(m2.Body) != "a" || m2.DeliveryCount != 2 || m2.LockToken == m.LockToken {
		t.Fatalf("redelivery: %+v", m2)
	}
	// Lock expiry is also noticed lazily, without the timer loop.
	e.clk.Advance(31 * time.Second)
	m3 := e.recv1("q")
	if m3.DeliveryCount != 3 {
		t.Fatalf("delivery count %d", m3.DeliveryCount)
	}
	e.must(e.ns.Complete(e.ctx, "q", m3.LockToken))
}

func TestAbandonMaxDeliveryDeadLetter(t *testing.T) {
	e := newEnv(t)
	e.queue("q", func(p *QueueProperties) { p.MaxDeliveryCount = 3 })
	e.send("q", msg("poison"))
	for i := 1; i <= 3; i++ {
		m := e.recv1("q")
		if m.DeliveryCount != int32(i) {
			t.Fatalf("delivery %d: count %d", i, m.DeliveryCount)
		}
		e.must(e.ns.Abandon(e.ctx, "q", m.LockToken, map[string]any{"try": int32(i)}))
	}
	e.expectEmpty("q")
	rt := e.queueRuntime("q")
	if rt.ActiveMessageCount != 0 || rt.DeadLetterMessageCount != 1 {
		t.Fatalf("runtime %+v", rt)
	}
	d := e.recv1("q/$DeadLetterQueue")
	if d.DeadLetterReason != ReasonMaxDeliveryCountExceeded || d.ApplicationProperties["try"] != int32(3) ||
		!strings.Contains(d.DeadLetterErrorDescription, "3 delivery attempts") || d.SequenceNumber != 1 {
		t.Fatalf("dead-lettered: %+v", d)
	}
	wantCode(t, e.ns.DeadLetter(e.ctx, "q/$DeadLetterQueue", d.LockToken, "r", "d", nil), CodeInvalidOperation)
	e.must(e.ns.Complete(e.ctx, "q/$DeadLetterQueue", d.LockToken))

	// Lock expiry counts as a delivery too.
	e.send("q", msg("slow"))
	for range 3 {
		e.recv1("q")
		e.advance(time.Minute)
	}
	if rt := e.queueRuntime("q"); rt.DeadLetterMessageCount != 1 || rt.ActiveMessageCount != 0 {
		t.Fatalf("after lock expiries: %+v", rt)
	}
}

func TestDeferAndDeadLetter(t *testing.T) {
	e := newEnv(t)
	e.queue("q", nil)
	e.send("q", msg("a"), msg("b"), msg("c"))
	ms := e.recv("q", 3, PeekLock)
	e.must(e.ns.Defer(e.ctx, "q", ms[0].LockToken, map[string]any{"deferred": true}))
	e.must(e.ns.DeadLetter(e.ctx, "q", ms[1].LockToken, "Bad", "really bad", map[string]any{"x": "y"}))
	e.must(e.ns.Abandon(e.ctx, "q", ms[2].LockToken, nil))
	rt := e.queueRuntime("q")
	if rt.ActiveMessageCount != 2 || rt.DeadLetterMessageCount != 1 {
		t.Fatalf("runtime %+v", rt)
	}
	if m := e.recv1("q"); string(m.Body) != "c" {
		t.Fatalf("next is %q", m.Body)
	}
	peek, err := e.ns.Peek(e.ctx, "q", 1, 10)
	e.must(err)
	if len(peek) != 2 || peek[0].State != StateDeferred || peek[0].SequenceNumber != 1 || peek[1].SequenceNumber != 3 {
		t.Fatalf("peek %+v", peek)
	}
	_, err = e.ns.ReceiveDeferred(e.ctx, "q", []int64{2}, PeekLock)
	wantCode(t, err, CodeMessageNotFound)
	d, err := e.ns.ReceiveDeferred(e.ctx, "q", []int64{1}, PeekLock)
	e.must(err)
	if len(d) != 1 || string(d[0].Body) != "a" || d[0].State != StateDeferred || d[0].ApplicationProperties["deferred"] != true || d[0].DeliveryCount != 2 {
		t.Fatalf("deferred: %+v", d)
	}
	_, err = e.ns.ReceiveDeferred(e.ctx, "q", []int64{1}, PeekLock)
	wantCode(t, err, CodeMessageLockLost)
	// Abandoning a deferred message keeps it deferred.
	e.must(e.ns.Abandon(e.ctx, "q", d[0].LockToken, nil))
	e.reopen()
	d, err = e.ns.ReceiveDeferred(e.ctx, "q", []int64{1}, ReceiveAndDelete)
	e.must(err)
	if len(d) != 1 || string(d[0].Body) != "a" {
		t.Fatalf("deferred after reopen: %+v", d)
	}
	dl := e.recv1("q/$DeadLetterQueue")
	if dl.DeadLetterReason != "Bad" || dl.DeadLetterErrorDescription != "really bad" || dl.ApplicationProperties["x"] != "y" || string(dl.Body) != "b" {
		t.Fatalf("dead letter: %+v", dl)
	}
	// Releasing does not count a delivery.
	e.must(e.ns.Release(e.ctx, "q/$DeadLetterQueue", dl.LockToken))
	if again := e.recv1("q/$DeadLetterQueue"); again.DeliveryCount != dl.DeliveryCount {
		t.Fatalf("release counted a delivery: %d → %d", dl.DeliveryCount, again.DeliveryCount)
	}
}

func TestSettleBatchAllOrNothing(t *testing.T) {
	e := newEnv(t)
	e.queue("q", nil)
	e.queue("other", nil)
	e.send("q", msg("a"), msg("b"))
	e.send("other", msg("o"))
	ms := e.recv("q", 2, PeekLock)
	o := e.recv1("other")
	err := e.ns.Settle(e.ctx, "q", []uuid.UUID{ms[0].LockToken, o.LockToken}, Disposition{Kind: DispositionComplete})
	wantCode(t, err, CodeMessageLockLost)
	e.must(e.ns.Settle(e.ctx, "q", []uuid.UUID{ms[0].LockToken, ms[1].LockToken}, Disposition{Kind: DispositionComplete}))
	if rt := e.queueRuntime("q"); rt.ActiveMessageCount != 0 {
		t.Fatalf("runtime %+v", rt)
	}
}

func TestPeek(t *testing.T) {
	e := newEnv(t)
	e.queue("q", nil)
	for i := range 5 {
		e.send("q", msg(fmt.Sprint(i)))
	}
	seqs, err := e.ns.Schedule(e.ctx, "q", []Message{{Body: []byte("later"), ScheduledEnqueueTime: t0.Add(time.Hour)}})
	e.must(err)
	m := e.recv1("q") // locked messages are still peeked
	got, err := e.ns.Peek(e.ctx, "q", 1, 3)
	e.must(err)
	if strings.Join(bodies(got), ",") != "0,1,2" {
		t.Fatalf("peek %v", bodies(got))
	}
	got, err = e.ns.Peek(e.ctx, "q", 4, 10)
	e.must(err)
	if strings.Join(bodies(got), ",") != "3,4,later" || got[2].State != StateScheduled || got[2].SequenceNumber != seqs[0] {
		t.Fatalf("peek %v %+v", bodies(got), got)
	}
	if got[0].LockToken != uuid.Nil || m.DeliveryCount != 1 {
		t.Fatal("peek locked something")
	}
	got, err = e.ns.Peek(e.ctx, "q", 100, 10)
	e.must(err)
	if len(got) != 0 {
		t.Fatalf("peek past the end: %v", bodies(got))
	}
}

func TestScheduledMessages(t *testing.T) {
	e := newEnv(t)
	e.queue("q", nil)
	seqs, err := e.ns.Schedule(e.ctx, "q", []Message{
		{Body: []byte("in1h"), ScheduledEnqueueTime: t0.Add(time.Hour)},
		{Body: []byte("in2h"), ScheduledEnqueueTime: t0.Add(2 * time.Hour)},
		{Body: []byte("past"), ScheduledEnqueueTime: t0.Add(-time.Hour)},
	})
	e.must(err)
	if len(seqs) != 3 || seqs[0] != 1 || seqs[2] != 3 {
		t.Fatalf("seqs %v", seqs)
	}
	e.send("q", Message{Body: []byte("viaSend"), ScheduledEnqueueTime: t0.Add(30 * time.Minute)})
	rt := e.queueRuntime("q")
	if rt.ScheduledMessageCount != 3 || rt.ActiveMessageCount != 1 {
		t.Fatalf("runtime %+v", rt)
	}
	if m := e.recv("q", 10, ReceiveAndDelete); len(m) != 1 || string(m[0].Body) != "past" {
		t.Fatalf("got %v", bodies(m))
	}
	e.must(e.ns.CancelScheduled(e.ctx, "q", []int64{seqs[1]}))
	wantCode(t, e.ns.CancelScheduled(e.ctx, "q", []int64{seqs[1]}), CodeMessageNotFound)
	e.reopen()
	e.advance(30 * time.Minute)
	m := e.recv("q", 10, ReceiveAndDelete)
	if len(m) != 1 || string(m[0].Body) != "viaSend" || !m[0].EnqueuedTime.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("got %v", bodies(m))
	}
	e.advance(30 * time.Minute)
	m = e.recv("q", 10, ReceiveAndDelete)
	if len(m) != 1 || string(m[0].Body) != "in1h" || m[0].SequenceNumber != seqs[0] || m[0].State != StateActive {
		t.Fatalf("got %+v", m)
	}
	e.advance(2 * time.Hour)
	e.expectEmpty("q")
	if rt := e.queueRuntime("q"); rt.ScheduledMessageCount != 0 || rt.ActiveMessageCount != 0 {
		t.Fatalf("runtime %+v", rt)
	}
}

func TestTimeToLive(t *testing.T) {
	e := newEnv(t)
	e.queue("drop", func(p *QueueProperties) { p.DefaultMessageTimeToLive = time.Minute })
	e.queue("dlq", func(p *QueueProperties) { p.DeadLetteringOnMessageExpiration = true })
	e.send("drop", msg("default-ttl"), Message{Body: []byte("short"), TimeToLive: 10 * time.Second}, Message{Body: []byte("long"), TimeToLive: time.Hour})
	e.send("dlq", Message{Body: []byte("x"), TimeToLive: 10 * time.Second}, Message{Body: []byte("y"), TimeToLive: 10 * time.Second}, msg("forever"))
	ms := e.recv("dlq", 1, PeekLock) // x is locked when it expires
	if string(ms[0].Body) != "x" {
		t.Fatal(bodies(ms))
	}
	// Lazily on receive: "short" is expired, the next receive skips it.
	e.clk.Advance(11 * time.Second)
	got := e.recv("drop", 10, PeekLock)
	if strings.Join(bodies(got), ",") != "default-ttl,long" || !got[0].ExpiresAt.Equal(t0.Add(time.Minute)) || !got[1].ExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("drop: %v", bodies(got))
	}
	// The sweeper handles what nobody receives: y dead-letters; x, locked,
	// waits for its lock to end.
	e.advance(0)
	if rt := e.queueRuntime("dlq"); rt.DeadLetterMessageCount != 1 || rt.ActiveMessageCount != 2 {
		t.Fatalf("dlq runtime %+v", rt)
	}
	e.must(e.ns.Abandon(e.ctx, "dlq", ms[0].LockToken, nil))
	e.advance(0)
	dead := e.recv("dlq/$DeadLetterQueue", 10, ReceiveAndDelete)
	if strings.Join(bodies(dead), ",") != "x,y" || dead[1].DeadLetterReason != ReasonTTLExpired {
		t.Fatalf("dead: %v %+v", bodies(dead), dead)
	}
	// default-ttl and long are locked; when their locks end they expire.
	if rt := e.queueRuntime("drop"); rt.ActiveMessageCount != 2 {
		t.Fatalf("drop runtime %+v", rt)
	}
	e.advance(2 * time.Minute)
	if rt := e.queueRuntime("drop"); rt.ActiveMessageCount != 0 || rt.DeadLetterMessageCount != 0 || rt.SizeInBytes != 0 {
		t.Fatalf("drop runtime %+v", rt)
	}
	// Deferred messages expire too.
	e.send("dlq", Message{Body: []byte("def"), TimeToLive: time.Minute})
	m := e.recv1("dlq")
	if string(m.Body) != "forever" {
		m = e.recv1("dlq")
	}
	for string(m.Body) != "def" {
		m = e.recv1("dlq")
	}
	e.must(e.ns.Defer(e.ctx, "dlq", m.LockToken, nil))
	e.reopen() // expiry state is rebuilt from the index
	e.advance(2 * time.Minute)
	if d := e.recv("dlq/$DeadLetterQueue", 10, ReceiveAndDelete); len(d) != 1 || string(d[0].Body) != "def" {
		t.Fatalf("deferred expiry: %v", bodies(d))
	}
}

func TestDuplicateDetection(t *testing.T) {
	e := newEnv(t)
	e.queue("q", func(p *QueueProperties) {
		p.RequiresDuplicateDetection = true
		p.DuplicateDetectionHistoryTimeWindow = time.Minute
	})
	e.send("q", msg("a"), msg("b"), msg("a"))
	e.send("q", msg("b"))
	e.advance(30 * time.Second)
	e.reopen()
	e.send("q", msg("a"))
	if got := e.recv("q", 10, ReceiveAndDelete); strings.Join(bodies(got), ",") != "a,b" {
		t.Fatalf("got %v", bodies(got))
	}
	e.advance(31 * time.Second)
	e.send("q", msg("a"), Message{Body: []byte("no-id")}, Message{Body: []byte("no-id")})
	if got := e.recv("q", 10, ReceiveAndDelete); strings.Join(bodies(got), ",") != "a,no-id,no-id" {
		t.Fatalf("after window got %v", bodies(got))
	}
	e.advance(2 * time.Minute) // maintenance prunes the history
	e.advance(time.Minute)
	qe := e.lq("q").ent
	left := 0
	e.must(store.ForEach(e.ctx, e.st, e.ns.k.key('u', qe.id), func(k, v []byte) error { left++; return nil }))
	if left != 0 {
		t.Fatalf("%d duplicate-detection entries left after the window", left)
	}
}

func TestForwarding(t *testing.T) {
	e := newEnv(t)
	e.queue("final", nil)
	e.queue("dead", nil)
	e.queue("middle", func(p *QueueProperties) { p.ForwardTo = "final" })
	e.queue("start", func(p *QueueProperties) { p.ForwardTo = "middle"; p.ForwardDeadLetteredMessagesTo = "dead" })
	e.send("start", msg("hop"))
	m := e.recv1("final")
	if string(m.Body) != "hop" || m.EnqueuedSequenceNumber != 1 || m.SequenceNumber != 1 {
		t.Fatalf("forwarded: %+v", m)
	}
	if rt := e.queueRuntime("start"); rt.ActiveMessageCount != 0 || rt.TransferMessageCount != 0 {
		t.Fatalf("start runtime %+v", rt)
	}

	// A chain longer than the hop limit ends in the transfer dead-letter queue.
	e.queue("c5", nil)
	for i := 4; i >= 0; i-- {
		i := i
		e.queue(fmt.Sprint("c", i), func(p *QueueProperties) { p.ForwardTo = fmt.Sprint("c", i+1) })
	}
	e.send("c0", msg("long"))
	e.expectEmpty("c5")
	tdl := e.recv1("c4/$Transfer/$DeadLetterQueue")
	if tdl.DeadLetterReason != ReasonMaxTransferHopCountExceeded {
		t.Fatalf("transfer dead letter: %+v", tdl)
	}
	if rt := e.queueRuntime("c4"); rt.TransferDeadLetterMessageCount != 1 {
		t.Fatalf("c4 runtime %+v", rt)
	}

	// Dead-lettered messages are forwarded with their source.
	e.queue("work", func(p *QueueProperties) { p.ForwardDeadLetteredMessagesTo = "dead" })
	e.send("work", msg("bad"))
	w := e.recv1("work")
	e.must(e.ns.DeadLetter(e.ctx, "work", w.LockToken, "why", "because", nil))
	d := e.recv1("dead")
	if d.DeadLetterSource != "work" || d.DeadLetterReason != "why" {
		t.Fatalf("forwarded dead letter: %+v", d)
	}
	// A deleted destination sends messages to the transfer dead-letter queue.
	e.must(e.ns.DeleteQueue(e.ctx, "final"))
	e.send("middle", msg("orphan"))
	if m := e.recv1("middle/$Transfer/$DeadLetterQueue"); m.DeadLetterReason != ReasonForwardingFailed {
		t.Fatalf("orphan: %+v", m)
	}
}

func TestLongPollFairAndNotified(t *testing.T) {
	e := newEnv(t)
	e.queue("q", nil)
	lq := e.lq("q")
	type result struct {
		msgs []*ReceivedMessage
		err  error
	}
	start := func(name string, wait time.Duration, ctx context.Context) chan result {
		ch := make(chan result, 1)
		before := lq.waiting()
		go func() {
			m, err := e.ns.Receive(ctx, "q", ReceiveOptions{Mode: ReceiveAndDelete, MaxWait: wait, MaxMessages: 5})
			ch <- result{m, err}
		}()
		waitUntil(t, name+" waiting", func() bool { return lq.waiting() == before+1 })
		return ch
	}
	a := start("a", WaitForever, e.ctx)
	b := start("b", WaitForever, e.ctx)
	e.send("q", msg("first"))
	ra := <-a
	if ra.err != nil || len(ra.msgs) != 1 || string(ra.msgs[0].Body) != "first" {
		t.Fatalf("a: %+v", ra)
	}
	e.send("q", msg("second"))
	rb := <-b
	if rb.err != nil || len(rb.msgs) != 1 || string(rb.msgs[0].Body) != "second" {
		t.Fatalf("b: %+v", rb)
	}
	// Max wait, measured on the broker's clock.
	c := start("c", 10*time.Second, e.ctx)
	e.clk.Advance(10 * time.Second)
	if rc := <-c; rc.err != nil || len(rc.msgs) != 0 {
		t.Fatalf("c: %+v", rc)
	}
	// Context cancellation.
	ctx, cancel := context.WithCancel(e.ctx)
	d := start("d", WaitForever, ctx)
	cancel()
	if rd := <-d; !errors.Is(rd.err, context.Canceled) {
		t.Fatalf("d: %+v", rd)
	}
	// A message whose lock expires wakes a waiter.
	e.send("q", msg("relock"))
	m, err := e.ns.Receive(e.ctx, "q", ReceiveOptions{})
	e.must(err)
	f := start("f", WaitForever, e.ctx)
	e.advance(time.Minute)
	if rf := <-f; rf.err != nil || len(rf.msgs) != 1 || rf.msgs[0].DeliveryCount != 2 || string(m[0].Body) != "relock" {
		t.Fatalf("f: %+v", rf)
	}
	// Deleting the queue fails a waiter.
	g := start("g", WaitForever, e.ctx)
	e.must(e.ns.DeleteQueue(e.ctx, "q"))
	if rg := <-g; CodeOf(rg.err) != CodeEntityNotFound {
		t.Fatalf("g: %+v", rg)
	}
}

func TestAutoDeleteOnIdle(t *testing.T) {
	e := newEnv(t)
	e.queue("idle", func(p *QueueProperties) { p.AutoDeleteOnIdle = 10 * time.Minute })
	e.queue("busy", func(p *QueueProperties) { p.AutoDeleteOnIdle = 10 * time.Minute })
	for range 4 {
		e.advance(3 * time.Minute)
		e.send("busy", msg("x"))
	}
	if _, err := e.ns.GetQueue(e.ctx, "idle"); CodeOf(err) != CodeEntityNotFound {
		t.Fatalf("idle queue still there: %v", err)
	}
	if _, err := e.ns.GetQueue(e.ctx, "busy"); err != nil {
		t.Fatal(err)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	r := &record{Message: Message{Body: []byte("b"), MessageID: "id", SessionID: "s", TimeToLive: time.Second,
		ScheduledEnqueueTime:  time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		ApplicationProperties: map[string]any{"a": int16(-3), "t": time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}},
		EnqueuedTime: t0, EnqueuedSeq: 5, DeliveryCount: 2, State: StateDeferred, DeadLetterSource: "src", Hops: 3}
	b, err := r.encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
	}
	for i := range b {
		if _, err := decodeRecord(b[:i]); err == nil {
			t.Fatalf("truncated record of %d bytes decoded", i)
		}
	}
	if _, err := decodeRecord(append(bytes.Clone(b), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	r := &record{Message: Message{Body: []byte("x"), ApplicationProperties: map[string]any{"k": "v", "n": 1.5}}}
	b, _ := r.encode()
	f.Add(b)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := rec.encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeRecord(again); err != nil {
			t.Fatal(err)
		}
	})
}

func TestExpiryBeyondTheHorizon(t *testing.T) {
	e := newEnv(t)
	e.queue("q", func(p *QueueProperties) { p.DeadLetteringOnMessageExpiration = true })
	e.send("q", Message{Body: []byte("hour"), TimeToLive: time.Hour}, Message{Body: []byte("soon"), TimeToLive: 30 * time.Second},
		Message{Body: []byte("day"), TimeToLive: 24 * time.Hour})
	// Completed far-future messages leave nothing behind in memory.
	for i := range 100 {
		e.send("q", Message{Body: []byte(fmt.Sprint("done", i)), TimeToLive: 48 * time.Hour})
	}
	lq := e.lq("q")
	lq.mu.Lock()
	heapLen, far := len(lq.expiry), lq.farMin
	lq.mu.Unlock()
	if heapLen != 1 || far != t0.Add(time.Hour).UnixNano() {
		t.Fatalf("expiry heap %d entries, far minimum %v", heapLen, time.Unix(0, far).UTC())
	}
	e.advance(time.Minute)
	e.advance(time.Hour)
	e.advance(0)
	if rt := e.queueRuntime("q"); rt.DeadLetterMessageCount != 2 || rt.ActiveMessageCount != 101 {
		t.Fatalf("after an hour: %+v", rt)
	}
	dl := e.recv("q/$DeadLetterQueue", 10, ReceiveAndDelete)
	if strings.Join(bodies(dl), ",") != "hour,soon" {
		t.Fatalf("dead letters %v", bodies(dl))
	}
	e.advance(23 * time.Hour)
	e.advance(0)
	if rt := e.queueRuntime("q"); rt.DeadLetterMessageCount != 1 {
		t.Fatalf("after a day: %+v", rt)
	}
}
