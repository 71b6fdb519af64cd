package servicebus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// lqueue is one receivable queue: a queue's or subscription's main queue,
// dead-letter queue or transfer dead-letter queue. Messages live in the
// store; in memory are only their sequence numbers (8 bytes per available
// message, plus an expiry entry for messages with a time to live), the locks
// and the counters.
type lqueue struct {
	ns         *Namespace
	ent        *entity
	sub        SubQueue
	activeCode byte
	deferCode  byte

	mu       sync.Mutex
	closed   bool
	avail    seqHeap             // available messages (non-session queues)
	removed  map[uint64]struct{} // heap entries to skip (taken out by TTL expiry)
	sess     *sessionTable       // session-enabled main queues
	deferred map[uint64]uint64   // deferred messages: seq → session number
	// deliveries holds the delivery count of messages whose index entry
	// carries a newer count than their record (see indexEntry.Deliveries).
	deliveries map[uint64]int32
	locks      map[uint64]*msgLock // locked messages and messages with I/O in flight
	lockDL     dlHeap              // message lock deadlines (id: seq)
	expiry     dlHeap              // message expiries (id: seq), main queues only
	sessDL     dlHeap              // session lock deadlines (id: session number)
	waiters    waitQueue

	nActive   int64 // messages under activeCode (available or locked)
	nDeferred int64 // messages under deferCode
	bytes     int64

	// Expiry entries are kept only for messages expiring before horizon
	// (unix ns); farMin is the earliest expiry beyond it (0: none). When
	// farMin comes within expiryHorizon, an index pass moves the next
	// window's expiries into the heap. So stale entries (of messages
	// completed before they expire) are bounded by about two horizons of
	// traffic, whatever the time to live.
	horizon int64
	farMin  int64

	wakeAt int64    // earliest wakeup registered with the broker
	sessGC []uint64 // session identity records to delete
}

// expiryHorizon is how far ahead per-message expiry entries are kept.
const expiryHorizon = 2 * time.Minute

// maxDuePerRound bounds the work one timer round does per queue.
const maxDuePerRound = 1000

// msgLock is a peek-lock on a message, or (busy, no token registered) a
// message with store I/O in flight.
type msgLock struct {
	token         uuid.UUID
	lq            *lqueue
	seq           uint64
	code          byte
	sess          *session
	sessLock      uuid.UUID // the session lock the message was received under
	until         time.Time
	deliveryCount int32
	size          int64
	expires       int64
	busy          bool
}

func newLQueue(e *entity, sub SubQueue, active, deferred byte, sessions bool) *lqueue {
	lq := &lqueue{
		ns: e.ns, ent: e, sub: sub, activeCode: active, deferCode: deferred,
		removed:    map[uint64]struct{}{},
		deferred:   map[uint64]uint64{},
		deliveries: map[uint64]int32{},
		locks:      map[uint64]*msgLock{},
	}
	if sessions {
		lq.sess = newSessionTable()
	}
	return lq
}

// close marks the queue gone and wakes every blocked call.
func (lq *lqueue) close() {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	lq.closed = true
	for _, l := range lq.locks {
		lq.ns.removeLockToken(l)
	}
	lq.waiters.wakeAll()
	if lq.sess != nil {
		lq.sess.waiters.wakeAll()
		for _, s := range lq.sess.byNum {
			s.waiters.wakeAll()
			s.locked = false
		}
	}
}

// armLocked makes sure the broker wakes the queue at or before at.
func (lq *lqueue) armLocked(at int64) {
	if lq.wakeAt != 0 && lq.wakeAt <= at {
		return
	}
	lq.wakeAt = at
	lq.ns.b.wakeAt(at, lq)
}

func (lq *lqueue) rearmLocked() {
	next := int64(0)
	for _, h := range []dlHeap{lq.lockDL, lq.expiry, lq.sessDL} {
		if d, ok := h.peek(); ok && (next == 0 || d.at < next) {
			next = d.at
		}
	}
	if lq.farMin != 0 {
		if at := lq.farMin - int64(expiryHorizon); next == 0 || at < next {
			next = at
		}
	}
	if len(lq.sessGC) > 0 {
		next = 1
	}
	if next != 0 {
		lq.armLocked(next)
	}
}

