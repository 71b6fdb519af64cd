package amqp

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func fullMessage() *Message {
	ts := time.UnixMilli(1700000000123).UTC()
	return &Message{
		Header:              &Header{Durable: true, Priority: 7, TTL: 90 * time.Second, FirstAcquirer: true, DeliveryCount: 3},
		DeliveryAnnotations: Annotations{"x-opt-lock-token": testUUID},
		MessageAnnotations: Annotations{
			"x-opt-sequence-number": int64(42),
			"x-opt-enqueued-time":   ts,
			"x-opt-message-state":   int32(1),
		},
		Properties: &Properties{
			MessageID: "mid", UserID: []byte("u"), To: "to", Subject: "subj", ReplyTo: "rt",
			CorrelationID: uint64(9), ContentType: "application/json", ContentEncoding: "gzip",
			AbsoluteExpiryTime: ts.Add(time.Hour), CreationTime: ts, GroupID: "g", GroupSequence: 5,
			ReplyToGroupID: "rg",
		},
		ApplicationProperties: map[string]any{"s": "v", "i": int32(1), "arr": []int64{1, 2}},
		Data:                  [][]byte{[]byte("one"), []byte("two")},
		Footer:                Annotations{"f": true},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	bodies := []func(*Message){
		func(m *Message) {},
		func(m *Message) { m.Data = nil; m.Value = map[string]any{"k": []any{int64(1)}} },
		func(m *Message) { m.Data = nil; m.Sequence = [][]any{{"a", int64(1)}, {}} },
		func(m *Message) { m.Data = [][]byte{{}} },
	}
	for i, set := range bodies {
		m := fullMessage()
		set(m)
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Message
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		bare := got.BareMessage()
		got.bare = nil
		want := *m
		want.ApplicationProperties = map[string]any{"s": "v", "i": int32(1), "arr": []int64{1, 2}}
		want.Value = normalizeForDecode(m.Value)
		if !reflect.DeepEqual(&got, &want) {
			t.Fatalf("body %d:\n got %+v\nwant %+v", i, got, want)
		}
		// The bare message is exactly the properties..body bytes.
		bm := &Message{Properties: m.Properties, ApplicationProperties: m.ApplicationProperties,
			Data: m.Data, Sequence: m.Sequence, Value: m.Value}
		if len(bm.ApplicationProperties) > 1 {
			// map order varies between encodings; compare by decoding
			var x, y Message
			_ = x.UnmarshalBinary(bare)
			bb, _ := bm.MarshalBinary()
			_ = y.UnmarshalBinary(bb)
			x.bare, y.bare = nil, nil
			if !reflect.DeepEqual(x, y) {
				t.Fatalf("body %d: bare message differs", i)
			}
		}
		if !bytes.Contains(b, bare) || bare[0] != 0 || bare[2] != byte(descProperties) {
			t.Fatalf("body %d: bare %x not in %x", i, bare, b)
		}
	}
}

func TestMessageRawBare(t *testing.T) {
	in := fullMessage()
	b, _ := in.MarshalBinary()
	var got Message
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	out := &Message{
		Header:             &Header{DeliveryCount: 4},
		MessageAnnotations: Annotations{"x-opt-sequence-number": int64(43)},
		RawBare:            got.BareMessage(),
	}
	ob, err := out.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(ob, got.BareMessage()) {
		t.Fatal("raw bare not copied verbatim")
	}
	var back Message
	if err := back.UnmarshalBinary(ob); err != nil {
		t.Fatal(err)
	}
	if back.Header.DeliveryCount != 4 || back.Properties.MessageID != "mid" || string(back.Data[1]) != "two" ||
		back.MessageAnnotations["x-opt-sequence-number"] != int64(43) || back.Footer != nil {
		t.Fatalf("%+v", back)
	}
	// Misuse is refused.
	bad := &Message{RawBare: got.BareMessage(), Data: [][]byte{{1}}}
	if _, err := bad.MarshalBinary(); err == nil {
		t.Fatal("RawBare with body accepted")
	}
	bad = &Message{RawBare: []byte{0x00, 0x53, 0x70, 0x45}}
	if _, err := bad.MarshalBinary(); err == nil {
		t.Fatal("RawBare holding a header accepted")
	}
	if _, err := (&Message{Data: [][]byte{{1}}, Value: "x"}).MarshalBinary(); err == nil {
		t.Fatal("two body kinds accepted")
	}
}

func TestHeaderAlwaysEncodesDeliveryCount(t *testing.T) {
	b, err := (&Message{Header: &Header{Priority: 4}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// header list: durable false, priority 4, ttl null, first-acquirer false, delivery-count 0
	want := []byte{0x00, 0x53, 0x70, 0xc0, 0x07, 0x05, 0x42, 0x50, 0x04, 0x40, 0x42, 0x43}
	if !bytes.Equal(b, want) {
		t.Fatalf("got %x want %x", b, want)
	}
	var m Message
	if err := m.UnmarshalBinary([]byte{0x00, 0x53, 0x70, 0x45}); err != nil {
		t.Fatal(err)
	}
	if m.Header.Priority != 4 {
		t.Fatalf("default priority %d", m.Header.Priority)
	}
}

func TestMessageRejects(t *testing.T) {
	sec := func(code byte, v string) string {
		return "0053" + string("0123456789abcdef"[code>>4]) + string("0123456789abcdef"[code&15]) + v
	}
	cases := map[string]string{
		"not described":      "a10161",
		"unknown section":    sec(0x79, "45"),
		"out of order":       sec(0x73, "45") + sec(0x70, "45"),
		"duplicate header":   sec(0x70, "45") + sec(0x70, "45"),
		"mixed bodies":       sec(0x75, "a000") + sec(0x77, "40"),
		"data not binary":    sec(0x75, "a10161"),
		"sequence not list":  sec(0x76, "40"),
		"app props int key":  sec(0x74, "c10302 5501 40"),
		"annotation ulong":   sec(0x72, "c10302 5301 40"),
		"header not list":    sec(0x70, "41"),
		"bad message-id":     sec(0x73, "c00201 41"),
		"truncated":          sec(0x75, "a005"),
		"header bad field":   sec(0x70, "c00201 a10161"),
		"properties bad ttl": sec(0x73, "c00302 40 41"),
	}
	for name, h := range cases {
		var m Message
		if err := m.UnmarshalBinary(unhex(t, h)); err == nil {
			t.Errorf("%s: accepted %s", name, h)
		}
	}
}

func TestAnnotationStringKeysTolerated(t *testing.T) {
	// go-amqp sends annotation keys as AMQP strings.
	e := encoder{}
	e.section(descMessageAnnotations)
	if err := e.writeAny(map[string]any{"x-opt-partition-key": "p"}); err != nil {
		t.Fatal(err)
	}
	var m Message
	if err := m.UnmarshalBinary(e.buf); err != nil {
		t.Fatal(err)
	}
	if m.MessageAnnotations["x-opt-partition-key"] != "p" {
		t.Fatalf("%v", m.MessageAnnotations)
	}
}

func TestBatch(t *testing.T) {
	msgs := []*Message{
		{Properties: &Properties{MessageID: "1"}, Data: [][]byte{[]byte("a")}},
		{Properties: &Properties{MessageID: "2"}, Value: "b", MessageAnnotations: Annotations{"x-opt-partition-key": "k"}},
	}
	payload, err := MarshalBatch(msgs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalBatch(payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Properties.MessageID != "1" || got[1].Value != "b" ||
		got[1].MessageAnnotations["x-opt-partition-key"] != "k" || len(got[1].BareMessage()) == 0 {
		t.Fatalf("%+v", got)
	}
	if _, err := UnmarshalBatch(unhex(t, "0053 75 a003 010203")); err == nil || !strings.Contains(err.Error(), "batch message 0") {
		t.Fatalf("bad inner message: %v", err)
	}
}
