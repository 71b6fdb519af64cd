package amqpgw

import (
	"context"
	"fmt"
	"sync"

	"github.com/keyward/keyward/internal/amqp"
	"github.com/keyward/keyward/internal/servicebus"
)

// senderCredit is the number of deliveries a client may have in flight on
// one sender link.
const senderCredit = 256

// senderLink is a link on which a client sends messages to a queue or
// topic. Deliveries are stored in order by the link's worker goroutine
// (started with the first delivery, ended when the link closes);
// those that arrive while a store write is running are stored together
// with the next one (one durable write), and each is accepted only once
// the broker has committed it.
type senderLink struct {
	cs   *connState
	ns   *servicebus.Namespace
	path string

	mu      sync.Mutex
	pending []*amqp.Delivery
	started bool
	closed  bool
	wake    chan struct{} // a delivery is pending (capacity 1)
	wg      sync.WaitGroup
}

// entityMaxBytes returns the largest message a queue or topic accepts.
func entityMaxBytes(ctx context.Context, ns *servicebus.Namespace, name string) (int64, error) {
	kb := int64(0)
	if q, err := ns.GetQueue(ctx, name); err == nil {
		kb = q.Properties.MaxMessageSizeInKilobytes
	} else if servicebus.CodeOf(err) != servicebus.CodeEntityNotFound {
		return 0, err
	} else if t, terr := ns.GetTopic(ctx, name); terr == nil {
		kb = t.Properties.MaxMessageSizeInKilobytes
	} else {
		return 0, terr
	}
	if kb <= 0 {
		kb = servicebus.StandardMaxMessageSizeKB
	}
	return kb * 1024, nil
}

// attachSender accepts a link that sends to a queue or topic.
func (cs *connState) attachSender(ctx context.Context, l *amqp.IncomingLink, a address) (*amqp.IncomingOptions, error) {
	ns, _, err := cs.namespace()
	if err != nil {
		return nil, err
	}
	exp, err := cs.authorize(a.authPath(), rightSend)
	if err != nil {
		return nil, err
	}
	if err := checkAvailable(ns); err != nil {
		return nil, err
	}
	if a.ep.Subscription != "" || a.ep.SubQueue != servicebus.SubQueueMain {
		return nil, &amqp.Error{Condition: amqp.CondNotAllowed, Description: fmt.Sprintf("cannot send to %q: send to a queue or topic", a.path)}
	}
	maxBytes, err := entityMaxBytes(ctx, ns, a.ep.Entity)
	if err != nil {
		e, _ := mapError(err)
		return nil, e
	}
	sl := &senderLink{cs: cs, ns: ns, path: a.path, wake: make(chan struct{}, 1)}
	opts := &amqp.IncomingOptions{
		SettleOutcomes: true,
		Reply:          amqp.AttachReply{MaxMessageSize: uint64(maxBytes)},
		Credit:         senderCredit,
		OnDelivery:     sl.onDelivery,
		OnClose: func(error) {
			sl.mu.Lock()
			sl.closed = true
			sl.mu.Unlock()
			sl.signal()
			sl.wg.Wait()
		},
	}
	cs.guardOnClose(opts, a.authPath(), rightSend, exp, l.Close)
	return opts, nil
}

// signal wakes the worker.
func (sl *senderLink) signal() {
	select {
	case sl.wake <- struct{}{}:
	default:
	}
}

// onDelivery queues a delivery for the link's worker.
func (sl *senderLink) onDelivery(ctx context.Context, d *amqp.Delivery) {
	sl.mu.Lock()
	sl.pending = append(sl.pending, d)
	if !sl.started {
		sl.started = true
		sl.wg.Add(1)
		go sl.work(ctx)
	}
	sl.mu.Unlock()
	sl.signal()
}

// work stores queued deliveries until the link closes (after storing what
// was queued before it closed).
func (sl *senderLink) work(ctx context.Context) {
	defer sl.wg.Done()
	for {
		sl.mu.Lock()
		batch, closed := sl.pending, sl.closed
		sl.pending = nil
		sl.mu.Unlock()
		if len(batch) > 0 {
			sl.store(ctx, batch)
			continue
		}
		if closed {
			return
		}
		<-sl.wake
	}
}

// parsed is a delivery with its messages.
type parsed struct {
	d    *amqp.Delivery
	msgs []servicebus.Message
}

// store stores a group of deliveries: all in one durable write when every
// one is valid, otherwise one by one so each gets its own outcome.
func (sl *senderLink) store(ctx context.Context, batch []*amqp.Delivery) {
	var ok []parsed
	for _, d := range batch {
		msgs, err := decodeDelivery(d)
		if err != nil {
			_ = d.Reject(&amqp.Error{Condition: amqp.CondDecodeError, Description: err.Error()})
			continue
		}
		ok = append(ok, parsed{d: d, msgs: msgs})
	}
	if len(ok) == 0 {
		return
	}
	if len(ok) > 1 {
		var all []servicebus.Message
		for _, p := range ok {
			all = append(all, p.msgs...)
		}
		if err := sl.ns.Send(ctx, sl.path, all); err == nil {
			for _, p := range ok {
				_ = p.d.Accept()
			}
			return
		}
	}
	for _, p := range ok {
		if err := sl.ns.Send(ctx, sl.path, p.msgs); err != nil {
			e, _ := mapError(err)
			_ = p.d.Reject(e)
			continue
		}
		_ = p.d.Accept()
	}
}

// decodeDelivery decodes a single message or a batch (message-format
// 0x80013700).
func decodeDelivery(d *amqp.Delivery) ([]servicebus.Message, error) {
	if d.Format == amqp.MessageFormatBatch {
		return decodeBatch(d.Payload)
	}
	m, err := decodeInbound(d.Payload)
	if err != nil {
		return nil, err
	}
	return []servicebus.Message{m}, nil
}