// addMessage records a committed message (its index entry is durable).
func (lq *lqueue) addMessage(code byte, seq uint64, sess *session, identity bool, size, exp int64) {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	if sess != nil {
		sess.pending--
		if identity {
			sess.persisted = true
		}
	}
	if lq.closed {
		return
	}
	lq.bytes += size
	switch code {
	case lq.activeCode:
		lq.nActive++
		if sess != nil {
			sess.nActive++
			sess.avail.push(seq)
			lq.sessionReadyLocked(sess)
			sess.waiters.wake(1)
		} else {
			lq.avail.push(seq)
			lq.waiters.wake(1)
		}
	case lq.deferCode:
		lq.nDeferred++
		var num uint64
		if sess != nil {
			sess.nDeferred++
			num = sess.num
		}
		lq.deferred[seq] = num
	}
	if exp > 0 && lq.sub == SubQueueMain {
		lq.trackExpiryLocked(exp, seq)
	}
}

// trackExpiryLocked notes a message's expiry: a heap entry within the
// horizon, otherwise only the far minimum.
func (lq *lqueue) trackExpiryLocked(exp int64, seq uint64) {
	if lq.horizon == 0 {
		lq.horizon = lq.ns.b.clk.Now().UnixNano() + int64(2*expiryHorizon)
	}
	if exp <= lq.horizon {
		lq.expiry.push(deadline{at: exp, id: seq})
		lq.armLocked(exp)
		return
	}
	if lq.farMin == 0 || exp < lq.farMin {
		lq.farMin = exp
		lq.armLocked(exp - int64(expiryHorizon))
	}
}

// addLoaded records a message found in the store at load (opMu held).
func (lq *lqueue) addLoaded(ctx context.Context, dk *seal.DataKey, code byte, seq uint64, x indexEntry) error {
	var sess *session
	if lq.sess != nil && x.Sess != 0 {
		sess = lq.sess.byNum[x.Sess]
		if sess == nil {
			// An index entry whose session identity record is missing: recover
			// the id from the message itself.
			rec, err := lq.ns.readRecord(ctx, dk, lq.ent.id, seq)
			if err != nil {
				return err
			}
			sess = lq.sess.addLoaded(rec.SessionID, x.Sess)
			sess.persisted = false
		}
		sess.pending++
	}
	lq.addMessage(code, seq, sess, false, x.Size, x.Expires)
	if x.Deliveries > 0 {
		lq.mu.Lock()
		lq.deliveries[seq] = x.Deliveries
		lq.mu.Unlock()
	}
	return nil
}

// countDeliveries raises rec's delivery count to the one its index entry
// carries, if newer (see indexEntry.Deliveries).
func (lq *lqueue) countDeliveries(seq uint64, rec *record) {
	lq.mu.Lock()
	n := lq.deliveries[seq]
	lq.mu.Unlock()
	if n > rec.DeliveryCount {
		rec.DeliveryCount = n
	}
}

// setDeliveries records n as the delivery count of a locked message's
// index entry, unless the message is gone.
func (lq *lqueue) setDeliveries(l *msgLock, n int32) {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	if lq.locks[l.seq] == l {
		lq.deliveries[l.seq] = n
	}
}

// lockIndexEntry is the index entry of a locked message, with its delivery
// count set to n.
func (lq *lqueue) lockIndexEntry(l *msgLock, n int32) indexEntry {
	return lq.indexEntryFor(l.size, l.expires, l.sess, n)
}

// indexEntryFor is the index entry of a message of lq: its size, its expiry
// (kept in main queues only; sub-queues do not expire messages), its
// session and its delivery count.
func (lq *lqueue) indexEntryFor(size, expires int64, sess *session, deliveries int32) indexEntry {
	x := indexEntry{Size: size, Deliveries: deliveries}
	if lq.sub == SubQueueMain {
		x.Expires = expires
	}
	if sess != nil {
		x.Sess = sess.num
	}
	return x
}

// sessionReadyLocked queues a session for accept-next-session when it has
// available messages and no lock.
func (lq *lqueue) sessionReadyLocked(s *session) {
	if s.locked || s.inReady || s.avail.len() == 0 || s.gone {
		return
	}
	s.inReady = true
	lq.sess.ready = append(lq.sess.ready, s)
	lq.sess.waiters.wake(1)
}

// popAvailLocked pops the lowest available sequence number of h.
func (lq *lqueue) popAvailLocked(h *seqHeap) (uint64, bool) {
	for {
		seq, ok := h.pop()
		if !ok {
			return 0, false
		}
		if _, r := lq.removed[seq]; r {
			delete(lq.removed, seq)
			continue
		}
		return seq, true
	}
}

