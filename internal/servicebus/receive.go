package servicebus

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// ReceiveMode is how receive hands out messages.
type ReceiveMode uint8

// Receive modes.
const (
	// PeekLock locks each message for the entity's lock duration; the
	// receiver settles it with Complete, Abandon, Defer or DeadLetter.
	PeekLock ReceiveMode = iota
	// ReceiveAndDelete deletes each message (durably) as it is received.
	ReceiveAndDelete
)

// WaitForever as a MaxWait waits until the context ends.
const WaitForever time.Duration = -1

// MaxReceiveBatch is the most messages one receive returns.
const MaxReceiveBatch = 5000

// ReceiveOptions configure a receive.
type ReceiveOptions struct {
	Mode ReceiveMode
	// MaxMessages is the most messages to return (default 1, at most
	// MaxReceiveBatch). A receive returns as soon as at least one message
	// is available; it does not wait to fill the batch.
	MaxMessages int
	// MaxWait is how long to wait for a first message: 0 returns at once,
	// WaitForever waits until ctx ends. Waiting receivers are served in
	// the order they started waiting and are woken when a message arrives
	// (no polling). A wait that times out returns no messages and no error.
	MaxWait time.Duration
}

func (o ReceiveOptions) maxMessages() int {
	switch {
	case o.MaxMessages <= 0:
		return 1
	case o.MaxMessages > MaxReceiveBatch:
		return MaxReceiveBatch
	}
	return o.MaxMessages
}

type attempt uint8

const (
	attemptDone  attempt = iota // finished (result or error)
	attemptWait                 // nothing yet: wait for a signal
	attemptRetry                // try again at once
)

// waitFor runs fn until it finishes, waiting between tries for a signal on
// the waiter fn registered, the timeout, ctx, revocation or broker close.
func (n *Namespace) waitFor(ctx context.Context, maxWait time.Duration, fn func(w *waiter) (attempt, func(), error)) error {
	w := newWaiter()
	revoked := n.revokedChan()
	var timer clock.Timer
	var timeout <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var wp *waiter
		if maxWait != 0 {
			wp = w
		}
		a, unregister, err := fn(wp)
		if a != attemptWait || err != nil || maxWait == 0 {
			if unregister != nil {
				unregister()
			}
			if a == attemptRetry && err == nil {
				continue
			}
			return err
		}
		if timer == nil && maxWait > 0 {
			timer = n.b.clk.NewTimer(maxWait)
			timeout = timer.C()
		}
		select {
		case <-w.ch:
			// signalled: the waiter was dequeued; try again
			continue
		case <-ctx.Done():
			err = ctx.Err()
		case <-timeout:
		case <-revoked:
			err = revokedErr(n.name)
		case <-n.b.done:
			err = closedErr()
		}
		if unregister != nil {
			unregister()
		}
		return err
	}
}

// receiverQueue resolves a receive path to its queue (opMu held).
func (n *Namespace) receiverQueue(path string) (*lqueue, error) {
	ep, err := ParseEntityPath(path)
	if err != nil {
		return nil, err
	}
	var e *entity
	if ep.Subscription != "" {
		if e, err = n.subscriptionByName(ep.Entity, ep.Subscription); err != nil {
			return nil, err
		}
	} else {
		e = n.queueOrTopic(ep.Entity)
		if e == nil {
			return nil, notFound("entity", ep.Entity)
		}
		if e.kind != kindQueue {
			return nil, newErr(CodeInvalidOperation, "cannot receive from topic %q: receive from a subscription", ep.Entity)
		}
	}
	if !e.canReceive() {
		return nil, newErr(CodeEntityDisabled, "entity %q is %s", e.path(), e.status())
	}
	switch ep.SubQueue {
	case SubQueueDeadLetter:
		return e.dlq, nil
	case SubQueueTransferDeadLetter:
		return e.tdlq, nil
	}
	return e.main, nil
}

