package amqp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// SASL mechanisms the server implements.
const (
	// SASLAnonymous accepts any client without credentials.
	SASLAnonymous Symbol = "ANONYMOUS"
	// SASLPlain checks a username and password with Config.PlainAuth.
	SASLPlain Symbol = "PLAIN"
	// SASLMSSBCBS is the Service Bus mechanism of the .NET clients; it is
	// accepted like ANONYMOUS because authorization happens later through
	// claims-based security on the connection.
	SASLMSSBCBS Symbol = "MSSBCBS"
)

// Config configures a Server. Only Open is required; zero values of the
// other fields select the documented defaults.
type Config struct {
	// Open is called once per connection after the SASL exchange and the
	// peer's open frame, before the server answers with its own open. It
	// returns the callbacks for the connection, or an error to refuse it:
	// an *Error is sent to the peer as is, any other error as
	// amqp:internal-error without its text. ctx is cancelled when the
	// connection ends. A nil *ConnHandler with a nil error accepts the
	// connection and refuses every link.
	Open func(ctx context.Context, c *Conn) (*ConnHandler, error)

	// ContainerID is the server's container-id (default: random).
	ContainerID string
	// Properties and OfferedCapabilities are sent in the server's open.
	Properties          map[Symbol]any
	OfferedCapabilities []Symbol

	// SASLMechanisms are offered in this order (default: ANONYMOUS). Known:
	// SASLAnonymous, SASLPlain (requires PlainAuth), SASLMSSBCBS.
	SASLMechanisms []Symbol
	// PlainAuth validates SASL PLAIN credentials; a non-nil error fails
	// the authentication (its text is not sent to the peer).
	PlainAuth func(ctx context.Context, authzid, username, password string) error
	// AllowNoSASL accepts clients that skip the SASL layer (they get an
	// empty SASLInfo). By default they are answered with the SASL header.
	AllowNoSASL bool

	// MaxFrameSize is the largest frame accepted (default 65536, min 512).
	MaxFrameSize uint32
	// MaxSessions bounds concurrent sessions per connection; channel-max is
	// MaxSessions-1 (default 256, max 65536).
	MaxSessions int
	// MaxLinksPerSession bounds links per session; handle-max is this - 1
	// (default 1024).
	MaxLinksPerSession int
	// MaxLinks bounds links per connection (default 4096); further
	// attaches are refused with amqp:resource-limit-exceeded.
	MaxLinks int
	// MaxMessageSize bounds an incoming message (default 16 MiB); the limit
	// is announced on every link where the peer sends.
	MaxMessageSize uint64
	// SessionWindow is the incoming window (in transfer frames) announced
	// for each session (default 5000).
	SessionWindow uint32
	// LinkCredit is the default credit kept open on links where the peer
	// sends (default 256); IncomingOptions.Credit overrides it per link.
	LinkCredit uint32

	// IdleTimeout closes a connection when nothing arrives from the peer for
	// this long; the open frame announces half of it (default 60s,
	// negative disables).
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the protocol header, TLS, SASL and open
	// exchange (default 30s).
	HandshakeTimeout time.Duration
	// CloseTimeout bounds the wait for the peer's close after the server
	// sent its own (default 1s).
	CloseTimeout time.Duration

	// Logger receives protocol diagnostics at debug level (default: none).
	Logger *slog.Logger
}

