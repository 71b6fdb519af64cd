package servicebus

// seqHeap is a min-heap of sequence numbers: 8 bytes per available message.
type seqHeap []uint64

func (h *seqHeap) push(v uint64) {
	*h = append(*h, v)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p] <= s[i] {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *seqHeap) pop() (uint64, bool) {
	s := *h
	if len(s) == 0 {
		return 0, false
	}
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r] < s[l] {
			m = r
		}
		if s[i] <= s[m] {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	if cap(s) > 1024 && len(s) < cap(s)/4 {
		*h = append(seqHeap(nil), s...)
	}
	return top, true
}

func (h seqHeap) len() int { return len(h) }

// filter keeps only the entries keep accepts and restores the heap order.
func (h *seqHeap) filter(keep func(uint64) bool) {
	s := (*h)[:0]
	for _, v := range *h {
		if keep(v) {
			s = append(s, v)
		}
	}
	out := make(seqHeap, 0, len(s))
	for _, v := range s {
		out.push(v)
	}
	*h = out
}

// deadline is an entry of a dlHeap: something identified by id is due at at
// (unix nanoseconds).
type deadline struct {
	at int64
	id uint64
}

// dlHeap is a min-heap of deadlines. Entries may be stale; users check the
// current state when an entry is popped.
type dlHeap []deadline

func (h *dlHeap) push(d deadline) {
	*h = append(*h, d)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].at <= s[i].at {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h dlHeap) peek() (deadline, bool) {
	if len(h) == 0 {
		return deadline{}, false
	}
	return h[0], true
}

func (h *dlHeap) pop() (deadline, bool) {
	s := *h
	if len(s) == 0 {
		return deadline{}, false
	}
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r].at < s[l].at {
			m = r
		}
		if s[i].at <= s[m].at {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top, true
}

// waiter is a blocked receive or accept-session call.
type waiter struct {
	ch     chan struct{} // buffered 1: a signal to try again
	queued bool
	woken  bool // has been woken at least once: re-queued at the front
}

func newWaiter() *waiter { return &waiter{ch: make(chan struct{}, 1)} }

// waitQueue is a FIFO of waiters: new messages wake the longest-waiting
// receivers first, which makes delivery fair among concurrent receivers.
type waitQueue struct{ list []*waiter }

func (q *waitQueue) add(w *waiter) {
	if w.queued {
		return
	}
	w.queued = true
	if w.woken {
		q.list = append([]*waiter{w}, q.list...)
		return
	}
	q.list = append(q.list, w)
}

func (q *waitQueue) remove(w *waiter) {
	if !w.queued {
		return
	}
	for i, x := range q.list {
		if x == w {
			q.list = append(q.list[:i], q.list[i+1:]...)
			break
		}
	}
	w.queued = false
}

// leave takes a waiter that stops waiting out of the queue; if it had
// already been signalled, the signal passes to the next waiter so no
// wakeup is lost.
func (q *waitQueue) leave(w *waiter) {
	if w.queued {
		q.remove(w)
		return
	}
	if w.woken {
		select {
		case <-w.ch:
			q.wake(1)
		default:
		}
	}
}

// wake signals up to n waiters, oldest first.
func (q *waitQueue) wake(n int) {
	for n > 0 && len(q.list) > 0 {
		w := q.list[0]
		q.list[0] = nil
		q.list = q.list[1:]
		w.queued = false
		w.woken = true
		select {
		case w.ch <- struct{}{}:
		default:
		}
		n--
	}
	if len(q.list) == 0 {
		q.list = nil
	}
}

// wakeAll signals every waiter (entity deleted, broker closing).
func (q *waitQueue) wakeAll() { q.wake(len(q.list)) }
