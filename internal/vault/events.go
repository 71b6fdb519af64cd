package vault

import (
	"log/slog"
	"sync"

	"github.com/google/uuid"
)

// maxQueuedEvents bounds a subscriber's backlog; beyond it the oldest
// events are dropped (and a warning logged) rather than growing without
// bound or blocking an operation.
const maxQueuedEvents = 100000

// publisher delivers events to subscribers, each on its own goroutine, in
// publication order (so in order per vault).
type publisher struct {
	log    *slog.Logger
	mu     sync.Mutex
	subs   map[uint64]*subscriber
	next   uint64
	closed bool
}

type subscriber struct {
	fn     func(Event)
	mu     sync.Mutex
	queue  []Event
	signal chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newPublisher(log *slog.Logger) *publisher {
	return &publisher{log: log, subs: map[uint64]*subscriber{}}
}

func (p *publisher) subscribe(fn func(Event)) func() {
	sub := &subscriber{fn: fn, signal: make(chan struct{}, 1), done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return func() {}
	}
	id := p.next
	p.next++
	p.subs[id] = sub
	p.mu.Unlock()
	go sub.run(p.log)
	return func() {
		p.mu.Lock()
		delete(p.subs, id)
		p.mu.Unlock()
		sub.stop()
	}
}

func (sub *subscriber) stop() { sub.once.Do(func() { close(sub.done) }) }

func (sub *subscriber) run(log *slog.Logger) {
	for {
		select {
		case <-sub.done:
			return
		case <-sub.signal:
		}
		for {
			sub.mu.Lock()
			batch := sub.queue
			sub.queue = nil
			sub.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, e := range batch {
				select {
				case <-sub.done:
					return
				default:
				}
				deliver(log, sub.fn, e)
			}
		}
	}
}

func deliver(log *slog.Logger, fn func(Event), e Event) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("vault: event subscriber panicked", "event", e.Type, "panic", r)
		}
	}()
	fn(e)
}

// publish queues e for every subscriber without blocking.
func (p *publisher) publish(e Event) {
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	p.mu.Lock()
	subs := make([]*subscriber, 0, len(p.subs))
	for _, s := range p.subs {
		subs = append(subs, s)
	}
	p.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		if len(s.queue) >= maxQueuedEvents {
			s.queue = s.queue[1:]
			p.log.Warn("vault: event subscriber is too slow; dropped its oldest event")
		}
		s.queue = append(s.queue, e)
		s.mu.Unlock()
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}
}

func (p *publisher) close() {
	p.mu.Lock()
	p.closed = true
	subs := p.subs
	p.subs = map[uint64]*subscriber{}
	p.mu.Unlock()
	for _, s := range subs {
		s.stop()
	}
}