// ConnHandler holds the callbacks of one connection. Every field is
// optional. Link callbacks for one link run one at a time in order
// (attach, then deliveries or dispositions, then close) on a goroutine of
// that link; different links run concurrently. They may block (for
// example while a message is stored durably) without stalling the rest
// of the connection, but block only that link's callbacks.
type ConnHandler struct {
	// AttachIncoming decides about a link on which the peer sends messages
	// (the peer's attach has role sender). Return options to accept, or an
	// error to refuse: the server then answers with an attach carrying a
	// null target followed by a detach with the error (an *Error as is,
	// anything else as amqp:internal-error). nil refuses with
	// amqp:not-implemented.
	AttachIncoming func(ctx context.Context, l *IncomingLink) (*IncomingOptions, error)
	// AttachOutgoing decides about a link on which the peer receives
	// messages (role receiver); refusal answers with a null source. nil
	// refuses with amqp:not-implemented. The link gets credit only after
	// this returns, so start any sending goroutine here but do not wait
	// for credit in the callback itself.
	AttachOutgoing func(ctx context.Context, l *OutgoingLink) (*OutgoingOptions, error)
	// SessionEnded is called when a session ends, after the close callbacks
	// of its links returned. err is nil when the peer ended it without
	// error.
	SessionEnded func(s *Session, err error)
	// Closed is called once when the connection is gone, after all link
	// and session callbacks returned. err is nil when the peer closed
	// cleanly; see Server.ServeConn for the other values.
	Closed func(err error)
}

// AttachReply is what the server puts in its attach answering the peer's.
type AttachReply struct {
	// Source and Target: nil echoes the peer's terminus.
	Source *Source
	Target *Target
	// SenderSettleMode and ReceiverSettleMode: nil echoes the peer's
	// requested mode (clients such as go-amqp fail on a mismatch).
	SenderSettleMode   *SenderSettleMode
	ReceiverSettleMode *ReceiverSettleMode
	// MaxMessageSize announced on the link (0: none). On incoming links
	// the server enforces min(this, Config.MaxMessageSize) and announces
	// that value.
	MaxMessageSize      uint64
	Properties          map[Symbol]any
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
}

// IncomingOptions accept a link on which the peer sends.
type IncomingOptions struct {
	Reply AttachReply
	// Credit is the number of deliveries the peer may have outstanding:
	// received but not yet given a terminal outcome (or, for pre-settled
	// deliveries, not yet returned from OnDelivery). Credit is replenished
	// automatically. 0 selects Config.LinkCredit.
	Credit uint32
	// OnDelivery receives each complete delivery in order (required).
	// Unless d.Settled, give it an outcome (d.Accept, d.Reject, ...) now
	// or later from any goroutine; until then it holds one unit of credit.
	OnDelivery func(ctx context.Context, d *Delivery)
	// SettleOutcomes settles every outcome in the disposition that carries
	// it, even when the peer asked for receiver settle mode second (which
	// the attach reply still echoes). Service Bus does so on the links that
	// send to its entities: an outcome there is final, and uamqp clients,
	// which ask for mode second, wait for the settled disposition.
	SettleOutcomes bool
	// OnClose is called once when the link is gone, after its other
	// callbacks: err is nil after a clean detach by either side, the
	// *Error the peer or the handler detached with, or an error wrapping
	// ErrSessionEnded or ErrConnClosed (and the remote *Error, if any).
	OnClose func(err error)
}

// OutgoingOptions accept a link on which the peer receives.
type OutgoingOptions struct {
	Reply AttachReply
	// OnDisposition receives each disposition the peer sends for an
	// unsettled delivery of this link, one call per delivery. When the
	// peer sent an outcome without settling (d.Settled false, as receiver
	// settle mode second requires), answer with OutgoingLink.Settle. nil
	// settles such deliveries automatically with the peer's outcome.
	OnDisposition func(ctx context.Context, d Disposition)
	// OnDrain is called when the peer asks to drain its credit. Send what
	// is available right now with OutgoingLink.Send and return; the server
	// then spends any credit left and tells the peer. nil means nothing is
	// ever available at drain time.
	OnDrain func(ctx context.Context)
	// OnClose is called once when the link is gone (see
	// IncomingOptions.OnClose).
	OnClose func(err error)
}

// Server is an AMQP 1.0 server. Create it with NewServer; it is safe for
// concurrent use and can serve several listeners at once.
type Server struct {
	cfg Config
}

