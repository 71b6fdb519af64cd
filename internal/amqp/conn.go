package amqp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// Connection phases.
const (
	phaseHandshake = iota
	phaseOpen
	phaseClosed
)

// Conn is one server-side AMQP connection. Handlers receive it in
// Config.Open and through links; its methods are safe for concurrent use.
type Conn struct {
	srv    *Server
	nc     net.Conn
	fr     frameReader
	ctx    context.Context
	cancel context.CancelCauseFunc

	// Set during the handshake, read-only afterwards.
	remoteOpen   *Open
	sasl         SASLInfo
	handler      *ConnHandler
	peerMaxFrame uint32
	peerIdle     time.Duration
	channelLimit uint16

	wake       chan struct{} // wakes the writer
	stopWriter chan struct{}
	writerDone chan struct{}
	done       chan struct{}
	execs      sync.WaitGroup // link executors and session-end waiters

	mu            sync.Mutex
	phase         int
	shutdownErr   error               // set when ctx was cancelled during the handshake
	sessions      map[uint16]*Session // by the peer's channel
	localChannels map[uint16]bool
	linkCount     int
	ctrl          []outFrame
	closeQueued   bool
	closeDeadline time.Time
	err           error
	errSet        bool
}

// outFrame is a queued non-transfer frame. Flows are built when written
// (flowSession set) so they carry the session state of that moment.
type outFrame struct {
	channel     uint16
	perf        performative
	isClose     bool
	flowSession *Session
	flowLink    *link
	flowDrain   bool
}

func newConn(s *Server, nc net.Conn) *Conn {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Conn{
		srv:           s,
		nc:            nc,
		fr:            frameReader{r: bufio.NewReaderSize(nc, 32<<10)},
		ctx:           ctx,
		cancel:        cancel,
		wake:          make(chan struct{}, 1),
		stopWriter:    make(chan struct{}),
		writerDone:    make(chan struct{}),
		done:          make(chan struct{}),
		sessions:      map[uint16]*Session{},
		localChannels: map[uint16]bool{},
	}
}

// RemoteOpen returns the peer's open frame (treat it as read-only).
func (c *Conn) RemoteOpen() *Open { return c.remoteOpen }

// ContainerID returns the peer's container-id.
func (c *Conn) ContainerID() string { return c.remoteOpen.ContainerID }

// Hostname returns the hostname from the peer's open frame.
func (c *Conn) Hostname() string { return c.remoteOpen.Hostname }

// Properties returns the peer's connection properties (read-only).
func (c *Conn) Properties() map[Symbol]any { return c.remoteOpen.Properties }

// SASL returns how the connection authenticated.
func (c *Conn) SASL() SASLInfo { return c.sasl }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// TLSState returns the TLS state, or nil for a plain connection.
func (c *Conn) TLSState() *tls.ConnectionState {
	if tc, ok := c.nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}

// Done is closed when the connection has ended and all its callbacks
// returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Close closes the connection with err (nil for a clean close): the server
// sends close, waits up to Config.CloseTimeout for the peer's, then tears
// everything down. It does not wait; use Done.
func (c *Conn) Close(err *Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.phase != phaseOpen {
		return
	}
	err = sanitizeError(err)
	var reason error
	if err != nil {
		reason = fmt.Errorf("amqp: closed by handler: %w", err)
	}
	c.closeLocked(err, reason)
}

func (c *Conn) serve(ctx context.Context) error {
	defer c.nc.Close()
	stop := context.AfterFunc(ctx, c.shutdown)
	defer stop()
	if err := c.handshake(c.ctx); err != nil {
		c.mu.Lock()
		if c.shutdownErr != nil {
			err = c.shutdownErr
		}
		c.phase = phaseClosed
		c.mu.Unlock()
		c.cancel(err)
		if c.handler != nil && c.handler.Closed != nil {
			c.handler.Closed(err)
		}
		close(c.done)
		return err
	}
	c.mu.Lock()
	c.phase = phaseOpen
	if c.shutdownErr != nil {
		c.closeLocked(&Error{Condition: CondConnectionForced, Description: "server shutting down"}, ErrServerClosed)
	}
	c.mu.Unlock()
	go c.writeLoop()
	err := c.readLoop()
	return c.finish(err)
}

