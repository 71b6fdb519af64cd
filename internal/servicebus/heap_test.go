package servicebus

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSeqHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h seqHeap
	var want []uint64
	for range 5000 {
		v := rng.Uint64N(10000)
		h.push(v)
		want = append(want, v)
	}
	h.filter(func(v uint64) bool { return v%3 != 0 })
	want = slices.DeleteFunc(want, func(v uint64) bool { return v%3 == 0 })
	slices.Sort(want)
	for i, w := range want {
		got, ok := h.pop()
		if !ok || got != w {
			t.Fatalf("pop %d = %d, %v; want %d", i, got, ok, w)
		}
	}
	if _, ok := h.pop(); ok {
		t.Fatal("heap not empty")
	}
}

func TestWaitQueueFairnessAndHandoff(t *testing.T) {
	var q waitQueue
	a, b, c := newWaiter(), newWaiter(), newWaiter()
	q.add(a)
	q.add(b)
	q.add(c)
	q.wake(1)
	if len(a.ch) != 1 || len(b.ch) != 0 {
		t.Fatal("the oldest waiter was not woken first")
	}
	// a was signalled but gives up (timeout, cancellation): b inherits the signal.
	q.leave(a)
	if len(b.ch) != 1 || len(c.ch) != 0 {
		t.Fatal("signal not handed on")
	}
	// b, woken but unlucky, queues again ahead of c.
	<-b.ch
	q.add(b)
	q.wake(1)
	if len(b.ch) != 1 || len(c.ch) != 0 {
		t.Fatal("a re-queued waiter lost its place")
	}
	q.leave(c)
	if len(q.list) != 0 {
		t.Fatalf("%d waiters left", len(q.list))
	}
}

func FuzzDecodeIndexAndState(f *testing.F) {
	f.Add((&indexEntry{Size: 10, Expires: 5, Sess: 2, SchedAt: 9}).encode())
	f.Add((&indexEntry{Size: 10, Expires: 5, Sess: 2, Deliveries: 4}).encode())
	f.Add(stateRecord{updated: t0, state: []byte("s")}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if x, err := decodeIndex(b); err == nil {
			if y, err := decodeIndex(x.encode()); err != nil || y != x {
				t.Fatalf("index round trip: %+v %+v %v", x, y, err)
			}
		}
		if s, err := decodeState(b); err == nil {
			if _, err := decodeState(s.encode()); err != nil {
				t.Fatal(err)
			}
		}
		if m, err := decodeProps(b); err == nil {
			again, err := encodeProps(m)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeProps(again); err != nil {
				t.Fatal(err)
			}
		}
	})
}
