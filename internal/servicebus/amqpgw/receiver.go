package amqpgw

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/amqp"
	"github.com/keyward/keyward/internal/servicebus"
)

// Session filter and link properties of the Service Bus dialect.
const (
	sessionFilterName           = amqp.Symbol("com.microsoft:session-filter")
	sessionFilterCode    uint64 = 0x000000137000000C
	propTimeout                 = amqp.Symbol("com.microsoft:timeout")
	propLockedUntilUTC          = amqp.Symbol("com.microsoft:locked-until-utc")
	maxPumpBatch                = 256 // most messages taken from the broker at once
	maxConcurrentSettles        = 64  // settlements of one link running at once
	releaseTimeout              = 10 * time.Second
)

// receiverLink is a link on which a client receives messages from a queue,
// a subscription or a dead-letter queue. A pump goroutine takes messages
// from the broker while the link has credit (waiting as long as needed)
// and sends them; in peek-lock mode the delivery tag is the lock token and
// the client's outcomes settle the messages.
type receiverLink struct {
	cs   *connState
	l    *amqp.OutgoingLink
	ns   *servicebus.Namespace
	path string
	// rad: receive-and-delete (the client asked for pre-settled transfers);
	// messages are still taken with a lock and completed once sent, so a
	// message never leaves the store without reaching the link.
	rad  bool
	sess *servicebus.Session

	mu            sync.Mutex
	cancelReceive context.CancelFunc // cancels the pump's waiting receive

	wg  sync.WaitGroup // the pump and running settlements
	sem chan struct{}
}

// sessionFilter returns the session-filter of a source: present, and the
// requested session id ("" for the next available session).
func sessionFilter(s *amqp.Source) (bool, string, error) {
	if s == nil || s.Filter == nil {
		return false, "", nil
	}
	f, ok := s.Filter[sessionFilterName]
	if !ok {
		return false, "", nil
	}
	var v any
	switch x := f.(type) {
	case amqp.Described:
		v = x.Value
	case *amqp.Described:
		v = x.Value
	default:
		v = x
	}
	switch id := v.(type) {
	case nil:
		return true, "", nil
	case string:
		return true, id, nil
	case amqp.Symbol:
		return true, string(id), nil
	}
	return true, "", fmt.Errorf("session filter value of type %T", v)
}

// sessionWait is how long an attach for the next available session waits.
func (cs *connState) sessionWait(props map[amqp.Symbol]any) time.Duration {
	switch v := props[propTimeout].(type) {
	case uint32:
		return time.Duration(v) * time.Millisecond
	case uint64:
		return time.Duration(min(v, 1<<40)) * time.Millisecond
	case int32:
		if v > 0 {
			return time.Duration(v) * time.Millisecond
		}
	case int64:
		if v > 0 {
			return time.Duration(min(v, 1<<40)) * time.Millisecond
		}
	}
	return cs.g.cfg.DefaultSessionWait
}

// requiresSession reports whether the receive path's entity requires
// sessions (and checks that it exists).
func requiresSession(ctx context.Context, ns *servicebus.Namespace, ep servicebus.EntityPath) (bool, error) {
	if ep.Subscription != "" {
		s, err := ns.GetSubscription(ctx, ep.Entity, ep.Subscription)
		if err != nil {
			return false, err
		}
		return s.Properties.RequiresSession && ep.SubQueue == servicebus.SubQueueMain, nil
	}
	q, err := ns.GetQueue(ctx, ep.Entity)
	if err != nil {
		if servicebus.CodeOf(err) == servicebus.CodeEntityNotFound {
			if _, terr := ns.GetTopic(ctx, ep.Entity); terr == nil {
				return false, &amqp.Error{Condition: amqp.CondNotAllowed, Description: fmt.Sprintf("cannot receive from topic %q: receive from one of its subscriptions", ep.Entity)}
			}
		}
		return false, err
	}
	return q.Properties.RequiresSession && ep.SubQueue == servicebus.SubQueueMain, nil
}