// Receive receives up to opts.MaxMessages messages from a queue, a
// subscription or one of their dead-letter queues, in sequence order.
// Session-enabled entities are received through AcceptSession.
func (n *Namespace) Receive(ctx context.Context, path string, opts ReceiveOptions) ([]*ReceivedMessage, error) {
	max := opts.maxMessages()
	var out []*ReceivedMessage
	err := n.waitFor(ctx, opts.MaxWait, func(w *waiter) (attempt, func(), error) {
		dk, err := n.begin()
		if err != nil {
			return attemptDone, nil, err
		}
		defer n.end()
		lq, err := n.receiverQueue(path)
		if err != nil {
			return attemptDone, nil, err
		}
		if lq.sess != nil {
			return attemptDone, nil, newErr(CodeInvalidOperation, "entity %q requires sessions: accept a session to receive", lq.ent.path())
		}
		now := n.b.clk.Now()
		lq.mu.Lock()
		if lq.closed {
			lq.mu.Unlock()
			return attemptDone, nil, notFound("entity", path)
		}
		work := lq.collectDueLocked(ctx, dk, now)
		taken, terr := lq.takeLocked(&lq.avail, max, nil)
		var unregister func()
		if len(taken) == 0 && w != nil && terr == nil {
			lq.waiters.add(w)
			unregister = func() {
				lq.mu.Lock()
				lq.waiters.leave(w)
				lq.mu.Unlock()
			}
		}
		lq.mu.Unlock()
		lq.process(ctx, dk, work, now)
		lq.ent.touch(now)
		if len(taken) == 0 {
			return attemptWait, unregister, terr
		}
		msgs, err := n.deliver(ctx, dk, lq, taken, opts.Mode, now)
		if err != nil {
			return attemptDone, nil, errors.Join(err, terr)
		}
		if len(msgs) == 0 {
			return attemptRetry, nil, nil
		}
		out = msgs
		return attemptDone, nil, nil
	})
	return out, err
}

// deliver reads the taken messages, expires those past their time to live,
// and locks (persisting the delivery count first) or deletes the others.
func (n *Namespace) deliver(ctx context.Context, dk *seal.DataKey, lq *lqueue, taken []*msgLock, mode ReceiveMode, now time.Time) ([]*ReceivedMessage, error) {
	e := lq.ent
	p := n.newPlan(dk, now, mode == ReceiveAndDelete)
	until := now.Add(e.lockDuration())
	out := make([]*ReceivedMessage, 0, len(taken))
	var delivered []*msgLock
	restoreAll := func() {
		p.abort()
		lq.mu.Lock()
		for _, l := range taken {
			if l.busy {
				lq.restoreLocked(l)
			}
		}
		lq.mu.Unlock()
	}
	for _, l := range taken {
		rec, err := n.readRecord(ctx, dk, e.id, l.seq)
		if errors.Is(err, store.ErrNotFound) {
			lq.mu.Lock()
			lq.dropLocked(l)
			lq.mu.Unlock()
			l.busy = false
			continue
		}
		if err != nil {
			restoreAll()
			return nil, internalErr(n.name, "read message", err)
		}
		l.size = rec.Message.Size()
		lq.countDeliveries(l.seq, rec)
		if lq.sub == SubQueueMain {
			l.expires = unixNano(rec.ExpiresAt)
			if !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt) {
				p.removeMsg(lq, l)
				if e.dlqOnExpiry() {
					if err := n.deadLetter(ctx, p, lq, l.seq, rec, ReasonTTLExpired, "The message expired and was dead lettered.", nil); err != nil {
						restoreAll()
						return nil, err
					}
				}
				continue
			}
		}
		rec.DeliveryCount++
		l.deliveryCount = rec.DeliveryCount
		if mode == PeekLock {
			// Count the delivery in the index entry (a small write), not by
			// rewriting the message.
			if err := p.setIndex(e.id, l.code, l.seq, lq.lockIndexEntry(l, rec.DeliveryCount)); err != nil {
				restoreAll()
				return nil, err
			}
		} else {
			p.removeMsg(lq, l)
		}
		rm := rec.received(l.seq)
		if mode == PeekLock {
			rm.LockToken = l.token
			rm.LockedUntil = until // session messages: set below, under the lock
		}
		delivered = append(delivered, l)
		out = append(out, rm)
	}
	if err := n.apply(ctx, p); err != nil {
		lq.mu.Lock()
		for _, l := range taken {
			if l.busy {
				lq.restoreLocked(l)
			}
		}
		lq.mu.Unlock()
		return nil, err
	}
	if mode == PeekLock {
		lq.mu.Lock()
		for i, l := range delivered {
			if lq.locks[l.seq] != l {
				continue
			}
			lq.deliveries[l.seq] = l.deliveryCount
			l.busy = false
			if l.sess != nil {
				l.until = l.sess.lockedUntil
				out[i].LockedUntil = l.until
			} else {
				l.until = until
				at := unixNano(until)
				lq.lockDL.push(deadline{at: at, id: l.seq})
				lq.armLocked(at)
			}
			n.addLockToken(l)
		}
		lq.mu.Unlock()
	}
	return out, nil
}

