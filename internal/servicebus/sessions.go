package servicebus

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/keyward/keyward/internal/store"
)

// sessionTable holds a session-enabled queue's sessions (under lq.mu).
type sessionTable struct {
	byID    map[string]*session
	byNum   map[uint64]*session
	nextNum uint64
	ready   []*session // unlocked sessions with available messages, FIFO
	waiters waitQueue  // accept-next-session calls
}

// session is one session of a session-enabled queue or subscription.
type session struct {
	id        string
	num       uint64 // internal number naming the session in store keys
	avail     seqHeap
	nActive   int64
	nDeferred int64

	locked      bool
	lockID      uuid.UUID
	lockedUntil time.Time
	msgLocks    map[uint64]*msgLock // message locks taken under the current session lock
	waiters     waitQueue           // Session.Receive calls

	hasState     bool
	stateUpdated time.Time
	persisted    bool // identity record is in the store
	pending      int  // plans in flight placing messages in the session
	inReady      bool
	gone         bool // removed from the table
}

func newSessionTable() *sessionTable {
	return &sessionTable{byID: map[string]*session{}, byNum: map[uint64]*session{}, nextNum: 1}
}

func (t *sessionTable) acquire(id string) *session {
	if s := t.byID[id]; s != nil {
		return s
	}
	s := &session{id: id, num: t.nextNum, msgLocks: map[uint64]*msgLock{}}
	t.nextNum++
	t.byID[id] = s
	t.byNum[s.num] = s
	return s
}

func (t *sessionTable) addLoaded(id string, num uint64) *session {
	if s := t.byID[id]; s != nil {
		return s
	}
	s := &session{id: id, num: num, msgLocks: map[uint64]*msgLock{}, persisted: true}
	t.byID[id] = s
	t.byNum[num] = s
	if num >= t.nextNum {
		t.nextNum = num + 1
	}
	return s
}

// maybeGCSessionLocked forgets a session with nothing left in it.
func (lq *lqueue) maybeGCSessionLocked(s *session) {
	if s.gone || s.locked || s.nActive != 0 || s.nDeferred != 0 || s.hasState || s.pending != 0 || len(s.waiters.list) != 0 {
		return
	}
	s.gone = true
	delete(lq.sess.byID, s.id)
	delete(lq.sess.byNum, s.num)
	if s.persisted {
		lq.sessGC = append(lq.sessGC, s.num)
		lq.armLocked(1)
	}
}

// unlockSessionLocked ends a session lock: its messages' locks end too.
func (lq *lqueue) unlockSessionLocked(s *session, now time.Time) []dueWork {
	s.locked = false
	s.lockID = uuid.Nil
	s.lockedUntil = time.Time{}
	var work []dueWork
	for _, l := range s.msgLocks {
		if l.busy {
			continue
		}
		if w := lq.releaseLockLocked(l, now); w != nil {
			work = append(work, *w)
		}
	}
	s.msgLocks = map[uint64]*msgLock{}
	s.waiters.wakeAll()
	lq.sessionReadyLocked(s)
	lq.maybeGCSessionLocked(s)
	return work
}

func (lq *lqueue) lockSessionLocked(s *session, now time.Time) error {
	id, err := uuid.NewRandom()
	if err != nil {
		return internalErr(lq.ns.name, "session lock", err)
	}
	s.locked = true
	s.lockID = id
	s.lockedUntil = now.Add(lq.ent.lockDuration())
	s.msgLocks = map[uint64]*msgLock{}
	at := unixNano(s.lockedUntil)
	lq.sessDL.push(deadline{at: at, id: s.num})
	lq.armLocked(at)
	return nil
}

// Session is a locked session of a session-enabled queue or subscription,
// returned by AcceptSession and AcceptNextSession. Its messages are settled
// with the Namespace methods (Complete, Abandon, ...) and their lock tokens;
// those fail with CodeSessionLockLost once the session lock is lost.
type Session struct {
	n      *Namespace
	lq     *lqueue
	s      *session
	lockID uuid.UUID
	path   string
}

// AcceptSessionOptions configure AcceptNextSession.
type AcceptSessionOptions struct {
	// MaxWait is how long to wait for a session with available messages:
	// 0 returns at once, WaitForever waits until ctx ends.
	MaxWait time.Duration
}

func (n *Namespace) sessionQueue(path string) (*lqueue, error) {
	lq, err := n.receiverQueue(path)
	if err != nil {
		return nil, err
	}
	if lq.sess == nil {
		return nil, newErr(CodeInvalidOperation, "entity %q does not require sessions", lq.ent.path())
	}
	return lq, nil
}

