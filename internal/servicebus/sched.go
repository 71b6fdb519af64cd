package servicebus

import (
	"context"
	"sync"
	"time"
)

// schedStore holds a queue's or topic's scheduled messages: in memory only
// their sequence numbers, activation times and sizes.
type schedStore struct {
	ent    *entity
	mu     sync.Mutex
	items  map[uint64]*schedItem
	heap   dlHeap
	bytes  int64
	wakeAt int64
	closed bool // entity deleted
}

type schedItem struct {
	at   int64
	size int64
	busy bool // activation or cancellation in flight
}

func newSchedStore(e *entity) *schedStore {
	return &schedStore{ent: e, items: map[uint64]*schedItem{}}
}

func (s *schedStore) add(seq uint64, at, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[seq] = &schedItem{at: at, size: size}
	s.bytes += size
	s.heap.push(deadline{at: at, id: seq})
	s.armLocked(at)
}

func (s *schedStore) addLoaded(seq uint64, x indexEntry) { s.add(seq, x.SchedAt, x.Size) }

func (s *schedStore) armLocked(at int64) {
	if s.wakeAt != 0 && s.wakeAt <= at {
		return
	}
	s.wakeAt = at
	s.ent.ns.b.wakeAt(at, s)
}

// remove forgets a committed activation or cancellation.
func (s *schedStore) remove(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := s.items[seq]; it != nil {
		s.bytes -= it.size
		delete(s.items, seq)
	}
}

func (s *schedStore) unbusy(seq uint64, retryAt int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := s.items[seq]; it != nil {
		it.busy = false
		if retryAt != 0 {
			s.heap.push(deadline{at: retryAt, id: seq})
			s.armLocked(retryAt)
		}
	}
}

// runDue activates the scheduled messages whose time has come: each moves to
// the entity's queue (or is fanned out by the topic) with its sequence number.
func (s *schedStore) runDue(ctx context.Context, now time.Time) {
	n := s.ent.ns
	dk, err := n.begin()
	if err != nil {
		return
	}
	defer n.end()
	nowNS := now.UnixNano()
	var due []uint64
	s.mu.Lock()
	s.wakeAt = 0
	if s.closed {
		s.mu.Unlock()
		return
	}
	for {
		d, ok := s.heap.peek()
		if !ok || d.at > nowNS {
			break
		}
		s.heap.pop()
		it := s.items[d.id]
		if it == nil || it.busy || it.at != d.at {
			continue
		}
		it.busy = true
		due = append(due, d.id)
		if len(due) >= maxDuePerRound {
			// Leave the rest for the next round so one activation batch
			// stays bounded.
			s.armLocked(nowNS)
			break
		}
	}
	if d, ok := s.heap.peek(); ok {
		s.armLocked(d.at)
	}
	s.mu.Unlock()
	if len(due) == 0 {
		return
	}
	e := s.ent
	p := n.newPlan(dk, now.UTC(), false)
	var failed error
	for _, seq := range due {
		rec, err := n.readRecord(ctx, dk, e.id, seq)
		if err != nil {
			failed = err
			break
		}
		p.b.Delete(n.k.indexKey(e.id, codeScheduled, seq))
		p.b.Delete(n.k.dataKey(e.id, seq))
		seqCopy := seq
		p.onCommit(func() { s.remove(seqCopy) })
		rec.State = StateActive
		if err := n.route(ctx, p, e, rec, seq, rec.Hops, false); err != nil {
			failed = err
			break
		}
	}
	if failed == nil {
		failed = n.apply(ctx, p)
	} else {
		p.abort()
	}
	if failed != nil {
		n.b.log.Warn("servicebus: scheduled activation failed", "namespace", n.name, "entity", e.path(), "err", failed)
		retry := now.Add(time.Second).UnixNano()
		for _, seq := range due {
			s.unbusy(seq, retry)
		}
	}
}

// CancelScheduled removes scheduled messages of a queue or topic by
// sequence number (CodeMessageNotFound if one is not scheduled).
func (n *Namespace) CancelScheduled(ctx context.Context, path string, seqs []int64) error {
	dk, err := n.begin()
	if err != nil {
		return err
	}
	defer n.end()
	ep, err := ParseEntityPath(path)
	if err != nil {
		return err
	}
	e := n.queueOrTopic(ep.Entity)
	if e == nil || ep.Subscription != "" || ep.SubQueue != SubQueueMain {
		return notFound("queue or topic", path)
	}
	s := e.sched
	s.mu.Lock()
	var claimed []uint64
	for _, sq := range seqs {
		it := s.items[uint64(sq)]
		if it == nil || it.busy {
			for _, c := range claimed {
				s.items[c].busy = false
			}
			s.mu.Unlock()
			return newErr(CodeMessageNotFound, "no scheduled message with sequence number %d in %q", sq, e.path())
		}
		it.busy = true
		claimed = append(claimed, uint64(sq))
	}
	s.mu.Unlock()
	p := n.newPlan(dk, n.b.clk.Now(), true)
	for _, seq := range claimed {
		p.b.Delete(n.k.indexKey(e.id, codeScheduled, seq))
		p.b.Delete(n.k.dataKey(e.id, seq))
		seqCopy := seq
		p.onCommit(func() { s.remove(seqCopy) })
	}
	if err := n.apply(ctx, p); err != nil {
		for _, seq := range claimed {
			s.unbusy(seq, 0)
		}
		return err
	}
	return nil
}
