package servicebus

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Namespace is one namespace's entities and messages. Get it from
// Broker.OpenNamespace or Broker.Namespace. Every method fails with
// ErrRevoked (CodeRevoked) while the namespace's encryption status is Revoked.
type Namespace struct {
	b    *Broker
	name string
	k    keyer

	optMu sync.Mutex
	opts  NamespaceOptions

	// opMu is held shared by every data operation for its whole duration
	// (not while blocked waiting) and exclusively by entity changes, loading
	// and deletion, so entity records never change under a running operation.
	opMu sync.RWMutex

	keyMu     sync.Mutex
	dk        *seal.DataKey
	keyID     string // id of the data key the namespace's data is sealed under ("" before first load)
	loaded    bool
	revoked   bool
	revokedCh chan struct{} // closed while revoked
	keyErr    error         // last transient key-source error, or a key mismatch
	deleted   bool

	dedupSecret []byte

	// entities, guarded by opMu
	byName  map[string]*entity // queues and topics by lower-case name
	byID    map[uint64]*entity
	nextEID uint64

	tokMu sync.Mutex
	locks map[uuid.UUID]*msgLock
}

type nsMeta struct {
	DataKeyID string `json:"dataKeyId"`
}

func newNamespace(b *Broker, name string, opts NamespaceOptions) *Namespace {
	return &Namespace{
		b:         b,
		name:      name,
		k:         newKeyer(name),
		opts:      opts,
		revokedCh: make(chan struct{}),
		byName:    map[string]*entity{},
		byID:      map[uint64]*entity{},
		locks:     map[uuid.UUID]*msgLock{},
	}
}

// Name returns the namespace's name.
func (n *Namespace) Name() string { return n.name }

// Options returns the namespace's options.
func (n *Namespace) Options() NamespaceOptions {
	n.optMu.Lock()
	defer n.optMu.Unlock()
	return n.opts
}

func (n *Namespace) setOptions(o NamespaceOptions) {
	n.optMu.Lock()
	n.opts = o
	n.optMu.Unlock()
}

func (n *Namespace) tier() Tier { return n.Options().Tier }

// Status reports whether the namespace's data is usable.
func (n *Namespace) Status() NamespaceStatus {
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	switch {
	case n.revoked:
		return NamespaceRevoked
	case !n.loaded || n.dk == nil:
		return NamespaceUnavailable
	}
	return NamespaceActive
}

// key returns the data key for an operation, or why there is none.
func (n *Namespace) key() (*seal.DataKey, error) {
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	switch {
	case n.deleted:
		return nil, notFound("namespace", n.name)
	case n.revoked:
		return nil, revokedErr(n.name)
	case !n.loaded || n.dk == nil:
		return nil, &Error{Code: CodeServiceUnavailable, Message: fmt.Sprintf("namespace %q: data key not available", n.name), Err: n.keyErr}
	}
	return n.dk, nil
}

func (n *Namespace) revokedChan() <-chan struct{} {
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	return n.revokedCh
}

// begin starts a data operation: shared opMu and the data key.
func (n *Namespace) begin() (*seal.DataKey, error) {
	if n.b.isClosed() {
		return nil, closedErr()
	}
	n.opMu.RLock()
	dk, err := n.key()
	if err != nil {
		n.opMu.RUnlock()
		return nil, err
	}
	return dk, nil
}

func (n *Namespace) end() { n.opMu.RUnlock() }

// beginAdmin starts an entity change: exclusive opMu and the data key.
func (n *Namespace) beginAdmin() (*seal.DataKey, error) {
	if n.b.isClosed() {
		return nil, closedErr()
	}
	n.opMu.Lock()
	dk, err := n.key()
	if err != nil {
		n.opMu.Unlock()
		return nil, err
	}
	return dk, nil
}

func (n *Namespace) endAdmin() { n.opMu.Unlock() }

