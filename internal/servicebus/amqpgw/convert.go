package amqpgw

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/amqp"
	"github.com/keyward/keyward/internal/servicebus"
)

// Message annotations and delivery annotations of the Service Bus dialect.
const (
	annSequenceNumber        amqp.Symbol = "x-opt-sequence-number"
	annEnqueuedTime          amqp.Symbol = "x-opt-enqueued-time"
	annLockedUntil           amqp.Symbol = "x-opt-locked-until"
	annEnqueueSequenceNumber amqp.Symbol = "x-opt-enqueue-sequence-number"
	annDeadLetterSource      amqp.Symbol = "x-opt-deadletter-source"
	annMessageState          amqp.Symbol = "x-opt-message-state"
	annPartitionKey          amqp.Symbol = "x-opt-partition-key"
	annViaPartitionKey       amqp.Symbol = "x-opt-via-partition-key"
	annScheduledEnqueueTime  amqp.Symbol = "x-opt-scheduled-enqueue-time"
	annLockToken             amqp.Symbol = "x-opt-lock-token"
)

// timespanDescriptor is how .NET clients encode a TimeSpan application
// property: a described long of 100 ns ticks.
const timespanDescriptor amqp.Symbol = "com.microsoft:timespan"

// brokerAnnotations are the annotations the broker owns: a sender's values
// for them are dropped on delivery and replaced by the broker's.
var brokerAnnotations = map[amqp.Symbol]bool{
	annSequenceNumber: true, annEnqueuedTime: true, annLockedUntil: true,
	annEnqueueSequenceNumber: true, annDeadLetterSource: true, annMessageState: true,
	annScheduledEnqueueTime: true, annPartitionKey: true,
}

// ticksAtUnixEpoch is 1970-01-01 in .NET ticks (100 ns since 0001-01-01).
const ticksAtUnixEpoch = 621355968000000000

// dotnetTicks converts t to .NET ticks (DateTime.Ticks in UTC).
func dotnetTicks(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()*10_000_000 + int64(t.Nanosecond()/100) + ticksAtUnixEpoch
}

// lockTokenTag encodes a lock token as a delivery tag in .NET GUID byte
// order: the first three groups little-endian.
func lockTokenTag(tok uuid.UUID) []byte {
	b := make([]byte, 16)
	copy(b, tok[:])
	b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
	b[4], b[5] = b[5], b[4]
	b[6], b[7] = b[7], b[6]
	return b
}

// tokenFromTag is the inverse of lockTokenTag.
func tokenFromTag(tag []byte) (uuid.UUID, bool) {
	if len(tag) != 16 {
		return uuid.UUID{}, false
	}
	var u uuid.UUID
	copy(u[:], tag)
	u[0], u[1], u[2], u[3] = u[3], u[2], u[1], u[0]
	u[4], u[5] = u[5], u[4]
	u[6], u[7] = u[7], u[6]
	return u, true
}

// idString renders a message-id or correlation-id (string, uint64, UUID
// or binary) as the string the broker keeps.
func idString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case uint64:
		return strconv.FormatUint(x, 10)
	case amqp.UUID:
		return x.String()
	case []byte:
		return hex.EncodeToString(x)
	}
	return ""
}

// fromAMQPValue converts an application property value to a type the
// broker stores; ok is false for values it cannot hold (lists, maps,
// decimals, arrays, other described values), which are kept only in Raw.
func fromAMQPValue(v any) (any, bool) {
	switch x := v.(type) {
	case nil, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
		float32, float64, string, []byte:
		return v, true
	case time.Time:
		return x.UTC(), true
	case amqp.Symbol:
		return string(x), true
	case amqp.Char:
		return string(rune(x)), true
	case amqp.UUID:
		return uuid.UUID(x), true
	case amqp.Described:
		if d, ok := x.Descriptor.(amqp.Symbol); ok && d == timespanDescriptor {
			if ticks, ok := x.Value.(int64); ok {
				return time.Duration(ticks) * 100, true
			}
		}
	}
	return nil, false
}

// toAMQPValue converts a stored application property value to the AMQP
// value sent to receivers.
func toAMQPValue(v any) any {
	switch x := v.(type) {
	case uuid.UUID:
		return amqp.UUID(x)
	case time.Duration:
		return amqp.Described{Descriptor: timespanDescriptor, Value: int64(x / 100)}
	case int:
		return int64(x)
	case uint:
		return uint64(x)
	}
	return v
}

