package amqpgw

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/amqp"
	"github.com/keyward/keyward/internal/servicebus"
)

// $management operations.
const (
	opPeek             = "com.microsoft:peek-message"
	opReceiveBySeq     = "com.microsoft:receive-by-sequence-number"
	opRenewLock        = "com.microsoft:renew-lock"
	opUpdateDisp       = "com.microsoft:update-disposition"
	opSchedule         = "com.microsoft:schedule-message"
	opCancelScheduled  = "com.microsoft:cancel-scheduled-message"
	opRenewSessionLock = "com.microsoft:renew-session-lock"
	opGetSessionState  = "com.microsoft:get-session-state"
	opSetSessionState  = "com.microsoft:set-session-state"
	opGetSessions      = "com.microsoft:get-message-sessions"
	opAddRule          = "com.microsoft:add-rule"
	opRemoveRule       = "com.microsoft:remove-rule"
	opEnumerateRules   = "com.microsoft:enumerate-rules"
)

// maxPeek bounds the messages one peek returns, and maxPeekBytes their
// encoded size (a peek may return fewer messages than asked for).
const (
	maxPeek      = 1000
	maxPeekBytes = 8 << 20
)

// badRequest is the reply for an invalid request.
func badRequest(format string, args ...any) reply {
	return reply{status: statusBadRequest, desc: fmt.Sprintf(format, args...), cond: CondArgumentError}
}

// management handles one request on an entity's $management node.
func (cs *connState) management(ctx context.Context, a address, ns *servicebus.Namespace, msg *amqp.Message) reply {
	op := appString(msg, "operation")
	if !strings.HasPrefix(op, "com.microsoft:") && op != "" {
		op = "com.microsoft:" + op
	}
	body, err := bodyMap(msg.Value)
	if err != nil {
		return badRequest("%s: %v", op, err)
	}
	right := rightListen
	switch op {
	case opSchedule, opCancelScheduled:
		right = rightSend
	case opAddRule, opRemoveRule, opEnumerateRules:
		right = rightManage
	}
	if _, err := cs.authorize(a.authPath(), right); err != nil {
		return errReply(err)
	}
	if err := checkAvailable(ns); err != nil {
		return errReply(err)
	}
	assoc := cs.associated(appString(msg, "associated-link-name"), a.path)
	switch op {
	case opPeek:
		return cs.mgmtPeek(ctx, a, ns, body, assoc)
	case opReceiveBySeq:
		return cs.mgmtReceiveBySeq(ctx, a, ns, body, assoc)
	case opRenewLock:
		toks, err := uuidList(body["lock-tokens"])
		if err != nil {
			return badRequest("lock-tokens: %v", err)
		}
		exps, err := ns.RenewLock(ctx, a.path, toks)
		if err != nil {
			return errReply(err)
		}
		out := make([]time.Time, len(exps))
		for i, t := range exps {
			out[i] = t.UTC()
		}
		return okReply(map[string]any{"expirations": out})
	case opUpdateDisp:
		return cs.mgmtUpdateDisposition(ctx, a, ns, body)
	case opSchedule:
		return cs.mgmtSchedule(ctx, a, ns, body)
	case opCancelScheduled:
		seqs, err := int64List(body["sequence-numbers"])
		if err != nil {
			return badRequest("sequence-numbers: %v", err)
		}
		if err := ns.CancelScheduled(ctx, a.path, seqs); err != nil {
			return errReply(err)
		}
		return okReply(nil)
	case opRenewSessionLock, opGetSessionState, opSetSessionState:
		return cs.mgmtSession(ctx, op, a, body, assoc)
	case opGetSessions:
		return cs.mgmtGetSessions(ctx, a, ns, body)
	case opAddRule, opRemoveRule, opEnumerateRules:
		return cs.mgmtRules(ctx, op, a, ns, body)
	}
	return reply{status: statusBadRequest, desc: fmt.Sprintf("unsupported $management operation %q", op), cond: amqp.CondNotImplemented}
}