// received builds what a receiver sees of a record.
func (r *record) received(seq uint64) *ReceivedMessage {
	m := &ReceivedMessage{
		Message:                r.Message,
		SequenceNumber:         int64(seq),
		EnqueuedSequenceNumber: int64(r.EnqueuedSeq),
		EnqueuedTime:           r.EnqueuedTime,
		ExpiresAt:              r.ExpiresAt,
		DeliveryCount:          r.DeliveryCount,
		DeadLetterSource:       r.DeadLetterSource,
		State:                  r.State,
	}
	if s, ok := r.ApplicationProperties[PropDeadLetterReason].(string); ok {
		m.DeadLetterReason = s
	}
	if s, ok := r.ApplicationProperties[PropDeadLetterDescription].(string); ok {
		m.DeadLetterErrorDescription = s
	}
	return m
}

// DispositionKind is how a locked message is settled.
type DispositionKind uint8

// Dispositions (the AMQP $management disposition-status names in brackets).
const (
	DispositionComplete   DispositionKind = iota + 1 // delete the message ("completed")
	DispositionAbandon                               // unlock it; delivery counted ("abandoned")
	DispositionDefer                                 // set it aside for receive-deferred ("defered")
	DispositionDeadLetter                            // move it to the dead-letter queue ("suspended")
	DispositionRelease                               // unlock it without counting the delivery (AMQP released)
)

// Disposition is a settlement with its options.
type Disposition struct {
	Kind DispositionKind
	// DeadLetterReason and DeadLetterDescription (DispositionDeadLetter)
	// become the application properties DeadLetterReason and
	// DeadLetterErrorDescription.
	DeadLetterReason      string
	DeadLetterDescription string
	// Properties are application properties to add or replace
	// (abandon, defer, dead-letter).
	Properties map[string]any
	// Durable makes a completion synced before Settle returns (for
	// receive-and-delete, whose at-most-once contract needs the deletion on
	// disk before the message is handed out).
	Durable bool
}

// Complete settles a locked message by deleting it (durable with the next
// synced write; see Settle).
func (n *Namespace) Complete(ctx context.Context, path string, token uuid.UUID) error {
	return n.Settle(ctx, path, []uuid.UUID{token}, Disposition{Kind: DispositionComplete})
}

// Abandon unlocks a message, optionally changing application properties;
// past the entity's MaxDeliveryCount it is dead-lettered instead.
func (n *Namespace) Abandon(ctx context.Context, path string, token uuid.UUID, props map[string]any) error {
	return n.Settle(ctx, path, []uuid.UUID{token}, Disposition{Kind: DispositionAbandon, Properties: props})
}

// Defer sets a locked message aside: it is received again only by sequence
// number (ReceiveDeferred).
func (n *Namespace) Defer(ctx context.Context, path string, token uuid.UUID, props map[string]any) error {
	return n.Settle(ctx, path, []uuid.UUID{token}, Disposition{Kind: DispositionDefer, Properties: props})
}

// DeadLetter moves a locked message to the dead-letter queue (or to the
// entity's ForwardDeadLetteredMessagesTo) with a reason and description.
func (n *Namespace) DeadLetter(ctx context.Context, path string, token uuid.UUID, reason, description string, props map[string]any) error {
	return n.Settle(ctx, path, []uuid.UUID{token}, Disposition{Kind: DispositionDeadLetter,
		DeadLetterReason: reason, DeadLetterDescription: description, Properties: props})
}

// Release unlocks a message without counting the delivery (for messages a
// transport received but never handed to the application).
func (n *Namespace) Release(ctx context.Context, path string, token uuid.UUID) error {
	return n.Settle(ctx, path, []uuid.UUID{token}, Disposition{Kind: DispositionRelease})
}