// refreshKey asks the key source for the data key and applies the answer:
// revoke, restore, first load, or (for other errors) nothing.
func (n *Namespace) refreshKey(ctx context.Context) error {
	dk, err := n.b.keys.DataKey(ctx, n.name)
	if err != nil {
		if errors.Is(err, ErrRevoked) {
			n.setRevoked()
			return revokedErr(n.name)
		}
		n.keyMu.Lock()
		n.keyErr = err
		n.keyMu.Unlock()
		return &Error{Code: CodeServiceUnavailable, Message: fmt.Sprintf("namespace %q: key source", n.name), Err: err}
	}
	if dk == nil {
		return &Error{Code: CodeServiceUnavailable, Message: fmt.Sprintf("namespace %q: key source returned no key", n.name)}
	}
	n.keyMu.Lock()
	if n.loaded && !n.revoked && n.dk != nil && n.dk.ID() == dk.ID() {
		n.dk = dk
		n.keyMu.Unlock()
		return nil
	}
	loaded, keyID := n.loaded, n.keyID
	n.keyMu.Unlock()

	if loaded {
		if dk.ID() != keyID {
			return n.keyMismatch(keyID, dk.ID())
		}
		n.keyMu.Lock()
		n.dk = dk
		n.keyErr = nil
		wasRevoked := n.revoked
		if n.revoked {
			n.revoked = false
			n.revokedCh = make(chan struct{})
		}
		n.keyMu.Unlock()
		if wasRevoked {
			n.b.log.Info("servicebus: namespace restored", "namespace", n.name)
			n.rearmAll()
		}
		return nil
	}
	// First load.
	if err := n.firstLoad(ctx, dk); err != nil {
		return err
	}
	n.rearmAll()
	return nil
}

func (n *Namespace) firstLoad(ctx context.Context, dk *seal.DataKey) error {
	n.opMu.Lock()
	defer n.opMu.Unlock()
	n.keyMu.Lock()
	if n.loaded || n.deleted {
		n.keyMu.Unlock()
		return nil
	}
	n.keyMu.Unlock()
	if err := n.load(ctx, dk); err != nil {
		n.keyMu.Lock()
		n.keyErr = err
		n.keyMu.Unlock()
		return err
	}
	n.keyMu.Lock()
	n.dk = dk
	n.keyID = dk.ID()
	n.loaded = true
	n.keyErr = nil
	if n.revoked {
		n.revoked = false
		n.revokedCh = make(chan struct{})
	}
	n.keyMu.Unlock()
	return nil
}

func (n *Namespace) keyMismatch(want, got string) error {
	err := &Error{Code: CodeInternal, Message: fmt.Sprintf(
		"namespace %q: data is sealed under data key %s but the key source returned data key %s", n.name, want, got)}
	n.keyMu.Lock()
	n.keyErr = err
	n.dk = nil
	n.keyMu.Unlock()
	return err
}

func (n *Namespace) setRevoked() {
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	if n.revoked {
		return
	}
	n.revoked = true
	n.dk = nil
	close(n.revokedCh)
	n.b.log.Warn("servicebus: namespace revoked", "namespace", n.name)
}

// closeAllLocked marks every entity gone and wakes blocked calls (opMu held).
func (n *Namespace) closeAllLocked() {
	n.keyMu.Lock()
	n.deleted = true
	n.keyMu.Unlock()
	for _, e := range n.byID {
		n.closeEntityLocked(e)
	}
	n.byID = map[uint64]*entity{}
	n.byName = map[string]*entity{}
}