// takeLocked locks up to max available messages of h for delivery.
func (lq *lqueue) takeLocked(h *seqHeap, max int, s *session) ([]*msgLock, error) {
	var out []*msgLock
	for len(out) < max {
		seq, ok := lq.popAvailLocked(h)
		if !ok {
			break
		}
		tok, err := uuid.NewRandom()
		if err != nil {
			h.push(seq)
			return out, internalErr(lq.ns.name, "lock token", err)
		}
		l := &msgLock{token: tok, lq: lq, seq: seq, code: lq.activeCode, sess: s, busy: true}
		if s != nil {
			l.sessLock = s.lockID
			s.msgLocks[seq] = l
		}
		lq.locks[seq] = l
		out = append(out, l)
	}
	return out, nil
}

// pushBackLocked returns an active message to the available set.
func (lq *lqueue) pushBackLocked(seq uint64, s *session) {
	if lq.closed {
		return
	}
	if _, r := lq.removed[seq]; r {
		// The heap still holds the entry: un-skip it.
		delete(lq.removed, seq)
	} else if s != nil {
		s.avail.push(seq)
	} else {
		lq.avail.push(seq)
	}
	if s != nil {
		lq.sessionReadyLocked(s)
		s.waiters.wake(1)
	} else {
		lq.waiters.wake(1)
	}
}

// restoreLocked undoes a take or a claim whose store I/O failed.
func (lq *lqueue) restoreLocked(l *msgLock) {
	if lq.locks[l.seq] != l {
		return
	}
	delete(lq.locks, l.seq)
	lq.ns.removeLockToken(l)
	if l.sess != nil {
		delete(l.sess.msgLocks, l.seq)
	}
	if l.code == lq.activeCode {
		lq.pushBackLocked(l.seq, l.sess)
	}
}

// unbusyLocked returns a lock whose settlement failed to the locked state,
// re-arming its expiry (the timer skipped it while busy).
func (lq *lqueue) unbusyLocked(l *msgLock, now time.Time) {
	if lq.locks[l.seq] != l {
		return
	}
	l.busy = false
	if l.sess != nil {
		if !l.sess.locked || l.sess.lockID != l.sessLock {
			// The session lock ended meanwhile: so does the message lock.
			lq.unlockLocked(l, now)
		}
		return
	}
	at := unixNano(l.until)
	lq.lockDL.push(deadline{at: at, id: l.seq})
	lq.armLocked(at)
}

// dropLocked forgets a message whose removal committed.
func (lq *lqueue) dropLocked(l *msgLock) {
	if lq.locks[l.seq] == l {
		delete(lq.locks, l.seq)
	}
	delete(lq.deliveries, l.seq)
	lq.ns.removeLockToken(l)
	if lq.closed {
		return
	}
	lq.bytes -= l.size
	switch l.code {
	case lq.activeCode:
		lq.nActive--
		if l.sess != nil {
			l.sess.nActive--
			delete(l.sess.msgLocks, l.seq)
		}
	case lq.deferCode:
		lq.nDeferred--
		delete(lq.deferred, l.seq)
		if l.sess != nil {
			l.sess.nDeferred--
			delete(l.sess.msgLocks, l.seq)
		}
	}
	if l.sess != nil {
		lq.maybeGCSessionLocked(l.sess)
	}
}

// unlockLocked ends a lock (abandon, release): the message becomes available
// again, or stays deferred.
func (lq *lqueue) unlockLocked(l *msgLock, now time.Time) {
	if lq.locks[l.seq] == l {
		delete(lq.locks, l.seq)
	}
	lq.ns.removeLockToken(l)
	if l.sess != nil {
		delete(l.sess.msgLocks, l.seq)
	}
	if l.code != lq.activeCode || lq.closed {
		return
	}
	lq.pushBackLocked(l.seq, l.sess)
	if l.expires > 0 && l.expires <= now.UnixNano() && lq.sub == SubQueueMain {
		lq.expiry.push(deadline{at: now.UnixNano(), id: l.seq})
		lq.armLocked(now.UnixNano())
	}
}

type workKind uint8

const (
	workMaxDelivery workKind = iota + 1
	workExpire
)

type dueWork struct {
	l    *msgLock
	kind workKind
}

// releaseLockLocked ends an expired lock: the message becomes available
// again, or is dead-lettered (max delivery count) or expired by the work
// returned.
func (lq *lqueue) releaseLockLocked(l *msgLock, now time.Time) *dueWork {
	lq.ns.removeLockToken(l)
	if l.sess != nil {
		delete(l.sess.msgLocks, l.seq)
	}
	if lq.sub == SubQueueMain && l.deliveryCount >= lq.ent.maxDelivery() {
		l.busy = true
		return &dueWork{l: l, kind: workMaxDelivery}
	}
	if lq.sub == SubQueueMain && l.expires > 0 && l.expires <= now.UnixNano() {
		l.busy = true
		return &dueWork{l: l, kind: workExpire}
	}
	delete(lq.locks, l.seq)
	if l.code == lq.activeCode {
		lq.pushBackLocked(l.seq, l.sess)
	}
	return nil
}

