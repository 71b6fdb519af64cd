package amqpgw

import (
	"bytes"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/amqp"
	"github.com/keyward/keyward/internal/servicebus"
)

func TestLockTokenTag(t *testing.T) {
	tok := uuid.MustParse("01020304-0506-0708-090a-0b0c0d0e0f10")
	want := []byte{4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16}
	tag := lockTokenTag(tok)
	if !bytes.Equal(tag, want) {
		t.Fatalf("tag %x, want %x", tag, want)
	}
	back, ok := tokenFromTag(tag)
	if !ok || back != tok {
		t.Fatalf("round trip: %v %v", back, ok)
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, make([]byte, 17)} {
		if _, ok := tokenFromTag(bad); ok {
			t.Fatalf("tag %x accepted", bad)
		}
	}
}

func TestDotnetTicks(t *testing.T) {
	epoch := time.Unix(0, 0)
	if got := dotnetTicks(epoch); got != ticksAtUnixEpoch {
		t.Fatalf("epoch: %d", got)
	}
	if got := dotnetTicks(epoch.Add(time.Second + 300*time.Nanosecond)); got != ticksAtUnixEpoch+10_000_003 {
		t.Fatalf("epoch+1s: %d", got)
	}
	// 0001-01-01 is tick 0.
	if got := dotnetTicks(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Microsecond)); got != 10 {
		t.Fatalf("year 1: %d", got)
	}
	if dotnetTicks(time.Time{}) != 0 {
		t.Fatal("zero time")
	}
}

// goAMQPEncode encodes m with go-amqp, the encoder of the Azure SDK for Go.
func goAMQPEncode(t testing.TB, m *goamqp.Message) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInboundOutbound sends a message encoded by go-amqp through the
// conversions and checks what go-amqp (and so the SDK) decodes at the end,
// with the exact types the SDK asserts.
func TestInboundOutbound(t *testing.T) {
	sched := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	sid, subj, to, replyTo, rtg := "sess-1", "subject", "to", "reply", "rgroup"
	uid := goamqp.UUID(uuid.New())
	in := &goamqp.Message{
		Header:     &goamqp.MessageHeader{Durable: true, Priority: 7, TTL: 90 * time.Second},
		Properties: &goamqp.MessageProperties{MessageID: uid, CorrelationID: "corr", GroupID: &sid, Subject: &subj, To: &to, ReplyTo: &replyTo, ReplyToGroupID: &rtg, ContentType: &subj},
		Annotations: goamqp.Annotations{"x-opt-partition-key": "pk", "x-opt-scheduled-enqueue-time": sched, "x-custom": int64(3),
			"x-opt-sequence-number": int64(999)},
		DeliveryAnnotations:   goamqp.Annotations{"x-hop": "dropped"},
		ApplicationProperties: map[string]any{"s": "v", "i": int32(5), "u": uint64(6), "b": true, "f": 2.5, "t": sched, "bin": []byte{1}, "uuid": uid, "list": []any{int64(1), "two"}},
		Data:                  [][]byte{[]byte("body")},
	}
	m, err := decodeInbound(goAMQPEncode(t, in))
	if err != nil {
		t.Fatal(err)
	}
	if m.MessageID != uuid.UUID(uid).String() || m.CorrelationID != "corr" || m.SessionID != sid || m.Subject != subj || m.To != to ||
		m.ReplyTo != replyTo || m.ReplyToSessionID != rtg || m.ContentType != subj || m.PartitionKey != "pk" ||
		!m.ScheduledEnqueueTime.Equal(sched) || m.TimeToLive != 90*time.Second || string(m.Body) != "body" {
		t.Fatalf("typed fields: %+v", m)
	}
	if m.ApplicationProperties["uuid"] != uuid.UUID(uid) || m.ApplicationProperties["i"] != int32(5) || m.ApplicationProperties["s"] != "v" {
		t.Fatalf("application properties: %v", m.ApplicationProperties)
	}
	if _, kept := m.ApplicationProperties["list"]; kept {
		t.Fatal("a list property reached the typed map")
	}
	var raw amqp.Message
	if err := raw.UnmarshalBinary(m.Raw); err != nil || raw.DeliveryAnnotations != nil {
		t.Fatalf("raw: %v, delivery annotations %v", err, raw.DeliveryAnnotations)
	}

	// The broker changes a property, then hands the message out.
	m.ApplicationProperties["s"] = "changed"
	delete(m.ApplicationProperties, "b")
	enq := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := uuid.New()
	rm := &servicebus.ReceivedMessage{Message: m, SequenceNumber: 42, EnqueuedSequenceNumber: 41, EnqueuedTime: enq,
		LockedUntil: enq.Add(time.Minute), LockToken: tok, DeliveryCount: 3, State: servicebus.StateScheduled,
		DeadLetterSource: "src", DeadLetterReason: "why", DeadLetterErrorDescription: "because"}
	payload, err := encodeOutbound(rm, outOptions{locked: true, lockTokenAnnotation: true})
	if err != nil {
		t.Fatal(err)
	}
	var out goamqp.Message
	if err := out.UnmarshalBinary(payload); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"sequence number int64", out.Annotations["x-opt-sequence-number"] == int64(42)},
		{"enqueue sequence number int64", out.Annotations["x-opt-enqueue-sequence-number"] == int64(41)},
		{"enqueued time", sameTime(out.Annotations["x-opt-enqueued-time"], enq)},
		{"locked until", sameTime(out.Annotations["x-opt-locked-until"], enq.Add(time.Minute))},
		{"message state int32", out.Annotations["x-opt-message-state"] == int32(2)},
		{"deadletter source string", out.Annotations["x-opt-deadletter-source"] == "src"},
		{"partition key", out.Annotations["x-opt-partition-key"] == "pk"},
		{"scheduled time", sameTime(out.Annotations["x-opt-scheduled-enqueue-time"], sched)},
		{"sender annotation kept", out.Annotations["x-custom"] == int64(3)},
		{"lock token uuid", out.DeliveryAnnotations["x-opt-lock-token"] == goamqp.UUID(tok)},
		{"header delivery count", out.Header.DeliveryCount == 2},
		{"header priority kept", out.Header.Priority == 7 && out.Header.Durable},
		{"ttl", out.Header.TTL == 90*time.Second},
		{"message id keeps uuid type", out.Properties.MessageID == uid},
		{"correlation id", out.Properties.CorrelationID == "corr"},
		{"group id", out.Properties.GroupID != nil && *out.Properties.GroupID == sid},
		{"changed property", out.ApplicationProperties["s"] == "changed"},
		{"removed property", out.ApplicationProperties["b"] == nil},
		{"uuid property", out.ApplicationProperties["uuid"] == uid},
		{"exotic property restored", len(out.ApplicationProperties["list"].([]any)) == 2},
		{"dead-letter reason", out.ApplicationProperties["DeadLetterReason"] == "why"},
		{"dead-letter description", out.ApplicationProperties["DeadLetterErrorDescription"] == "because"},
		{"body", len(out.Data) == 1 && string(out.Data[0]) == "body"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: annotations %v header %+v properties %+v app %v", c.name, out.Annotations, out.Header, out.Properties, out.ApplicationProperties)
		}
	}

	// Peeked: no lock annotations; delivery-count is the past deliveries.
	payload, err = encodeOutbound(rm, outOptions{peeked: true})
	if err != nil {
		t.Fatal(err)
	}
	out = goamqp.Message{}
	if err := out.UnmarshalBinary(payload); err != nil {
		t.Fatal(err)
	}
	if _, ok := out.Annotations["x-opt-locked-until"]; ok || out.DeliveryAnnotations != nil || out.Header.DeliveryCount != 3 {
		t.Fatalf("peeked: %v %v %d", out.Annotations, out.DeliveryAnnotations, out.Header.DeliveryCount)
	}
}