func lockLost(path string) error {
	return newErr(CodeMessageLockLost, "the lock supplied is invalid: it expired, was already settled, or belongs to another entity than %q", path)
}

// Settle settles locked messages of path (all or none: one invalid token
// fails the call with CodeMessageLockLost or CodeSessionLockLost).
// Complete, defer and dead-letter are durable when Settle returns.
func (n *Namespace) Settle(ctx context.Context, path string, tokens []uuid.UUID, d Disposition) error {
	if d.Kind < DispositionComplete || d.Kind > DispositionRelease {
		return newErr(CodeBadRequest, "unknown disposition %d", d.Kind)
	}
	dk, err := n.begin()
	if err != nil {
		return err
	}
	defer n.end()
	lq, err := n.receiverQueue(path)
	if err != nil {
		return err
	}
	if d.Kind == DispositionDeadLetter && lq.sub != SubQueueMain {
		return newErr(CodeInvalidOperation, "a message in a dead-letter queue cannot be dead-lettered")
	}
	props, err := normalizeProps(d.Properties)
	if err != nil {
		return err
	}
	e := lq.ent
	now := n.b.clk.Now()
	lq.mu.Lock()
	ls := make([]*msgLock, 0, len(tokens))
	for _, t := range tokens {
		l := n.lockFor(t)
		switch {
		case l == nil || l.lq != lq || l.busy:
			err = lockLost(path)
		case l.sess != nil && (!l.sess.locked || l.sess.lockID != l.sessLock || !now.Before(l.sess.lockedUntil)):
			err = newErr(CodeSessionLockLost, "the lock on session %q of %q was lost", l.sess.id, e.path())
		case l.sess == nil && !now.Before(l.until):
			err = lockLost(path)
		}
		if err != nil {
			lq.mu.Unlock()
			return err
		}
		ls = append(ls, l)
	}
	for _, l := range ls {
		l.busy = true
	}
	lq.mu.Unlock()
	unbusy := func() {
		lq.mu.Lock()
		for _, l := range ls {
			lq.unbusyLocked(l, now)
		}
		lq.mu.Unlock()
	}
	// Defer and dead-letter change where a message lives and are synced
	// before they are confirmed. A completion is written without its own
	// sync: it becomes durable with the next synced write (any send) or
	// flush, and a crash before that redelivers the message, which
	// peek-lock's at-least-once contract allows. Abandon and release only
	// touch in-memory locks.
	sync := d.Kind == DispositionDefer || d.Kind == DispositionDeadLetter || d.Durable
	p := n.newPlan(dk, now, sync)
	for _, l := range ls {
		if err := n.planSettle(ctx, p, lq, l, d, props, now); err != nil {
			p.abort()
			unbusy()
			return err
		}
	}
	if err := n.apply(ctx, p); err != nil {
		unbusy()
		return err
	}
	return nil
}