// collectDueLocked gathers what is due at now: expired message locks,
// expired session locks, expired messages. Work needing store I/O is
// returned with its messages claimed (busy).
func (lq *lqueue) collectDueLocked(ctx context.Context, dk *seal.DataKey, now time.Time) []dueWork {
	if lq.closed {
		return nil
	}
	nowNS := now.UnixNano()
	var work []dueWork
	for n := 0; ; n++ {
		d, ok := lq.lockDL.peek()
		if !ok || d.at > nowNS {
			break
		}
		if n >= maxDuePerRound {
			lq.armLocked(nowNS)
			break
		}
		lq.lockDL.pop()
		l := lq.locks[d.id]
		if l == nil || l.busy || l.sess != nil || unixNano(l.until) > nowNS {
			continue
		}
		if w := lq.releaseLockLocked(l, now); w != nil {
			work = append(work, *w)
		}
	}
	for {
		d, ok := lq.sessDL.peek()
		if !ok || d.at > nowNS {
			break
		}
		lq.sessDL.pop()
		s := lq.sess.byNum[d.id]
		if s == nil || !s.locked || unixNano(s.lockedUntil) > nowNS {
			continue
		}
		work = append(work, lq.unlockSessionLocked(s, now)...)
	}
	for n := 0; ; n++ {
		d, ok := lq.expiry.peek()
		if !ok || d.at > nowNS {
			break
		}
		if n >= maxDuePerRound {
			lq.armLocked(nowNS)
			break
		}
		lq.expiry.pop()
		seq := d.id
		if _, locked := lq.locks[seq]; locked {
			continue // checked again when the lock ends
		}
		if num, ok := lq.deferred[seq]; ok {
			l := &msgLock{lq: lq, seq: seq, code: lq.deferCode, busy: true, expires: d.at}
			if lq.sess != nil {
				l.sess = lq.sess.byNum[num]
			}
			lq.locks[seq] = l
			work = append(work, dueWork{l: l, kind: workExpire})
			continue
		}
		raw, err := lq.ns.b.st.Get(ctx, lq.ns.k.indexKey(lq.ent.id, lq.activeCode, seq))
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				d.at = nowNS + int64(time.Second) // retry later
				lq.expiry.push(d)
				break
			}
			continue
		}
		plain, err := dk.Open(lq.ns.k.ctxIndex(lq.ent.id, lq.activeCode, seq), raw)
		if err != nil {
			continue
		}
		x, err := decodeIndex(plain)
		if err != nil {
			continue
		}
		l := &msgLock{lq: lq, seq: seq, code: lq.activeCode, busy: true, size: x.Size, expires: x.Expires}
		if lq.sess != nil {
			l.sess = lq.sess.byNum[x.Sess]
		}
		lq.locks[seq] = l
		lq.removed[seq] = struct{}{}
		work = append(work, dueWork{l: l, kind: workExpire})
	}
	lq.compactLocked()
	return work
}

// compactLocked rebuilds the heaps when many entries are marked removed.
func (lq *lqueue) compactLocked() {
	if len(lq.removed) < 1024 || len(lq.removed) < lq.avail.len()/2 {
		return
	}
	keep := func(seq uint64) bool {
		_, r := lq.removed[seq]
		return !r
	}
	lq.avail.filter(keep)
	if lq.sess != nil {
		for _, s := range lq.sess.byNum {
			s.avail.filter(keep)
		}
	}
	lq.removed = map[uint64]struct{}{}
}