// AcceptSession locks the session with the given id (which need not have
// messages yet). It fails with CodeSessionCannotBeLocked when another
// receiver holds the session.
func (n *Namespace) AcceptSession(ctx context.Context, path, sessionID string) (*Session, error) {
	if sessionID == "" || len(sessionID) > MaxMessageIDLength {
		return nil, newErr(CodeBadRequest, "a session id must be 1 to %d characters", MaxMessageIDLength)
	}
	dk, err := n.begin()
	if err != nil {
		return nil, err
	}
	defer n.end()
	lq, err := n.sessionQueue(path)
	if err != nil {
		return nil, err
	}
	now := n.b.clk.Now()
	lq.mu.Lock()
	if lq.closed {
		lq.mu.Unlock()
		return nil, notFound("entity", path)
	}
	work := lq.collectDueLocked(ctx, dk, now)
	s := lq.sess.acquire(sessionID)
	if s.locked {
		lq.mu.Unlock()
		lq.process(ctx, dk, work, now)
		return nil, newErr(CodeSessionCannotBeLocked, "session %q of %q is locked by another receiver", sessionID, lq.ent.path())
	}
	if err := lq.lockSessionLocked(s, now); err != nil {
		lq.maybeGCSessionLocked(s)
		lq.mu.Unlock()
		lq.process(ctx, dk, work, now)
		return nil, err
	}
	h := &Session{n: n, lq: lq, s: s, lockID: s.lockID, path: path}
	lq.mu.Unlock()
	lq.process(ctx, dk, work, now)
	lq.ent.touch(now)
	return h, nil
}

// AcceptNextSession locks the next session that has available messages,
// waiting up to opts.MaxWait for one. With none it fails with CodeTimeout.
func (n *Namespace) AcceptNextSession(ctx context.Context, path string, opts AcceptSessionOptions) (*Session, error) {
	var h *Session
	err := n.waitFor(ctx, opts.MaxWait, func(w *waiter) (attempt, func(), error) {
		dk, err := n.begin()
		if err != nil {
			return attemptDone, nil, err
		}
		defer n.end()
		lq, err := n.sessionQueue(path)
		if err != nil {
			return attemptDone, nil, err
		}
		now := n.b.clk.Now()
		lq.mu.Lock()
		if lq.closed {
			lq.mu.Unlock()
			return attemptDone, nil, notFound("entity", path)
		}
		work := lq.collectDueLocked(ctx, dk, now)
		t := lq.sess
		for len(t.ready) > 0 && h == nil {
			s := t.ready[0]
			t.ready[0] = nil
			t.ready = t.ready[1:]
			s.inReady = false
			if s.gone || s.locked || s.avail.len() == 0 {
				continue
			}
			if err := lq.lockSessionLocked(s, now); err != nil {
				lq.mu.Unlock()
				lq.process(ctx, dk, work, now)
				return attemptDone, nil, err
			}
			h = &Session{n: n, lq: lq, s: s, lockID: s.lockID, path: path}
		}
		if len(t.ready) == 0 {
			t.ready = nil
		}
		var unregister func()
		if h == nil && w != nil {
			t.waiters.add(w)
			unregister = func() {
				lq.mu.Lock()
				t.waiters.leave(w)
				lq.mu.Unlock()
			}
		}
		lq.mu.Unlock()
		lq.process(ctx, dk, work, now)
		if h != nil {
			lq.ent.touch(now)
			return attemptDone, nil, nil
		}
		return attemptWait, unregister, nil
	})
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, newErr(CodeTimeout, "no session of %q became available", path)
	}
	return h, nil
}

// ID returns the session id.
func (s *Session) ID() string { return s.s.id }

// LockedUntil returns when the session lock expires (zero once lost).
func (s *Session) LockedUntil() time.Time {
	s.lq.mu.Lock()
	defer s.lq.mu.Unlock()
	if !s.heldLocked(s.n.b.clk.Now()) {
		return time.Time{}
	}
	return s.s.lockedUntil
}

// heldLocked reports whether this handle still holds the session lock.
func (s *Session) heldLocked(now time.Time) bool {
	return !s.lq.closed && s.s.locked && s.s.lockID == s.lockID && now.Before(s.s.lockedUntil)
}

func (s *Session) lostErr() error {
	return newErr(CodeSessionLockLost, "the lock on session %q of %q was lost", s.s.id, s.lq.ent.path())
}

