package amqp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// testBroker is a tiny in-memory queue broker built on the handler API,
// used to drive the engine with a real client.
type testBroker struct {
	mu     sync.Mutex
	queues map[string]*testQueue

	// asyncAccept confirms incoming deliveries from another goroutine
	// after a short delay (like a durable commit).
	asyncAccept bool
	// refuse makes attaches to this address fail with the error.
	refuse map[string]*Error
	// panicOn makes an attach to this address panic in the handler.
	panicOn string
	// incomingMax announces this max-message-size on incoming links.
	incomingMax uint64

	accepted     atomic.Int64
	linkCloses   atomic.Int64
	sessionEnds  atomic.Int64
	connCloses   atomic.Int64
	dispositions atomic.Int64
	sasl         atomic.Value // last SASLInfo
}

func newTestBroker() *testBroker {
	return &testBroker{queues: map[string]*testQueue{}, refuse: map[string]*Error{}}
}

// testQueue is a FIFO whose consumers send directly from it.
type testQueue struct {
	mu      sync.Mutex
	items   [][]byte
	changed chan struct{}
}

func (q *testQueue) push(p []byte) {
	q.mu.Lock()
	q.items = append(q.items, p)
	close(q.changed)
	q.changed = make(chan struct{})
	q.mu.Unlock()
}

// sendSome sends queued messages while the link has credit; it returns a
// channel that changes on the next push when the queue was empty.
func (q *testQueue) sendSome(send func([]byte) error) (<-chan struct{}, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) > 0 {
		if err := send(q.items[0]); err != nil {
			if errors.Is(err, ErrNoCredit) {
				return nil, nil
			}
			return nil, err
		}
		q.items[0] = nil
		q.items = q.items[1:]
	}
	return q.changed, nil
}

func (b *testBroker) queue(name string) *testQueue {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queues[name]
	if q == nil {
		q = &testQueue{changed: make(chan struct{})}
		b.queues[name] = q
	}
	return q
}

func (b *testBroker) open(ctx context.Context, c *Conn) (*ConnHandler, error) {
	b.sasl.Store(c.SASL())
	if c.ContainerID() == "refuse-me" {
		return nil, &Error{Condition: CondUnauthorizedAccess, Description: "go away"}
	}
	return &ConnHandler{
		AttachIncoming: b.attachIncoming,
		AttachOutgoing: b.attachOutgoing,
		SessionEnded:   func(*Session, error) { b.sessionEnds.Add(1) },
		Closed:         func(error) { b.connCloses.Add(1) },
	}, nil
}

func (b *testBroker) attachIncoming(ctx context.Context, l *IncomingLink) (*IncomingOptions, error) {
	a := l.Attach()
	if a.Target == nil {
		return nil, &Error{Condition: CondInvalidField, Description: "no target"}
	}
	b.mu.Lock()
	e := b.refuse[a.Target.Address]
	b.mu.Unlock()
	if e != nil {
		return nil, e
	}
	if b.panicOn != "" && a.Target.Address == b.panicOn {
		var m map[string]int
		m["boom"]++ // a handler bug: assignment to a nil map
	}
	q := b.queue(a.Target.Address)
	return &IncomingOptions{
		Reply:          AttachReply{MaxMessageSize: b.incomingMax, Properties: map[Symbol]any{"com.example:x": int64(7)}},
		SettleOutcomes: strings.HasPrefix(a.Target.Address, "settle-first"),
		OnDelivery: func(ctx context.Context, d *Delivery) {
			msgs := [][]byte{d.Payload}
			if d.Format == MessageFormatBatch {
				batch, err := UnmarshalBatch(d.Payload)
				if err != nil {
					_ = d.Reject(&Error{Condition: CondDecodeError, Description: err.Error()})
					return
				}
				msgs = msgs[:0]
				for _, m := range batch {
					p, _ := m.MarshalBinary()
					msgs = append(msgs, p)
				}
			} else if _, err := d.Message(); err != nil {
				_ = d.Reject(&Error{Condition: CondDecodeError, Description: err.Error()})
				return
			}
			switch a.Target.Address {
			case "hold":
				return // never settled: the delivery keeps its credit
			case "stolen":
				_ = d.Accept()
				d.Link().Close(&Error{Condition: CondStolen, Description: "taken"})
				return
			case "end-session":
				d.Link().Session().End(&Error{Condition: "com.example:end", Description: "bye"})
				return
			case "close-conn":
				d.Link().Conn().Close(&Error{Condition: "com.example:close", Info: map[Symbol]any{"bad": struct{}{}}})
				return
			}
			for _, m := range msgs {
				q.push(m)
			}
			b.accepted.Add(1)
			if b.asyncAccept {
				go func() {
					time.Sleep(time.Millisecond)
					_ = d.Accept()
				}()
				return
			}
			_ = d.Accept()
		},
		OnClose: func(error) { b.linkCloses.Add(1) },
	}, nil
}