// attachReceiver accepts a link that receives from a queue, subscription
// or dead-letter queue, with or without a session filter.
func (cs *connState) attachReceiver(ctx context.Context, l *amqp.OutgoingLink, a address) (*amqp.OutgoingOptions, error) {
	ns, _, err := cs.namespace()
	if err != nil {
		return nil, err
	}
	exp, err := cs.authorize(a.authPath(), rightListen)
	if err != nil {
		return nil, err
	}
	if err := checkAvailable(ns); err != nil {
		return nil, err
	}
	att := l.Attach()
	hasFilter, sessionID, err := sessionFilter(att.Source)
	if err != nil {
		return nil, &amqp.Error{Condition: amqp.CondInvalidField, Description: err.Error()}
	}
	needsSession, err := requiresSession(ctx, ns, a.ep)
	if err != nil {
		e, _ := mapError(err)
		return nil, e
	}
	switch {
	case hasFilter && !needsSession:
		return nil, &amqp.Error{Condition: amqp.CondNotAllowed, Description: fmt.Sprintf("%q does not require sessions: receive without a session filter", a.path)}
	case !hasFilter && needsSession:
		return nil, &amqp.Error{Condition: amqp.CondNotAllowed, Description: fmt.Sprintf("%q requires sessions: receive with the com.microsoft:session-filter (accept a session)", a.path)}
	}
	rl := &receiverLink{cs: cs, l: l, ns: ns, path: a.path, rad: att.SenderSettleMode == amqp.SenderSettleModeSettled,
		sem: make(chan struct{}, maxConcurrentSettles)}
	reply := amqp.AttachReply{}
	if hasFilter {
		var sess *servicebus.Session
		if sessionID != "" {
			sess, err = ns.AcceptSession(ctx, a.path, sessionID)
		} else {
			sess, err = ns.AcceptNextSession(ctx, a.path, servicebus.AcceptSessionOptions{MaxWait: cs.sessionWait(att.Properties)})
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, &amqp.Error{Condition: amqp.CondDetachForced, Description: "the link closed while waiting for a session"}
			}
			e, _ := mapError(err)
			return nil, e
		}
		rl.sess = sess
		src := *att.Source
		src.Filter = map[amqp.Symbol]any{}
		for k, v := range att.Source.Filter {
			src.Filter[k] = v
		}
		echo := sessionID // a requested id is echoed exactly as asked (clients compare)
		if echo == "" {
			echo = sess.ID()
		}
		// Echo in the shape the client used: Go and .NET send a described
		// filter, the JavaScript SDK (rhea) a plain string it compares with ===.
		switch att.Source.Filter[sessionFilterName].(type) {
		case amqp.Described, *amqp.Described:
			src.Filter[sessionFilterName] = amqp.Described{Descriptor: sessionFilterCode, Value: echo}
		default:
			src.Filter[sessionFilterName] = echo
		}
		reply.Source = &src
		reply.Properties = map[amqp.Symbol]any{propLockedUntilUTC: dotnetTicks(sess.LockedUntil())}
	}
	name := l.Name()
	cs.mu.Lock()
	cs.receivers[name] = rl
	cs.mu.Unlock()
	stopGuard := cs.guard(a.authPath(), rightListen, exp, l.Close)
	rl.wg.Add(1)
	go rl.pump(ctx)
	return &amqp.OutgoingOptions{
		Reply:         reply,
		OnDisposition: rl.onDisposition,
		OnDrain:       rl.onDrain,
		OnClose: func(error) {
			stopGuard()
			rl.wg.Wait()
			cs.mu.Lock()
			if cs.receivers[name] == rl {
				delete(cs.receivers, name)
			}
			cs.mu.Unlock()
			if rl.sess != nil {
				_ = rl.sess.Close()
			}
		},
	}, nil
}

