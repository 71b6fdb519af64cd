package amqp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

func ptr[T any](v T) *T { return &v }

func TestSendReceiveSettleModes(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	conn := dial(t, addr, nil)
	ctx := testCtx(t)
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		sndMode *goamqp.SenderSettleMode
		rcvMode *goamqp.ReceiverSettleMode // receiver link's mode
		settled bool
	}{
		{"mixed-unsettled/first", ptr(goamqp.SenderSettleModeMixed), ptr(goamqp.ReceiverSettleModeFirst), false},
		{"mixed-settled/second", ptr(goamqp.SenderSettleModeMixed), ptr(goamqp.ReceiverSettleModeSecond), true},
		{"settled/first", ptr(goamqp.SenderSettleModeSettled), ptr(goamqp.ReceiverSettleModeFirst), true},
		{"unsettled/second", ptr(goamqp.SenderSettleModeUnsettled), ptr(goamqp.ReceiverSettleModeSecond), false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := fmt.Sprintf("q%d", i)
			snd, err := sess.NewSender(ctx, q, &goamqp.SenderOptions{SettlementMode: tc.sndMode})
			if err != nil {
				t.Fatal(err)
			}
			defer snd.Close(ctx)
			if got := snd.Properties()["com.example:x"]; got != int64(7) {
				t.Errorf("attach properties: got %v", got)
			}
			for n := range 20 {
				m := goamqp.NewMessage(fmt.Appendf(nil, "m%d", n))
				m.ApplicationProperties = map[string]any{"n": int64(n)}
				if err := snd.Send(ctx, m, &goamqp.SendOptions{Settled: tc.settled}); err != nil {
					t.Fatalf("send %d: %v", n, err)
				}
			}
			// The receiver uses the same sender settle mode for the server side.
			rcv, err := sess.NewReceiver(ctx, q, &goamqp.ReceiverOptions{
				SettlementMode:            tc.rcvMode,
				RequestedSenderSettleMode: ptr(goamqp.SenderSettleModeUnsettled),
				Credit:                    5,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer rcv.Close(ctx)
			for n := range 20 {
				m, err := rcv.Receive(ctx, nil)
				if err != nil {
					t.Fatalf("receive %d: %v", n, err)
				}
				if want := fmt.Sprintf("m%d", n); string(m.GetData()) != want {
					t.Fatalf("got %q want %q", m.GetData(), want)
				}
				if m.ApplicationProperties["n"] != int64(n) {
					t.Fatalf("app props %v", m.ApplicationProperties)
				}
				if err := rcv.AcceptMessage(ctx, m); err != nil {
					t.Fatalf("accept %d: %v", n, err)
				}
			}
		})
	}
}

