package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

type linkState int

const (
	linkAttaching linkState = iota // the handler is deciding
	linkAttached
	linkDetaching // the server sent detach and awaits the peer's
	linkGone
)

// maxLinkEvents bounds the callbacks queued for one link; a peer that
// makes the server exceed it (for example with a flood of dispositions
// while the handler is slow) gets its connection closed.
const maxLinkEvents = 1 << 16

// link is the engine state of one link; guarded by the connection mutex
// except for exec, finished, ctx and the immutable fields.
type link struct {
	s            *Session
	attach       *Attach
	remoteHandle uint32
	localHandle  uint32
	incoming     bool // the peer sends
	ctx          context.Context
	cancel       context.CancelFunc
	exec         executor
	finished     chan struct{}

	state       linkState
	accepted    bool
	peerDetach  *detach // the peer detached while the handler was deciding
	finalQueued bool
	closeErr    error

	sndMode       SenderSettleMode
	rcvMode       ReceiverSettleMode
	deliveryCount uint32
	credit        uint32

	// incoming links
	maxMsgSize  uint64
	maxCredit   uint32
	outstanding uint32
	partial     *Delivery
	onDelivery  func(context.Context, *Delivery)
	settleFirst bool // settle outcomes at once even in receiver settle mode second

	// outgoing links
	peerMaxMsgSize uint64
	drain          bool
	drainPending   bool
	creditCh       chan struct{}
	unsettledTags  map[string]uint32
	queued         int
	flowPending    bool
	onDisposition  func(context.Context, Disposition)
	onDrain        func(context.Context)

	onClose func(error)
	in      *IncomingLink
	out     *OutgoingLink
}

func newLink(s *Session, a *Attach, local uint32) *link {
	ctx, cancel := context.WithCancel(s.c.ctx)
	l := &link{
		s:            s,
		attach:       a,
		remoteHandle: a.Handle,
		localHandle:  local,
		incoming:     a.Role == RoleSender,
		ctx:          ctx,
		cancel:       cancel,
		finished:     make(chan struct{}),
		creditCh:     make(chan struct{}),
		sndMode:      a.SenderSettleMode,
		rcvMode:      a.ReceiverSettleMode,
	}
	l.exec.wg = &s.c.execs
	l.exec.onPanic = s.c.handlerPanic
	if l.incoming {
		l.in = &IncomingLink{l: l}
	} else {
		l.out = &OutgoingLink{l: l}
		l.unsettledTags = map[string]uint32{}
	}
	return l
}

// executor runs a link's callbacks one at a time, in order, on a goroutine
// that exists only while callbacks are queued.
type executor struct {
	mu      sync.Mutex
	q       []func()
	running bool
	wg      *sync.WaitGroup
	onPanic func(v any) // a callback panicked (nil: let it crash)
}

func (x *executor) submit(f func()) bool { return x.add(f, false) }

// add queues f; force ignores the queue bound (for the final event).
func (x *executor) add(f func(), force bool) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.q) >= maxLinkEvents && !force {
		return false
	}
	x.q = append(x.q, f)
	if !x.running {
		x.running = true
		x.wg.Add(1)
		go x.run()
	}
	return true
}

func (x *executor) run() {
	defer x.wg.Done()
	for {
		x.mu.Lock()
		if len(x.q) == 0 {
			x.running = false
			x.q = nil
			x.mu.Unlock()
			return
		}
		f := x.q[0]
		x.q[0] = nil
		x.q = x.q[1:]
		x.mu.Unlock()
		x.call(f)
	}
}

// call runs one callback; a panic goes to onPanic (which ends the
// connection) rather than taking the whole server down.
func (x *executor) call(f func()) {
	if x.onPanic != nil {
		defer func() {
			if v := recover(); v != nil {
				x.onPanic(v)
			}
		}()
	}
	f()
}

