package servicebus

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// plan collects the store writes of one operation and the in-memory changes
// to make once they are durable (commits) or if they fail (aborts).
type plan struct {
	n       *Namespace
	dk      *seal.DataKey
	now     time.Time
	b       store.Batch
	commits []func()
	aborts  []func()
}

func (n *Namespace) newPlan(dk *seal.DataKey, now time.Time, sync bool) *plan {
	return &plan{n: n, dk: dk, now: now, b: store.Batch{Sync: sync}}
}

func (p *plan) onCommit(f func()) { p.commits = append(p.commits, f) }
func (p *plan) onAbort(f func())  { p.aborts = append(p.aborts, f) }

// abort runs the aborts of a plan that will not be applied.
func (p *plan) abort() {
	for _, f := range p.aborts {
		f()
	}
	p.aborts = nil
	p.commits = nil
}

// apply writes the plan and runs its commits, or its aborts on failure.
func (n *Namespace) apply(ctx context.Context, p *plan) error {
	if len(p.b.Ops) > 0 {
		if err := n.b.st.Apply(ctx, &p.b); err != nil {
			p.abort()
			return internalErr(n.name, "store", err)
		}
	}
	for _, f := range p.commits {
		f()
	}
	return nil
}

func (p *plan) sealRecord(eid, seq uint64, rec *record) ([]byte, error) {
	plain, err := rec.encode()
	if err != nil {
		return nil, newErr(CodeBadRequest, "message: %v", err)
	}
	sealed, err := p.dk.Seal(p.n.k.ctxData(eid, seq), plain)
	clear(plain)
	if err != nil {
		return nil, internalErr(p.n.name, "seal message", err)
	}
	return sealed, nil
}

// setData rewrites a message record in place.
func (p *plan) setData(eid, seq uint64, rec *record) error {
	sealed, err := p.sealRecord(eid, seq, rec)
	if err != nil {
		return err
	}
	p.b.Set(p.n.k.dataKey(eid, seq), sealed)
	return nil
}

func (p *plan) setIndex(eid uint64, code byte, seq uint64, x indexEntry) error {
	sealed, err := p.dk.Seal(p.n.k.ctxIndex(eid, code, seq), x.encode())
	if err != nil {
		return internalErr(p.n.name, "seal index", err)
	}
	p.b.Set(p.n.k.indexKey(eid, code, seq), sealed)
	return nil
}

// place writes rec into lq under code (its active or deferred code).
func (p *plan) place(lq *lqueue, code byte, seq uint64, rec *record) error {
	e := lq.ent
	var sess *session
	identity := false
	if lq.sess != nil && (code == lq.activeCode || code == lq.deferCode) {
		lq.mu.Lock()
		if lq.closed {
			lq.mu.Unlock()
			return notFound("entity", e.path())
		}
		sess = lq.sess.acquire(rec.SessionID)
		sess.pending++
		identity = !sess.persisted
		lq.mu.Unlock()
		p.onAbort(func() {
			lq.mu.Lock()
			sess.pending--
			lq.maybeGCSessionLocked(sess)
			lq.mu.Unlock()
		})
		if identity {
			sealed, err := p.dk.Seal(p.n.k.ctxSession(e.id, sess.num), []byte(sess.id))
			if err != nil {
				return internalErr(p.n.name, "seal session", err)
			}
			p.b.Set(p.n.k.sessionKey(e.id, sess.num), sealed)
		}
	}
	size := rec.Message.Size()
	x := lq.indexEntryFor(size, unixNano(rec.ExpiresAt), sess, 0)
	exp := x.Expires
	if err := p.setIndex(e.id, code, seq, x); err != nil {
		return err
	}
	if err := p.setData(e.id, seq, rec); err != nil {
		return err
	}
	p.onCommit(func() { lq.addMessage(code, seq, sess, identity, size, exp) })
	return nil
}

// placeScheduled writes rec as a scheduled message of e (a queue or topic).
func (p *plan) placeScheduled(e *entity, seq uint64, rec *record) error {
	rec.State = StateScheduled
	size := rec.Message.Size()
	at := unixNano(rec.ScheduledEnqueueTime)
	if err := p.setIndex(e.id, codeScheduled, seq, indexEntry{Size: size, SchedAt: at}); err != nil {
		return err
	}
	if err := p.setData(e.id, seq, rec); err != nil {
		return err
	}
	p.onCommit(func() { e.sched.add(seq, at, size) })
	return nil
}

