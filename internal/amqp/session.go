package amqp

import (
	"encoding/binary"
	"fmt"
)

// Session is one session of a connection. All state is guarded by the
// connection's mutex.
type Session struct {
	c              *Conn
	remoteCh       uint16
	localCh        uint16
	handleMax      uint32 // highest handle the peer may use
	localHandleMax uint32 // highest handle the server may use

	nextIncomingID uint32
	incomingWindow uint32 // what is left of the window last announced
	flowQueued     bool

	nextOutgoingID       uint32
	remoteIncomingWindow uint32
	remoteOutgoingWindow uint32
	nextDeliveryID       uint32

	links        map[uint32]*link // by the peer's handle
	localHandles map[uint32]*link
	inUnsettled  map[uint32]*Delivery
	outUnsettled map[uint32]*outDelivery
	pending      []*outDelivery // outgoing deliveries not yet fully written

	ending     bool // the server sent end and awaits the peer's
	terminated bool
}

// outDelivery is an outgoing delivery queued or sent on a session.
type outDelivery struct {
	l       *link
	id      uint32
	tag     []byte
	format  uint32
	settled bool
	payload []byte
	off     int
	started bool
}

// Conn returns the session's connection.
func (s *Session) Conn() *Conn { return s.c }

// Channel returns the channel number the peer uses for this session.
func (s *Session) Channel() uint16 { return s.remoteCh }

// End ends the session with err (nil for a clean end); its links close
// with errors wrapping ErrSessionEnded.
func (s *Session) End(err *Error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	err = sanitizeError(err)
	var reason error
	if err != nil {
		reason = err
	}
	s.endLocked(err, reason)
}

// endLocked sends end and terminates the session locally; frames on the
// channel are discarded until the peer's end arrives.
func (s *Session) endLocked(e *Error, reason error) {
	if s.ending || s.terminated {
		return
	}
	s.ending = true
	s.c.queue(outFrame{channel: s.localCh, perf: &end{Error: e}})
	s.terminate(reason)
}

// protocolError ends the session because the peer broke the protocol.
func (s *Session) protocolError(cond Symbol, desc string) {
	e := &Error{Condition: cond, Description: desc}
	s.endLocked(e, fmt.Errorf("amqp: protocol violation by peer: %w", e))
}

// terminate closes every link of the session and schedules SessionEnded.
func (s *Session) terminate(reason error) {
	if s.terminated {
		return
	}
	s.terminated = true
	c := s.c
	linkReason := ErrSessionEnded
	if reason != nil {
		linkReason = fmt.Errorf("%w: %w", ErrSessionEnded, reason)
	}
	finished := make([]chan struct{}, 0, len(s.links))
	for _, l := range s.links {
		s.removeLink(l, linkReason)
		finished = append(finished, l.finished)
	}
	s.pending = nil
	clear(s.inUnsettled)
	clear(s.outUnsettled)
	if h := c.handler.SessionEnded; h != nil {
		c.execs.Add(1)
		go func() {
			defer c.execs.Done()
			for _, f := range finished {
				<-f
			}
			h(s, reason)
		}()
	}
}

// release forgets the session once both ends are done.
func (s *Session) release() {
	c := s.c
	if c.sessions[s.remoteCh] == s {
		delete(c.sessions, s.remoteCh)
	}
	delete(c.localChannels, s.localCh)
}

func (s *Session) handleFrame(perf any, payload []byte) {
	if s.ending {
		if _, ok := perf.(*end); ok {
			s.release()
		}
		return
	}
	switch p := perf.(type) {
	case *end:
		s.c.queue(outFrame{channel: s.localCh, perf: &end{}})
		var reason error
		if p.Error != nil {
			reason = p.Error
		}
		s.terminate(reason)
		s.release()
	case *Attach:
		s.onAttach(p)
	case *flow:
		s.onFlow(p)
	case *transfer:
		s.onTransfer(p, payload)
	case *disposition:
		s.onDisposition(p)
	case *detach:
		s.onDetach(p)
	default:
		s.c.protocolError(CondNotAllowed, fmt.Sprintf("unexpected %T on a session", perf))
	}
}