// handlerPanic logs a panic raised by a link callback (a bug: bad input
// must get an error, never a panic) and closes the connection with
// amqp:internal-error, so that one connection cannot take the server down.
// Callbacks run without the connection's lock, so closing is safe here.
func (c *Conn) handlerPanic(v any) {
	c.srv.cfg.Logger.Error("amqp: panic serving a connection", "remote", c.nc.RemoteAddr().String(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	c.Close(&Error{Condition: CondInternalError, Description: "internal error"})
}

// shutdown runs when the serving context is cancelled.
func (c *Conn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.phase {
	case phaseHandshake:
		c.shutdownErr = ErrServerClosed
		_ = c.nc.SetDeadline(time.Now())
	case phaseOpen:
		c.closeLocked(&Error{Condition: CondConnectionForced, Description: "server shutting down"}, ErrServerClosed)
	}
}

// setErr records the reason the connection ends (first one wins; a nil
// reason means a clean close).
func (c *Conn) setErr(err error) {
	if !c.errSet {
		c.errSet = true
		c.err = err
	}
}

// closeLocked queues a close frame carrying e and stops all other output.
// reason is what ServeConn and ConnHandler.Closed report.
func (c *Conn) closeLocked(e *Error, reason error) {
	if c.closeQueued || c.phase != phaseOpen {
		return
	}
	c.setErr(reason)
	c.closeQueued = true
	c.ctrl = append(c.ctrl[:0], outFrame{perf: &closeFrame{Error: e}, isClose: true})
	for _, s := range c.sessions {
		s.pending = nil
	}
	c.closeDeadline = time.Now().Add(c.srv.cfg.CloseTimeout)
	_ = c.nc.SetReadDeadline(c.closeDeadline)
	c.wakeWriter()
	c.srv.cfg.Logger.Debug("amqp closing connection", "remote", c.nc.RemoteAddr().String(), "error", e, "reason", reason)
}

// protocolError closes the connection because the peer broke the protocol.
func (c *Conn) protocolError(cond Symbol, desc string) {
	e := &Error{Condition: cond, Description: desc}
	c.closeLocked(e, fmt.Errorf("amqp: protocol violation by peer: %w", e))
}

func (c *Conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// queue appends a control frame unless the connection is closing.
func (c *Conn) queue(f outFrame) {
	if c.closeQueued || c.phase != phaseOpen {
		return
	}
	c.ctrl = append(c.ctrl, f)
	c.wakeWriter()
}

func (c *Conn) readLoop() error {
	idle := c.srv.cfg.IdleTimeout
	for {
		c.mu.Lock()
		closing, dl := c.closeQueued, c.closeDeadline
		c.mu.Unlock()
		switch {
		case closing:
			_ = c.nc.SetReadDeadline(dl)
		case idle > 0:
			_ = c.nc.SetReadDeadline(time.Now().Add(idle))
		}
		h, body, err := c.fr.read(c.srv.cfg.MaxFrameSize)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !closing {
				c.mu.Lock()
				c.closeLocked(&Error{Condition: CondConnectionForced, Description: "idle timeout expired"}, ErrIdleTimeout)
				c.mu.Unlock()
				continue
			}
			if errors.Is(err, errFraming) {
				// A bad frame header: the stream cannot be parsed further.
				c.mu.Lock()
				c.protocolError(CondFramingError, err.Error())
				c.mu.Unlock()
				return nil
			}
			return fmt.Errorf("amqp: read: %w", err)
		}
		perf, payload, err := parseFrameBody(h.typ, body)
		if err != nil {
			c.mu.Lock()
			c.protocolError(CondDecodeError, err.Error())
			c.mu.Unlock()
			continue
		}
		if perf == nil {
			continue // heartbeat
		}
		if c.handleFrame(h, perf, payload) {
			return nil
		}
	}
}

// handleFrame processes one frame; it returns true once the peer's close
// was received.
func (c *Conn) handleFrame(h frameHeader, perf any, payload []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cf, ok := perf.(*closeFrame); ok {
		if cf.Error != nil {
			c.setErr(cf.Error)
		} else {
			c.setErr(nil)
		}
		if !c.closeQueued {
			c.closeLocked(nil, nil)
		}
		return true
	}
	if c.closeQueued {
		return false // discard everything until the peer's close
	}
	if h.typ != frameTypeAMQP {
		c.protocolError(CondFramingError, "SASL frame after open")
		return false
	}
	switch p := perf.(type) {
	case *Open:
		c.protocolError(CondNotAllowed, "second open")
	case *begin:
		c.onBegin(h.channel, p)
	default:
		s := c.sessions[h.channel]
		if s == nil {
			c.protocolError(CondNotAllowed, fmt.Sprintf("frame on channel %d without a session", h.channel))
			return false
		}
		s.handleFrame(perf, payload)
	}
	return false
}

func (c *Conn) onBegin(ch uint16, b *begin) {
	cfg := &c.srv.cfg
	if b.RemoteChannel != nil {
		c.protocolError(CondNotAllowed, "begin answers a session the server never started")
		return
	}
	if int(ch) >= cfg.MaxSessions {
		c.protocolError(CondNotAllowed, fmt.Sprintf("channel %d exceeds channel-max %d", ch, cfg.MaxSessions-1))
		return
	}
	if c.sessions[ch] != nil {
		c.protocolError(CondNotAllowed, fmt.Sprintf("channel %d already in use", ch))
		return
	}
	local, ok := uint16(0), false
	for i := 0; i <= int(c.channelLimit); i++ {
		if !c.localChannels[uint16(i)] {
			local, ok = uint16(i), true
			break
		}
	}
	if !ok {
		c.protocolError(CondResourceLimitExceeded, "no free channel")
		return
	}
	handleMax := uint32(cfg.MaxLinksPerSession - 1)
	s := &Session{
		c:                    c,
		remoteCh:             ch,
		localCh:              local,
		handleMax:            handleMax,
		localHandleMax:       min(handleMax, b.HandleMax),
		nextIncomingID:       b.NextOutgoingID,
		incomingWindow:       cfg.SessionWindow,
		remoteIncomingWindow: b.IncomingWindow,
		remoteOutgoingWindow: b.OutgoingWindow,
		links:                map[uint32]*link{},
		localHandles:         map[uint32]*link{},
		inUnsettled:          map[uint32]*Delivery{},
		outUnsettled:         map[uint32]*outDelivery{},
	}
	c.sessions[ch] = s
	c.localChannels[local] = true
	remote := ch
	c.queue(outFrame{channel: local, perf: &begin{
		RemoteChannel:  &remote,
		NextOutgoingID: 0,
		IncomingWindow: cfg.SessionWindow,
		OutgoingWindow: sessionOutgoingWindow,
		HandleMax:      handleMax,
	}})
}

// sessionOutgoingWindow is the outgoing-window the server announces; its
// own sending is limited only by the peer's incoming window.
const sessionOutgoingWindow = math.MaxInt32

// finish tears the connection down after the reader stopped.
func (c *Conn) finish(readErr error) error {
	c.mu.Lock()
	if readErr != nil {
		c.setErr(readErr)
	}
	closeQueued := c.closeQueued
	c.mu.Unlock()
	if closeQueued {
		select {
		case <-c.writerDone:
		case <-time.After(c.srv.cfg.CloseTimeout):
		}
	}
	close(c.stopWriter)
	_ = c.nc.Close()
	<-c.writerDone

	c.mu.Lock()
	reason := c.err
	c.phase = phaseClosed
	linkReason := ErrConnClosed
	if reason != nil {
		linkReason = fmt.Errorf("%w: %w", ErrConnClosed, reason)
	}
	for ch, s := range c.sessions {
		s.terminate(linkReason)
		delete(c.sessions, ch)
	}
	c.ctrl = nil
	c.mu.Unlock()
	c.cancel(orConnClosed(reason))
	c.execs.Wait()
	if c.handler != nil && c.handler.Closed != nil {
		c.handler.Closed(reason)
	}
	close(c.done)
	return reason
}

func orConnClosed(err error) error {
	if err == nil {
		return ErrConnClosed
	}
	return err
}

// writeLoop is the connection's only writer: it drains control frames and
// transfers into a buffer and writes it, and sends heartbeats.
func (c *Conn) writeLoop() {
	defer close(c.writerDone)
	var hb <-chan time.Time
	var timer *time.Timer
	interval := c.peerIdle / 2
	if interval > 0 {
		interval = max(interval, 10*time.Millisecond)
		timer = time.NewTimer(interval)
		defer timer.Stop()
		hb = timer.C
	}
	buf := make([]byte, 0, 64<<10)
	for {
		c.mu.Lock()
		var closeWritten bool
		var err error
		buf, closeWritten, err = c.fill(buf[:0])
		c.mu.Unlock()
		if err != nil {
			c.writeFailed(err)
			return
		}
		if len(buf) > 0 {
			if _, err := c.nc.Write(buf); err != nil {
				c.writeFailed(err)
				return
			}
			if timer != nil {
				timer.Reset(interval)
			}
			if cap(buf) > 1<<20 {
				buf = make([]byte, 0, 64<<10)
			}
			if closeWritten {
				return
			}
			continue
		}
		select {
		case <-c.wake:
		case <-hb:
			if _, err := c.nc.Write(emptyFrame); err != nil {
				c.writeFailed(err)
				return
			}
			timer.Reset(interval)
		case <-c.stopWriter:
			return
		}
	}
}

func (c *Conn) writeFailed(err error) {
	c.srv.cfg.Logger.Debug("amqp write failed", "remote", c.nc.RemoteAddr().String(), "err", err)
	c.mu.Lock()
	if !c.closeQueued {
		c.setErr(fmt.Errorf("amqp: write: %w", err))
	}
	c.mu.Unlock()
	_ = c.nc.Close()
}

// writeBatch bounds how much fill collects before a write.
const writeBatch = 64 << 10

// fill encodes queued control frames, then transfers as far as session
// windows allow, into buf.
func (c *Conn) fill(buf []byte) ([]byte, bool, error) {
	var err error
	for len(c.ctrl) > 0 && len(buf) < writeBatch {
		f := c.ctrl[0]
		c.ctrl[0] = outFrame{}
		c.ctrl = c.ctrl[1:]
		if f.flowSession != nil {
			fl := f.flowSession.buildFlow(f.flowLink, f.flowDrain)
			if fl == nil {
				continue
			}
			f.perf = fl
		}
		if d, ok := f.perf.(*disposition); ok {
			c.mergeDispositions(f.channel, d)
		}
		if buf, err = appendFrame(buf, frameTypeAMQP, f.channel, f.perf, nil); err != nil {
			return buf, false, err
		}
		if f.isClose {
			c.ctrl = nil
			return buf, true, nil
		}
	}
	if len(c.ctrl) == 0 {
		c.ctrl = nil
	}
	for _, s := range c.sessions {
		for len(buf) < writeBatch && len(s.pending) > 0 && s.remoteIncomingWindow > 0 && !s.ending {
			if buf, err = s.nextTransferFrame(buf); err != nil {
				return buf, false, err
			}
		}
	}
	return buf, false, nil
}

// mergeDispositions folds following queued dispositions into d when they
// continue its range with the same role, settlement and stateless state.
func (c *Conn) mergeDispositions(ch uint16, d *disposition) {
	if d.Batchable || !stateless(d.State) {
		return
	}
	last := d.First
	if d.Last != nil {
		last = *d.Last
	}
	n := 0
	for n < len(c.ctrl) {
		f := c.ctrl[n]
		o, ok := f.perf.(*disposition)
		if !ok || f.channel != ch || o.Role != d.Role || o.Settled != d.Settled ||
			o.Last != nil || o.First != last+1 || !sameStateless(o.State, d.State) {
			break
		}
		last = o.First
		n++
	}
	if n == 0 {
		return
	}
	c.ctrl = c.ctrl[n:]
	d.Last = &last
}

func stateless(s DeliveryState) bool {
	switch s.(type) {
	case *Accepted, *Released:
		return true
	}
	return isNilState(s)
}

func sameStateless(a, b DeliveryState) bool {
	switch a.(type) {
	case *Accepted:
		_, ok := b.(*Accepted)
		return ok
	case *Released:
		_, ok := b.(*Released)
		return ok
	}
	return isNilState(a) && isNilState(b)
}