// removeMsg deletes the message a lock holds; the lock goes when it commits.
func (p *plan) removeMsg(lq *lqueue, l *msgLock) {
	p.b.Delete(p.n.k.indexKey(lq.ent.id, l.code, l.seq))
	p.b.Delete(p.n.k.dataKey(lq.ent.id, l.seq))
	p.onCommit(func() {
		lq.mu.Lock()
		lq.dropLocked(l)
		lq.mu.Unlock()
	})
}

// allocSeqs hands out k consecutive sequence numbers of a queue or topic,
// durably reserving a new block when needed so numbers never repeat.
func (n *Namespace) allocSeqs(ctx context.Context, e *entity, k int) (uint64, error) {
	if k <= 0 {
		return 0, nil
	}
	a := e.seq
	a.mu.Lock()
	defer a.mu.Unlock()
	first := a.next
	last := first + uint64(k) - 1
	if last > a.reserved {
		res := last + seqReserveChunk
		b := &store.Batch{Sync: true}
		b.Set(n.k.reserveKey(e.id), be64(res))
		if err := n.b.st.Apply(ctx, b); err != nil {
			return 0, internalErr(n.name, "reserve sequence numbers", err)
		}
		a.reserved = res
	}
	a.next = last + 1
	return first, nil
}

// stampEnqueue sets the enqueue time and expiry of rec as it lands in e.
func (p *plan) stampEnqueue(e *entity, rec *record, seq uint64) {
	rec.seq = seq
	rec.EnqueuedTime = p.now
	ttl := e.defaultTTL()
	if rec.TimeToLive > 0 && rec.TimeToLive < ttl {
		ttl = rec.TimeToLive
	}
	rec.ExpiresAt = expiryOf(p.now, ttl)
	rec.State = StateActive
}

// route enqueues rec into e as an active message: fan-out through a
// topic's rules, auto-forwarding, session checks. seq is the sequence number
// the message already has in e (0: allocate one). direct is true when a
// sender addressed e: its errors are returned rather than dead-lettered.
func (n *Namespace) route(ctx context.Context, p *plan, e *entity, rec *record, seq uint64, hops int, direct bool) error {
	if seq == 0 && e.seq != nil {
		s, err := n.allocSeqs(ctx, e, 1)
		if err != nil {
			return err
		}
		seq = s
	}
	if rec.EnqueuedSeq == 0 {
		rec.EnqueuedSeq = seq
	}
	rec.seq = seq
	switch e.kind {
	case kindTopic:
		rec.EnqueuedTime = p.now
		for _, sub := range sortedEntities(e.subs) {
			if sub.status() == StatusDisabled {
				continue
			}
			cp, ferr := sub.evaluate(rec)
			if cp == nil {
				if ferr != nil && sub.rec.Subscription.DeadLetteringOnFilterEvaluationExceptions {
					c := rec.cloneRecord()
					p.stampEnqueue(sub, c, seq)
					if err := n.deadLetter(ctx, p, sub.main, seq, c, ReasonFilterEvaluation, ferr.Error(), nil); err != nil {
						return err
					}
				}
				continue
			}
			if err := n.route(ctx, p, sub, cp, seq, hops, false); err != nil {
				return err
			}
		}
		return nil
	case kindQueue, kindSubscription:
		if fwd := e.forwardTo(); fwd != "" {
			dst := n.queueOrTopic(fwd)
			switch {
			case hops >= MaxForwardHops:
				p.stampEnqueue(e, rec, seq)
				return n.transferDeadLetter(p, e, seq, rec, ReasonMaxTransferHopCountExceeded,
					fmt.Sprintf("The maximum number of allowed transfer hops (%d) was exceeded.", MaxForwardHops))
			case dst == nil || !dst.canSend():
				p.stampEnqueue(e, rec, seq)
				return n.transferDeadLetter(p, e, seq, rec, ReasonForwardingFailed,
					fmt.Sprintf("The forwarding destination %q does not exist or does not accept messages.", fwd))
			}
			rec.Hops = hops + 1
			return n.route(ctx, p, dst, rec, 0, hops+1, false)
		}
		p.stampEnqueue(e, rec, seq)
		if e.requiresSession() && rec.SessionID == "" {
			if direct {
				return newErr(CodeInvalidOperation, "entity %q requires sessions: a message must have a session id", e.path())
			}
			return n.deadLetter(ctx, p, e.main, seq, rec, ReasonSessionIDIsNull,
				"A session-enabled entity doesn't allow a message whose session identifier is null.", nil)
		}
		return p.place(e.main, codeActive, seq, rec)
	}
	return newErr(CodeInvalidOperation, "cannot send to %q", e.path())
}