// NewServer validates cfg, applies defaults and returns a Server.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Open == nil {
		return nil, errors.New("amqp: Config.Open is required")
	}
	if cfg.ContainerID == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("amqp: container id: %w", err)
		}
		cfg.ContainerID = "amqp-server-" + hex.EncodeToString(b[:])
	}
	if cfg.SASLMechanisms == nil {
		cfg.SASLMechanisms = []Symbol{SASLAnonymous}
	}
	for _, m := range cfg.SASLMechanisms {
		switch m {
		case SASLAnonymous, SASLMSSBCBS:
		case SASLPlain:
			if cfg.PlainAuth == nil {
				return nil, errors.New("amqp: SASL PLAIN needs Config.PlainAuth")
			}
		default:
			return nil, fmt.Errorf("amqp: unsupported SASL mechanism %q", m)
		}
	}
	if len(cfg.SASLMechanisms) == 0 && !cfg.AllowNoSASL {
		return nil, errors.New("amqp: no SASL mechanism and AllowNoSASL unset")
	}
	if cfg.MaxFrameSize == 0 {
		cfg.MaxFrameSize = 65536
	}
	if cfg.MaxFrameSize < minMaxFrameSize {
		return nil, fmt.Errorf("amqp: MaxFrameSize %d below %d", cfg.MaxFrameSize, minMaxFrameSize)
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 256
	}
	cfg.MaxSessions = min(cfg.MaxSessions, math.MaxUint16+1)
	if cfg.MaxLinksPerSession <= 0 {
		cfg.MaxLinksPerSession = 1024
	}
	if cfg.MaxLinks <= 0 {
		cfg.MaxLinks = 4096
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = 16 << 20
	}
	if cfg.SessionWindow == 0 {
		cfg.SessionWindow = 5000
	}
	if cfg.LinkCredit == 0 {
		cfg.LinkCredit = 256
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.IdleTimeout < 0 {
		cfg.IdleTimeout = 0
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 30 * time.Second
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg}, nil
}

// Serve accepts connections on ln and serves each on its own goroutines
// until ctx is cancelled (then it closes ln, closes every connection with
// amqp:connection:forced, waits for them and returns nil) or Accept fails
// for good (then it waits for the open connections to end and returns the
// error). For TLS pass a tls.NewListener or use ServeTLS.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	backoff := 5 * time.Millisecond
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
					return nil
				}
				backoff = min(2*backoff, time.Second)
				continue
			}
			return fmt.Errorf("amqp: accept: %w", err)
		}
		backoff = 5 * time.Millisecond
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.ServeConn(ctx, nc); err != nil {
				s.cfg.Logger.Debug("amqp connection ended", "remote", nc.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// ServeTLS is Serve over TLS connections wrapped with cfg.
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener, cfg *tls.Config) error {
	return s.Serve(ctx, tls.NewListener(ln, cfg))
}

// ServeConn serves one connection on the calling goroutine until it ends
// and closes nc. A *tls.Conn is handshaken first. The result is nil when
// the peer closed cleanly; otherwise the *Error the peer closed with,
// ErrIdleTimeout, ErrServerClosed (ctx was cancelled), a wrapped *Error the
// server closed with after a protocol violation, or an I/O error.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) (err error) {
	c := newConn(s, nc)
	defer func() {
		// A panic here may leave the connection's state locked: log it and
		// drop the socket without touching that state.
		if v := recover(); v != nil {
			s.cfg.Logger.Error("amqp: panic serving a connection", "remote", nc.RemoteAddr().String(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			_ = nc.Close()
			err = fmt.Errorf("amqp: panic serving the connection: %v", v)
		}
	}()
	return c.serve(ctx)
}

// SASLInfo describes how a connection authenticated.
type SASLInfo struct {
	// Mechanism is the SASL mechanism used, or "" when the client skipped
	// SASL (Config.AllowNoSASL).
	Mechanism Symbol
	// Username and Authzid are the PLAIN authentication and authorization
	// identities (empty for other mechanisms).
	Username string
	Authzid  string
}

// handshake runs the protocol header, SASL and open exchanges.
func (c *Conn) handshake(ctx context.Context) error {
	cfg := &c.srv.cfg
	_ = c.nc.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("amqp: tls handshake: %w", err)
		}
	}
	hdr, err := c.readProtoHeader()
	if err != nil {
		return err
	}
	switch hdr {
	case headerSASL:
		if len(cfg.SASLMechanisms) == 0 {
			_, _ = c.nc.Write(headerAMQP[:])
			return errors.New("amqp: client requested SASL, which is not configured")
		}
		if err := c.saslExchange(ctx); err != nil {
			return err
		}
		if hdr, err = c.readProtoHeader(); err != nil {
			return err
		}
		if hdr != headerAMQP {
			_, _ = c.nc.Write(headerAMQP[:])
			return fmt.Errorf("amqp: unexpected protocol header %q after SASL", hdr[:])
		}
		if _, err := c.nc.Write(headerAMQP[:]); err != nil {
			return err
		}
	case headerAMQP:
		if !cfg.AllowNoSASL {
			_, _ = c.nc.Write(headerSASL[:])
			return errors.New("amqp: client skipped the required SASL layer")
		}
		if _, err := c.nc.Write(headerAMQP[:]); err != nil {
			return err
		}
	default:
		if len(cfg.SASLMechanisms) > 0 {
			_, _ = c.nc.Write(headerSASL[:])
		} else {
			_, _ = c.nc.Write(headerAMQP[:])
		}
		return fmt.Errorf("amqp: unsupported protocol header %q", hdr[:])
	}
	return c.openExchange(ctx)
}

