package servicebus

import (
	"fmt"
	"maps"
	"reflect"
	"time"

	"github.com/google/uuid"
	"github.com/keyward/keyward/internal/servicebus/sqlfilter"
)

// Message is a message as a sender supplies it.
//
// ApplicationProperties values may be nil, bool, int8, int16, int32, int64,
// int (stored as int64), uint8, uint16, uint32, uint64, uint (stored as
// uint64), float32, float64, string, time.Time, time.Duration, []byte, or a
// UUID: uuid.UUID or any array type whose underlying type is [16]byte (stored
// as uuid.UUID). Other types are refused with CodeBadRequest.
type Message struct {
	Body                  []byte
	MessageID             string
	SessionID             string
	CorrelationID         string
	Subject               string // "Label" in older SDKs
	To                    string
	ReplyTo               string
	ReplyToSessionID      string
	ContentType           string
	PartitionKey          string
	TimeToLive            time.Duration // 0: the entity's default
	ScheduledEnqueueTime  time.Time     // zero or past: enqueue now
	ApplicationProperties map[string]any
	// Raw is opaque to the broker: the AMQP layer may keep the exact encoded
	// message sections here. It is stored (sealed) and returned unchanged.
	// The typed fields are authoritative: when the broker changes a property
	// (rule actions, properties to modify, dead-letter reason), the typed
	// fields change and Raw does not, so the AMQP layer should re-encode the
	// properties and application-properties sections from the typed fields.
	Raw []byte
}

// MessageState is a stored message's state, numbered as the AMQP annotation
// x-opt-message-state.
type MessageState int32

// Message states.
const (
	StateActive    MessageState = 0
	StateDeferred  MessageState = 1
	StateScheduled MessageState = 2
)

// Application property names the broker sets when it dead-letters a message.
const (
	PropDeadLetterReason      = "DeadLetterReason"
	PropDeadLetterDescription = "DeadLetterErrorDescription"
)

// Dead-letter reasons the broker itself uses.
const (
	ReasonMaxDeliveryCountExceeded    = "MaxDeliveryCountExceeded"
	ReasonTTLExpired                  = "TTLExpiredException"
	ReasonMaxTransferHopCountExceeded = "MaxTransferHopCountExceeded"
	ReasonSessionIDIsNull             = "Session ID is null"
	ReasonFilterEvaluation            = "FilterEvaluationException"
	ReasonForwardingFailed            = "ForwardingFailed"
)

// ReceivedMessage is a stored message with its system properties, as receive,
// peek and receive-deferred return it.
type ReceivedMessage struct {
	Message
	SequenceNumber         int64
	EnqueuedSequenceNumber int64 // the sequence number first assigned (before any auto-forwarding)
	EnqueuedTime           time.Time
	ExpiresAt              time.Time // zero: never
	LockedUntil            time.Time // zero unless locked by this receive
	LockToken              uuid.UUID // zero unless locked by this receive
	// DeliveryCount counts deliveries including this one (1 on the first
	// peek-lock receive). For peeked messages it counts past deliveries.
	// AMQP's header delivery-count is DeliveryCount-1.
	DeliveryCount              int32
	DeadLetterSource           string // set when a dead-lettered message was forwarded
	DeadLetterReason           string // application property DeadLetterReason
	DeadLetterErrorDescription string // application property DeadLetterErrorDescription
	State                      MessageState
}

// Size is the size Service Bus limits and counts: len(Raw) when Raw is set
// (the AMQP layer's encoding of the whole message), otherwise the body plus
// the encoded size of every property.
func (m *Message) Size() int64 {
	if len(m.Raw) > 0 {
		return int64(len(m.Raw))
	}
	n := len(m.Body) + len(m.MessageID) + len(m.SessionID) + len(m.CorrelationID) + len(m.Subject) +
		len(m.To) + len(m.ReplyTo) + len(m.ReplyToSessionID) + len(m.ContentType) + len(m.PartitionKey)
	var e encoder
	for k, v := range m.ApplicationProperties {
		e.str(k)
		_ = e.value(v)
	}
	return int64(n + len(e.b))
}

// clone returns a deep enough copy of m for the broker to change properties
// without touching the caller's maps.
func (m *Message) clone() Message {
	c := *m
	if m.ApplicationProperties != nil {
		c.ApplicationProperties = maps.Clone(m.ApplicationProperties)
	}
	return c
}

var uuidArrayType = reflect.TypeOf([16]byte{})

// normalizeValue converts an application property value to the type it is
// stored as, or reports that it cannot be stored.
func normalizeValue(v any) (any, error) {
	switch t := v.(type) {
	case nil, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
		float32, float64, string, time.Duration, uuid.UUID:
		return v, nil
	case int:
		return int64(t), nil
	case uint:
		return uint64(t), nil
	case time.Time:
		return t.UTC(), nil
	case []byte:
		return t, nil
	case sqlfilter.UUID:
		return uuid.UUID(t), nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Array && rv.Type().ConvertibleTo(uuidArrayType) {
		return uuid.UUID(rv.Convert(uuidArrayType).Interface().([16]byte)), nil
	}
	return nil, fmt.Errorf("unsupported property type %T", v)
}

// normalizeProps returns a copy of props with every value normalized.
func normalizeProps(props map[string]any) (map[string]any, error) {
	if props == nil {
		return nil, nil
	}
	out := make(map[string]any, len(props))
	for k, v := range props {
		nv, err := normalizeValue(v)
		if err != nil {
			return nil, newErr(CodeBadRequest, "application property %q: %v", k, err)
		}
		out[k] = nv
	}
	return out, nil
}