// receive takes up to n messages, waiting up to wait (peek-lock; see
// receiverLink.rad).
func (rl *receiverLink) receive(ctx context.Context, n int, wait time.Duration) ([]*servicebus.ReceivedMessage, error) {
	opts := servicebus.ReceiveOptions{Mode: servicebus.PeekLock, MaxMessages: n, MaxWait: wait}
	if rl.sess != nil {
		return rl.sess.Receive(ctx, opts)
	}
	return rl.ns.Receive(ctx, rl.path, opts)
}

// pump sends messages while the link has credit.
func (rl *receiverLink) pump(ctx context.Context) {
	defer rl.wg.Done()
	for {
		if err := rl.l.WaitCredit(ctx); err != nil {
			return
		}
		n := int(min(rl.l.Credit(), maxPumpBatch))
		if n == 0 {
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		rl.mu.Lock()
		rl.cancelReceive = cancel
		rl.mu.Unlock()
		msgs, err := rl.receive(rctx, n, servicebus.WaitForever)
		rl.mu.Lock()
		rl.cancelReceive = nil
		rl.mu.Unlock()
		cancel()
		if len(msgs) > 0 {
			if !rl.deliver(ctx, msgs) {
				return
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				continue // a drain interrupted the wait
			}
			e, _ := mapError(err)
			rl.cs.g.log.Debug("amqp receiver detached", "path", rl.path, "err", err)
			rl.l.Close(e)
			return
		}
	}
}

// onDrain sends what is available right now when the client drains.
func (rl *receiverLink) onDrain(ctx context.Context) {
	rl.mu.Lock()
	if rl.cancelReceive != nil {
		rl.cancelReceive()
	}
	rl.mu.Unlock()
	n := int(min(rl.l.Credit(), maxPumpBatch))
	if n == 0 {
		return
	}
	msgs, err := rl.receive(ctx, n, 0)
	if err != nil && len(msgs) == 0 {
		return
	}
	rl.deliver(ctx, msgs)
}

// deliver sends msgs in order; those the link has no credit for are
// released. In receive-and-delete mode the messages are deleted (durably)
// before they are sent, so that a client that has one never finds it still
// in the entity; one the link then fails to take is lost, as
// receive-and-delete's at-most-once contract allows. It returns false once
// the link is gone.
func (rl *receiverLink) deliver(ctx context.Context, msgs []*servicebus.ReceivedMessage) bool {
	if rl.rad {
		if n := int(rl.l.Credit()); n < len(msgs) {
			rl.release(ctx, msgs[n:])
			msgs = msgs[:n]
		}
		toks := make([]uuid.UUID, len(msgs))
		for i, m := range msgs {
			toks[i] = m.LockToken
		}
		if len(toks) > 0 {
			if err := rl.ns.Settle(context.WithoutCancel(ctx), rl.path, toks, servicebus.Disposition{Kind: servicebus.DispositionComplete, Durable: true}); err != nil {
				rl.cs.g.log.Debug("amqp receive-and-delete: delete failed", "path", rl.path, "err", err)
				rl.release(ctx, msgs)
				return ctx.Err() == nil
			}
		}
	}
	alive := true
	for i, m := range msgs {
		payload, err := encodeOutbound(m, outOptions{locked: !rl.rad})
		if err != nil {
			// Sending it again would fail again: stop the link rather than
			// spin on the message.
			if !rl.rad {
				rl.release(ctx, msgs[i:])
			}
			rl.l.Close(&amqp.Error{Condition: amqp.CondInternalError, Description: fmt.Sprintf("message %d cannot be encoded", m.SequenceNumber)})
			alive = false
			break
		}
		if err := rl.l.TrySendPayload(payload, 0, lockTokenTag(m.LockToken), rl.rad); err != nil {
			if rl.rad {
				rl.cs.g.log.Warn("amqp receive-and-delete: deleted messages not delivered", "path", rl.path, "count", len(msgs)-i, "err", err)
			} else {
				rl.release(ctx, msgs[i:])
			}
			switch {
			case errors.Is(err, amqp.ErrNoCredit):
			case errors.Is(err, amqp.ErrMessageTooLarge):
				rl.l.Close(&amqp.Error{Condition: amqp.CondMessageSizeExceeded,
					Description: fmt.Sprintf("message %d (%d bytes) exceeds the link's max-message-size", m.SequenceNumber, len(payload))})
				alive = false
			default:
				alive = false
			}
			break
		}
	}
	return alive && ctx.Err() == nil
}

// release unlocks messages that were not sent, without counting a delivery.
func (rl *receiverLink) release(ctx context.Context, msgs []*servicebus.ReceivedMessage) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	for _, m := range msgs {
		_ = rl.ns.Release(rctx, rl.path, m.LockToken)
	}
}