// sameTime reports whether v is a time.Time equal to want.
func sameTime(v any, want time.Time) bool {
	t, ok := v.(time.Time)
	return ok && t.Equal(want)
}

func TestOutboundWithoutRaw(t *testing.T) {
	rm := &servicebus.ReceivedMessage{Message: servicebus.Message{Body: []byte("b"), MessageID: "id", TimeToLive: time.Hour,
		ApplicationProperties: map[string]any{"d": 3 * time.Second, "n": 7}}, SequenceNumber: 1, DeliveryCount: 1}
	payload, err := encodeOutbound(rm, outOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out goamqp.Message
	if err := out.UnmarshalBinary(payload); err != nil {
		t.Fatal(err)
	}
	if string(out.GetData()) != "b" || out.Properties.MessageID != "id" || out.Header.DeliveryCount != 0 || out.Header.TTL != time.Hour ||
		out.ApplicationProperties["n"] != int64(7) {
		t.Fatalf("%+v %+v %v", out.Header, out.Properties, out.ApplicationProperties)
	}
	// A TimeSpan property goes out as .NET encodes it and comes back.
	back, err := decodeInbound(payload)
	if err != nil || back.ApplicationProperties["d"] != 3*time.Second {
		t.Fatalf("timespan: %v %v", err, back.ApplicationProperties["d"])
	}
}

func TestValueAndMultiDataBodies(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *goamqp.Message
		body string
	}{
		{"value string", &goamqp.Message{Value: "text"}, "text"},
		{"value map", &goamqp.Message{Value: map[string]any{"a": int64(1)}}, ""},
		{"two data sections", &goamqp.Message{Data: [][]byte{[]byte("ab"), []byte("cd")}}, "abcd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := decodeInbound(goAMQPEncode(t, tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Body) != tc.body {
				t.Fatalf("body %q", m.Body)
			}
			payload, err := encodeOutbound(&servicebus.ReceivedMessage{Message: m, SequenceNumber: 1, DeliveryCount: 1}, outOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var out goamqp.Message
			if err := out.UnmarshalBinary(payload); err != nil {
				t.Fatal(err)
			}
			if len(out.Data) != len(tc.in.Data) || (tc.in.Value != nil && out.Value == nil) {
				t.Fatalf("body sections changed: %+v", out)
			}
		})
	}
}

func TestDecodeBatch(t *testing.T) {
	var env goamqp.Message
	for _, b := range []string{"one", "two"} {
		env.Data = append(env.Data, goAMQPEncode(t, goamqp.NewMessage([]byte(b))))
	}
	msgs, err := decodeBatch(goAMQPEncode(t, &env))
	if err != nil || len(msgs) != 2 || string(msgs[0].Body) != "one" || string(msgs[1].Body) != "two" {
		t.Fatalf("%v %+v", err, msgs)
	}
	if _, err := decodeBatch(goAMQPEncode(t, &goamqp.Message{Value: "x"})); err == nil {
		t.Fatal("a batch without data sections was accepted")
	}
	if _, err := decodeBatch(goAMQPEncode(t, &goamqp.Message{Data: [][]byte{[]byte("not a message")}})); err == nil {
		t.Fatal("a batch of garbage was accepted")
	}
}
