package amqp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// rawClient speaks AMQP frame by frame, to test protocol details no
// client library exposes.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	fr frameReader
}

func rawConnect(t testing.TB, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(addr, "amqp://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &rawClient{t: t, nc: nc, fr: frameReader{r: bufio.NewReader(nc)}}
}

// rawOpen connects, authenticates anonymously and exchanges open frames.
func rawOpen(t testing.TB, addr string, open *Open) (*rawClient, *Open) {
	t.Helper()
	r := rawConnect(t, addr)
	r.write(headerSASL[:])
	r.expectHeader(headerSASL)
	if _, ok := r.recv().(*saslMechanisms); !ok {
		t.Fatal("no sasl-mechanisms")
	}
	r.sendType(frameTypeSASL, 0, &saslInit{Mechanism: SASLAnonymous, InitialResponse: []byte("anonymous")})
	if o, ok := r.recv().(*saslOutcome); !ok || o.Code != saslCodeOK {
		t.Fatalf("sasl outcome %#v", o)
	}
	r.write(headerAMQP[:])
	r.expectHeader(headerAMQP)
	if open == nil {
		open = &Open{ContainerID: "raw", MaxFrameSize: 65536, ChannelMax: 100}
	}
	r.send(0, open)
	so, ok := r.recv().(*Open)
	if !ok {
		t.Fatal("no open")
	}
	return r, so
}

func (r *rawClient) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawClient) expectHeader(want [8]byte) {
	r.t.Helper()
	var h [8]byte
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(r.fr.r, h[:]); err != nil {
		r.t.Fatal(err)
	}
	if h != want {
		r.t.Fatalf("header %q, want %q", h[:], want[:])
	}
}

func (r *rawClient) send(ch uint16, p performative) { r.sendType(frameTypeAMQP, ch, p) }

func (r *rawClient) sendType(typ byte, ch uint16, p performative) {
	r.t.Helper()
	var payload []byte
	if t, ok := p.(*transfer); ok {
		payload = t.Payload
	}
	b, err := appendFrame(nil, typ, ch, p, payload)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(b)
}

// recvAny returns the next frame body (nil for a heartbeat).
func (r *rawClient) recvAny() (any, []byte) {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, body, err := r.fr.read(1 << 20)
	if err != nil {
		r.t.Fatalf("read frame: %v", err)
	}
	perf, payload, err := parseFrameBody(h.typ, body)
	if err != nil {
		r.t.Fatalf("parse frame: %v", err)
	}
	if tr, ok := perf.(*transfer); ok {
		tr.Payload = append([]byte(nil), payload...)
	}
	return perf, payload
}

// recv returns the next non-heartbeat frame body.
func (r *rawClient) recv() any {
	r.t.Helper()
	for {
		if p, _ := r.recvAny(); p != nil {
			return p
		}
	}
}

func expect[T any](r *rawClient) T {
	r.t.Helper()
	p := r.recv()
	v, ok := p.(T)
	if !ok {
		r.t.Fatalf("got %T %+v, want %T", p, p, v)
	}
	return v
}

func (r *rawClient) begin() {
	r.t.Helper()
	r.send(0, &begin{NextOutgoingID: 0, IncomingWindow: 1000, OutgoingWindow: 1000, HandleMax: 100})
	b := expect[*begin](r)
	if b.RemoteChannel == nil || *b.RemoteChannel != 0 {
		r.t.Fatalf("begin reply %+v", b)
	}
}

