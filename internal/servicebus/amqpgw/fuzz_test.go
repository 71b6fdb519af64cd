package amqpgw

import (
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/amqp"
	"github.com/keyward/keyward/internal/servicebus"
)

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"q", "$cbs", "t/Subscriptions/s/$DeadLetterQueue", "q/$management", "amqps://h:1/q", "a//b", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseAddress(s)
		if err != nil {
			return
		}
		// A parsed entity address parses again to the same thing.
		again := a.path
		if a.kind == nodeManagement {
			again += "/" + managementNode
		}
		b, err := parseAddress(again)
		if err != nil || b.kind != a.kind || b.path != a.path {
			t.Fatalf("%q -> %+v -> %q -> %+v %v", s, a, again, b, err)
		}
	})
}

func FuzzSplitAudience(f *testing.F) {
	for _, s := range []string{"amqp://ns.servicebus.x/q", "sb://a:1/b/c?x", "x", "://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, p, err := splitAudience(s)
		if err == nil && (h == "" || (len(p) > 0 && (p[0] == '/' || p[len(p)-1] == '/'))) {
			t.Fatalf("%q: host %q path %q", s, h, p)
		}
		_ = namespaceFromHost(s, "servicebus.x")
	})
}

// FuzzDecodeInbound feeds arbitrary messages through the inbound and
// outbound conversions: no panic, and whatever is accepted can be sent
// back out and decoded by go-amqp.
func FuzzDecodeInbound(f *testing.F) {
	seeds := []*goamqp.Message{
		goamqp.NewMessage([]byte("x")),
		{Value: "v", Annotations: goamqp.Annotations{"x-opt-partition-key": "p"}},
		{Data: [][]byte{{1}, {2}}, ApplicationProperties: map[string]any{"a": int64(1), "u": goamqp.UUID(uuid.New())}},
	}
	for _, m := range seeds {
		b, _ := m.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeInbound(b)
		if err != nil {
			return
		}
		rm := &servicebus.ReceivedMessage{Message: m, SequenceNumber: 1, DeliveryCount: 1, EnqueuedTime: time.Unix(1, 0), LockToken: uuid.New()}
		out, err := encodeOutbound(rm, outOptions{locked: true, lockTokenAnnotation: true})
		if err != nil {
			return // e.g. a footer the encoder refuses; never a panic
		}
		// Our own decoder reads our encoding back.
		if _, err := decodeInbound(out); err != nil {
			t.Fatalf("keyward cannot decode its own encoding: %v", err)
		}
		// What go-amqp can decode coming in, it can decode going out. (It
		// does not implement every AMQP type — the decimal types, some
		// described values — which AMQP allows in a body or a property
		// and keyward passes through unchanged, as Service Bus does.)
		var in, back goamqp.Message
		if err := back.UnmarshalBinary(out); err != nil && in.UnmarshalBinary(b) == nil {
			t.Fatalf("go-amqp decodes the message sent but not keyward's encoding of it: %v", err)
		}
		_, _ = decodeBatch(b)
	})
}

// FuzzManagementBody feeds arbitrary AMQP values to the request parsers.
func FuzzManagementBody(f *testing.F) {
	for _, v := range []any{
		map[string]any{"rule-name": "r", "rule-description": map[string]any{"sql-filter": map[string]any{"expression": "1=1"}}},
		map[string]any{"sequence-numbers": []int64{1, 2}, "lock-tokens": []amqp.UUID{{1}}},
		map[string]any{"correlation-filter": map[string]any{"properties": map[string]any{"a": int32(1)}}},
	} {
		b, _ := amqp.Marshal(v)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := amqp.Unmarshal(b)
		if err != nil {
			return
		}
		m, err := bodyMap(v)
		if err != nil {
			return
		}
		_, _ = parseRuleDescription(m)
		_, _ = int64List(m["sequence-numbers"])
		_, _ = uuidList(m["lock-tokens"])
		_, _ = int64Of(m["skip"])
		if d, err := bodyMap(m["rule-description"]); err == nil {
			_, _ = parseRuleDescription(d)
		}
	})
}