func TestPreSettledReceiver(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	conn := dial(t, addr, nil)
	ctx := testCtx(t)
	sess, _ := conn.NewSession(ctx, nil)
	snd, err := sess.NewSender(ctx, "ps", nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := range 10 {
		if err := snd.Send(ctx, goamqp.NewMessage([]byte{byte(n)}), nil); err != nil {
			t.Fatal(err)
		}
	}
	rcv, err := sess.NewReceiver(ctx, "ps", &goamqp.ReceiverOptions{
		RequestedSenderSettleMode: ptr(goamqp.SenderSettleModeSettled),
		SettlementMode:            ptr(goamqp.ReceiverSettleModeFirst),
		Credit:                    3,
	})
	if err != nil {
		t.Fatal(err)
	}
	for n := range 10 {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.GetData()[0] != byte(n) {
			t.Fatalf("order: got %d want %d", m.GetData()[0], n)
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.dispositions.Load(); got != 0 {
		t.Errorf("dispositions for pre-settled deliveries: %d", got)
	}
}

func TestManualCreditAndDrain(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	conn := dial(t, addr, nil)
	ctx := testCtx(t)
	sess, _ := conn.NewSession(ctx, nil)
	snd, err := sess.NewSender(ctx, "mc", nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := range 5 {
		if err := snd.Send(ctx, goamqp.NewMessage([]byte{byte(n)}), nil); err != nil {
			t.Fatal(err)
		}
	}
	rcv, err := sess.NewReceiver(ctx, "mc", &goamqp.ReceiverOptions{
		Credit:         -1,
		SettlementMode: ptr(goamqp.ReceiverSettleModeSecond),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.IssueCredit(3); err != nil {
		t.Fatal(err)
	}
	for n := range 3 {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatalf("accept %d: %v", n, err)
		}
	}
	// Without credit nothing more arrives.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if m, err := rcv.Receive(short, nil); err == nil {
		t.Fatalf("received %v without credit", m.GetData())
	}
	cancel()
	// Two queued messages arrive with new credit; go-amqp's drain then
	// revokes the remaining credit and the server confirms.
	if err := rcv.IssueCredit(10); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := rcv.DrainCredit(ctx, nil); err != nil {
		t.Fatalf("drain: %v", err)
	}
	// Drain on an empty queue completes immediately.
	if err := rcv.IssueCredit(4); err != nil {
		t.Fatal(err)
	}
	if err := rcv.DrainCredit(ctx, nil); err != nil {
		t.Fatalf("empty drain: %v", err)
	}
	// After the drain, a new message needs new credit.
	if err := snd.Send(ctx, goamqp.NewMessage([]byte("late")), nil); err != nil {
		t.Fatal(err)
	}
	short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	if m, err := rcv.Receive(short, nil); err == nil {
		t.Fatalf("received %q after drain without new credit", m.GetData())
	}
	cancel()
	if err := rcv.IssueCredit(1); err != nil {
		t.Fatal(err)
	}
	m, err := rcv.Receive(ctx, nil)
	if err != nil || string(m.GetData()) != "late" {
		t.Fatalf("late message: %v %v", m, err)
	}
	_ = rcv.AcceptMessage(ctx, m)
}

func TestLargeMessagesSmallFrames(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, func(c *Config) {
		c.MaxFrameSize = 4096
		c.MaxMessageSize = 4 << 20
	})
	conn := dial(t, addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous(), MaxFrameSize: 4096})
	ctx := testCtx(t)
	sess, _ := conn.NewSession(ctx, nil)
	snd, err := sess.NewSender(ctx, "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 1<<20)
	for i := range body {
		body[i] = byte(i * 7)
	}
	for range 3 {
		if err := snd.Send(ctx, goamqp.NewMessage(body), nil); err != nil {
			t.Fatal(err)
		}
	}
	rcv, err := sess.NewReceiver(ctx, "big", &goamqp.ReceiverOptions{Credit: 2, MaxMessageSize: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.GetData(), body) {
			t.Fatal("large body corrupted")
		}
		_ = rcv.AcceptMessage(ctx, m)
	}
	// A message above the link's max-message-size detaches the link.
	snd2, err := sess.NewSender(ctx, "big2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := snd2.MaxMessageSize(); got != 4<<20 {
		t.Fatalf("announced max-message-size %d", got)
	}
	if err := snd2.Send(ctx, goamqp.NewMessage(make([]byte, 5<<20)), nil); err == nil {
		t.Fatal("oversized message accepted")
	}
}

func TestMessageSizeEnforcedByServer(t *testing.T) {
	b := newTestBroker()
	b.incomingMax = 1000
	addr, _ := startServer(t, b, nil)
	conn := dial(t, addr, nil)
	ctx := testCtx(t)
	sess, _ := conn.NewSession(ctx, nil)
	snd, err := sess.NewSender(ctx, "small", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := snd.MaxMessageSize(); got != 1000 {
		t.Fatalf("max-message-size %d", got)
	}
	if err := snd.Send(ctx, goamqp.NewMessage(make([]byte, 100)), nil); err != nil {
		t.Fatal(err)
	}
}

func TestManyLinksAndSessions(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	conn := dial(t, addr, nil)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for s := range 8 {
		sess, err := conn.NewSession(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for l := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q := fmt.Sprintf("s%d-l%d", s, l)
				snd, err := sess.NewSender(ctx, q, nil)
				if err != nil {
					errs <- err
					return
				}
				rcv, err := sess.NewReceiver(ctx, q, &goamqp.ReceiverOptions{Credit: 4})
				if err != nil {
					errs <- err
					return
				}
				for n := range 10 {
					if err := snd.Send(ctx, goamqp.NewMessage(fmt.Appendf(nil, "%s-%d", q, n)), nil); err != nil {
						errs <- err
						return
					}
				}
				for n := range 10 {
					m, err := rcv.Receive(ctx, nil)
					if err != nil {
						errs <- err
						return
					}
					if want := fmt.Sprintf("%s-%d", q, n); string(m.GetData()) != want {
						errs <- fmt.Errorf("got %q want %q", m.GetData(), want)
						return
					}
					if err := rcv.AcceptMessage(ctx, m); err != nil {
						errs <- err
						return
					}
				}
				_ = snd.Close(ctx)
				_ = rcv.Close(ctx)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	deadline := time.Now().Add(2 * time.Second)
	for b.linkCloses.Load() < 96 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := b.linkCloses.Load(); got != 96 {
		t.Errorf("link close callbacks: %d, want 96", got)
	}
}

func TestRefusedAttach(t *testing.T) {
	b := newTestBroker()
	b.refuse["locked"] = &Error{Condition: "com.microsoft:session-cannot-be-locked", Description: "busy"}
	b.refuse["denied"] = &Error{Condition: CondUnauthorizedAccess, Description: "no claim"}
	addr, _ := startServer(t, b, nil)
	conn := dial(t, addr, nil)
	ctx := testCtx(t)
	sess, _ := conn.NewSession(ctx, nil)
	_, err := sess.NewReceiver(ctx, "locked", nil)
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != "com.microsoft:session-cannot-be-locked" || ae.Description != "busy" {
		t.Fatalf("receiver refusal: %v", err)
	}
	_, err = sess.NewSender(ctx, "denied", nil)
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondUnauthorizedAccess {
		t.Fatalf("sender refusal: %v", err)
	}
	// The session is still usable.
	snd, err := sess.NewSender(ctx, "ok", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx, goamqp.NewMessage([]byte("x")), nil); err != nil {
		t.Fatal(err)
	}
}

// TestHandlerPanic checks that a panic in a link handler closes that
// connection with amqp:internal-error and leaves the server serving others.
func TestHandlerPanic(t *testing.T) {
	b := newTestBroker()
	b.panicOn = "boom"
	addr, _ := startServer(t, b, nil)
	ctx := testCtx(t)
	conn := dial(t, addr, nil)
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.NewSender(ctx, "boom", nil); err == nil {
		t.Fatal("the attach whose handler panicked succeeded")
	}
	var ce *goamqp.ConnError
	select {
	case <-conn.Done():
	case <-ctx.Done():
		t.Fatal("the connection stayed open after a handler panic")
	}
	if err := conn.Err(); !errors.As(err, &ce) || ce.RemoteErr == nil || ce.RemoteErr.Condition != goamqp.ErrCondInternalError {
		t.Fatalf("connection ended with %v, want amqp:internal-error", err)
	}
	// The server still serves.
	other := dial(t, addr, nil)
	s2, err := other.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := s2.NewSender(ctx, "fine", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx, goamqp.NewMessage([]byte("x")), nil); err != nil {
		t.Fatal(err)
	}
}

func TestRefusedConnection(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	ctx := testCtx(t)
	c, err := goamqp.Dial(ctx, addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous(), ContainerID: "refuse-me"})
	if err == nil {
		_, err = c.NewSession(ctx, nil)
		_ = c.Close()
	}
	var ce *goamqp.ConnError
	if !errors.As(err, &ce) || ce.RemoteErr == nil || ce.RemoteErr.Condition != goamqp.ErrCondUnauthorizedAccess {
		t.Fatalf("got %v", err)
	}
}

func TestSASLPlain(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	ctx := testCtx(t)
	conn := dial(t, addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("user", "secret")})
	if _, err := conn.NewSession(ctx, nil); err != nil {
		t.Fatal(err)
	}
	info := b.sasl.Load().(SASLInfo)
	if info.Mechanism != SASLPlain || info.Username != "user" {
		t.Fatalf("sasl info %+v", info)
	}
	_, err := goamqp.Dial(ctx, addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("user", "wrong")})
	if err == nil {
		t.Fatal("wrong password accepted")
	}
}

func TestAsyncAccept(t *testing.T) {
	b := newTestBroker()
	b.asyncAccept = true
	addr, _ := startServer(t, b, nil)
	conn := dial(t, addr, nil)
	ctx := testCtx(t)
	sess, _ := conn.NewSession(ctx, nil)
	snd, err := sess.NewSender(ctx, "async", nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for n := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := snd.Send(ctx, goamqp.NewMessage([]byte{byte(n)}), nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := b.accepted.Load(); got != 50 {
		t.Fatalf("accepted %d", got)
	}
}

func TestHeartbeats(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	// The client expects a frame at least every 200ms; go-amqp heartbeats
	// to the server at half of the 100ms the server announces.
	conn := dial(t, addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous(), IdleTimeout: 200 * time.Millisecond})
	ctx := testCtx(t)
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	snd, err := sess.NewSender(ctx, "hb", nil)
	if err != nil {
		t.Fatalf("connection died while idle: %v", err)
	}
	if err := snd.Send(ctx, goamqp.NewMessage([]byte("alive")), nil); err != nil {
		t.Fatal(err)
	}
}

func TestGracefulShutdown(t *testing.T) {
	b := newTestBroker()
	addr, srv := startServer(t, b, nil)
	_ = srv
	ctx := testCtx(t)
	// A separate server whose context we cancel mid-connection.
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	ln := listen(t)
	go func() { done <- srv.Serve(sctx, ln) }()
	conn := dial(t, "amqp://"+ln.Addr().String(), nil)
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := sess.NewReceiver(ctx, "sd", nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, err = rcv.Receive(ctx, nil)
	var ce *goamqp.ConnError
	if !errors.As(err, &ce) || ce.RemoteErr == nil || ce.RemoteErr.Condition != goamqp.ErrCondConnectionForced {
		t.Fatalf("client saw %v", err)
	}
	_ = addr
}

func TestManyConnectionsNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	before := runtime.NumGoroutine()
	b := newTestBroker()
	func() {
		srvCtx, cancel := context.WithCancel(context.Background())
		defer cancel()
		srv, err := NewServer(Config{Open: b.open})
		if err != nil {
			t.Fatal(err)
		}
		ln := listen(t)
		done := make(chan error, 1)
		go func() { done <- srv.Serve(srvCtx, ln) }()
		addr := "amqp://" + ln.Addr().String()
		ctx := testCtx(t)
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := roundTrip(ctx, addr, fmt.Sprintf("c%d", i)); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	if got := b.connCloses.Load(); got != 200 {
		t.Errorf("Closed callbacks: %d", got)
	}
	waitGoroutines(t, before+2)
}

// roundTrip dials, sends and receives 5 messages and closes.
func roundTrip(ctx context.Context, addr, q string) error {
	c, err := goamqp.Dial(ctx, addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := c.NewSession(ctx, nil)
	if err != nil {
		return err
	}
	snd, err := s.NewSender(ctx, q, nil)
	if err != nil {
		return err
	}
	rcv, err := s.NewReceiver(ctx, q, &goamqp.ReceiverOptions{Credit: 10})
	if err != nil {
		return err
	}
	for n := range 5 {
		if err := snd.Send(ctx, goamqp.NewMessage([]byte{byte(n)}), nil); err != nil {
			return err
		}
	}
	for n := range 5 {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			return err
		}
		if m.GetData()[0] != byte(n) {
			return fmt.Errorf("%s: got %d want %d", q, m.GetData()[0], n)
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			return err
		}
	}
	return c.Close()
}

func TestSessionFilterEcho(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	conn := dial(t, addr, nil)
	ctx := testCtx(t)
	sess, _ := conn.NewSession(ctx, nil)
	rcv, err := sess.NewReceiver(ctx, "sessq", &goamqp.ReceiverOptions{
		Filters:    []goamqp.LinkFilter{goamqp.NewLinkFilter("com.microsoft:session-filter", 0x137000000C, nil)},
		Properties: map[string]any{"com.microsoft:timeout": uint32(5000)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := rcv.LinkSourceFilterValue("com.microsoft:session-filter"); got != "session-7" {
		t.Fatalf("filter echo %#v", got)
	}
	if got := rcv.Properties()["com.microsoft:locked-until-utc"]; got != int64(638000000000000000) {
		t.Fatalf("locked-until %#v", got)
	}
	// A reply the server cannot encode refuses the link instead.
	_, err = sess.NewReceiver(ctx, "bad-reply", nil)
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondInternalError {
		t.Fatalf("got %v", err)
	}
}

func TestServerInitiatedClose(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	conn := dial(t, addr, nil)
	ctx := testCtx(t)
	sess, _ := conn.NewSession(ctx, nil)

	rcv, err := sess.NewReceiver(ctx, "stolen", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rcv.Receive(ctx, nil)
	var le *goamqp.LinkError
	if !errors.As(err, &le) || le.RemoteErr == nil || le.RemoteErr.Condition != goamqp.ErrCondStolen {
		t.Fatalf("outgoing link close: %v", err)
	}

	snd, err := sess.NewSender(ctx, "stolen", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = snd.Send(ctx, goamqp.NewMessage([]byte("x")), nil)
	err = snd.Send(ctx, goamqp.NewMessage([]byte("y")), nil)
	if !errors.As(err, &le) || le.RemoteErr == nil || le.RemoteErr.Condition != goamqp.ErrCondStolen {
		t.Fatalf("incoming link close: %v", err)
	}

	sess2, _ := conn.NewSession(ctx, nil)
	snd2, err := sess2.NewSender(ctx, "end-session", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = snd2.Send(ctx, goamqp.NewMessage([]byte("x")), nil)
	var se *goamqp.SessionError
	if !errors.As(err, &se) || se.RemoteErr == nil || se.RemoteErr.Condition != "com.example:end" {
		t.Fatalf("session end: %v", err)
	}

	sess3, _ := conn.NewSession(ctx, nil)
	snd3, err := sess3.NewSender(ctx, "close-conn", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = snd3.Send(ctx, goamqp.NewMessage([]byte("x")), nil)
	var ce *goamqp.ConnError
	// The Info map holds an unencodable value: the server drops the
	// details but keeps the condition.
	if !errors.As(err, &ce) || ce.RemoteErr == nil || ce.RemoteErr.Condition != "com.example:close" {
		t.Fatalf("conn close: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for b.connCloses.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if b.connCloses.Load() != 1 || b.sessionEnds.Load() != 3 {
		t.Fatalf("callbacks: conn %d sessions %d", b.connCloses.Load(), b.sessionEnds.Load())
	}
}