func (n *Namespace) planSettle(ctx context.Context, p *plan, lq *lqueue, l *msgLock, d Disposition, props map[string]any, now time.Time) error {
	e := lq.ent
	read := func() (*record, error) {
		rec, err := n.readRecord(ctx, p.dk, e.id, l.seq)
		if err != nil {
			return nil, internalErr(n.name, "read message", err)
		}
		lq.countDeliveries(l.seq, rec)
		for k, v := range props {
			if rec.ApplicationProperties == nil {
				rec.ApplicationProperties = map[string]any{}
			}
			rec.ApplicationProperties[k] = v
		}
		return rec, nil
	}
	unlock := func() {
		lq.mu.Lock()
		lq.unlockLocked(l, now)
		lq.mu.Unlock()
	}
	switch d.Kind {
	case DispositionComplete:
		p.removeMsg(lq, l)
	case DispositionAbandon, DispositionRelease:
		if d.Kind == DispositionAbandon && lq.sub == SubQueueMain && l.deliveryCount >= e.maxDelivery() {
			rec, err := read()
			if err != nil {
				return err
			}
			p.removeMsg(lq, l)
			return n.deadLetter(ctx, p, lq, l.seq, rec, ReasonMaxDeliveryCountExceeded,
				"Message could not be consumed after "+u64s(uint64(e.maxDelivery()))+" delivery attempts.", nil)
		}
		// A release does not count: the delivery comes back out of the
		// count (l.deliveryCount is the count including this delivery).
		count := l.deliveryCount
		if d.Kind == DispositionRelease {
			count = max(count-1, 0)
		}
		if len(props) > 0 {
			rec, err := read()
			if err != nil {
				return err
			}
			rec.DeliveryCount = count
			if err := p.setData(e.id, l.seq, rec); err != nil {
				return err
			}
		}
		if d.Kind == DispositionRelease {
			// Rewrite only the small index entry that carries the count.
			if err := p.setIndex(e.id, l.code, l.seq, lq.lockIndexEntry(l, count)); err != nil {
				return err
			}
			p.onCommit(func() { lq.setDeliveries(l, count) })
		}
		p.onCommit(unlock)
	case DispositionDefer:
		rec, err := read()
		if err != nil {
			return err
		}
		rec.State = StateDeferred
		if l.code == lq.activeCode {
			p.removeMsg(lq, l)
			return p.place(lq, lq.deferCode, l.seq, rec)
		}
		if err := p.setData(e.id, l.seq, rec); err != nil {
			return err
		}
		p.onCommit(unlock)
	case DispositionDeadLetter:
		rec, err := read()
		if err != nil {
			return err
		}
		p.removeMsg(lq, l)
		return n.deadLetter(ctx, p, lq, l.seq, rec, d.DeadLetterReason, d.DeadLetterDescription, nil)
	}
	return nil
}

// RenewLock extends message locks by the entity's lock duration and returns
// the new expiry of each. Messages of sessions are renewed with
// Session.RenewLock instead.
func (n *Namespace) RenewLock(ctx context.Context, path string, tokens []uuid.UUID) ([]time.Time, error) {
	if _, err := n.begin(); err != nil {
		return nil, err
	}
	defer n.end()
	lq, err := n.receiverQueue(path)
	if err != nil {
		return nil, err
	}
	now := n.b.clk.Now()
	lq.mu.Lock()
	defer lq.mu.Unlock()
	ls := make([]*msgLock, 0, len(tokens))
	for _, t := range tokens {
		l := n.lockFor(t)
		switch {
		case l == nil || l.lq != lq || l.busy:
			return nil, lockLost(path)
		case l.sess != nil:
			return nil, newErr(CodeInvalidOperation, "messages of a session are locked by the session: renew the session lock")
		case !now.Before(l.until):
			return nil, lockLost(path)
		}
		ls = append(ls, l)
	}
	out := make([]time.Time, len(ls))
	until := now.Add(lq.ent.lockDuration())
	at := unixNano(until)
	for i, l := range ls {
		l.until = until
		out[i] = until
		lq.lockDL.push(deadline{at: at, id: l.seq})
	}
	if len(ls) > 0 {
		lq.armLocked(at)
	}
	return out, nil
}

// ReceiveDeferred receives deferred messages by sequence number. Every
// number must name a deferred, unlocked message (else CodeMessageNotFound).
func (n *Namespace) ReceiveDeferred(ctx context.Context, path string, seqs []int64, mode ReceiveMode) ([]*ReceivedMessage, error) {
	if _, err := n.begin(); err != nil {
		return nil, err
	}
	lq, err := n.receiverQueue(path)
	n.end()
	if err != nil {
		return nil, err
	}
	if lq.sess != nil {
		return nil, newErr(CodeInvalidOperation, "entity %q requires sessions: receive deferred messages through the session", lq.ent.path())
	}
	return n.receiveDeferred(ctx, lq, nil, seqs, mode)
}