// decodeInbound turns one encoded message a client sent into the broker's
// message. Raw keeps the whole message as received (without delivery
// annotations, which are per hop), so nothing the broker does not model is
// lost.
func decodeInbound(payload []byte) (servicebus.Message, error) {
	var am amqp.Message
	if err := am.UnmarshalBinary(payload); err != nil {
		return servicebus.Message{}, err
	}
	return fromAMQPMessage(&am, payload)
}

// fromAMQPMessage converts a decoded message; payload is its encoding.
func fromAMQPMessage(am *amqp.Message, payload []byte) (servicebus.Message, error) {
	var m servicebus.Message
	if p := am.Properties; p != nil {
		m.MessageID = idString(p.MessageID)
		m.CorrelationID = idString(p.CorrelationID)
		m.SessionID = p.GroupID
		m.Subject = p.Subject
		m.To = p.To
		m.ReplyTo = p.ReplyTo
		m.ReplyToSessionID = p.ReplyToGroupID
		m.ContentType = string(p.ContentType)
	}
	if h := am.Header; h != nil {
		m.TimeToLive = h.TTL
	}
	if ma := am.MessageAnnotations; ma != nil {
		switch pk := ma[annPartitionKey].(type) {
		case string:
			m.PartitionKey = pk
		case amqp.Symbol:
			m.PartitionKey = string(pk)
		}
		if t, ok := ma[annScheduledEnqueueTime].(time.Time); ok {
			m.ScheduledEnqueueTime = t
		}
	}
	if len(am.ApplicationProperties) > 0 {
		m.ApplicationProperties = make(map[string]any, len(am.ApplicationProperties))
		for k, v := range am.ApplicationProperties {
			if cv, ok := fromAMQPValue(v); ok {
				m.ApplicationProperties[k] = cv
			}
		}
	}
	switch {
	case len(am.Data) == 1:
		m.Body = am.Data[0]
	case len(am.Data) > 1:
		for _, d := range am.Data {
			m.Body = append(m.Body, d...)
		}
	default:
		switch v := am.Value.(type) {
		case string:
			m.Body = []byte(v)
		case []byte:
			m.Body = v
		}
	}
	raw := payload
	if am.DeliveryAnnotations != nil {
		stripped := amqp.Message{Header: am.Header, MessageAnnotations: am.MessageAnnotations, Footer: am.Footer, RawBare: am.BareMessage()}
		if stripped.RawBare == nil {
			stripped.RawBare = []byte{}
		}
		b, err := stripped.MarshalBinary()
		if err != nil {
			return servicebus.Message{}, fmt.Errorf("re-encode message: %w", err)
		}
		raw = b
	}
	m.Raw = append([]byte(nil), raw...)
	return m, nil
}

