package amqp

import (
	"bytes"
	"encoding/hex"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var testUUID = UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8}

// TestEncodingTable checks the exact bytes of every primitive and compact
// encoding, and that they decode back to the same Go value.
func TestEncodingTable(t *testing.T) {
	ts := time.UnixMilli(1700000000123).UTC()
	long := strings.Repeat("x", 300)
	cases := []struct {
		name string
		v    any
		hex  string
	}{
		{"null", nil, "40"},
		{"true", true, "41"},
		{"false", false, "42"},
		{"ubyte", uint8(7), "5007"},
		{"ushort", uint16(0x1234), "601234"},
		{"uint0", uint32(0), "43"},
		{"smalluint", uint32(200), "52c8"},
		{"uint", uint32(70000), "7000011170"},
		{"ulong0", uint64(0), "44"},
		{"smallulong", uint64(255), "53ff"},
		{"ulong", uint64(256), "800000000000000100"},
		{"byte", int8(-1), "51ff"},
		{"short", int16(-2), "61fffe"},
		{"smallint", int32(-128), "5480"},
		{"int", int32(128), "7100000080"},
		{"smalllong", int64(127), "557f"},
		{"long", int64(-129), "81ffffffffffffff7f"},
		{"float", float32(1.5), "723fc00000"},
		{"double", float64(-2), "82c000000000000000"},
		{"decimal32", Decimal32{1, 2, 3, 4}, "7401020304"},
		{"decimal64", Decimal64{1, 2, 3, 4, 5, 6, 7, 8}, "840102030405060708"},
		{"decimal128", Decimal128{15: 9}, "9400000000000000000000000000000009"},
		{"char", Char('€'), "73000020ac"},
		{"timestamp", ts, "830000018bcfe5687b"},
		{"uuid", testUUID, "98123456789abcdef00102030405060708"},
		{"vbin8", []byte{1, 2}, "a0020102"},
		{"vbin32", bytes.Repeat([]byte{7}, 300), "b00000012c" + strings.Repeat("07", 300)},
		{"str8", "héllo", "a10668c3a96c6c6f"},
		{"str32", long, "b10000012c" + strings.Repeat("78", 300)},
		{"sym8", Symbol("abc"), "a303616263"},
		{"sym32", Symbol(long), "b30000012c" + strings.Repeat("78", 300)},
		{"list0", []any{}, "45"},
		{"list8", []any{int64(1), "a"}, "c0060255 01a10161"},
		{"list32", []any{long}, "d00000013500000001b10000012c" + strings.Repeat("78", 300)},
		{"map8 string key", map[string]any{"k": true}, "c10502a1016b41"},
		{"map8 symbol key", map[Symbol]any{"k": nil}, "c10502a3016b40"},
		{"map8 mixed key", map[any]any{int64(1): "x"}, "c1060255 01a10178"},
		{"map32", map[string]any{"k": long}, "d10000013800000002a1016bb10000012c" + strings.Repeat("78", 300)},
		{"empty map", map[any]any{}, "c10100"},
		{"array long", []int64{1, 2}, "e012028100000000000000010000000000000002"},
		{"array string", []string{"a", "b"}, "e00602a1016101 62"},
		{"array str32", []string{long}, "f00000013500000001b10000012c" + strings.Repeat("78", 300)},
		{"array symbol", []Symbol{"x"}, "e00401a30178"},
		{"array uuid", []UUID{testUUID}, "e0120198123456789abcdef00102030405060708"},
		{"array timestamp", []time.Time{ts}, "e00a01830000018bcfe5687b"},
		{"array bool", []bool{true, false}, "e004025601 00"},
		{"array int", []int32{-1}, "e0060171ffffffff"},
		{"array uint", []uint32{5}, "e006017000000005"},
		{"array ulong", []uint64{5}, "e00a01800000000000000005"},
		{"array short", []int16{1}, "e004016100 01"},
		{"array ushort", []uint16{1}, "e004016000 01"},
		{"array byte", []int8{-1}, "e0030151ff"},
		{"array float", []float32{1.5}, "e00601723fc00000"},
		{"array double", []float64{-2}, "e00a0182c000000000000000"},
		{"array char", []Char{'a'}, "e0060173 00000061"},
		{"array binary", [][]byte{{1}}, "e00401a00101"},
		{"array ubyte", Array{uint8(1), uint8(2)}, "e004025001 02"},
		{"array of lists", Array{[]any{true}, []any{}}, "e0130 2d0 00000005 00000001 41 00000004 00000000"},
		{"array of maps", Array{map[any]any{}}, "e00a01d1 00000004 00000000"},
		{"array of described", Array{Described{Symbol("d"), "a"}, Described{Symbol("d"), "bc"}},
			"e00b02 00a30164 a1 0161 02 6263"},
		{"empty array", Array{}, "e0020040"},
		{"described ulong", Described{uint64(0x137000000C), "s"}, "0080000000137000000c a10173"},
		{"described symbol", Described{Symbol("x:y"), int64(1)}, "00a303783a79 5501"},
		{"binary key", map[any]any{BinaryKey("\x01"): uint8(1)}, "c1060 2a00101 5001"},
		{"accepted", &Accepted{}, "005324 45"},
		{"rejected", &Rejected{Error: &Error{Condition: CondNotFound, Description: "d"}},
			"005325 c0 1a 01 00531d c0 14 02 a30e616d71703a6e6f742d666f756e64 a10164"},
		{"released", &Released{}, "005326 45"},
		{"modified", &Modified{UndeliverableHere: true}, "005327 c0 03 02 40 41"},
		{"received", &Received{SectionNumber: 1, SectionOffset: 2}, "005323 c0 05 02 5201 5302"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.hex)
			got, err := Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encode\n got %x\nwant %x", got, want)
			}
			back, err := Unmarshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, normalizeForDecode(tc.v)) {
				t.Fatalf("decode: got %#v want %#v", back, tc.v)
			}
		})
	}
}