func (c *Conn) readProtoHeader() ([8]byte, error) {
	var h [8]byte
	if _, err := io.ReadFull(c.fr.r, h[:]); err != nil {
		return h, fmt.Errorf("amqp: read protocol header: %w", err)
	}
	return h, nil
}

// readHandshakeFrame reads the next non-empty frame of the given type.
func (c *Conn) readHandshakeFrame(typ byte) (any, error) {
	for {
		h, body, err := c.fr.read(c.srv.cfg.MaxFrameSize)
		if err != nil {
			return nil, fmt.Errorf("amqp: read frame: %w", err)
		}
		if h.typ != typ {
			return nil, fmt.Errorf("amqp: unexpected frame type %d", h.typ)
		}
		perf, _, err := parseFrameBody(h.typ, body)
		if err != nil {
			return nil, err
		}
		if perf != nil {
			return perf, nil
		}
	}
}

func (c *Conn) writeHandshakeFrame(typ byte, perf performative) error {
	b, err := appendFrame(nil, typ, 0, perf, nil)
	if err != nil {
		return err
	}
	_, err = c.nc.Write(b)
	return err
}

func (c *Conn) saslExchange(ctx context.Context) error {
	cfg := &c.srv.cfg
	if _, err := c.nc.Write(headerSASL[:]); err != nil {
		return err
	}
	if err := c.writeHandshakeFrame(frameTypeSASL, &saslMechanisms{Mechanisms: cfg.SASLMechanisms}); err != nil {
		return err
	}
	perf, err := c.readHandshakeFrame(frameTypeSASL)
	if err != nil {
		return err
	}
	init, ok := perf.(*saslInit)
	if !ok {
		return fmt.Errorf("amqp: expected sasl-init, got %T", perf)
	}
	fail := func(reason error) error {
		_ = c.writeHandshakeFrame(frameTypeSASL, &saslOutcome{Code: saslCodeAuth})
		return reason
	}
	offered := false
	for _, m := range cfg.SASLMechanisms {
		offered = offered || m == init.Mechanism
	}
	if !offered {
		return fail(fmt.Errorf("amqp: SASL mechanism %q not offered", init.Mechanism))
	}
	info := SASLInfo{Mechanism: init.Mechanism}
	if init.Mechanism == SASLPlain {
		resp := init.InitialResponse
		if resp == nil {
			if err := c.writeHandshakeFrame(frameTypeSASL, &saslChallenge{Challenge: []byte{}}); err != nil {
				return err
			}
			perf, err := c.readHandshakeFrame(frameTypeSASL)
			if err != nil {
				return err
			}
			r, ok := perf.(*saslResponse)
			if !ok {
				return fmt.Errorf("amqp: expected sasl-response, got %T", perf)
			}
			resp = r.Response
		}
		parts := bytes.Split(resp, []byte{0})
		if len(parts) != 3 {
			return fail(errors.New("amqp: malformed SASL PLAIN response"))
		}
		info.Authzid, info.Username = string(parts[0]), string(parts[1])
		if err := cfg.PlainAuth(ctx, info.Authzid, info.Username, string(parts[2])); err != nil {
			return fail(fmt.Errorf("amqp: SASL PLAIN authentication failed for %q", info.Username))
		}
	}
	if err := c.writeHandshakeFrame(frameTypeSASL, &saslOutcome{Code: saslCodeOK}); err != nil {
		return err
	}
	c.sasl = info
	return nil
}