// load reads the namespace's records (opMu held exclusively).
func (n *Namespace) load(ctx context.Context, dk *seal.DataKey) error {
	st := n.b.st
	// Data key id.
	raw, err := st.Get(ctx, n.k.metaKey())
	switch {
	case errors.Is(err, store.ErrNotFound):
		meta, _ := json.Marshal(nsMeta{DataKeyID: dk.ID()})
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return internalErr(n.name, "dedup secret", err)
		}
		sealed, err := dk.Seal(n.k.ctxDedupSecret(), secret)
		if err != nil {
			return internalErr(n.name, "seal dedup secret", err)
		}
		b := &store.Batch{Sync: true}
		b.Set(n.k.metaKey(), meta)
		b.Set(n.k.dedupSecretKey(), sealed)
		b.Set(n.k.counterKey(), be64(1))
		if err := st.Apply(ctx, b); err != nil {
			return internalErr(n.name, "create namespace", err)
		}
		n.dedupSecret = secret
		n.nextEID = 1
		return nil
	case err != nil:
		return internalErr(n.name, "read namespace", err)
	}
	var meta nsMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return internalErr(n.name, "decode namespace record", err)
	}
	if meta.DataKeyID != dk.ID() {
		return n.keyMismatch(meta.DataKeyID, dk.ID())
	}
	raw, err = st.Get(ctx, n.k.dedupSecretKey())
	if err != nil {
		return internalErr(n.name, "read dedup secret", err)
	}
	if n.dedupSecret, err = dk.Open(n.k.ctxDedupSecret(), raw); err != nil {
		return internalErr(n.name, "open dedup secret", err)
	}
	raw, err = st.Get(ctx, n.k.counterKey())
	if err != nil || len(raw) != 8 {
		return internalErr(n.name, "read entity counter", errors.Join(err, errCorrupt))
	}
	n.nextEID = binary.BigEndian.Uint64(raw)

	// Entities.
	var recs []entityRecord
	err = store.ForEach(ctx, st, n.k.key('e'), func(key, value []byte) error {
		if len(key) != len(n.k.key('e'))+8 {
			return nil
		}
		eid := binary.BigEndian.Uint64(key[len(key)-8:])
		plain, err := dk.Open(n.k.ctxEntity(eid), value)
		if err != nil {
			return fmt.Errorf("entity %d: %w", eid, err)
		}
		var r entityRecord
		if err := json.Unmarshal(plain, &r); err != nil {
			return fmt.Errorf("entity %d: %w", eid, err)
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return internalErr(n.name, "load entities", err)
	}
	order := map[entityKind]int{kindQueue: 0, kindTopic: 0, kindSubscription: 1, kindRule: 2}
	sort.SliceStable(recs, func(i, j int) bool { return order[recs[i].Kind] < order[recs[j].Kind] })
	for _, r := range recs {
		var parent *entity
		if r.Parent != 0 {
			parent = n.byID[r.Parent]
			if parent == nil {
				n.b.log.Warn("servicebus: entity without parent", "namespace", n.name, "id", r.ID)
				continue
			}
		}
		e, err := n.newEntity(r, parent)
		if err != nil {
			return internalErr(n.name, "load entity "+r.Name, err)
		}
		n.attachEntity(e)
		if e.seq != nil {
			raw, err := st.Get(ctx, n.k.reserveKey(e.id))
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return internalErr(n.name, "read sequence reservation", err)
			case len(raw) == 8:
				e.seq.reserved = binary.BigEndian.Uint64(raw)
				e.seq.next = e.seq.reserved + 1
			}
		}
	}
	if err := n.loadSessions(ctx, dk); err != nil {
		return err
	}
	if err := n.loadIndex(ctx, dk); err != nil {
		return err
	}
	n.cleanupSessionsAfterLoad(ctx)
	return nil
}