func encodeMsg(t testing.TB, body string) []byte {
	t.Helper()
	p, err := (&Message{Data: [][]byte{[]byte(body)}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func u32(v uint32) *uint32 { return &v }

func TestRawDrainSendsAvailableThenSpendsCredit(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	r, _ := rawOpen(t, addr, nil)
	r.begin()
	q := b.queue("dq")
	q.push(encodeMsg(t, "one"))
	q.push(encodeMsg(t, "two"))
	r.send(0, &Attach{Name: "rcv", Handle: 0, Role: RoleReceiver, Source: &Source{Address: "dq"}, Target: &Target{}})
	a := expect[*Attach](r)
	if a.Role != RoleSender || a.Source == nil || a.Source.Address != "dq" {
		t.Fatalf("attach reply %+v", a)
	}
	r.send(0, &flow{NextIncomingID: u32(0), IncomingWindow: 1000, NextOutgoingID: 0, OutgoingWindow: 1000,
		Handle: u32(0), DeliveryCount: u32(0), LinkCredit: u32(5), Drain: true})
	var got []string
	for {
		switch p := r.recv().(type) {
		case *transfer:
			var m Message
			if err := m.UnmarshalBinary(p.Payload); err != nil {
				t.Fatal(err)
			}
			got = append(got, string(m.Data[0]))
		case *flow:
			if !p.Drain || p.LinkCredit == nil || *p.LinkCredit != 0 || p.DeliveryCount == nil || *p.DeliveryCount != 5 {
				t.Fatalf("drain answer %+v", p)
			}
			if strings.Join(got, ",") != "one,two" {
				t.Fatalf("got %v before the drain answer", got)
			}
			return
		default:
			t.Fatalf("unexpected %T", p)
		}
	}
}

func TestRawRefusedAttachShape(t *testing.T) {
	b := newTestBroker()
	b.refuse["nope"] = &Error{Condition: CondNotFound, Description: "no such entity"}
	addr, _ := startServer(t, b, nil)
	r, _ := rawOpen(t, addr, nil)
	r.begin()
	// Peer sends: the server's terminus is the target, so the reply's
	// target is null.
	r.send(0, &Attach{Name: "s", Handle: 3, Role: RoleSender, Source: &Source{Address: "me"}, Target: &Target{Address: "nope"}})
	a := expect[*Attach](r)
	if a.Target != nil || a.Source == nil || a.Role != RoleReceiver {
		t.Fatalf("refusing attach %+v", a)
	}
	d := expect[*detach](r)
	if !d.Closed || d.Error == nil || d.Error.Condition != CondNotFound || d.Handle != a.Handle {
		t.Fatalf("detach %+v", d)
	}
	r.send(0, &detach{Handle: 3, Closed: true})
	// Peer receives: the reply's source is null.
	r.send(0, &Attach{Name: "r", Handle: 3, Role: RoleReceiver, Source: &Source{Address: "nope"}, Target: &Target{}})
	a = expect[*Attach](r)
	if a.Source != nil || a.Target == nil || a.Role != RoleSender {
		t.Fatalf("refusing attach %+v", a)
	}
	if d := expect[*detach](r); d.Error == nil || d.Error.Condition != CondNotFound {
		t.Fatalf("detach %+v", d)
	}
}

func TestRawIncomingAbortAndDispositionRanges(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	r, _ := rawOpen(t, addr, nil)
	r.begin()
	r.send(0, &Attach{Name: "s", Handle: 0, Role: RoleSender, Target: &Target{Address: "ab"}, Source: &Source{}})
	a := expect[*Attach](r)
	if a.MaxMessageSize == 0 {
		t.Fatal("no max-message-size announced")
	}
	fl := expect[*flow](r)
	if fl.LinkCredit == nil || *fl.LinkCredit != 256 || fl.Handle == nil {
		t.Fatalf("credit flow %+v", fl)
	}
	payload := encodeMsg(t, "kept")
	// An aborted multi-frame delivery is discarded.
	r.send(0, &transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("a"), MessageFormat: u32(0), More: true, Payload: payload[:3]})
	r.send(0, &transfer{Handle: 0, Aborted: true})
	// A delivery split in three frames.
	r.send(0, &transfer{Handle: 0, DeliveryID: u32(1), DeliveryTag: []byte("b"), MessageFormat: u32(0), More: true, Payload: payload[:2]})
	r.send(0, &transfer{Handle: 0, More: true, Payload: payload[2:5]})
	r.send(0, &transfer{Handle: 0, Payload: payload[5:]})
	d := expect[*disposition](r)
	if d.First != 1 || !d.Settled || d.Role != RoleReceiver {
		t.Fatalf("disposition %+v", d)
	}
	if _, ok := d.State.(*Accepted); !ok {
		t.Fatalf("state %T", d.State)
	}
	q := b.queue("ab")
	q.mu.Lock()
	if len(q.items) != 1 || !bytes.Equal(q.items[0], payload) {
		t.Fatalf("queue %q", q.items)
	}
	q.mu.Unlock()

	// Outgoing: the peer settles five deliveries with one ranged
	// disposition; the handler sees each.
	for i := range 5 {
		q2 := b.queue("rng")
		q2.push(encodeMsg(t, string(rune('a'+i))))
	}
	r.send(0, &Attach{Name: "r", Handle: 1, Role: RoleReceiver,
		ReceiverSettleMode: ReceiverSettleModeSecond, SenderSettleMode: SenderSettleModeUnsettled, Source: &Source{Address: "rng"}, Target: &Target{}})
	expect[*Attach](r)
	r.send(0, &flow{NextIncomingID: u32(0), IncomingWindow: 1000, NextOutgoingID: 2, OutgoingWindow: 1000,
		Handle: u32(1), DeliveryCount: u32(0), LinkCredit: u32(10)})
	var first, last uint32
	for i := range 5 {
		tr := expect[*transfer](r)
		if tr.Settled || tr.DeliveryID == nil {
			t.Fatalf("transfer %+v", tr)
		}
		if i == 0 {
			first = *tr.DeliveryID
		}
		last = *tr.DeliveryID
	}
	r.send(0, &disposition{Role: RoleReceiver, First: first, Last: &last, State: &Accepted{}})
	// Mode second: the server answers each with a settled disposition,
	// merged back into a range.
	settled := map[uint32]bool{}
	for len(settled) < 5 {
		d := expect[*disposition](r)
		if !d.Settled || d.Role != RoleSender {
			t.Fatalf("answer %+v", d)
		}
		end := d.First
		if d.Last != nil {
			end = *d.Last
		}
		for id := d.First; id <= end; id++ {
			settled[id] = true
		}
	}
	if got := b.dispositions.Load(); got != 5 {
		t.Fatalf("OnDisposition calls %d", got)
	}
}

// TestRawSettleOutcomes: in receiver settle mode second an outcome is sent
// unsettled (the peer settles first), unless the link was accepted with
// SettleOutcomes, which settles it at once while the attach still echoes
// mode second (Service Bus entity links, uamqp senders).
func TestRawSettleOutcomes(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	r, _ := rawOpen(t, addr, nil)
	r.begin()
	for i, tc := range []struct {
		target  string
		settled bool
	}{{"plain-second", false}, {"settle-first-q", true}} {
		h := uint32(i)
		r.send(0, &Attach{Name: tc.target, Handle: h, Role: RoleSender, ReceiverSettleMode: ReceiverSettleModeSecond,
			SenderSettleMode: SenderSettleModeUnsettled, Target: &Target{Address: tc.target}, Source: &Source{}})
		a := expect[*Attach](r)
		if a.ReceiverSettleMode != ReceiverSettleModeSecond {
			t.Fatalf("%s: attach echoes receiver settle mode %v", tc.target, a.ReceiverSettleMode)
		}
		expect[*flow](r)
		r.send(0, &transfer{Handle: h, DeliveryID: u32(h), DeliveryTag: []byte{byte(h)}, MessageFormat: u32(0), Payload: encodeMsg(t, "x")})
		d := expect[*disposition](r)
		if d.First != h || d.Settled != tc.settled {
			t.Fatalf("%s: disposition %+v, want settled %v", tc.target, d, tc.settled)
		}
		if _, ok := d.State.(*Accepted); !ok {
			t.Fatalf("%s: state %T", tc.target, d.State)
		}
	}
}

func TestRawIdleTimeoutAndHeartbeats(t *testing.T) {
	b := newTestBroker()
	var closedErr error
	var mu sync.Mutex
	addr, _ := startServer(t, b, func(c *Config) {
		c.IdleTimeout = 300 * time.Millisecond
		open := c.Open
		c.Open = func(ctx context.Context, conn *Conn) (*ConnHandler, error) {
			h, err := open(ctx, conn)
			h.Closed = func(err error) { mu.Lock(); closedErr = err; mu.Unlock() }
			return h, err
		}
	})
	r, so := rawOpen(t, addr, &Open{ContainerID: "raw", MaxFrameSize: 65536, ChannelMax: 10, IdleTimeout: 60 * time.Millisecond})
	if so.IdleTimeout != 150*time.Millisecond {
		t.Fatalf("announced idle timeout %v", so.IdleTimeout)
	}
	heartbeats := 0
	for {
		p, _ := r.recvAny()
		if p == nil {
			heartbeats++
			continue
		}
		c, ok := p.(*closeFrame)
		if !ok {
			t.Fatalf("got %T", p)
		}
		if c.Error == nil || c.Error.Condition != CondConnectionForced {
			t.Fatalf("close %+v", c.Error)
		}
		break
	}
	if heartbeats < 3 {
		t.Fatalf("only %d heartbeats in 300ms with a 60ms idle timeout", heartbeats)
	}
	r.send(0, &closeFrame{})
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		err := closedErr
		mu.Unlock()
		if err != nil {
			if !errors.Is(err, ErrIdleTimeout) {
				t.Fatalf("Closed(%v)", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Closed not called")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProtocolHeaders(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	for _, tc := range []struct {
		name string
		send []byte
		want [8]byte
	}{
		{"http", []byte("GET / HTTP/1.1\r\n"), headerSASL},
		{"amqp without sasl", headerAMQP[:], headerSASL},
		{"tls", headerTLS[:], headerSASL},
		{"version 0.9", []byte{'A', 'M', 'Q', 'P', 0, 0, 9, 1}, headerSASL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rawConnect(t, addr)
			r.write(tc.send)
			r.expectHeader(tc.want)
			if _, err := r.fr.r.ReadByte(); err != io.EOF {
				t.Fatalf("connection not closed: %v", err)
			}
		})
	}
	// AllowNoSASL accepts the plain AMQP header.
	addr2, _ := startServer(t, newTestBroker(), func(c *Config) { c.AllowNoSASL = true })
	r := rawConnect(t, addr2)
	r.write(headerAMQP[:])
	r.expectHeader(headerAMQP)
	r.send(0, &Open{ContainerID: "x", MaxFrameSize: 512, ChannelMax: 1})
	if o := expect[*Open](r); o.ChannelMax != 255 || o.MaxFrameSize != 65536 {
		t.Fatalf("open %+v", o)
	}
}

func TestRawFramingErrors(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, func(c *Config) { c.MaxFrameSize = 1024 })
	r, _ := rawOpen(t, addr, nil)
	// A frame larger than the server's max-frame-size.
	big := make([]byte, 2048)
	copy(big, []byte{0, 0, 8, 0, 2, 0, 0, 0})
	r.write(big)
	c := expect[*closeFrame](r)
	if c.Error == nil || c.Error.Condition != CondFramingError {
		t.Fatalf("close %+v", c.Error)
	}
	// Undecodable performative.
	r2, _ := rawOpen(t, addr, nil)
	r2.write([]byte{0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x11, 0xff})
	c = expect[*closeFrame](r2)
	if c.Error == nil || c.Error.Condition != CondDecodeError {
		t.Fatalf("close %+v", c.Error)
	}
	// A frame on a channel without a session.
	r3, _ := rawOpen(t, addr, nil)
	r3.send(7, &Attach{Name: "x", Handle: 0, Role: RoleSender})
	c = expect[*closeFrame](r3)
	if c.Error == nil || c.Error.Condition != CondNotAllowed {
		t.Fatalf("close %+v", c.Error)
	}
}

func TestRawTransferWithoutCredit(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, func(c *Config) { c.LinkCredit = 1 })
	r, _ := rawOpen(t, addr, nil)
	r.begin()
	r.send(0, &Attach{Name: "s", Handle: 0, Role: RoleSender, Target: &Target{Address: "hold"}, Source: &Source{}})
	expect[*Attach](r)
	expect[*flow](r)
	payload := encodeMsg(t, "x")
	r.send(0, &transfer{Handle: 0, DeliveryID: u32(0), DeliveryTag: []byte("a"), MessageFormat: u32(0), Payload: payload})
	r.send(0, &transfer{Handle: 0, DeliveryID: u32(1), DeliveryTag: []byte("b"), MessageFormat: u32(0), Payload: payload})
	for {
		switch p := r.recv().(type) {
		case *flow:
			continue // credit replenished after the first delivery
		case *detach:
			if p.Error == nil || p.Error.Condition != CondTransferLimitExceeded {
				t.Fatalf("detach %+v", p.Error)
			}
			return
		default:
			t.Fatalf("got %T", p)
		}
	}
}

func TestTLS(t *testing.T) {
	cert := selfSigned(t)
	b := newTestBroker()
	srv, err := NewServer(Config{Open: b.open})
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ctx, ln, &tls.Config{Certificates: []tls.Certificate{cert}}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	conn := dial(t, "amqps://"+ln.Addr().String(), &goamqp.ConnOptions{
		SASLType:  goamqp.SASLTypeAnonymous(),
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"},
	})
	tctx := testCtx(t)
	sess, err := conn.NewSession(tctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := sess.NewSender(tctx, "tls", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(tctx, goamqp.NewMessage([]byte("secure")), nil); err != nil {
		t.Fatal(err)
	}
}

func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func TestRawMSSBCBSAndLimits(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, func(c *Config) {
		c.MaxLinks = 2
		c.MaxSessions = 2
	})
	r := rawConnect(t, addr)
	r.write(headerSASL[:])
	r.expectHeader(headerSASL)
	m := expect[*saslMechanisms](r)
	if len(m.Mechanisms) != 3 || m.Mechanisms[0] != SASLMSSBCBS {
		t.Fatalf("mechanisms %v", m.Mechanisms)
	}
	r.sendType(frameTypeSASL, 0, &saslInit{Mechanism: SASLMSSBCBS})
	if o := expect[*saslOutcome](r); o.Code != saslCodeOK {
		t.Fatalf("outcome %d", o.Code)
	}
	r.write(headerAMQP[:])
	r.expectHeader(headerAMQP)
	r.send(0, &Open{ContainerID: "net", MaxFrameSize: 65536, ChannelMax: 10})
	if o := expect[*Open](r); o.ChannelMax != 1 {
		t.Fatalf("channel-max %d", o.ChannelMax)
	}
	if got := b.sasl.Load().(SASLInfo).Mechanism; got != SASLMSSBCBS {
		t.Fatalf("mechanism %q", got)
	}
	r.begin()
	for h := range uint32(3) {
		r.send(0, &Attach{Name: "l" + string(rune('0'+h)), Handle: h, Role: RoleReceiver, Source: &Source{Address: "x"}, Target: &Target{}})
	}
	// Frames of different links may come in any order.
	accepted, refused, limited := 0, 0, 0
	for range 4 {
		switch p := r.recv().(type) {
		case *Attach:
			if p.Source != nil {
				accepted++
			} else {
				refused++
			}
		case *detach:
			if p.Error != nil && p.Error.Condition == CondResourceLimitExceeded {
				limited++
			}
		}
	}
	if accepted != 2 || refused != 1 || limited != 1 {
		t.Fatalf("accepted %d refused %d limited %d", accepted, refused, limited)
	}
	// Channel 2 exceeds channel-max 1.
	r.send(2, &begin{NextOutgoingID: 0, IncomingWindow: 10, OutgoingWindow: 10, HandleMax: 10})
	if c := expect[*closeFrame](r); c.Error == nil || c.Error.Condition != CondNotAllowed {
		t.Fatalf("close %+v", c)
	}
}

func TestRawUnknownMechanismAndBadPlain(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	for _, init := range []*saslInit{
		{Mechanism: "EXTERNAL"},
		{Mechanism: SASLPlain, InitialResponse: []byte("no-nuls")},
		{Mechanism: SASLPlain, InitialResponse: []byte("\x00user\x00wrong")},
	} {
		r := rawConnect(t, addr)
		r.write(headerSASL[:])
		r.expectHeader(headerSASL)
		expect[*saslMechanisms](r)
		r.sendType(frameTypeSASL, 0, init)
		if o := expect[*saslOutcome](r); o.Code != saslCodeAuth {
			t.Fatalf("%s: outcome %d", init.Mechanism, o.Code)
		}
	}
	// PLAIN without an initial response gets an empty challenge.
	r := rawConnect(t, addr)
	r.write(headerSASL[:])
	r.expectHeader(headerSASL)
	expect[*saslMechanisms](r)
	r.sendType(frameTypeSASL, 0, &saslInit{Mechanism: SASLPlain})
	if c := expect[*saslChallenge](r); len(c.Challenge) != 0 {
		t.Fatalf("challenge %x", c.Challenge)
	}
	r.sendType(frameTypeSASL, 0, &saslResponse{Response: []byte("authz\x00user\x00secret")})
	if o := expect[*saslOutcome](r); o.Code != saslCodeOK {
		t.Fatalf("outcome %d", o.Code)
	}
}

func TestRawPeerDetachesDuringAttach(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	r, _ := rawOpen(t, addr, nil)
	r.begin()
	r.send(0, &Attach{Name: "w", Handle: 0, Role: RoleReceiver, Source: &Source{Address: "slow"}, Target: &Target{}})
	r.send(0, &detach{Handle: 0, Closed: true})
	a := expect[*Attach](r)
	if a.Source != nil {
		t.Fatalf("attach %+v", a)
	}
	d := expect[*detach](r)
	if !d.Closed || d.Error == nil || d.Error.Condition != "com.microsoft:timeout" {
		t.Fatalf("detach %+v", d)
	}
	// The handle is free again.
	r.send(0, &Attach{Name: "w2", Handle: 0, Role: RoleReceiver, Source: &Source{Address: "fast"}, Target: &Target{}})
	if a := expect[*Attach](r); a.Source == nil || a.Source.Address != "fast" {
		t.Fatalf("re-attach %+v", a)
	}
}

func TestRawOutgoingSplitsFrames(t *testing.T) {
	b := newTestBroker()
	addr, _ := startServer(t, b, nil)
	r, _ := rawOpen(t, addr, &Open{ContainerID: "small", MaxFrameSize: 512, ChannelMax: 1})
	r.begin()
	body := bytes.Repeat([]byte("0123456789"), 300)
	payload, _ := (&Message{Data: [][]byte{body}}).MarshalBinary()
	b.queue("split").push(payload)
	r.send(0, &Attach{Name: "r", Handle: 0, Role: RoleReceiver, Source: &Source{Address: "split"}, Target: &Target{}})
	expect[*Attach](r)
	r.send(0, &flow{NextIncomingID: u32(0), IncomingWindow: 3, NextOutgoingID: 0, OutgoingWindow: 10,
		Handle: u32(0), DeliveryCount: u32(0), LinkCredit: u32(1)})
	var got []byte
	frames := 0
	for {
		_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		h, fb, err := r.fr.read(512) // fails on any frame above 512 bytes
		if err != nil {
			t.Fatal(err)
		}
		perf, pl, err := parseFrameBody(h.typ, fb)
		if err != nil {
			t.Fatal(err)
		}
		tr, ok := perf.(*transfer)
		if !ok {
			t.Fatalf("got %T", perf)
		}
		if frames == 0 && (tr.DeliveryID == nil || tr.DeliveryTag == nil || tr.MessageFormat == nil) {
			t.Fatalf("first frame lacks delivery-id, tag or format: %+v", tr)
		}
		got = append(got, pl...)
		frames++
		if frames%3 == 0 && tr.More {
			// The incoming window of 3 is used up: the server waits for
			// a new window before sending more.
			_ = r.nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := r.fr.r.Peek(1); err == nil {
				t.Fatal("server sent beyond the session incoming window")
			}
			r.send(0, &flow{NextIncomingID: u32(uint32(frames)), IncomingWindow: 3, NextOutgoingID: 0, OutgoingWindow: 10})
		}
		if !tr.More {
			break
		}
	}
	if !bytes.Equal(got, payload) || frames < 6 {
		t.Fatalf("reassembled %d bytes in %d frames", len(got), frames)
	}
}