// associated returns the receiver named by associated-link-name if it
// receives from path.
func (cs *connState) associated(name, path string) *receiverLink {
	if name == "" {
		return nil
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	rl := cs.receivers[name]
	if rl == nil || !strings.EqualFold(rl.path, path) {
		return nil
	}
	return rl
}

// sessionFor finds the session a session operation names: the session of
// the associated receiver, or a session of path locked by a receiver of this
// connection.
func (cs *connState) sessionFor(path, id string, assoc *receiverLink) (*servicebus.Session, error) {
	if assoc != nil && assoc.sess != nil && (id == "" || strings.EqualFold(assoc.sess.ID(), id)) {
		return assoc.sess, nil
	}
	if id == "" {
		return nil, &amqp.Error{Condition: CondArgumentError, Description: "session-id is required"}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, rl := range cs.receivers {
		if rl.sess != nil && strings.EqualFold(rl.path, path) && strings.EqualFold(rl.sess.ID(), id) {
			return rl.sess, nil
		}
	}
	return nil, &amqp.Error{Condition: CondSessionLockLost, Description: fmt.Sprintf("session %q of %q is not locked by a receiver of this connection", id, path)}
}

// encodeList encodes messages as the list of {message[, lock-token]} maps
// of peek and receive-by-sequence-number replies; with maxBytes > 0 it stops
// (after at least one message) once the list would exceed maxBytes.
func encodeList(msgs []*servicebus.ReceivedMessage, o outOptions, maxBytes int) ([]any, error) {
	out := make([]any, 0, len(msgs))
	total := 0
	for _, m := range msgs {
		b, err := encodeOutbound(m, o)
		if err != nil {
			return nil, err
		}
		total += len(b)
		if maxBytes > 0 && len(out) > 0 && total > maxBytes {
			break
		}
		entry := map[string]any{"message": b}
		if o.lockTokenAnnotation {
			entry["lock-token"] = amqp.UUID(m.LockToken)
		}
		out = append(out, entry)
	}
	return out, nil
}

func (cs *connState) mgmtPeek(ctx context.Context, a address, ns *servicebus.Namespace, body map[string]any, assoc *receiverLink) reply {
	from, _ := int64Of(body["from-sequence-number"])
	count, ok := int64Of(body["message-count"])
	if !ok || count <= 0 {
		return badRequest("message-count must be a positive int")
	}
	count = min(count, maxPeek)
	var msgs []*servicebus.ReceivedMessage
	var err error
	sid, _ := body["session-id"].(string)
	switch {
	case sid != "" || (assoc != nil && assoc.sess != nil):
		sess, serr := cs.sessionFor(a.path, sid, assoc)
		if serr != nil {
			return errReply(serr)
		}
		msgs, err = sess.Peek(ctx, from, int(count))
	default:
		msgs, err = ns.Peek(ctx, a.path, from, int(count))
	}
	if err != nil {
		return errReply(err)
	}
	if len(msgs) == 0 {
		return reply{status: statusNoContent, desc: "No messages"}
	}
	list, err := encodeList(msgs, outOptions{peeked: true}, maxPeekBytes)
	if err != nil {
		return errReply(err)
	}
	return okReply(map[string]any{"messages": list})
}

func (cs *connState) mgmtReceiveBySeq(ctx context.Context, a address, ns *servicebus.Namespace, body map[string]any, assoc *receiverLink) reply {
	seqs, err := int64List(body["sequence-numbers"])
	if err != nil {
		return badRequest("sequence-numbers: %v", err)
	}
	mode := servicebus.PeekLock
	if m, ok := int64Of(body["receiver-settle-mode"]); ok && m == 0 {
		mode = servicebus.ReceiveAndDelete
	}
	var msgs []*servicebus.ReceivedMessage
	sid, _ := body["session-id"].(string)
	switch {
	case sid != "" || (assoc != nil && assoc.sess != nil):
		sess, serr := cs.sessionFor(a.path, sid, assoc)
		if serr != nil {
			return errReply(serr)
		}
		msgs, err = sess.ReceiveDeferred(ctx, seqs, mode)
	default:
		msgs, err = ns.ReceiveDeferred(ctx, a.path, seqs, mode)
	}
	if err != nil {
		return errReply(err)
	}
	if len(msgs) == 0 {
		return reply{status: statusNoContent, desc: "No messages"}
	}
	list, err := encodeList(msgs, outOptions{locked: mode == servicebus.PeekLock, lockTokenAnnotation: mode == servicebus.PeekLock}, 0)
	if err != nil {
		return errReply(err)
	}
	return okReply(map[string]any{"messages": list})
}

func (cs *connState) mgmtUpdateDisposition(ctx context.Context, a address, ns *servicebus.Namespace, body map[string]any) reply {
	toks, err := uuidList(body["lock-tokens"])
	if err != nil {
		return badRequest("lock-tokens: %v", err)
	}
	status, _ := stringOf(body["disposition-status"])
	var d servicebus.Disposition
	switch strings.ToLower(status) {
	case "completed":
		d.Kind = servicebus.DispositionComplete
	case "abandoned":
		d.Kind = servicebus.DispositionAbandon
	case "defered", "deferred":
		d.Kind = servicebus.DispositionDefer
	case "suspended":
		d.Kind = servicebus.DispositionDeadLetter
		d.DeadLetterReason, _ = stringOf(body["deadletter-reason"])
		d.DeadLetterDescription, _ = stringOf(body["deadletter-description"])
	default:
		return badRequest("unknown disposition-status %q", status)
	}
	if p, ok := body["properties-to-modify"]; ok && p != nil {
		m, err := bodyMap(p)
		if err != nil {
			return badRequest("properties-to-modify: %v", err)
		}
		d.Properties = map[string]any{}
		for k, v := range m {
			if cv, ok := fromAMQPValue(v); ok {
				d.Properties[k] = cv
			}
		}
	}
	if err := ns.Settle(ctx, a.path, toks, d); err != nil {
		return errReply(err)
	}
	return okReply(nil)
}

func (cs *connState) mgmtSchedule(ctx context.Context, a address, ns *servicebus.Namespace, body map[string]any) reply {
	list, ok := body["messages"].([]any)
	if !ok || len(list) == 0 {
		return badRequest("messages must be a non-empty list")
	}
	msgs := make([]servicebus.Message, 0, len(list))
	for i, e := range list {
		entry, err := bodyMap(e)
		if err != nil {
			return badRequest("messages[%d]: %v", i, err)
		}
		raw, ok := entry["message"].([]byte)
		if !ok {
			return badRequest("messages[%d].message must be binary", i)
		}
		m, err := decodeInbound(raw)
		if err != nil {
			return badRequest("messages[%d]: %v", i, err)
		}
		if id, ok := stringOf(entry["message-id"]); ok && m.MessageID == "" {
			m.MessageID = id
		}
		if sid, ok := stringOf(entry["session-id"]); ok && m.SessionID == "" {
			m.SessionID = sid
		}
		if pk, ok := stringOf(entry["partition-key"]); ok && m.PartitionKey == "" {
			m.PartitionKey = pk
		}
		if m.ScheduledEnqueueTime.IsZero() {
			return badRequest("messages[%d] has no x-opt-scheduled-enqueue-time annotation", i)
		}
		msgs = append(msgs, m)
	}
	seqs, err := ns.Schedule(ctx, a.path, msgs)
	if err != nil {
		return errReply(err)
	}
	return okReply(map[string]any{"sequence-numbers": seqs})
}

func (cs *connState) mgmtSession(ctx context.Context, op string, a address, body map[string]any, assoc *receiverLink) reply {
	id, _ := stringOf(body["session-id"])
	sess, err := cs.sessionFor(a.path, id, assoc)
	if err != nil {
		return errReply(err)
	}
	switch op {
	case opRenewSessionLock:
		t, err := sess.RenewLock(ctx)
		if err != nil {
			return errReply(err)
		}
		return okReply(map[string]any{"expiration": t.UTC()})
	case opGetSessionState:
		st, err := sess.State(ctx)
		if err != nil {
			return errReply(err)
		}
		var v any
		if st != nil {
			v = st
		}
		return okReply(map[string]any{"session-state": v})
	default:
		var st []byte
		switch v := body["session-state"].(type) {
		case nil:
		case []byte:
			st = v
		default:
			return badRequest("session-state must be binary or null, not %T", v)
		}
		if err := sess.SetState(ctx, st); err != nil {
			return errReply(err)
		}
		return okReply(nil)
	}
}

// farFuture is the last-updated-time clients send to ask for every session
// with messages or state (.NET's DateTime.MaxValue and beyond).
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func (cs *connState) mgmtGetSessions(ctx context.Context, a address, ns *servicebus.Namespace, body map[string]any) reply {
	var last time.Time
	if t, ok := body["last-updated-time"].(time.Time); ok && t.Before(farFuture) {
		last = t
	}
	skip, _ := int64Of(body["skip"])
	top, ok := int64Of(body["top"])
	if !ok {
		top = 0
	}
	ids, err := ns.ListSessions(ctx, a.path, last, int(max(skip, 0)), int(max(top, 0)))
	if err != nil {
		return errReply(err)
	}
	if len(ids) == 0 {
		return reply{status: statusNoContent, desc: "No sessions"}
	}
	return okReply(map[string]any{"sessions-ids": ids, "skip": int32(skip)})
}

// bodyMap converts a request body (a map with string or symbol keys) to a
// map with string keys; nil is an empty map.
func bodyMap(v any) (map[string]any, error) {
	switch m := v.(type) {
	case nil:
		return map[string]any{}, nil
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, val := range m {
			switch k := k.(type) {
			case string:
				out[k] = val
			case amqp.Symbol:
				out[string(k)] = val
			default:
				return nil, fmt.Errorf("map key of type %T", k)
			}
		}
		return out, nil
	case map[string]any:
		return m, nil
	}
	return nil, fmt.Errorf("body is %T, not a map", v)
}

func stringOf(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case amqp.Symbol:
		return string(s), true
	}
	return "", false
}

func int64Of(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint64:
		if x <= 1<<62 {
			return int64(x), true
		}
	}
	return 0, false
}

func int64List(v any) ([]int64, error) {
	switch x := v.(type) {
	case []int64:
		return x, nil
	case []any:
		out := make([]int64, len(x))
		for i, e := range x {
			n, ok := int64Of(e)
			if !ok {
				return nil, fmt.Errorf("element %d is %T, not a long", i, e)
			}
			out[i] = n
		}
		return out, nil
	case amqp.Array:
		return int64List([]any(x))
	case []int32:
		out := make([]int64, len(x))
		for i, e := range x {
			out[i] = int64(e)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%T is not an array of long", v)
}

func uuidList(v any) ([]uuid.UUID, error) {
	switch x := v.(type) {
	case []amqp.UUID:
		out := make([]uuid.UUID, len(x))
		for i, u := range x {
			out[i] = uuid.UUID(u)
		}
		return out, nil
	case []any:
		out := make([]uuid.UUID, len(x))
		for i, e := range x {
			u, ok := e.(amqp.UUID)
			if !ok {
				return nil, fmt.Errorf("element %d is %T, not a uuid", i, e)
			}
			out[i] = uuid.UUID(u)
		}
		return out, nil
	case amqp.Array:
		return uuidList([]any(x))
	}
	return nil, fmt.Errorf("%T is not an array of uuid", v)
}
