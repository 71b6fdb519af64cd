package servicebus

import (
	"bytes"
	"testing"
	"time"
)

// dataValue returns the sealed bytes stored for message seq of queue name.
func (e *env) dataValue(name string, seq int64) []byte {
	e.t.Helper()
	q := e.ns.queueOrTopic(name)
	v, err := e.st.Get(e.ctx, e.ns.k.dataKey(q.id, uint64(seq)))
	e.must(err)
	return v
}

// TestDeliveryCountLeavesTheMessageAlone checks that a peek-lock delivery
// counts itself in the index entry: the sealed message is not rewritten.
func TestDeliveryCountLeavesTheMessageAlone(t *testing.T) {
	e := newEnv(t)
	e.queue("q", nil)
	e.send("q", msg("a"))
	before := e.dataValue("q", 1)
	m := e.recv1("q")
	if m.DeliveryCount != 1 {
		t.Fatalf("first delivery count %d", m.DeliveryCount)
	}
	if after := e.dataValue("q", 1); !bytes.Equal(before, after) {
		t.Fatal("a delivery rewrote the sealed message")
	}
	e.must(e.ns.Abandon(e.ctx, "q", m.LockToken, nil))
	if m := e.recv1("q"); m.DeliveryCount != 2 {
		t.Fatalf("second delivery count %d", m.DeliveryCount)
	}
	if after := e.dataValue("q", 1); !bytes.Equal(before, after) {
		t.Fatal("an abandon without properties rewrote the sealed message")
	}
}

// TestDeliveryCountSurvivesRestart checks the counts kept in index entries
// across a restart: abandoned, expired and released deliveries.
func TestDeliveryCountSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	e.queue("q", func(p *QueueProperties) { p.LockDuration = 30 * time.Second })
	e.send("q", msg("a"), msg("b"), msg("c"))
	got := e.recv("q", 3, PeekLock)
	if len(got) != 3 {
		t.Fatalf("received %d", len(got))
	}
	byBody := map[string]*ReceivedMessage{}
	for _, m := range got {
		byBody[string(m.Body)] = m
	}
	e.must(e.ns.Abandon(e.ctx, "q", byBody["a"].LockToken, nil)) // counted: 1
	e.must(e.ns.Release(e.ctx, "q", byBody["c"].LockToken))      // not counted: 0
	e.advance(31 * time.Second)                                  // b's lock expires: 1
	e.reopen()
	peeked, err := e.ns.Peek(e.ctx, "q", 1, 10)
	e.must(err)
	want := map[string]int32{"a": 1, "b": 1, "c": 0}
	for _, m := range peeked {
		if m.DeliveryCount != want[string(m.Body)] {
			t.Errorf("peek after restart: %s has delivery count %d, want %d", m.Body, m.DeliveryCount, want[string(m.Body)])
		}
	}
	for _, m := range e.recv("q", 3, PeekLock) {
		if w := want[string(m.Body)] + 1; m.DeliveryCount != w {
			t.Errorf("delivery after restart: %s has delivery count %d, want %d", m.Body, m.DeliveryCount, w)
		}
	}
}

// TestDeliveryCountFollowsTheMessage checks that a count kept in the index
// entry goes with the message when it is deferred or dead-lettered.
func TestDeliveryCountFollowsTheMessage(t *testing.T) {
	e := newEnv(t)
	e.queue("q", nil)
	e.send("q", msg("d"), msg("x"))
	for range 2 {
		for _, m := range e.recv("q", 2, PeekLock) {
			e.must(e.ns.Abandon(e.ctx, "q", m.LockToken, nil))
		}
	}
	for _, m := range e.recv("q", 2, PeekLock) { // third delivery of each
		switch string(m.Body) {
		case "d":
			e.must(e.ns.Defer(e.ctx, "q", m.LockToken, nil))
		case "x":
			e.must(e.ns.DeadLetter(e.ctx, "q", m.LockToken, "test", "", nil))
		}
	}
	e.reopen()
	peeked, err := e.ns.Peek(e.ctx, "q", 1, 10)
	e.must(err)
	if len(peeked) != 1 || string(peeked[0].Body) != "d" || peeked[0].DeliveryCount != 3 {
		t.Fatalf("deferred message after restart: %+v", peeked)
	}
	dl := e.recv1("q/$DeadLetterQueue")
	if string(dl.Body) != "x" || dl.DeliveryCount != 4 {
		t.Fatalf("dead-lettered message: %s, delivery count %d (want 4: three in the queue, one here)", dl.Body, dl.DeliveryCount)
	}
}

func TestIndexEntryCodec(t *testing.T) {
	for _, x := range []indexEntry{
		{Size: 10, Expires: 5, Sess: 2},
		{Size: 10, Expires: 5, Sess: 2, Deliveries: 7},
		{SchedAt: 99},
	} {
		b := x.encode()
		y, err := decodeIndex(b)
		if err != nil || y != x {
			t.Errorf("%+v: decoded %+v, %v", x, y, err)
		}
	}
	// An entry written without a count (as before counts were kept here)
	// reads as 0 and is byte-for-byte what it was.
	three := indexEntry{Size: 3}
	old := three.encode()
	if want := []byte{indexVersion, 6, 0, 0, 0}; !bytes.Equal(old, want) {
		t.Errorf("entry without a count = %x, want %x", old, want)
	}
	for _, bad := range [][]byte{
		append(three.encode(), 1),    // a negative count (zig-zag -1)
		append(three.encode(), 2, 2), // trailing bytes
	} {
		if _, err := decodeIndex(bad); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}