func setDeadLetterProps(rec *record, reason, desc string, props map[string]any) {
	if len(props) > 0 || reason != "" || desc != "" {
		if rec.ApplicationProperties == nil {
			rec.ApplicationProperties = map[string]any{}
		}
	}
	for k, v := range props {
		rec.ApplicationProperties[k] = v
	}
	if reason != "" {
		rec.ApplicationProperties[PropDeadLetterReason] = reason
	}
	if desc != "" {
		rec.ApplicationProperties[PropDeadLetterDescription] = desc
	}
}

// deadLetter moves rec (a message of src, already removed from it in p) to
// src's dead-letter queue, or forwards it to ForwardDeadLetteredMessagesTo.
func (n *Namespace) deadLetter(ctx context.Context, p *plan, src *lqueue, seq uint64, rec *record, reason, desc string, props map[string]any) error {
	e := src.ent
	setDeadLetterProps(rec, reason, desc, props)
	if fdl := e.forwardDLQTo(); fdl != "" && src.sub == SubQueueMain {
		if dst := n.queueOrTopic(fdl); dst != nil && dst.canSend() && rec.Hops < MaxForwardHops {
			rec.DeadLetterSource = e.path()
			rec.Hops++
			return n.route(ctx, p, dst, rec, 0, rec.Hops, false)
		}
	}
	rec.State = StateActive
	rec.seq = seq
	return p.place(e.dlq, codeDLQ, seq, rec)
}

func (n *Namespace) transferDeadLetter(p *plan, e *entity, seq uint64, rec *record, reason, desc string) error {
	setDeadLetterProps(rec, reason, desc, nil)
	rec.State = StateActive
	return p.place(e.tdlq, codeTDLQ, seq, rec)
}

// Send stores messages in a queue or topic atomically and durably: it
// returns only once every message (and every copy a topic's subscriptions
// or auto-forwarding make) is synced, and either all or none are stored.
// Messages with a future ScheduledEnqueueTime are scheduled. Duplicates (by
// MessageID, when the entity has duplicate detection) are dropped silently.
func (n *Namespace) Send(ctx context.Context, path string, msgs []Message) error {
	_, err := n.send(ctx, path, msgs, false)
	return err
}

// Schedule stores messages to be enqueued at their ScheduledEnqueueTime
// (which must be set; a past time enqueues at once) and returns their
// sequence numbers, for CancelScheduled. A duplicate dropped by duplicate
// detection gets sequence number 0.
func (n *Namespace) Schedule(ctx context.Context, path string, msgs []Message) ([]int64, error) {
	for i := range msgs {
		if msgs[i].ScheduledEnqueueTime.IsZero() {
			return nil, newErr(CodeBadRequest, "message %d: a scheduled message needs a ScheduledEnqueueTime", i)
		}
	}
	return n.send(ctx, path, msgs, true)
}

func (n *Namespace) validateMessage(m *Message, i int) error {
	switch {
	case len(m.MessageID) > MaxMessageIDLength:
		return newErr(CodeBadRequest, "message %d: MessageId is longer than %d characters", i, MaxMessageIDLength)
	case len(m.SessionID) > MaxMessageIDLength:
		return newErr(CodeBadRequest, "message %d: SessionId is longer than %d characters", i, MaxMessageIDLength)
	case len(m.PartitionKey) > MaxMessageIDLength:
		return newErr(CodeBadRequest, "message %d: PartitionKey is longer than %d characters", i, MaxMessageIDLength)
	case m.PartitionKey != "" && m.SessionID != "" && m.PartitionKey != m.SessionID:
		return newErr(CodeBadRequest, "message %d: PartitionKey must equal SessionId when both are set", i)
	case m.TimeToLive < 0:
		return newErr(CodeBadRequest, "message %d: TimeToLive must not be negative", i)
	}
	return nil
}