// Receive receives the session's messages in order (see Namespace.Receive).
func (s *Session) Receive(ctx context.Context, opts ReceiveOptions) ([]*ReceivedMessage, error) {
	n := s.n
	max := opts.maxMessages()
	var out []*ReceivedMessage
	err := n.waitFor(ctx, opts.MaxWait, func(w *waiter) (attempt, func(), error) {
		dk, err := n.begin()
		if err != nil {
			return attemptDone, nil, err
		}
		defer n.end()
		lq := s.lq
		now := n.b.clk.Now()
		lq.mu.Lock()
		work := lq.collectDueLocked(ctx, dk, now)
		if !s.heldLocked(now) {
			lq.mu.Unlock()
			lq.process(ctx, dk, work, now)
			return attemptDone, nil, s.lostErr()
		}
		taken, terr := lq.takeLocked(&s.s.avail, max, s.s)
		var unregister func()
		if len(taken) == 0 && w != nil && terr == nil {
			s.s.waiters.add(w)
			sess := s.s
			unregister = func() {
				lq.mu.Lock()
				sess.waiters.leave(w)
				lq.maybeGCSessionLocked(sess)
				lq.mu.Unlock()
			}
		}
		lq.mu.Unlock()
		lq.process(ctx, dk, work, now)
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

// ReceiveDeferred receives deferred messages of the session by sequence number.
func (s *Session) ReceiveDeferred(ctx context.Context, seqs []int64, mode ReceiveMode) ([]*ReceivedMessage, error) {
	return s.n.receiveDeferred(ctx, s.lq, s, seqs, mode)
}

// Peek returns up to max of the session's messages from sequence number from
// on, without locking them.
func (s *Session) Peek(ctx context.Context, from int64, max int) ([]*ReceivedMessage, error) {
	dk, err := s.n.begin()
	if err != nil {
		return nil, err
	}
	defer s.n.end()
	return s.n.peek(ctx, dk, s.lq, from, max, s.s.id, true)
}

// RenewLock extends the session lock by the entity's lock duration.
func (s *Session) RenewLock(ctx context.Context) (time.Time, error) {
	if _, err := s.n.begin(); err != nil {
		return time.Time{}, err
	}
	defer s.n.end()
	now := s.n.b.clk.Now()
	lq := s.lq
	lq.mu.Lock()
	defer lq.mu.Unlock()
	if !s.heldLocked(now) {
		return time.Time{}, s.lostErr()
	}
	s.s.lockedUntil = now.Add(lq.ent.lockDuration())
	for _, l := range s.s.msgLocks {
		l.until = s.s.lockedUntil
	}
	at := unixNano(s.s.lockedUntil)
	lq.sessDL.push(deadline{at: at, id: s.s.num})
	lq.armLocked(at)
	return s.s.lockedUntil, nil
}

// stateRecord is a session's state as stored (sealed).
type stateRecord struct {
	updated time.Time
	state   []byte
}

func (r stateRecord) encode() []byte {
	var e encoder
	e.byte1(1)
	e.time(r.updated)
	e.bytes(r.state)
	return e.b
}

func decodeState(b []byte) (stateRecord, error) {
	d := decoder{b: b}
	var r stateRecord
	if d.byte1() != 1 {
		return r, errCorrupt
	}
	r.updated = d.time()
	r.state = d.bytes()
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	return r, d.err
}

// State returns the session state, nil when none is set.
func (s *Session) State(ctx context.Context) ([]byte, error) {
	dk, err := s.n.begin()
	if err != nil {
		return nil, err
	}
	defer s.n.end()
	lq := s.lq
	lq.mu.Lock()
	held := s.heldLocked(s.n.b.clk.Now())
	lq.mu.Unlock()
	if !held {
		return nil, s.lostErr()
	}
	raw, err := s.n.b.st.Get(ctx, s.n.k.stateKey(lq.ent.id, s.s.num))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, internalErr(s.n.name, "read session state", err)
	}
	plain, err := dk.Open(s.n.k.ctxState(lq.ent.id, s.s.num), raw)
	if err != nil {
		return nil, internalErr(s.n.name, "open session state", err)
	}
	r, err := decodeState(plain)
	if err != nil {
		return nil, internalErr(s.n.name, "decode session state", err)
	}
	if r.state == nil {
		r.state = []byte{}
	}
	return r.state, nil
}

// SetState stores the session state durably (sealed); nil removes it.
func (s *Session) SetState(ctx context.Context, state []byte) error {
	dk, err := s.n.begin()
	if err != nil {
		return err
	}
	defer s.n.end()
	lq := s.lq
	now := s.n.b.clk.Now()
	lq.mu.Lock()
	held := s.heldLocked(now)
	needIdentity := !s.s.persisted
	if held {
		s.s.pending++
	}
	lq.mu.Unlock()
	if !held {
		return s.lostErr()
	}
	max := lq.ent.maxMessageBytesForState()
	if int64(len(state)) > max {
		lq.mu.Lock()
		s.s.pending--
		lq.mu.Unlock()
		return newErr(CodeMessageSizeExceeded, "session state is %d bytes; at most %d", len(state), max)
	}
	b := &store.Batch{Sync: true}
	eid, num := lq.ent.id, s.s.num
	if needIdentity {
		sealed, err := dk.Seal(s.n.k.ctxSession(eid, num), []byte(s.s.id))
		if err != nil {
			return internalErr(s.n.name, "seal session", err)
		}
		b.Set(s.n.k.sessionKey(eid, num), sealed)
	}
	if state == nil {
		b.Delete(s.n.k.stateKey(eid, num))
	} else {
		plain := stateRecord{updated: now.UTC(), state: state}.encode()
		sealed, err := dk.Seal(s.n.k.ctxState(eid, num), plain)
		clear(plain)
		if err != nil {
			return internalErr(s.n.name, "seal session state", err)
		}
		b.Set(s.n.k.stateKey(eid, num), sealed)
	}
	err = s.n.b.st.Apply(ctx, b)
	lq.mu.Lock()
	defer lq.mu.Unlock()
	s.s.pending--
	if err != nil {
		return internalErr(s.n.name, "store session state", err)
	}
	if needIdentity {
		s.s.persisted = true
	}
	s.s.hasState = state != nil
	s.s.stateUpdated = now.UTC()
	return nil
}

// Close releases the session lock; its unsettled messages become available
// again. Closing a handle whose lock is lost does nothing.
func (s *Session) Close() error {
	n := s.n
	dk, err := n.begin()
	if err != nil {
		return nil
	}
	defer n.end()
	now := n.b.clk.Now()
	lq := s.lq
	lq.mu.Lock()
	if !s.s.locked || s.s.lockID != s.lockID {
		lq.mu.Unlock()
		return nil
	}
	work := lq.unlockSessionLocked(s.s, now)
	lq.mu.Unlock()
	lq.process(context.Background(), dk, work, now)
	return nil
}

// ListSessions returns the ids of a session-enabled entity's sessions, in
// the order they were first seen: with lastUpdated zero, the sessions that
// have messages or state; otherwise those whose state changed after
// lastUpdated. skip and top page the result (top <= 0: all).
func (n *Namespace) ListSessions(ctx context.Context, path string, lastUpdated time.Time, skip, top int) ([]string, error) {
	if _, err := n.begin(); err != nil {
		return nil, err
	}
	defer n.end()
	lq, err := n.sessionQueue(path)
	if err != nil {
		return nil, err
	}
	lq.mu.Lock()
	var list []*session
	for _, s := range lq.sess.byNum {
		switch {
		case lastUpdated.IsZero() && (s.nActive+s.nDeferred > 0 || s.hasState):
		case !lastUpdated.IsZero() && s.hasState && s.stateUpdated.After(lastUpdated):
		default:
			continue
		}
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].num < list[j].num })
	ids := make([]string, 0, len(list))
	for _, s := range list {
		ids = append(ids, s.id)
	}
	lq.mu.Unlock()
	if skip > 0 {
		if skip >= len(ids) {
			return nil, nil
		}
		ids = ids[skip:]
	}
	if top > 0 && top < len(ids) {
		ids = ids[:top]
	}
	return ids, nil
}

// cleanupSessionsAfterLoad deletes the identity records of sessions left
// with neither messages nor state (opMu held).
func (n *Namespace) cleanupSessionsAfterLoad(ctx context.Context) {
	b := &store.Batch{}
	for _, e := range n.byID {
		if e.main == nil || e.main.sess == nil {
			continue
		}
		t := e.main.sess
		for num, s := range t.byNum {
			if s.nActive == 0 && s.nDeferred == 0 && !s.hasState && s.pending == 0 {
				s.gone = true
				delete(t.byID, s.id)
				delete(t.byNum, num)
				b.Delete(n.k.sessionKey(e.id, num))
			}
		}
	}
	if len(b.Ops) > 0 {
		_ = n.b.st.Apply(ctx, b)
	}
}

// maxMessageBytesForState bounds session state like a message.
func (e *entity) maxMessageBytesForState() int64 {
	if e.kind == kindSubscription {
		return e.parent.maxMessageBytes()
	}
	return e.maxMessageBytes()
}