// normalizeForDecode maps an encoded Go value to what the decoder returns.
func normalizeForDecode(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[any]any{}
		for k, v := range x {
			m[k] = normalizeForDecode(v)
		}
		return m
	case map[Symbol]any:
		m := map[any]any{}
		for k, v := range x {
			m[k] = normalizeForDecode(v)
		}
		return m
	case Array:
		out := make(Array, len(x))
		for i, e := range x {
			out[i] = normalizeForDecode(e)
		}
		return out
	}
	return v
}

// TestDecodeNonCanonical decodes encodings the encoder never chooses.
func TestDecodeNonCanonical(t *testing.T) {
	cases := []struct {
		hex  string
		want any
	}{
		{"7000000005", uint32(5)},
		{"800000000000000005", uint64(5)},
		{"5601", true},
		{"5600", false},
		{"7100000005", int32(5)},
		{"810000000000000005", int64(5)},
		{"b10000000161", "a"},
		{"b30000000161", Symbol("a")},
		{"b00000000101", []byte{1}},
		{"d0000000050000000141", []any{true}},
		{"c00100", []any{}},
		{"d1000000040000000 0", map[any]any{}},
		{"e004025401ff", []int32{1, -1}},
		{"e004025501ff", []int64{1, -1}},
		{"e0020243", []uint32{0, 0}},
		{"e004025201ff", []uint32{1, 255}},
		{"e0020241", []bool{true, true}},
		{"f0000000060000000 15001", Array{uint8(1)}},
		{"00a30f616d71703a6572726f723a6c697374c004 01a30178", &Error{Condition: "x"}},
		{"00a3 12 616d71703a61636365707465643a6c697374 45", &Accepted{}},
	}
	for _, tc := range cases {
		got, err := Unmarshal(unhex(t, tc.hex))
		if err != nil {
			t.Errorf("%s: %v", tc.hex, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v want %#v", tc.hex, got, tc.want)
		}
	}
}

// TestDecodeRejects lists malformed input the decoder must refuse.
func TestDecodeRejects(t *testing.T) {
	deep := strings.Repeat("c00101", 70) + "45"
	// Make the nested list sizes consistent is not needed: depth fails
	// first.
	cases := map[string]string{
		"empty":              "",
		"unknown ctor":       "01",
		"truncated uint":     "7000",
		"truncated str":      "a10561",
		"bool octet":         "5602",
		"invalid utf8":       "a102c328",
		"non-ascii symbol":   "a301c3",
		"char range":         "7300110000",
		"list count":         "c0020241",
		"list size":          "c00501 41",
		"list trailing":      "c0030141 41",
		"list huge":          "d0ffffffff00000001 41",
		"map odd":            "c1030141 41",
		"map dup key":        "c10904a10161 41 a10161 42",
		"map list key":       "c1040245 41",
		"array count":        "e002ff40",
		"array elements":     "e00302a0 00",
		"array nested desc":  "e0050100 5300 00",
		"descriptor type":    "00a10161 41",
		"trailing":           "4040",
		"too deep":           deep,
		"error no condition": "00531d45",
		"bad error field":    "00531dc0030155 01",
		"str32 len":          "b1ffffffff",
		"compound size 0":    "c000",
		"compound size 32 0": "d000000000",
	}
	for name, h := range cases {
		if _, err := Unmarshal(unhex(t, h)); err == nil {
			t.Errorf("%s: decoded %s without error", name, h)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	cyclic := make([]any, 1)
	cyclic[0] = cyclic
	cases := map[string]any{
		"invalid utf8":      string([]byte{0xc3, 0x28}),
		"non-ascii symbol":  Symbol("é"),
		"unsupported type":  struct{}{},
		"cyclic list":       cyclic,
		"descriptor type":   Described{Descriptor: "x", Value: nil},
		"mixed array":       Array{uint8(1), "x"},
		"array of nil":      Array{nil},
		"bad symbol array":  []Symbol{"é"},
		"bad string array":  []string{string([]byte{0xff})},
		"bad map value":     map[string]any{"k": struct{}{}},
		"mixed described":   Array{Described{Symbol("a"), "x"}, Described{Symbol("b"), "y"}},
		"described element": Array{Described{Symbol("a"), "x"}, "y"},
	}
	for name, v := range cases {
		if _, err := Marshal(v); err == nil {
			t.Errorf("%s: encoded without error", name)
		}
	}
}

func TestTimestampPrecision(t *testing.T) {
	in := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got := v.(time.Time)
	if got.Location() != time.UTC || !got.Equal(in.Truncate(time.Millisecond)) {
		t.Fatalf("got %v", got)
	}
	neg, _ := Marshal(time.UnixMilli(-5))
	v, _ = Unmarshal(neg)
	if !v.(time.Time).Equal(time.UnixMilli(-5)) {
		t.Fatalf("pre-epoch timestamp %v", v)
	}
}

func TestIntegerBoundaries(t *testing.T) {
	for _, v := range []any{
		int8(math.MinInt8), int8(math.MaxInt8), int16(math.MinInt16), int16(math.MaxInt16),
		int32(math.MinInt32), int32(math.MaxInt32), int32(-129), int32(127),
		int64(math.MinInt64), int64(math.MaxInt64), int64(-128), int64(128),
		uint8(255), uint16(math.MaxUint16), uint32(255), uint32(256), uint32(math.MaxUint32),
		uint64(math.MaxUint64), float32(math.Inf(-1)), math.MaxFloat64,
	} {
		b, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(b)
		if err != nil || got != v {
			t.Errorf("%T %v: got %#v %v", v, v, got, err)
		}
	}
	// Go int and uint encode as long and ulong.
	if b, _ := Marshal(int(-3)); !bytes.Equal(b, []byte{codeSmallLong, 0xfd}) {
		t.Errorf("int: %x", b)
	}
	if b, _ := Marshal(uint(3)); !bytes.Equal(b, []byte{codeSmallUlong, 3}) {
		t.Errorf("uint: %x", b)
	}
}

func TestPerformativeRoundTrip(t *testing.T) {
	rcv := ReceiverSettleModeSecond
	perfs := []performative{
		&Open{ContainerID: "c", Hostname: "h", MaxFrameSize: 4096, ChannelMax: 9, IdleTimeout: 1500 * time.Millisecond,
			OfferedCapabilities: []Symbol{"a"}, Properties: map[Symbol]any{"product": "x"}},
		&begin{RemoteChannel: ptr(uint16(3)), NextOutgoingID: 1, IncomingWindow: 2, OutgoingWindow: 3, HandleMax: 4},
		&Attach{Name: "l", Handle: 1, Role: RoleSender, SenderSettleMode: SenderSettleModeSettled,
			ReceiverSettleMode: ReceiverSettleModeSecond,
			Source: &Source{Address: "q", Durable: DurabilityUnsettled, ExpiryPolicy: ExpiryNever, Timeout: 5, Dynamic: true,
				DistributionMode: "move", Filter: map[Symbol]any{"f": Described{uint64(0x137000000C), "sess"}},
				DefaultOutcome: &Released{}, Outcomes: []Symbol{"amqp:accepted:list"}, Capabilities: []Symbol{"queue"}},
			Target:               &Target{Address: "t", Capabilities: []Symbol{"x"}},
			InitialDeliveryCount: 7, MaxMessageSize: 1 << 20, Properties: map[Symbol]any{"com.microsoft:timeout": uint32(5)}},
		&Attach{Name: "coord", Handle: 2, Role: RoleSender, SenderSettleMode: SenderSettleModeMixed,
			Target: &Target{Coordinator: true, Capabilities: []Symbol{"amqp:local-transactions"}}},
		&flow{NextIncomingID: u32(1), IncomingWindow: 2, NextOutgoingID: 3, OutgoingWindow: 4, Handle: u32(5),
			DeliveryCount: u32(6), LinkCredit: u32(7), Available: u32(8), Drain: true, Echo: true},
		&transfer{Handle: 1, DeliveryID: u32(2), DeliveryTag: []byte("t"), MessageFormat: u32(MessageFormatBatch),
			Settled: true, More: true, RcvSettleMode: &rcv, State: &Accepted{}, Resume: true, Aborted: true, Batchable: true},
		&disposition{Role: RoleReceiver, First: 1, Last: u32(9), Settled: true,
			State: &Modified{DeliveryFailed: true, MessageAnnotations: Annotations{"x": int32(1)}}},
		&detach{Handle: 4, Closed: true, Error: &Error{Condition: CondStolen, Info: map[Symbol]any{"k": "v"}}},
		&end{Error: &Error{Condition: CondWindowViolation}},
		&closeFrame{},
	}
	for _, p := range perfs {
		b, err := appendFrame(nil, frameTypeAMQP, 5, p, []byte("payload"))
		if err != nil {
			t.Fatalf("%T: %v", p, err)
		}
		if _, isTransfer := p.(*transfer); !isTransfer {
			b, _ = appendFrame(nil, frameTypeAMQP, 5, p, nil)
		}
		h, got, payload, err := parseFrame(b, 1<<20)
		if err != nil {
			t.Fatalf("%T: %v", p, err)
		}
		if h.channel != 5 {
			t.Fatalf("channel %d", h.channel)
		}
		if tr, ok := got.(*transfer); ok {
			if string(payload) != "payload" {
				t.Fatalf("payload %q", payload)
			}
			tr.Payload = nil
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("%T round trip:\n got %+v\nwant %+v", p, got, p)
		}
	}
	for _, p := range []performative{
		&saslMechanisms{Mechanisms: []Symbol{"PLAIN", "ANONYMOUS"}},
		&saslInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00u\x00p"), Hostname: "h"},
		&saslChallenge{Challenge: []byte{}},
		&saslResponse{Response: []byte("r")},
		&saslOutcome{Code: saslCodeAuth, AdditionalData: []byte("x")},
	} {
		b, _ := appendFrame(nil, frameTypeSASL, 0, p, nil)
		_, got, _, err := parseFrame(b, 1<<20)
		if err != nil {
			t.Fatalf("%T: %v", p, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("%T round trip:\n got %+v\nwant %+v", p, got, p)
		}
	}
}

func TestAttachDefaultsAndTolerance(t *testing.T) {
	// A minimal attach: missing settle modes and initial-delivery-count
	// (as .NET sends) take the defaults; a symbol address and string
	// filter keys are tolerated.
	e := encoder{}
	l := e.beginList(descAttach)
	_ = l.stringAlways("n")
	l.uint32(0)
	l.boolAlways(false)
	l.null()
	l.null()
	_ = l.value(Described{Descriptor: descSource, Value: []any{Symbol("addr"), nil, nil, nil, nil, nil, nil,
		map[any]any{"f": nil}}})
	if err := l.end(); err != nil {
		t.Fatal(err)
	}
	v, err := Unmarshal(e.buf)
	if err != nil {
		t.Fatal(err)
	}
	p, err := decodePerformative(frameTypeAMQP, v)
	if err != nil {
		t.Fatal(err)
	}
	a := p.(*Attach)
	if a.SenderSettleMode != SenderSettleModeMixed || a.ReceiverSettleMode != ReceiverSettleModeFirst ||
		a.InitialDeliveryCount != 0 || a.Source.Address != "addr" {
		t.Fatalf("%+v", a)
	}
	if _, ok := a.Source.Filter["f"]; !ok {
		t.Fatalf("filter %v", a.Source.Filter)
	}
}

func TestDispositionMerging(t *testing.T) {
	c := &Conn{sessions: map[uint16]*Session{}}
	acc := func(id uint32, settled bool) outFrame {
		return outFrame{channel: 1, perf: &disposition{Role: RoleReceiver, First: id, Settled: settled, State: &Accepted{}}}
	}
	c.ctrl = []outFrame{acc(1, true), acc(2, true), acc(3, true), acc(5, true), acc(6, false),
		{channel: 1, perf: &disposition{Role: RoleReceiver, First: 7, Settled: false, State: &Rejected{}}},
		{channel: 1, perf: &disposition{Role: RoleReceiver, First: 8, Settled: false, State: &Rejected{}}},
		{channel: 2, perf: &disposition{Role: RoleReceiver, First: 9, State: &Released{}}},
		{channel: 2, perf: &disposition{Role: RoleReceiver, First: 10, State: &Released{}}},
	}
	buf, _, err := c.fill(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(buf) > 0 {
		size := int(buf[0])<<24 | int(buf[1])<<16 | int(buf[2])<<8 | int(buf[3])
		_, p, _, err := parseFrame(buf[:size], 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		d := p.(*disposition)
		last := d.First
		if d.Last != nil {
			last = *d.Last
		}
		got = append(got, strings.TrimSpace(strings.Join([]string{itoa(d.First), itoa(last)}, "-")))
		buf = buf[size:]
	}
	want := "1-3 5-5 6-6 7-7 8-8 9-10"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %v want %s", got, want)
	}
}

func itoa(v uint32) string {
	return strings.TrimLeft(string([]byte{byte('0' + v/10), byte('0' + v%10)}), "0")
}

func TestDecodeBoundsZeroWidthArrays(t *testing.T) {
	// A list of many arrays, each claiming as many null elements as the
	// whole input has bytes, must fail instead of allocating quadratically.
	arr := []byte{codeArray32, 0, 0, 0, 5, 0, 0, 0, 0, codeNull}
	n := 2000
	body := make([]byte, 0, n*len(arr))
	for range n {
		body = append(body, arr...)
	}
	total := len(body) + 8 + 1
	for i := 0; i < n; i++ {
		off := i * len(arr)
		cnt := uint32(total / 2) // each fits the input, together they do not
		body[off+5], body[off+6], body[off+7], body[off+8] = byte(cnt>>24), byte(cnt>>16), byte(cnt>>8), byte(cnt)
	}
	in := []byte{codeList32}
	in = append(in, byte((len(body)+4)>>24), byte((len(body)+4)>>16), byte((len(body)+4)>>8), byte(len(body)+4))
	in = append(in, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	in = append(in, body...)
	if _, err := Unmarshal(in); err == nil {
		t.Fatal("decoded an element bomb")
	}
	// A legitimate small array of zero-width elements still decodes.
	if v, err := Unmarshal([]byte{codeArray8, 2, 3, codeTrue}); err != nil || !reflect.DeepEqual(v, []bool{true, true, true}) {
		t.Fatalf("%v %v", v, err)
	}
}