func (s *Session) onAttach(a *Attach) {
	c := s.c
	if a.Handle > s.handleMax {
		s.protocolError(CondResourceLimitExceeded, fmt.Sprintf("handle %d exceeds handle-max %d", a.Handle, s.handleMax))
		return
	}
	if s.links[a.Handle] != nil {
		s.protocolError(CondHandleInUse, fmt.Sprintf("handle %d already in use", a.Handle))
		return
	}
	local, ok := uint32(0), false
	for i := uint32(0); i <= s.localHandleMax; i++ {
		if s.localHandles[i] == nil {
			local, ok = i, true
			break
		}
		if i == s.localHandleMax {
			break
		}
	}
	if !ok {
		s.protocolError(CondResourceLimitExceeded, "no free handle")
		return
	}
	l := newLink(s, a, local)
	s.links[a.Handle] = l
	s.localHandles[local] = l
	c.linkCount++
	if c.linkCount > c.srv.cfg.MaxLinks {
		l.refuseLocked(&Error{Condition: CondResourceLimitExceeded, Description: "too many links on this connection"})
		return
	}
	l.exec.submit(l.runAttach)
}

// removeLink forgets a link and schedules its close callback.
func (s *Session) removeLink(l *link, reason error) {
	if s.links[l.remoteHandle] == l {
		delete(s.links, l.remoteHandle)
	}
	if s.localHandles[l.localHandle] == l {
		delete(s.localHandles, l.localHandle)
	}
	if l.state != linkGone {
		s.c.linkCount--
	}
	l.state = linkGone
	s.purge(l)
	for id, d := range s.inUnsettled {
		if d.link == l {
			delete(s.inUnsettled, id)
		}
	}
	for id, od := range s.outUnsettled {
		if od.l == l {
			delete(s.outUnsettled, id)
		}
	}
	l.finalize(reason)
}

// purge drops the link's queued outgoing deliveries (a detach implicitly
// aborts one that is partly sent).
func (s *Session) purge(l *link) {
	if l.queued == 0 {
		return
	}
	kept := s.pending[:0]
	for _, od := range s.pending {
		if od.l != l {
			kept = append(kept, od)
		}
	}
	clear(s.pending[len(kept):])
	s.pending = kept
	l.queued = 0
	l.flowPending = false
}

func (s *Session) lookup(handle uint32, what string) *link {
	l := s.links[handle]
	if l == nil {
		s.protocolError(CondUnattachedHandle, fmt.Sprintf("%s on unattached handle %d", what, handle))
	}
	return l
}

func (s *Session) onFlow(f *flow) {
	if f.NextIncomingID != nil {
		s.remoteIncomingWindow = *f.NextIncomingID + f.IncomingWindow - s.nextOutgoingID
	} else {
		s.remoteIncomingWindow = f.IncomingWindow - s.nextOutgoingID
	}
	s.remoteOutgoingWindow = f.OutgoingWindow
	s.c.wakeWriter()
	if f.Handle == nil {
		if f.Echo {
			s.queueFlow(nil, false)
		}
		return
	}
	l := s.lookup(*f.Handle, "flow")
	if l == nil {
		return
	}
	l.onFlow(f)
}

// queueFlow queues a flow for the session (l nil) or a link.
func (s *Session) queueFlow(l *link, drain bool) {
	if l == nil {
		if s.flowQueued {
			return
		}
		s.flowQueued = true
	}
	s.c.queue(outFrame{channel: s.localCh, flowSession: s, flowLink: l, flowDrain: drain})
}

// buildFlow builds a queued flow from the current state, or returns nil
// when it no longer applies.
func (s *Session) buildFlow(l *link, drain bool) *flow {
	if s.ending || s.terminated {
		return nil
	}
	if l != nil && l.state != linkAttached {
		return nil
	}
	s.flowQueued = false
	s.incomingWindow = s.c.srv.cfg.SessionWindow
	nextIn := s.nextIncomingID
	f := &flow{
		NextIncomingID: &nextIn,
		IncomingWindow: s.incomingWindow,
		NextOutgoingID: s.nextOutgoingID,
		OutgoingWindow: sessionOutgoingWindow,
	}
	if l != nil {
		h, dc, cr := l.localHandle, l.deliveryCount, l.credit
		f.Handle, f.DeliveryCount, f.LinkCredit, f.Drain = &h, &dc, &cr, drain
	}
	return f
}