// decodeBatch splits a batch delivery (message-format 0x80013700) into its
// messages.
func decodeBatch(payload []byte) ([]servicebus.Message, error) {
	var env amqp.Message
	if err := env.UnmarshalBinary(payload); err != nil {
		return nil, fmt.Errorf("batch envelope: %w", err)
	}
	if len(env.Data) == 0 {
		return nil, errors.New("batch without messages")
	}
	out := make([]servicebus.Message, 0, len(env.Data))
	for i, d := range env.Data {
		m, err := decodeInbound(d)
		if err != nil {
			return nil, fmt.Errorf("batch message %d: %w", i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// outOptions say what kind of delivery a message is encoded for.
type outOptions struct {
	// locked adds x-opt-locked-until (peek-lock deliveries).
	locked bool
	// lockTokenAnnotation adds the delivery annotation x-opt-lock-token
	// (messages returned by receive-by-sequence-number).
	lockTokenAnnotation bool
	// peeked: the header delivery-count is the number of past deliveries.
	peeked bool
}

// encodeOutbound encodes a stored message for a receiver: the sender's
// message (Raw) with the broker's header values and annotations, and the
// properties and application properties taken from the typed fields, which
// are authoritative.
func encodeOutbound(rm *servicebus.ReceivedMessage, o outOptions) ([]byte, error) {
	var base amqp.Message
	hasRaw := false
	if len(rm.Raw) > 0 {
		if err := base.UnmarshalBinary(rm.Raw); err == nil {
			hasRaw = true
		} else {
			base = amqp.Message{}
		}
	}
	var out amqp.Message

	h := amqp.Header{Priority: 4}
	if base.Header != nil {
		h = *base.Header
	}
	dc := int64(rm.DeliveryCount)
	if !o.peeked {
		dc--
	}
	h.DeliveryCount = uint32(max(dc, 0))
	ttl := rm.TimeToLive
	if ttl <= 0 && !rm.ExpiresAt.IsZero() && !rm.EnqueuedTime.IsZero() {
		ttl = rm.ExpiresAt.Sub(rm.EnqueuedTime)
	}
	if ttl > time.Duration(math.MaxUint32)*time.Millisecond {
		ttl = time.Duration(math.MaxUint32) * time.Millisecond
	}
	h.TTL = max(ttl, 0)
	out.Header = &h

	ma := amqp.Annotations{}
	for k, v := range base.MessageAnnotations {
		if !brokerAnnotations[k] {
			ma[k] = v
		}
	}
	ma[annSequenceNumber] = rm.SequenceNumber
	if !rm.EnqueuedTime.IsZero() {
		ma[annEnqueuedTime] = rm.EnqueuedTime.UTC()
	}
	if rm.EnqueuedSequenceNumber != 0 {
		ma[annEnqueueSequenceNumber] = rm.EnqueuedSequenceNumber
	}
	if o.locked && !rm.LockedUntil.IsZero() {
		ma[annLockedUntil] = rm.LockedUntil.UTC()
	}
	if rm.DeadLetterSource != "" {
		ma[annDeadLetterSource] = rm.DeadLetterSource
	}
	if rm.PartitionKey != "" {
		ma[annPartitionKey] = rm.PartitionKey
	}
	if !rm.ScheduledEnqueueTime.IsZero() {
		ma[annScheduledEnqueueTime] = rm.ScheduledEnqueueTime.UTC()
	}
	ma[annMessageState] = int32(rm.State)
	out.MessageAnnotations = ma

	if o.lockTokenAnnotation {
		out.DeliveryAnnotations = amqp.Annotations{annLockToken: amqp.UUID(rm.LockToken)}
	}

	p := amqp.Properties{}
	if base.Properties != nil {
		p = *base.Properties
	}
	p.MessageID = keepID(p.MessageID, rm.MessageID)
	p.CorrelationID = keepID(p.CorrelationID, rm.CorrelationID)
	p.To = rm.To
	p.Subject = rm.Subject
	p.ReplyTo = rm.ReplyTo
	p.GroupID = rm.SessionID
	p.ReplyToGroupID = rm.ReplyToSessionID
	p.ContentType = amqp.Symbol(rm.ContentType)
	out.Properties = &p

	props := map[string]any{}
	for k, v := range rm.ApplicationProperties {
		props[k] = toAMQPValue(v)
	}
	for k, v := range base.ApplicationProperties {
		if _, stored := fromAMQPValue(v); !stored {
			if _, set := props[k]; !set {
				props[k] = v
			}
		}
	}
	if rm.DeadLetterReason != "" {
		props[servicebus.PropDeadLetterReason] = rm.DeadLetterReason
	}
	if rm.DeadLetterErrorDescription != "" {
		props[servicebus.PropDeadLetterDescription] = rm.DeadLetterErrorDescription
	}
	if len(props) > 0 || base.ApplicationProperties != nil {
		out.ApplicationProperties = props
	}

	switch {
	case hasRaw && (len(base.Data) > 1 || base.Value != nil || len(base.Sequence) > 0):
		out.Data, out.Sequence, out.Value = base.Data, base.Sequence, base.Value
	default:
		body := rm.Body
		if body == nil {
			body = []byte{}
		}
		out.Data = [][]byte{body}
	}
	out.Footer = base.Footer
	return out.MarshalBinary()
}

// keepID returns the sender's original id when the broker's string form
// still matches it (so a uuid or ulong id keeps its AMQP type), else the
// broker's string (nil when empty).
func keepID(orig any, stored string) any {
	if orig != nil && idString(orig) == stored {
		return orig
	}
	if stored == "" {
		return nil
	}
	return stored
}
