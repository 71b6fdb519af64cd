package amqp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// equalValues is reflect.DeepEqual except that NaN equals NaN.
func equalValues(a, b any) bool { return deepEqual(reflect.ValueOf(a), reflect.ValueOf(b)) }

func deepEqual(a, b reflect.Value) bool {
	if a.IsValid() != b.IsValid() {
		return false
	}
	if !a.IsValid() {
		return true
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		x, y := a.Float(), b.Float()
		return x == y || (x != x && y != y)
	case reflect.Interface, reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return deepEqual(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.IsNil() != b.IsNil() {
			return false
		}
		fallthrough
	case reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !deepEqual(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() || a.IsNil() != b.IsNil() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !deepEqual(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	case reflect.Struct:
		if a.Type() == reflect.TypeFor[time.Time]() {
			return reflect.DeepEqual(a.Interface(), b.Interface())
		}
		for i := range a.NumField() {
			if !deepEqual(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.String:
		return a.String() == b.String()
	case reflect.Func, reflect.Chan:
		return a.IsNil() && b.IsNil()
	}
	return false
}

func addSeeds(f *testing.F) {
	for _, h := range []string{
		"40", "41", "5007", "7000011170", "800000000000000100", "5480", "81ffffffffffffff7f",
		"723fc00000", "83 0000018bcfe5687b", "98123456789abcdef00102030405060708",
		"a0020102", "a10668c3a96c6c6f", "a303616263", "45", "c0060255 01a10161",
		"c10502a1016b41", "e012028100000000000000010000000000000002", "e00602a1016101 62",
		"e0130 2d0 00000005 00000001 41 00000004 00000000", "e00b02 00a30164 a1 0161 02 6263",
		"0080000000137000000c a10173", "005325 c0 1a 01 00531d c0 14 02 a30e616d71703a6e6f742d666f756e64 a10164",
		"d0000000050000000141", "e0020243", "c1060 2a00101 5001",
	} {
		f.Add(unhex(f, h))
	}
}

func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Unmarshal(data)
		if err != nil {
			return
		}
		b, err := Marshal(v)
		if err != nil {
			return // some decodable shapes (e.g. arrays of null) have no encoding
		}
		v2, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("re-encoded value does not decode: %v\n%x", err, b)
		}
		if !equalValues(v, v2) {
			t.Fatalf("round trip changed the value:\n%#v\n%#v", v, v2)
		}
	})
}

func FuzzMessageUnmarshal(f *testing.F) {
	for _, m := range []*Message{fullMessage(), {Value: map[string]any{"a": []any{int64(1)}}}, {Sequence: [][]any{{"x"}}}} {
		b, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	batch, _ := MarshalBatch([]*Message{fullMessage()})
	f.Add(batch)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = UnmarshalBatch(data)
		var m Message
		if err := m.UnmarshalBinary(data); err != nil {
			return
		}
		b, err := m.MarshalBinary()
		if err != nil {
			return
		}
		var m2 Message
		if err := m2.UnmarshalBinary(b); err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		m.bare, m2.bare = nil, nil
		if !equalValues(&m, &m2) {
			t.Fatalf("round trip changed the message:\n%#v\n%#v", m, m2)
		}
	})
}

func FuzzFrame(f *testing.F) {
	for _, p := range []performative{
		&Open{ContainerID: "c", MaxFrameSize: 512, ChannelMax: 1, Properties: map[Symbol]any{"p": "x"}},
		&begin{NextOutgoingID: 1, IncomingWindow: 2, OutgoingWindow: 3, HandleMax: 4},
		&Attach{Name: "l", Role: RoleReceiver, Source: &Source{Address: "q", Filter: map[Symbol]any{"f": Described{uint64(0x137000000C), "s"}}}, Target: &Target{}},
		&flow{NextIncomingID: u32(1), IncomingWindow: 2, Handle: u32(0), LinkCredit: u32(5), Drain: true},
		&transfer{Handle: 0, DeliveryID: u32(1), DeliveryTag: []byte{1}, MessageFormat: u32(0), More: true},
		&disposition{Role: RoleReceiver, First: 1, Last: u32(3), Settled: true, State: &Rejected{Error: &Error{Condition: "x"}}},
		&detach{Handle: 1, Closed: true, Error: &Error{Condition: CondStolen}},
		&end{}, &closeFrame{Error: &Error{Condition: CondConnectionForced}},
	} {
		b, _ := appendFrame(nil, frameTypeAMQP, 1, p, []byte("x"))
		f.Add(b)
	}
	b, _ := appendFrame(nil, frameTypeSASL, 0, &saslInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00a\x00b")}, nil)
	f.Add(b)
	f.Add(emptyFrame)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, perf, payload, err := parseFrame(data, 1<<16)
		if err != nil || perf == nil {
			return
		}
		p, ok := perf.(performative)
		if !ok {
			t.Fatalf("%T is not a performative", perf)
		}
		if tr, ok := perf.(*transfer); ok {
			tr.Payload = nil
		}
		b, err := appendFrame(nil, h.typ, h.channel, p, payload)
		if err != nil {
			return
		}
		_, perf2, payload2, err := parseFrame(b, 1<<20)
		if err != nil {
			t.Fatalf("re-encoded frame does not parse: %v", err)
		}
		if tr, ok := perf2.(*transfer); ok {
			tr.Payload = nil
		}
		if !equalValues(perf, perf2) || string(payload) != string(payload2) {
			t.Fatalf("frame round trip changed:\n%#v\n%#v", perf, perf2)
		}
	})
}

// panicLog records whether anything logged a panic.
type panicLog struct{ seen atomic.Bool }

func (h *panicLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *panicLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		h.seen.Store(true)
	}
	return nil
}
func (h *panicLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *panicLog) WithGroup(string) slog.Handler      { return h }

// FuzzServeConn feeds arbitrary frames to a connection after a valid
// header and open: the server answers or closes, never panics or hangs.
func FuzzServeConn(f *testing.F) {
	open, err := appendFrame(nil, frameTypeAMQP, 0, &Open{ContainerID: "fuzz", MaxFrameSize: 65536, ChannelMax: 10}, nil)
	if err != nil {
		f.Fatal(err)
	}
	seed := func(p performative) []byte {
		b, err := appendFrame(nil, frameTypeAMQP, 0, p, nil)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(seed(&begin{RemoteChannel: nil, NextOutgoingID: 0, IncomingWindow: 100, OutgoingWindow: 100}))
	f.Add(append(seed(&begin{IncomingWindow: 100, OutgoingWindow: 100}),
		seed(&Attach{Name: "l", Handle: 0, Role: RoleSender, Target: &Target{Address: "q"}})...))
	f.Add([]byte{0, 0, 0, 8, 2, 0, 0, 0})
	b := newTestBroker()
	logs := &panicLog{}
	srv, err := NewServer(Config{Open: b.open, AllowNoSASL: true, SASLMechanisms: []Symbol{SASLAnonymous},
		Logger: slog.New(logs), HandshakeTimeout: time.Second, CloseTimeout: 100 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frames []byte) {
		client, server := net.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- srv.ServeConn(ctx, server) }()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_ = client.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = client.Write(headerAMQP[:])
		_, _ = client.Write(open)
		_, _ = client.Write(frames)
		time.Sleep(time.Millisecond)
		_ = client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("ServeConn did not return after the client went away")
		}
		if logs.seen.Load() {
			t.Fatal("the server logged a panic")
		}
	})
}