func (n *Namespace) loadSessions(ctx context.Context, dk *seal.DataKey) error {
	st := n.b.st
	pfx := n.k.key('s')
	err := store.ForEach(ctx, st, pfx, func(key, value []byte) error {
		if len(key) != len(pfx)+16 {
			return nil
		}
		eid := binary.BigEndian.Uint64(key[len(pfx):])
		num := binary.BigEndian.Uint64(key[len(pfx)+8:])
		e := n.byID[eid]
		if e == nil || e.main == nil || e.main.sess == nil {
			return nil
		}
		plain, err := dk.Open(n.k.ctxSession(eid, num), value)
		if err != nil {
			return fmt.Errorf("session %d/%d: %w", eid, num, err)
		}
		e.main.sess.addLoaded(string(plain), num)
		return nil
	})
	if err != nil {
		return internalErr(n.name, "load sessions", err)
	}
	pfx = n.k.key('w')
	err = store.ForEach(ctx, st, pfx, func(key, value []byte) error {
		if len(key) != len(pfx)+16 {
			return nil
		}
		eid := binary.BigEndian.Uint64(key[len(pfx):])
		num := binary.BigEndian.Uint64(key[len(pfx)+8:])
		e := n.byID[eid]
		if e == nil || e.main == nil || e.main.sess == nil {
			return nil
		}
		s := e.main.sess.byNum[num]
		if s == nil {
			return nil
		}
		plain, err := dk.Open(n.k.ctxState(eid, num), value)
		if err != nil {
			return fmt.Errorf("session state %d/%d: %w", eid, num, err)
		}
		st, err := decodeState(plain)
		if err != nil {
			return err
		}
		s.hasState = true
		s.stateUpdated = st.updated
		return nil
	})
	if err != nil {
		return internalErr(n.name, "load session states", err)
	}
	return nil
}

func (n *Namespace) loadIndex(ctx context.Context, dk *seal.DataKey) error {
	pfx := n.k.key('i')
	err := store.ForEach(ctx, n.b.st, pfx, func(key, value []byte) error {
		if len(key) != len(pfx)+17 {
			return nil
		}
		eid := binary.BigEndian.Uint64(key[len(pfx):])
		code := key[len(pfx)+8]
		seq := binary.BigEndian.Uint64(key[len(pfx)+9:])
		e := n.byID[eid]
		if e == nil {
			return nil
		}
		plain, err := dk.Open(n.k.ctxIndex(eid, code, seq), value)
		if err != nil {
			return fmt.Errorf("index %d/%c/%d: %w", eid, code, seq, err)
		}
		x, err := decodeIndex(plain)
		if err != nil {
			return err
		}
		alloc := e.seq
		if e.kind == kindSubscription {
			alloc = e.parent.seq
		}
		if alloc != nil && seq >= alloc.next {
			alloc.next = seq + 1
		}
		switch code {
		case codeScheduled:
			if e.sched != nil {
				e.sched.addLoaded(seq, x)
			}
		case codeActive, codeDeferred:
			if e.main != nil {
				return e.main.addLoaded(ctx, dk, code, seq, x)
			}
		case codeDLQ, codeDLQDeferred:
			if e.dlq != nil {
				return e.dlq.addLoaded(ctx, dk, code, seq, x)
			}
		case codeTDLQ, codeTDLQDeferred:
			if e.tdlq != nil {
				return e.tdlq.addLoaded(ctx, dk, code, seq, x)
			}
		}
		return nil
	})
	if err != nil {
		return internalErr(n.name, "load messages", err)
	}
	return nil
}

// rearmAll asks the timer loop to look at every queue and schedule now (after
// a load or a restore, when deadlines may have passed unserved).
func (n *Namespace) rearmAll() {
	n.opMu.RLock()
	defer n.opMu.RUnlock()
	now := n.b.clk.Now().UnixNano()
	for _, e := range n.byID {
		for _, lq := range e.lqueues() {
			n.b.wakeAt(now, lq)
		}
		if e.sched != nil {
			n.b.wakeAt(now, e.sched)
		}
	}
}

// lockFor returns the lock a token names.
func (n *Namespace) lockFor(t uuid.UUID) *msgLock {
	n.tokMu.Lock()
	defer n.tokMu.Unlock()
	return n.locks[t]
}

func (n *Namespace) addLockToken(l *msgLock) {
	n.tokMu.Lock()
	n.locks[l.token] = l
	n.tokMu.Unlock()
}

func (n *Namespace) removeLockToken(l *msgLock) {
	n.tokMu.Lock()
	if n.locks[l.token] == l {
		delete(n.locks, l.token)
	}
	n.tokMu.Unlock()
}