func (n *Namespace) send(ctx context.Context, path string, msgs []Message, scheduleCall bool) ([]int64, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	dk, err := n.begin()
	if err != nil {
		return nil, err
	}
	defer n.end()
	ep, err := ParseEntityPath(path)
	if err != nil {
		return nil, err
	}
	if ep.Subscription != "" || ep.SubQueue != SubQueueMain {
		return nil, newErr(CodeInvalidOperation, "cannot send to %q: send to a queue or a topic", path)
	}
	e := n.queueOrTopic(ep.Entity)
	if e == nil {
		return nil, notFound("entity", ep.Entity)
	}
	if !e.canSend() {
		return nil, newErr(CodeEntityDisabled, "entity %q is %s", e.path(), e.status())
	}
	now := n.b.clk.Now().UTC()
	maxBytes := e.maxMessageBytes()
	recs := make([]*record, len(msgs))
	var total int64
	for i := range msgs {
		m := msgs[i].clone()
		if m.ApplicationProperties, err = normalizeProps(msgs[i].ApplicationProperties); err != nil {
			return nil, err
		}
		if err := n.validateMessage(&m, i); err != nil {
			return nil, err
		}
		sz := m.Size()
		if sz > maxBytes {
			return nil, newErr(CodeMessageSizeExceeded, "message %d is %d bytes; entity %q accepts at most %d", i, sz, e.path(), maxBytes)
		}
		total += sz
		m.ScheduledEnqueueTime = m.ScheduledEnqueueTime.UTC()
		recs[i] = &record{Message: m}
	}
	if total > maxBytes {
		return nil, newErr(CodeMessageSizeExceeded, "the batch is %d bytes; entity %q accepts at most %d", total, e.path(), maxBytes)
	}
	if limit := e.maxSizeBytes(); limit > 0 && e.sizeBytes()+total > limit {
		return nil, newErr(CodeQuotaExceeded, "entity %q has reached its maximum size of %d megabytes", e.path(), limit>>20)
	}
	p := n.newPlan(dk, now, true)
	keep, err := n.dedupFilter(ctx, p, e, recs)
	if err != nil {
		return nil, err
	}
	first, err := n.allocSeqs(ctx, e, len(keep))
	if err != nil {
		p.abort()
		return nil, err
	}
	seqs := make([]int64, len(msgs))
	for j, i := range keep {
		seq := first + uint64(j)
		seqs[i] = int64(seq)
		rec := recs[i]
		rec.EnqueuedSeq = seq
		if rec.ScheduledEnqueueTime.After(now) {
			rec.seq = seq
			err = p.placeScheduled(e, seq, rec)
		} else {
			err = n.route(ctx, p, e, rec, seq, 0, true)
		}
		if err != nil {
			p.abort()
			return nil, err
		}
	}
	if err := n.apply(ctx, p); err != nil {
		return nil, err
	}
	e.touch(now)
	return seqs, nil
}

// dedupHash names a message id in the store without revealing it.
func (n *Namespace) dedupHash(eid uint64, messageID string) []byte {
	m := hmac.New(sha256.New, n.dedupSecret)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], eid)
	m.Write(b[:])
	m.Write([]byte(messageID))
	return m.Sum(nil)[:16]
}

// dedupFilter drops messages whose MessageID was seen within the entity's
// duplicate-detection window and records the others in p.
func (n *Namespace) dedupFilter(ctx context.Context, p *plan, e *entity, recs []*record) ([]int, error) {
	keep := make([]int, 0, len(recs))
	win, on := e.duplicateWindow()
	if !on || e.dedup == nil {
		for i := range recs {
			keep = append(keep, i)
		}
		return keep, nil
	}
	for i, rec := range recs {
		if rec.MessageID == "" {
			keep = append(keep, i)
			continue
		}
		h := n.dedupHash(e.id, rec.MessageID)
		hk := string(h)
		e.dedup.mu.Lock()
		_, busy := e.dedup.pending[hk]
		if !busy {
			e.dedup.pending[hk] = struct{}{}
		}
		e.dedup.mu.Unlock()
		if busy {
			continue
		}
		release := func() {
			e.dedup.mu.Lock()
			delete(e.dedup.pending, hk)
			e.dedup.mu.Unlock()
		}
		key := n.k.dedupKey(e.id, h)
		raw, err := n.b.st.Get(ctx, key)
		switch {
		case err == nil && len(raw) == 8 && p.now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(raw)))) < win:
			release()
			continue
		case err != nil && !errors.Is(err, store.ErrNotFound):
			release()
			p.abort()
			return nil, internalErr(n.name, "duplicate detection", err)
		}
		p.b.Set(key, be64(uint64(p.now.UnixNano())))
		p.onCommit(release)
		p.onAbort(release)
		keep = append(keep, i)
	}
	return keep, nil
}