func (b *testBroker) attachOutgoing(ctx context.Context, l *OutgoingLink) (*OutgoingOptions, error) {
	a := l.Attach()
	if a.Source == nil {
		return nil, &Error{Condition: CondInvalidField, Description: "no source"}
	}
	b.mu.Lock()
	e := b.refuse[a.Source.Address]
	b.mu.Unlock()
	if e != nil {
		return nil, e
	}
	if a.Source.Address == "slow" {
		<-ctx.Done() // e.g. waiting for a session to become available
		return nil, &Error{Condition: "com.microsoft:timeout", Description: "gave up"}
	}
	q := b.queue(a.Source.Address)
	settled := a.SenderSettleMode == SenderSettleModeSettled
	var reply AttachReply
	if _, ok := a.Source.Filter["com.microsoft:session-filter"]; ok {
		src := *a.Source
		src.Filter = map[Symbol]any{"com.microsoft:session-filter": Described{Descriptor: uint64(0x137000000C), Value: "session-7"}}
		reply.Source = &src
		reply.Properties = map[Symbol]any{"com.microsoft:locked-until-utc": int64(638000000000000000)}
	}
	if a.Source.Address == "bad-reply" {
		reply.Properties = map[Symbol]any{"x": struct{}{}}
	}
	var tag atomic.Uint64
	send := func(p []byte) error {
		t := fmt.Appendf(nil, "t%d", tag.Add(1))
		return l.TrySendPayload(p, 0, t, settled)
	}
	go func() {
		for {
			if err := l.WaitCredit(ctx); err != nil {
				return
			}
			if a.Source.Address == "stolen" {
				l.Close(&Error{Condition: CondStolen, Description: "taken"})
				return
			}
			changed, err := q.sendSome(send)
			if err != nil {
				return
			}
			if changed != nil {
				select {
				case <-changed:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return &OutgoingOptions{
		Reply: reply,
		OnDisposition: func(ctx context.Context, d Disposition) {
			b.dispositions.Add(1)
			if !d.Settled {
				_ = l.Settle(d.Tag, d.State)
			}
		},
		OnDrain: func(ctx context.Context) {
			_, _ = q.sendSome(send)
		},
		OnClose: func(error) { b.linkCloses.Add(1) },
	}, nil
}

// startServer serves a broker on 127.0.0.1 until the test ends.
func startServer(t testing.TB, b *testBroker, mutate func(*Config)) (string, *Server) {
	t.Helper()
	cfg := Config{
		Open:           b.open,
		SASLMechanisms: []Symbol{SASLMSSBCBS, SASLAnonymous, SASLPlain},
		PlainAuth: func(ctx context.Context, authzid, user, pass string) error {
			if user == "user" && pass == "secret" {
				return nil
			}
			return errors.New("bad credentials")
		},
		CloseTimeout: 500 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return")
		}
	})
	return "amqp://" + ln.Addr().String(), srv
}

func dial(t testing.TB, addr string, opts *goamqp.ConnOptions) *goamqp.Conn {
	t.Helper()
	if opts == nil {
		opts = &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := goamqp.Dial(ctx, addr, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitGoroutines waits until the goroutine count drops to at most n.
func waitGoroutines(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := runtime.NumGoroutine()
		if got <= n {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			var ours []string
			for _, g := range strings.Split(string(buf), "\n\n") {
				if strings.Contains(g, "internal/amqp.") {
					ours = append(ours, g)
				}
			}
			t.Fatalf("goroutines: %d, want <= %d; engine goroutines:\n%s", got, n, strings.Join(ours, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