// maintain runs the periodic work: AccessedAt persistence, duplicate
// detection pruning, auto-delete on idle.
func (n *Namespace) maintain(ctx context.Context, now time.Time) {
	if _, err := n.key(); err != nil {
		return
	}
	n.persistAccessed(ctx)
	n.pruneDedup(ctx, now)
	n.autoDelete(ctx, now)
}

// persistAccessed writes entity records whose AccessedAt moved.
func (n *Namespace) persistAccessed(ctx context.Context) {
	dk, err := n.begin()
	if err != nil {
		return
	}
	defer n.end()
	b := &store.Batch{}
	var done []*entity
	for _, e := range n.byID {
		a := e.accessed.Load()
		if a == 0 || a == e.accessedPersisted.Load() {
			continue
		}
		rec := e.rec
		rec.AccessedAt = time.Unix(0, a).UTC()
		if err := n.putEntityRecord(b, dk, &rec); err != nil {
			continue
		}
		done = append(done, e)
	}
	if len(b.Ops) == 0 {
		return
	}
	if err := n.b.st.Apply(ctx, b); err != nil {
		return
	}
	for _, e := range done {
		e.accessedPersisted.Store(e.accessed.Load())
	}
}

func (n *Namespace) putEntityRecord(b *store.Batch, dk *seal.DataKey, rec *entityRecord) error {
	plain, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	sealed, err := dk.Seal(n.k.ctxEntity(rec.ID), plain)
	clear(plain)
	if err != nil {
		return err
	}
	b.Set(n.k.entityKey(rec.ID), sealed)
	return nil
}

// pruneDedup deletes duplicate-detection entries older than their window.
func (n *Namespace) pruneDedup(ctx context.Context, now time.Time) {
	if _, err := n.begin(); err != nil {
		return
	}
	defer n.end()
	for _, e := range n.byID {
		win, on := e.duplicateWindow()
		if e.dedup == nil || !on {
			continue
		}
		// Prune each entity at most every quarter window: entries live at
		// most 25% longer than the window, scans stay rare.
		e.dedup.mu.Lock()
		skip := now.Sub(e.dedup.lastPrune) < win/4
		if !skip {
			e.dedup.lastPrune = now
		}
		e.dedup.mu.Unlock()
		if skip {
			continue
		}
		pfx := n.k.key('u', e.id)
		b := &store.Batch{}
		_ = store.ForEach(ctx, n.b.st, pfx, func(key, value []byte) error {
			if len(value) == 8 && now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(value)))) > win {
				b.Delete(append([]byte(nil), key...))
			}
			return nil
		})
		if len(b.Ops) > 0 {
			_ = n.b.st.Apply(ctx, b)
		}
	}
}

// autoDelete deletes entities idle for longer than their AutoDeleteOnIdle.
func (n *Namespace) autoDelete(ctx context.Context, now time.Time) {
	if _, err := n.begin(); err != nil {
		return
	}
	var victims []*entity
	for _, e := range n.byID {
		if e.kind == kindRule {
			continue
		}
		idle := e.autoDeleteOnIdle()
		if idle <= 0 || idle == Infinite {
			continue
		}
		last := e.rec.UpdatedAt
		if a := e.accessed.Load(); a != 0 && time.Unix(0, a).After(last) {
			last = time.Unix(0, a)
		}
		if e.rec.AccessedAt.After(last) {
			last = e.rec.AccessedAt
		}
		if now.Sub(last) >= idle {
			victims = append(victims, e)
		}
	}
	n.end()
	for _, e := range victims {
		var err error
		switch e.kind {
		case kindQueue:
			err = n.DeleteQueue(ctx, e.rec.Name)
		case kindTopic:
			err = n.DeleteTopic(ctx, e.rec.Name)
		case kindSubscription:
			err = n.DeleteSubscription(ctx, e.parent.rec.Name, e.rec.Name)
		}
		if err != nil && CodeOf(err) != CodeEntityNotFound {
			n.b.log.Warn("servicebus: auto-delete on idle failed", "namespace", n.name, "entity", e.path(), "err", err)
		}
	}
}