func (s *Session) onTransfer(t *transfer, payload []byte) {
	s.nextIncomingID++
	if s.incomingWindow == 0 {
		s.protocolError(CondWindowViolation, "transfer beyond the session's incoming window")
		return
	}
	s.incomingWindow--
	if s.incomingWindow <= s.c.srv.cfg.SessionWindow/2 {
		s.queueFlow(nil, false)
	}
	l := s.lookup(t.Handle, "transfer")
	if l == nil {
		return
	}
	switch {
	case l.state == linkDetaching:
		return // the server detached; discard until the peer's detach
	case !l.incoming:
		l.closeLocked(&Error{Condition: CondNotAllowed, Description: "transfer on a link where the server sends"})
		return
	case l.state != linkAttached:
		l.closeLocked(&Error{Condition: CondTransferLimitExceeded, Description: "transfer before the link was attached"})
		return
	}
	l.onTransfer(t, payload)
}

func (s *Session) onDisposition(d *disposition) {
	last := d.First
	if d.Last != nil {
		last = *d.Last
	}
	span := uint64(last-d.First) + 1
	if d.Role == RoleReceiver {
		// The peer received deliveries the server sent.
		visit := func(id uint32, od *outDelivery) {
			if d.Settled {
				delete(s.outUnsettled, id)
				delete(od.l.unsettledTags, string(od.tag))
			}
			od.l.onPeerDisposition(od, d.State, d.Settled)
		}
		if span <= uint64(len(s.outUnsettled)) {
			for i := uint64(0); i < span; i++ {
				id := d.First + uint32(i)
				if od := s.outUnsettled[id]; od != nil {
					visit(id, od)
				}
			}
		} else {
			for id, od := range s.outUnsettled {
				if id-d.First <= last-d.First {
					visit(id, od)
				}
			}
		}
		return
	}
	// The peer sent these deliveries; only its settlement matters.
	if !d.Settled {
		return
	}
	visit := func(id uint32, dl *Delivery) {
		dl.peerSettled = true
		delete(s.inUnsettled, id)
	}
	if span <= uint64(len(s.inUnsettled)) {
		for i := uint64(0); i < span; i++ {
			id := d.First + uint32(i)
			if dl := s.inUnsettled[id]; dl != nil {
				visit(id, dl)
			}
		}
	} else {
		for id, dl := range s.inUnsettled {
			if id-d.First <= last-d.First {
				visit(id, dl)
			}
		}
	}
}

func (s *Session) onDetach(dt *detach) {
	l := s.lookup(dt.Handle, "detach")
	if l == nil {
		return
	}
	var reason error
	if dt.Error != nil {
		reason = dt.Error
	}
	switch l.state {
	case linkDetaching:
		// The peer answers the server's detach.
		s.removeLink(l, l.closeErr)
	case linkAttaching:
		// Answered once the handler decides; cancelling the link context
		// tells a handler that is still waiting (for example for a
		// resource to become available) that the peer gave up.
		l.peerDetach = dt
		l.cancel()
	default:
		s.c.queue(outFrame{channel: s.localCh, perf: &detach{Handle: l.localHandle, Closed: dt.Closed}})
		s.removeLink(l, reason)
	}
}

// nextTransferFrame appends the next frame of the first pending delivery.
func (s *Session) nextTransferFrame(buf []byte) ([]byte, error) {
	c := s.c
	od := s.pending[0]
	l := od.l
	t := transfer{Handle: l.localHandle, Settled: od.settled, More: true}
	if !od.started {
		id, format := od.id, od.format
		t.DeliveryID, t.DeliveryTag, t.MessageFormat = &id, od.tag, &format
	}
	rest := od.payload[od.off:]
	start := len(buf)
	buf, err := appendFrame(buf, frameTypeAMQP, s.localCh, &t, nil)
	if err != nil {
		return buf, err
	}
	avail := int(c.peerMaxFrame) - (len(buf) - start)
	if avail <= 0 {
		return buf[:start], fmt.Errorf("amqp: peer max-frame-size %d too small for a transfer", c.peerMaxFrame)
	}
	done := len(rest) <= avail
	if done {
		t.More = false
		if buf, err = appendFrame(buf[:start], frameTypeAMQP, s.localCh, &t, rest); err != nil {
			return buf, err
		}
		od.off = len(od.payload)
	} else {
		buf = append(buf, rest[:avail]...)
		binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start))
		od.off += avail
	}
	od.started = true
	s.nextOutgoingID++
	s.remoteIncomingWindow--
	if done {
		s.pending[0] = nil
		s.pending = s.pending[1:]
		if len(s.pending) == 0 {
			s.pending = nil
		}
		l.queued--
		if l.queued == 0 && l.flowPending {
			l.flowPending = false
			s.queueFlow(l, true)
		}
	}
	return buf, nil
}