// submit queues a callback, closing the connection if the link's queue
// overflows.
func (l *link) submit(f func()) {
	if !l.exec.submit(f) {
		l.s.c.protocolError(CondResourceLimitExceeded, "too many pending link events")
	}
}

// runAttach asks the handler about the link and answers the peer.
func (l *link) runAttach() {
	c := l.s.c
	h := c.handler
	var in *IncomingOptions
	var out *OutgoingOptions
	var err error
	notImpl := &Error{Condition: CondNotImplemented, Description: "links in this direction are not supported"}
	if l.incoming {
		if h.AttachIncoming == nil {
			err = notImpl
		} else if in, err = h.AttachIncoming(l.ctx, l.in); err == nil && (in == nil || in.OnDelivery == nil) {
			err = errors.New("amqp: AttachIncoming accepted without OnDelivery")
		}
	} else {
		if h.AttachOutgoing == nil {
			err = notImpl
		} else if out, err = h.AttachOutgoing(l.ctx, l.out); err == nil && out == nil {
			err = errors.New("amqp: AttachOutgoing returned no options")
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.state != linkAttaching {
		return
	}
	if err != nil {
		l.refuseLocked(toWireError(err))
		return
	}
	if in != nil {
		if !l.acceptLocked(in.Reply) {
			return
		}
		l.onDelivery, l.onClose, l.settleFirst = in.OnDelivery, in.OnClose, in.SettleOutcomes
		l.maxCredit = in.Credit
		if l.maxCredit == 0 {
			l.maxCredit = c.srv.cfg.LinkCredit
		}
	} else {
		if !l.acceptLocked(out.Reply) {
			return
		}
		l.onDisposition, l.onDrain, l.onClose = out.OnDisposition, out.OnDrain, out.OnClose
	}
	if l.peerDetach != nil {
		var reason error
		if l.peerDetach.Error != nil {
			reason = l.peerDetach.Error
		}
		l.s.c.queue(outFrame{channel: l.s.localCh, perf: &detach{Handle: l.localHandle, Closed: l.peerDetach.Closed}})
		l.s.removeLink(l, reason)
		return
	}
	if l.incoming {
		l.credit = l.maxCredit
		l.s.queueFlow(l, false)
	} else {
		l.notifyCredit()
		if l.drain {
			l.startDrainLocked()
		}
	}
}

// replyAttach builds the server's attach from the peer's and r.
func (l *link) replyAttach(r AttachReply) *Attach {
	a := l.attach
	reply := &Attach{
		Name:                a.Name,
		Handle:              l.localHandle,
		Role:                !a.Role,
		SenderSettleMode:    a.SenderSettleMode,
		ReceiverSettleMode:  a.ReceiverSettleMode,
		Source:              a.Source,
		Target:              a.Target,
		MaxMessageSize:      r.MaxMessageSize,
		Properties:          r.Properties,
		OfferedCapabilities: r.OfferedCapabilities,
		DesiredCapabilities: r.DesiredCapabilities,
	}
	if r.Source != nil {
		reply.Source = r.Source
	}
	if r.Target != nil {
		reply.Target = r.Target
	}
	if r.SenderSettleMode != nil {
		reply.SenderSettleMode = *r.SenderSettleMode
	}
	if r.ReceiverSettleMode != nil {
		reply.ReceiverSettleMode = *r.ReceiverSettleMode
	}
	return reply
}

// acceptLocked answers with the server's attach; it refuses the link
// instead (and returns false) when the reply cannot be encoded.
func (l *link) acceptLocked(r AttachReply) bool {
	reply := l.replyAttach(r)
	cfg := &l.s.c.srv.cfg
	if l.incoming {
		limit := cfg.MaxMessageSize
		if r.MaxMessageSize != 0 && r.MaxMessageSize < limit {
			limit = r.MaxMessageSize
		}
		reply.MaxMessageSize = limit
		l.maxMsgSize = limit
		l.deliveryCount = l.attach.InitialDeliveryCount
	} else {
		l.peerMaxMsgSize = l.attach.MaxMessageSize
	}
	if err := encodable(reply); err != nil {
		l.s.c.srv.cfg.Logger.Debug("amqp attach reply cannot be encoded", "link", l.attach.Name, "err", err)
		l.refuseLocked(&Error{Condition: CondInternalError, Description: "attach reply could not be encoded"})
		return false
	}
	l.sndMode, l.rcvMode = reply.SenderSettleMode, reply.ReceiverSettleMode
	l.s.c.queue(outFrame{channel: l.s.localCh, perf: reply})
	l.state = linkAttached
	l.accepted = true
	return true
}

// refuseLocked answers the peer's attach with a null local terminus and a
// closing detach carrying e.
func (l *link) refuseLocked(e *Error) {
	e = sanitizeError(e)
	reply := l.replyAttach(AttachReply{})
	if l.incoming {
		reply.Target = nil
	} else {
		reply.Source = nil
	}
	s := l.s
	s.c.queue(outFrame{channel: s.localCh, perf: reply})
	var reason error
	if e != nil {
		reason = e
	}
	if l.peerDetach != nil {
		s.c.queue(outFrame{channel: s.localCh, perf: &detach{Handle: l.localHandle, Closed: l.peerDetach.Closed, Error: e}})
		s.removeLink(l, reason)
		return
	}
	s.c.queue(outFrame{channel: s.localCh, perf: &detach{Handle: l.localHandle, Closed: true, Error: e}})
	l.state = linkDetaching
	l.closeErr = reason
	l.finalize(reason)
}

// closeLocked detaches the link on the server's initiative.
func (l *link) closeLocked(e *Error) {
	e = sanitizeError(e)
	switch l.state {
	case linkAttaching:
		if e == nil {
			e = &Error{Condition: CondDetachForced}
		}
		l.refuseLocked(e)
	case linkAttached:
		s := l.s
		s.c.queue(outFrame{channel: s.localCh, perf: &detach{Handle: l.localHandle, Closed: true, Error: e}})
		l.state = linkDetaching
		s.purge(l)
		var reason error
		if e != nil {
			reason = e
		}
		l.closeErr = reason
		l.finalize(reason)
	}
}

// finalize schedules the close callback once; it runs after every callback
// already queued for the link.
func (l *link) finalize(reason error) {
	if l.finalQueued {
		return
	}
	l.finalQueued = true
	l.cancel()
	l.notifyCredit()
	accepted, onClose, finished := l.accepted, l.onClose, l.finished
	l.exec.add(func() {
		if accepted && onClose != nil {
			onClose(reason)
		}
		close(finished)
	}, true)
}

func (l *link) notifyCredit() {
	close(l.creditCh)
	l.creditCh = make(chan struct{})
}

// closedErr is the error API calls return once the link is not attached.
func (l *link) closedErr() error {
	if l.closeErr != nil {
		return fmt.Errorf("%w: %w", ErrLinkClosed, l.closeErr)
	}
	return ErrLinkClosed
}

func (l *link) onFlow(f *flow) {
	if l.state == linkDetaching || l.state == linkGone {
		return
	}
	if !l.incoming && f.LinkCredit != nil {
		var rcvCount uint32
		if f.DeliveryCount != nil {
			rcvCount = *f.DeliveryCount
		}
		credit := rcvCount + *f.LinkCredit - l.deliveryCount
		if credit > *f.LinkCredit {
			credit = 0 // more deliveries in flight than the new credit covers
		}
		l.credit = credit
		l.drain = f.Drain
		l.notifyCredit()
		if f.Drain && l.state == linkAttached {
			l.startDrainLocked()
		}
	}
	if f.Echo && l.state == linkAttached {
		l.s.queueFlow(l, false)
	}
}

// startDrainLocked handles a drain request on an outgoing link.
func (l *link) startDrainLocked() {
	if l.credit == 0 || l.onDrain == nil {
		l.finishDrainLocked()
		return
	}
	if l.drainPending {
		return
	}
	l.drainPending = true
	c := l.s.c
	onDrain := l.onDrain
	l.submit(func() {
		onDrain(l.ctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		l.drainPending = false
		l.finishDrainLocked()
	})
}

// finishDrainLocked spends the remaining credit and tells the peer, after
// the link's queued transfers.
func (l *link) finishDrainLocked() {
	if l.state != linkAttached || !l.drain {
		return
	}
	l.deliveryCount += l.credit
	l.credit = 0
	l.drain = false
	if l.queued > 0 {
		l.flowPending = true
	} else {
		l.s.queueFlow(l, true)
	}
}

// onTransfer handles a transfer frame on an incoming link.
func (l *link) onTransfer(t *transfer, payload []byte) {
	s := l.s
	d := l.partial
	if d == nil {
		if t.DeliveryID == nil {
			l.closeLocked(&Error{Condition: CondNotAllowed, Description: "first transfer of a delivery without delivery-id"})
			return
		}
		if l.credit == 0 {
			l.closeLocked(&Error{Condition: CondTransferLimitExceeded, Description: "transfer without link credit"})
			return
		}
		if s.inUnsettled[*t.DeliveryID] != nil {
			l.closeLocked(&Error{Condition: CondNotAllowed, Description: "delivery-id of an unsettled delivery reused"})
			return
		}
		l.credit--
		l.deliveryCount++
		l.outstanding++
		d = &Delivery{ID: *t.DeliveryID, Tag: append([]byte{}, t.DeliveryTag...), link: l}
		if t.MessageFormat != nil {
			d.Format = *t.MessageFormat
		}
		l.partial = d
	} else if t.DeliveryID != nil && *t.DeliveryID != d.ID {
		l.closeLocked(&Error{Condition: CondNotAllowed, Description: "continuation transfer with another delivery-id"})
		return
	}
	d.Settled = d.Settled || t.Settled
	if t.Aborted {
		l.partial = nil
		l.releaseSlot(d)
		return
	}
	if uint64(len(d.Payload))+uint64(len(payload)) > l.maxMsgSize {
		l.partial = nil
		l.closeLocked(&Error{Condition: CondMessageSizeExceeded,
			Description: fmt.Sprintf("message larger than max-message-size %d", l.maxMsgSize)})
		return
	}
	if d.Payload == nil && !t.More {
		d.Payload = append(make([]byte, 0, len(payload)), payload...)
	} else {
		d.Payload = append(d.Payload, payload...)
	}
	if t.More {
		return
	}
	l.partial = nil
	if d.Payload == nil {
		d.Payload = []byte{}
	}
	if !d.Settled {
		s.inUnsettled[d.ID] = d
	}
	c := s.c
	onDelivery := l.onDelivery
	l.submit(func() {
		onDelivery(l.ctx, d)
		if d.Settled {
			c.mu.Lock()
			l.releaseSlot(d)
			c.mu.Unlock()
		}
	})
}

// releaseSlot returns the credit held by d and replenishes the peer's
// credit when it has fallen to half the window.
func (l *link) releaseSlot(d *Delivery) {
	if d.released {
		return
	}
	d.released = true
	l.outstanding--
	if l.state != linkAttached {
		return
	}
	target := uint32(0)
	if l.outstanding < l.maxCredit {
		target = l.maxCredit - l.outstanding
	}
	if target > l.credit && l.credit*2 <= l.maxCredit {
		l.credit = target
		l.s.queueFlow(l, false)
	}
}

// onPeerDisposition handles the peer's disposition of an outgoing delivery.
func (l *link) onPeerDisposition(od *outDelivery, state DeliveryState, settled bool) {
	if l.state != linkAttached {
		return
	}
	if l.onDisposition != nil {
		d := Disposition{Tag: od.tag, DeliveryID: od.id, State: state, Settled: settled}
		cb := l.onDisposition
		l.submit(func() { cb(l.ctx, d) })
		return
	}
	if !settled && isTerminal(state) {
		s := l.s
		delete(s.outUnsettled, od.id)
		delete(l.unsettledTags, string(od.tag))
		s.c.queue(outFrame{channel: s.localCh, perf: &disposition{Role: RoleSender, First: od.id, Settled: true, State: state}})
	}
}

// IncomingLink is a link on which the peer sends messages to the server.
type IncomingLink struct{ l *link }

// Attach returns the peer's attach frame (treat it as read-only).
func (il *IncomingLink) Attach() *Attach { return il.l.attach }

// Name returns the link name.
func (il *IncomingLink) Name() string { return il.l.attach.Name }

// Session returns the link's session.
func (il *IncomingLink) Session() *Session { return il.l.s }

// Conn returns the link's connection.
func (il *IncomingLink) Conn() *Conn { return il.l.s.c }

// Done is closed when the link is detached or its session or connection
// ended.
func (il *IncomingLink) Done() <-chan struct{} { return il.l.ctx.Done() }

// Close detaches the link with err (nil for a clean detach); while the
// attach callback is still running it refuses the link instead (with
// amqp:link:detach-forced when err is nil). OnClose then receives err.
// Closing a closed link does nothing.
func (il *IncomingLink) Close(err *Error) {
	c := il.l.s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	il.l.closeLocked(err)
}

// Delivery is a complete message received on an IncomingLink.
type Delivery struct {
	// ID is the delivery-id (unique per session among unsettled deliveries).
	ID uint32
	// Tag is the delivery-tag chosen by the peer.
	Tag []byte
	// Format is the message-format (0, or MessageFormatBatch, ...).
	Format uint32
	// Settled is true when the peer sent the delivery pre-settled: it
	// expects no outcome, and the outcome methods do nothing.
	Settled bool
	// Payload is the encoded message, reassembled from all its frames.
	Payload []byte

	link        *link
	released    bool // its credit slot was returned
	decided     bool // a terminal outcome was given
	peerSettled bool
}

// Link returns the link the delivery arrived on.
func (d *Delivery) Link() *IncomingLink { return d.link.in }

// Message decodes the payload (a fresh Message on every call). For batch
// deliveries (Format == MessageFormatBatch) use UnmarshalBatch(d.Payload).
func (d *Delivery) Message() (*Message, error) {
	m := new(Message)
	if err := m.UnmarshalBinary(d.Payload); err != nil {
		return nil, err
	}
	return m, nil
}

// Accept settles the delivery as accepted.
func (d *Delivery) Accept() error { return d.Settle(&Accepted{}) }

// Reject settles the delivery as rejected with e (may be nil).
func (d *Delivery) Reject(e *Error) error { return d.Settle(&Rejected{Error: e}) }

// Release settles the delivery as released.
func (d *Delivery) Release() error { return d.Settle(&Released{}) }

// Modify settles the delivery as modified.
func (d *Delivery) Modify(m *Modified) error { return d.Settle(m) }

// Settle sends state for the delivery: an outcome (*Accepted, *Rejected,
// *Released, *Modified) is final and returns the delivery's credit;
// *Received may be sent any number of times before it. The disposition is
// settled in receiver settle mode first and unsettled (awaiting the
// peer's settlement) in mode second, unless the link was accepted with
// IncomingOptions.SettleOutcomes. It may be called from any goroutine.
// For a pre-settled delivery it does nothing. Errors: ErrAlreadySettled
// after an outcome, an error wrapping ErrLinkClosed once the link is gone.
func (d *Delivery) Settle(state DeliveryState) error {
	if isNilState(state) {
		return errors.New("amqp: nil delivery state")
	}
	l := d.link
	s := l.s
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.decided {
		return ErrAlreadySettled
	}
	terminal := isTerminal(state)
	if d.Settled || d.peerSettled {
		if terminal {
			d.decided = true
			l.releaseSlot(d)
		}
		return nil
	}
	if l.state != linkAttached {
		return l.closedErr()
	}
	settled := terminal && (l.rcvMode == ReceiverSettleModeFirst || l.settleFirst)
	disp := &disposition{Role: RoleReceiver, First: d.ID, Settled: settled, State: state}
	if !stateless(state) {
		if err := encodable(disp); err != nil {
			return fmt.Errorf("amqp: settle: %w", err)
		}
	}
	c.queue(outFrame{channel: s.localCh, perf: disp})
	if terminal {
		d.decided = true
		if settled {
			delete(s.inUnsettled, d.ID)
		}
		l.releaseSlot(d)
	}
	return nil
}

// OutgoingLink is a link on which the server sends messages to the peer.
// Its methods are safe for concurrent use from any goroutine.
type OutgoingLink struct{ l *link }

// Attach returns the peer's attach frame (treat it as read-only).
func (ol *OutgoingLink) Attach() *Attach { return ol.l.attach }

// Name returns the link name.
func (ol *OutgoingLink) Name() string { return ol.l.attach.Name }

// Session returns the link's session.
func (ol *OutgoingLink) Session() *Session { return ol.l.s }

// Conn returns the link's connection.
func (ol *OutgoingLink) Conn() *Conn { return ol.l.s.c }

// Done is closed when the link is detached or its session or connection
// ended.
func (ol *OutgoingLink) Done() <-chan struct{} { return ol.l.ctx.Done() }

// Close detaches the link with err (nil for a clean detach); see
// IncomingLink.Close.
func (ol *OutgoingLink) Close(err *Error) {
	c := ol.l.s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	ol.l.closeLocked(err)
}

// Credit returns the credit the peer currently grants (0 before the link
// is attached and after it closed).
func (ol *OutgoingLink) Credit() uint32 {
	l := ol.l
	l.s.c.mu.Lock()
	defer l.s.c.mu.Unlock()
	if l.state != linkAttached {
		return 0
	}
	return l.credit
}

// WaitCredit blocks until the link is attached and has credit, the link
// closes (an error wrapping ErrLinkClosed) or ctx is done.
func (ol *OutgoingLink) WaitCredit(ctx context.Context) error {
	l := ol.l
	c := l.s.c
	for {
		c.mu.Lock()
		if l.state == linkAttached && l.credit > 0 {
			c.mu.Unlock()
			return nil
		}
		if l.state != linkAttaching && l.state != linkAttached {
			err := l.closedErr()
			c.mu.Unlock()
			return err
		}
		ch := l.creditCh
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Send encodes m and sends it as a delivery with message-format 0; see
// SendPayload.
func (ol *OutgoingLink) Send(ctx context.Context, m *Message, tag []byte, settled bool) error {
	payload, err := m.MarshalBinary()
	if err != nil {
		return fmt.Errorf("amqp: send: %w", err)
	}
	return ol.SendPayload(ctx, payload, 0, tag, settled)
}

// SendPayload sends an encoded message as one delivery. It waits for
// credit (until ctx is done or the link closes), then queues the delivery
// and returns; the engine splits it into frames of the peer's
// max-frame-size. tag (1 to 32 bytes) must be unique among the link's
// unsettled deliveries; it identifies the delivery in Disposition and
// Settle. settled sends it pre-settled and must agree with the link's
// sender settle mode (ErrSettleMode). A payload over the peer's
// max-message-size fails with ErrMessageTooLarge. The engine keeps payload
// until it is written: do not modify it afterwards.
//
// A handler that takes a message from its store before calling Send may
// find the credit gone (the peer drained it) and then waits for new
// credit with the message in hand; use TrySendPayload to keep the message
// in the store instead.
func (ol *OutgoingLink) SendPayload(ctx context.Context, payload []byte, format uint32, tag []byte, settled bool) error {
	l := ol.l
	c := l.s.c
	for {
		c.mu.Lock()
		sent, err := l.trySendLocked(payload, format, tag, settled)
		if sent || (err != nil && !errors.Is(err, ErrNoCredit)) {
			c.mu.Unlock()
			return err
		}
		ch := l.creditCh
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// TrySendPayload is SendPayload without waiting: it fails with ErrNoCredit
// when the link has no credit (or is still attaching).
func (ol *OutgoingLink) TrySendPayload(payload []byte, format uint32, tag []byte, settled bool) error {
	l := ol.l
	c := l.s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := l.trySendLocked(payload, format, tag, settled)
	return err
}

// trySendLocked queues a delivery if the link has credit.
func (l *link) trySendLocked(payload []byte, format uint32, tag []byte, settled bool) (bool, error) {
	if len(tag) == 0 || len(tag) > 32 {
		return false, fmt.Errorf("amqp: delivery tag must be 1 to 32 bytes, not %d", len(tag))
	}
	s := l.s
	c := s.c
	if l.state != linkAttaching && l.state != linkAttached {
		return false, l.closedErr()
	}
	if c.closeQueued {
		return false, ErrConnClosed
	}
	if l.state != linkAttached {
		return false, ErrNoCredit
	}
	if (settled && l.sndMode == SenderSettleModeUnsettled) || (!settled && l.sndMode == SenderSettleModeSettled) {
		return false, ErrSettleMode
	}
	if l.peerMaxMsgSize != 0 && uint64(len(payload)) > l.peerMaxMsgSize {
		return false, ErrMessageTooLarge
	}
	if !settled {
		if _, dup := l.unsettledTags[string(tag)]; dup {
			return false, ErrDuplicateTag
		}
	}
	if l.credit == 0 {
		return false, ErrNoCredit
	}
	l.credit--
	l.deliveryCount++
	od := &outDelivery{l: l, id: s.nextDeliveryID, tag: append([]byte{}, tag...),
		format: format, settled: settled, payload: payload}
	s.nextDeliveryID++
	if !settled {
		s.outUnsettled[od.id] = od
		l.unsettledTags[string(od.tag)] = od.id
	}
	s.pending = append(s.pending, od)
	l.queued++
	c.wakeWriter()
	return true, nil
}

// Settle settles an unsettled delivery of this link with state, sending a
// settled disposition. Use it to confirm the peer's outcome in receiver
// settle mode second, or to settle on the server's own initiative.
// ErrUnknownDelivery if no unsettled delivery has this tag.
func (ol *OutgoingLink) Settle(tag []byte, state DeliveryState) error {
	l := ol.l
	s := l.s
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.state != linkAttached {
		return l.closedErr()
	}
	id, ok := l.unsettledTags[string(tag)]
	if !ok {
		return ErrUnknownDelivery
	}
	disp := &disposition{Role: RoleSender, First: id, Settled: true, State: state}
	if !stateless(state) {
		if err := encodable(disp); err != nil {
			return fmt.Errorf("amqp: settle: %w", err)
		}
	}
	delete(l.unsettledTags, string(tag))
	delete(s.outUnsettled, id)
	c.queue(outFrame{channel: s.localCh, perf: disp})
	return nil
}

// Disposition is the peer's disposition of one delivery sent on an
// OutgoingLink.
type Disposition struct {
	// Tag and DeliveryID identify the delivery.
	Tag        []byte
	DeliveryID uint32
	// State is the peer's state for the delivery (may be nil).
	State DeliveryState
	// Settled is true when the peer settled the delivery: it is forgotten
	// and needs no answer. Otherwise answer with OutgoingLink.Settle.
	Settled bool
}