func (n *Namespace) receiveDeferred(ctx context.Context, lq *lqueue, s *Session, seqs []int64, mode ReceiveMode) ([]*ReceivedMessage, error) {
	dk, err := n.begin()
	if err != nil {
		return nil, err
	}
	defer n.end()
	now := n.b.clk.Now()
	lq.mu.Lock()
	if lq.closed {
		lq.mu.Unlock()
		return nil, notFound("entity", lq.ent.path())
	}
	if s != nil && !s.heldLocked(now) {
		lq.mu.Unlock()
		return nil, s.lostErr()
	}
	var taken []*msgLock
	fail := func(err error) ([]*ReceivedMessage, error) {
		for _, l := range taken {
			delete(lq.locks, l.seq)
			if l.sess != nil {
				delete(l.sess.msgLocks, l.seq)
			}
		}
		lq.mu.Unlock()
		return nil, err
	}
	for _, sq := range seqs {
		seq := uint64(sq)
		num, ok := lq.deferred[seq]
		if !ok || sq <= 0 || (s != nil && num != s.s.num) {
			return fail(newErr(CodeMessageNotFound, "no deferred message with sequence number %d in %q", sq, lq.ent.path()))
		}
		if _, locked := lq.locks[seq]; locked {
			return fail(newErr(CodeMessageLockLost, "deferred message %d is locked by another receiver", sq))
		}
		tok, err := uuid.NewRandom()
		if err != nil {
			return fail(internalErr(n.name, "lock token", err))
		}
		l := &msgLock{token: tok, lq: lq, seq: seq, code: lq.deferCode, busy: true}
		if s != nil {
			l.sess = s.s
			l.sessLock = s.lockID
			s.s.msgLocks[seq] = l
		}
		lq.locks[seq] = l
		taken = append(taken, l)
	}
	lq.mu.Unlock()
	if len(taken) == 0 {
		return nil, nil
	}
	msgs, err := n.deliver(ctx, dk, lq, taken, mode, now)
	if err == nil {
		lq.ent.touch(now)
	}
	return msgs, err
}

// Peek returns up to max messages of path from sequence number from on, in
// sequence order, without locking them: active, locked, deferred and (for
// queues) scheduled messages, or a dead-letter queue's messages.
func (n *Namespace) Peek(ctx context.Context, path string, from int64, max int) ([]*ReceivedMessage, error) {
	dk, err := n.begin()
	if err != nil {
		return nil, err
	}
	defer n.end()
	lq, err := n.receiverQueue(path)
	if err != nil {
		return nil, err
	}
	return n.peek(ctx, dk, lq, from, max, "", false)
}

// peek merges the index ranges of lq's codes by sequence number.
func (n *Namespace) peek(ctx context.Context, dk *seal.DataKey, lq *lqueue, from int64, max int, sessionID string, bySession bool) ([]*ReceivedMessage, error) {
	if max <= 0 {
		max = 1
	}
	if max > MaxReceiveBatch {
		max = MaxReceiveBatch
	}
	if from < 1 {
		from = 1
	}
	e := lq.ent
	codes := []byte{lq.activeCode, lq.deferCode}
	if lq.sub == SubQueueMain && e.sched != nil {
		codes = append(codes, codeScheduled)
	}
	type cursor struct {
		it   store.Iterator
		seq  uint64
		live bool
	}
	curs := make([]*cursor, 0, len(codes))
	defer func() {
		for _, c := range curs {
			c.it.Close()
		}
	}()
	advance := func(c *cursor) {
		c.live = c.it.Next()
		if c.live {
			k := c.it.Key()
			c.seq = beUint64(k[len(k)-8:])
		}
	}
	for _, code := range codes {
		pfx := n.k.indexCodePrefix(e.id, code)
		it, err := n.b.st.Scan(ctx, store.ScanOptions{Lower: n.k.indexKey(e.id, code, uint64(from)), Upper: store.PrefixEnd(pfx)})
		if err != nil {
			return nil, internalErr(n.name, "peek", err)
		}
		c := &cursor{it: it}
		curs = append(curs, c)
		advance(c)
	}
	var out []*ReceivedMessage
	for len(out) < max {
		var best *cursor
		for _, c := range curs {
			if c.live && (best == nil || c.seq < best.seq) {
				best = c
			}
		}
		if best == nil {
			break
		}
		seq := best.seq
		advance(best)
		rec, err := n.readRecord(ctx, dk, e.id, seq)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, internalErr(n.name, "peek", err)
		}
		if bySession && rec.SessionID != sessionID {
			continue
		}
		lq.countDeliveries(seq, rec)
		out = append(out, rec.received(seq))
	}
	for _, c := range curs {
		if err := c.it.Err(); err != nil {
			return nil, internalErr(n.name, "peek", err)
		}
	}
	e.touch(n.b.clk.Now())
	return out, nil
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}