// process performs due work: dead-letter messages over their delivery
// count, expire (dead-letter or drop) messages past their time to live.
func (lq *lqueue) process(ctx context.Context, dk *seal.DataKey, work []dueWork, now time.Time) {
	if len(work) == 0 {
		return
	}
	n := lq.ns
	e := lq.ent
	p := n.newPlan(dk, now, false)
	var claimed []*msgLock
	fail := func(l *msgLock) {
		lq.mu.Lock()
		lq.restoreLocked(l)
		lq.mu.Unlock()
	}
	var perr error
	for _, w := range work {
		l := w.l
		if perr != nil {
			fail(l)
			continue
		}
		rec, err := n.readRecord(ctx, dk, e.id, l.seq)
		if errors.Is(err, store.ErrNotFound) {
			lq.mu.Lock()
			lq.dropLocked(l)
			lq.mu.Unlock()
			continue
		}
		if err != nil {
			fail(l)
			continue
		}
		if l.size == 0 {
			l.size = rec.Message.Size()
		}
		lq.countDeliveries(l.seq, rec)
		p.removeMsg(lq, l)
		claimed = append(claimed, l)
		switch w.kind {
		case workMaxDelivery:
			err = n.deadLetter(ctx, p, lq, l.seq, rec, ReasonMaxDeliveryCountExceeded,
				fmt.Sprintf("Message could not be consumed after %d delivery attempts.", e.maxDelivery()), nil)
		case workExpire:
			if e.dlqOnExpiry() {
				err = n.deadLetter(ctx, p, lq, l.seq, rec, ReasonTTLExpired, "The message expired and was dead lettered.", nil)
			}
		}
		if err != nil {
			perr = err
		}
	}
	if perr == nil {
		perr = n.apply(ctx, p)
	} else {
		p.abort()
	}
	if perr != nil {
		n.b.log.Warn("servicebus: expiry or dead-lettering failed", "namespace", n.name, "entity", e.path(), "err", perr)
		for _, l := range claimed {
			fail(l)
		}
	}
}

// runDue implements dueTarget.
func (lq *lqueue) runDue(ctx context.Context, now time.Time) {
	n := lq.ns
	dk, err := n.begin()
	if err != nil {
		return // revoked or closed: rearmed on restore
	}
	defer n.end()
	lq.mu.Lock()
	lq.wakeAt = 0
	if lq.closed {
		lq.mu.Unlock()
		return
	}
	work := lq.collectDueLocked(ctx, dk, now)
	gc := lq.sessGC
	lq.sessGC = nil
	var passFrom, passTo int64
	if lq.farMin != 0 && now.UnixNano() >= lq.farMin-int64(expiryHorizon) && !lq.closed {
		passFrom, passTo = lq.horizon, now.UnixNano()+int64(2*expiryHorizon)
		lq.horizon, lq.farMin = passTo, 0
	}
	lq.rearmLocked()
	lq.mu.Unlock()
	lq.process(ctx, dk, work, now)
	if passTo != 0 {
		lq.expiryPass(ctx, dk, passFrom, passTo, now)
	}
	if len(gc) > 0 {
		b := &store.Batch{}
		for _, num := range gc {
			b.Delete(n.k.sessionKey(lq.ent.id, num))
		}
		if err := n.b.st.Apply(ctx, b); err != nil {
			lq.mu.Lock()
			lq.sessGC = append(lq.sessGC, gc...)
			lq.mu.Unlock()
		}
	}
}

// expiryPass reads the queue's index and adds heap entries for the messages
// expiring in (from, to]; it recomputes the far minimum beyond to.
func (lq *lqueue) expiryPass(ctx context.Context, dk *seal.DataKey, from, to int64, now time.Time) {
	n := lq.ns
	var near []deadline
	var far int64
	for _, code := range []byte{lq.activeCode, lq.deferCode} {
		pfx := n.k.indexCodePrefix(lq.ent.id, code)
		err := store.ForEach(ctx, n.b.st, pfx, func(key, value []byte) error {
			seq := beUint64(key[len(key)-8:])
			plain, err := dk.Open(n.k.ctxIndex(lq.ent.id, code, seq), value)
			if err != nil {
				return err
			}
			x, err := decodeIndex(plain)
			if err != nil {
				return err
			}
			switch {
			case x.Expires <= 0 || x.Expires <= from:
			case x.Expires <= to:
				near = append(near, deadline{at: x.Expires, id: seq})
			case far == 0 || x.Expires < far:
				far = x.Expires
			}
			return nil
		})
		if err != nil {
			n.b.log.Warn("servicebus: expiry pass failed", "namespace", n.name, "entity", lq.ent.path(), "err", err)
			far = now.Add(2 * expiryHorizon).UnixNano() // try again later
			break
		}
	}
	lq.mu.Lock()
	defer lq.mu.Unlock()
	for _, d := range near {
		lq.expiry.push(d)
	}
	if far != 0 && (lq.farMin == 0 || far < lq.farMin) {
		lq.farMin = far
	}
	lq.rearmLocked()
}

// readRecord reads and opens a message record.
func (n *Namespace) readRecord(ctx context.Context, dk *seal.DataKey, eid, seq uint64) (*record, error) {
	raw, err := n.b.st.Get(ctx, n.k.dataKey(eid, seq))
	if err != nil {
		return nil, err
	}
	plain, err := dk.Open(n.k.ctxData(eid, seq), raw)
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", seq, err)
	}
	rec, err := decodeRecord(plain)
	clear(plain)
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", seq, err)
	}
	return rec, nil
}