// onDisposition settles a message with the client's outcome and, unless
// the client settled already, confirms with a settled disposition:
// accepted on success, rejected with the reason otherwise.
func (rl *receiverLink) onDisposition(ctx context.Context, d amqp.Disposition) {
	if !d.Settled {
		if _, received := d.State.(*amqp.Received); received {
			return
		}
	}
	tok, ok := tokenFromTag(d.Tag)
	if !ok {
		if !d.Settled {
			_ = rl.l.Settle(d.Tag, &amqp.Rejected{Error: &amqp.Error{Condition: CondMessageLockLost, Description: "unknown delivery tag"}})
		}
		return
	}
	select {
	case rl.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	rl.wg.Add(1)
	go func() {
		defer rl.wg.Done()
		defer func() { <-rl.sem }()
		err := rl.settle(ctx, tok, d.State)
		if d.Settled {
			return
		}
		var state amqp.DeliveryState = &amqp.Accepted{}
		if err != nil {
			e, _ := mapError(err)
			state = &amqp.Rejected{Error: e}
		}
		_ = rl.l.Settle(d.Tag, state)
	}()
}

// settle applies a client outcome to a locked message.
func (rl *receiverLink) settle(ctx context.Context, tok uuid.UUID, state amqp.DeliveryState) error {
	ns, path := rl.ns, rl.path
	switch s := state.(type) {
	case *amqp.Accepted:
		return ns.Complete(ctx, path, tok)
	case *amqp.Released, nil:
		return ns.Release(ctx, path, tok)
	case *amqp.Modified:
		props := annotationProps(s.MessageAnnotations)
		if s.UndeliverableHere {
			return ns.Defer(ctx, path, tok, props)
		}
		return ns.Abandon(ctx, path, tok, props)
	case *amqp.Rejected:
		reason, desc := "", ""
		var props map[string]any
		if s.Error != nil {
			if s.Error.Condition != CondDeadLetter {
				reason, desc = string(s.Error.Condition), s.Error.Description
			}
			for k, v := range s.Error.Info {
				switch string(k) {
				case servicebus.PropDeadLetterReason:
					reason, _ = v.(string)
				case servicebus.PropDeadLetterDescription:
					desc, _ = v.(string)
				default:
					if cv, ok := fromAMQPValue(v); ok {
						if props == nil {
							props = map[string]any{}
						}
						props[string(k)] = cv
					}
				}
			}
		}
		return ns.DeadLetter(ctx, path, tok, reason, desc, props)
	}
	return &amqp.Error{Condition: amqp.CondNotImplemented, Description: fmt.Sprintf("unsupported outcome %T", state)}
}

// annotationProps turns the annotations of a modified outcome into the
// application properties to modify.
func annotationProps(a amqp.Annotations) map[string]any {
	if len(a) == 0 {
		return nil
	}
	out := make(map[string]any, len(a))
	for k, v := range a {
		if strings.HasPrefix(string(k), "x-opt-") {
			continue
		}
		if cv, ok := fromAMQPValue(v); ok {
			out[string(k)] = cv
		}
	}
	return out
}