// openExchange reads the peer's open, consults Config.Open and answers.
func (c *Conn) openExchange(ctx context.Context) error {
	cfg := &c.srv.cfg
	perf, err := c.readHandshakeFrame(frameTypeAMQP)
	if err != nil {
		return err
	}
	open, ok := perf.(*Open)
	if !ok {
		return fmt.Errorf("amqp: expected open, got %T", perf)
	}
	c.remoteOpen = open
	local := &Open{
		ContainerID:         cfg.ContainerID,
		MaxFrameSize:        cfg.MaxFrameSize,
		ChannelMax:          uint16(cfg.MaxSessions - 1),
		IdleTimeout:         cfg.IdleTimeout / 2,
		OfferedCapabilities: cfg.OfferedCapabilities,
		Properties:          cfg.Properties,
	}
	var h *ConnHandler
	if open.MaxFrameSize < minMaxFrameSize {
		err = &Error{Condition: CondInvalidField, Description: "max-frame-size below 512"}
	} else {
		h, err = cfg.Open(c.ctx, c)
	}
	if err != nil {
		e := toWireError(err)
		b, _ := appendFrame(nil, frameTypeAMQP, 0, local, nil)
		b, _ = appendFrame(b, frameTypeAMQP, 0, &closeFrame{Error: e}, nil)
		if _, werr := c.nc.Write(b); werr == nil {
			c.awaitPeerClose()
		}
		return fmt.Errorf("amqp: connection refused: %w", e)
	}
	if h == nil {
		h = &ConnHandler{}
	}
	c.handler = h
	c.peerMaxFrame = min(open.MaxFrameSize, 1<<20)
	c.peerIdle = open.IdleTimeout
	c.channelLimit = min(uint16(cfg.MaxSessions-1), open.ChannelMax)
	if err := c.writeHandshakeFrame(frameTypeAMQP, local); err != nil {
		return err
	}
	_ = c.nc.SetDeadline(time.Time{})
	return nil
}

// awaitPeerClose reads until the peer's close frame or CloseTimeout.
func (c *Conn) awaitPeerClose() {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.CloseTimeout))
	for {
		h, body, err := c.fr.read(c.srv.cfg.MaxFrameSize)
		if err != nil {
			return
		}
		perf, _, err := parseFrameBody(h.typ, body)
		if err != nil {
			return
		}
		if _, ok := perf.(*closeFrame); ok {
			return
		}
	}
}

// toWireError turns a handler's error into the *Error sent to the peer.
func toWireError(err error) *Error {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return sanitizeError(e)
	}
	return &Error{Condition: CondInternalError, Description: "internal error"}
}
