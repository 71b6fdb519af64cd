package servicebus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/google/uuid"
)

// The plaintext formats sealed into the store. Every integer is a (u)varint;
// strings and byte strings are a uvarint length followed by the bytes.

// Typed value tags.
const (
	tagNil      = 0
	tagFalse    = 1
	tagTrue     = 2
	tagInt8     = 3
	tagInt16    = 4
	tagInt32    = 5
	tagInt64    = 6
	tagUint8    = 7
	tagUint16   = 8
	tagUint32   = 9
	tagUint64   = 10
	tagFloat32  = 11
	tagFloat64  = 12
	tagString   = 13
	tagTime     = 14
	tagUUID     = 15
	tagBytes    = 16
	tagDuration = 17
)

// Limits enforced when decoding, so a corrupt record cannot make the decoder
// allocate without bound.
const (
	maxDecodeProps = 1 << 16
	recordVersion  = 1
	indexVersion   = 1
)

var errCorrupt = errors.New("corrupt record")

type encoder struct{ b []byte }

func (e *encoder) byte1(c byte)     { e.b = append(e.b, c) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) bytes(p []byte)   { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) fixed64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.byte1(0)
		return
	}
	e.byte1(1)
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
}

// value appends a typed value; v must be normalized.
func (e *encoder) value(v any) error {
	switch t := v.(type) {
	case nil:
		e.byte1(tagNil)
	case bool:
		if t {
			e.byte1(tagTrue)
		} else {
			e.byte1(tagFalse)
		}
	case int8:
		e.byte1(tagInt8)
		e.varint(int64(t))
	case int16:
		e.byte1(tagInt16)
		e.varint(int64(t))
	case int32:
		e.byte1(tagInt32)
		e.varint(int64(t))
	case int64:
		e.byte1(tagInt64)
		e.varint(t)
	case int:
		e.byte1(tagInt64)
		e.varint(int64(t))
	case uint8:
		e.byte1(tagUint8)
		e.uvarint(uint64(t))
	case uint16:
		e.byte1(tagUint16)
		e.uvarint(uint64(t))
	case uint32:
		e.byte1(tagUint32)
		e.uvarint(uint64(t))
	case uint64:
		e.byte1(tagUint64)
		e.uvarint(t)
	case uint:
		e.byte1(tagUint64)
		e.uvarint(uint64(t))
	case float32:
		e.byte1(tagFloat32)
		e.b = binary.BigEndian.AppendUint32(e.b, math.Float32bits(t))
	case float64:
		e.byte1(tagFloat64)
		e.fixed64(math.Float64bits(t))
	case string:
		e.byte1(tagString)
		e.str(t)
	case time.Time:
		e.byte1(tagTime)
		e.varint(t.Unix())
		e.uvarint(uint64(t.Nanosecond()))
	case uuid.UUID:
		e.byte1(tagUUID)
		e.b = append(e.b, t[:]...)
	case []byte:
		e.byte1(tagBytes)
		e.bytes(t)
	case time.Duration:
		e.byte1(tagDuration)
		e.varint(int64(t))
	default:
		nv, err := normalizeValue(v)
		if err != nil {
			return err
		}
		return e.value(nv)
	}
	return nil
}

// props appends a property map in sorted key order (deterministic output).
func (e *encoder) props(m map[string]any) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		if err := e.value(m[k]); err != nil {
			return fmt.Errorf("property %q: %w", k, err)
		}
	}
	return nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) byte1() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) raw(n uint64) []byte {
	if uint64(len(d.b)) < n {
		d.fail()
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// bytes returns a copy, nil for an empty byte string.
func (d *decoder) bytes() []byte {
	p := d.raw(d.uvarint())
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *decoder) str() string { return string(d.raw(d.uvarint())) }

func (d *decoder) fixed64() uint64 {
	p := d.raw(8)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (d *decoder) time() time.Time {
	switch d.byte1() {
	case 0:
		return time.Time{}
	case 1:
		sec := d.varint()
		ns := d.uvarint()
		if ns >= 1e9 {
			d.fail()
			return time.Time{}
		}
		return time.Unix(sec, int64(ns)).UTC()
	}
	d.fail()
	return time.Time{}
}

func (d *decoder) value() any {
	switch d.byte1() {
	case tagNil:
		return nil
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagInt8:
		return int8(d.varint())
	case tagInt16:
		return int16(d.varint())
	case tagInt32:
		return int32(d.varint())
	case tagInt64:
		return d.varint()
	case tagUint8:
		return uint8(d.uvarint())
	case tagUint16:
		return uint16(d.uvarint())
	case tagUint32:
		return uint32(d.uvarint())
	case tagUint64:
		return d.uvarint()
	case tagFloat32:
		p := d.raw(4)
		if p == nil {
			return nil
		}
		return math.Float32frombits(binary.BigEndian.Uint32(p))
	case tagFloat64:
		return math.Float64frombits(d.fixed64())
	case tagString:
		return d.str()
	case tagTime:
		sec := d.varint()
		ns := d.uvarint()
		if ns >= 1e9 {
			d.fail()
			return nil
		}
		return time.Unix(sec, int64(ns)).UTC()
	case tagUUID:
		p := d.raw(16)
		if p == nil {
			return nil
		}
		return uuid.UUID(p)
	case tagBytes:
		p := d.bytes()
		if p == nil {
			p = []byte{}
		}
		return p
	case tagDuration:
		return time.Duration(d.varint())
	}
	d.fail()
	return nil
}

func (d *decoder) props() map[string]any {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	if n > maxDecodeProps || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	m := make(map[string]any, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.str()
		m[k] = d.value()
	}
	return m
}

// record is a stored message: what the sender supplied plus the broker's
// system properties. It is sealed as one unit under the data key.
type record struct {
	Message
	EnqueuedTime     time.Time
	ExpiresAt        time.Time // zero: never
	EnqueuedSeq      uint64
	DeliveryCount    int32
	State            MessageState
	DeadLetterSource string
	Hops             int

	seq uint64 // sequence number where the record is being placed; not stored
}

func (r *record) encode() ([]byte, error) {
	e := encoder{b: make([]byte, 0, 96+len(r.Body)+len(r.Raw))}
	e.byte1(recordVersion)
	e.bytes(r.Body)
	e.bytes(r.Raw)
	for _, s := range [...]string{r.MessageID, r.SessionID, r.CorrelationID, r.Subject, r.To,
		r.ReplyTo, r.ReplyToSessionID, r.ContentType, r.PartitionKey, r.DeadLetterSource} {
		e.str(s)
	}
	e.varint(int64(r.TimeToLive))
	e.time(r.ScheduledEnqueueTime)
	e.time(r.EnqueuedTime)
	e.time(r.ExpiresAt)
	e.uvarint(r.EnqueuedSeq)
	e.varint(int64(r.DeliveryCount))
	e.varint(int64(r.State))
	e.uvarint(uint64(r.Hops))
	if err := e.props(r.ApplicationProperties); err != nil {
		return nil, err
	}
	return e.b, nil
}

func decodeRecord(b []byte) (*record, error) {
	d := decoder{b: b}
	if d.byte1() != recordVersion {
		return nil, fmt.Errorf("message record: %w: unknown version", errCorrupt)
	}
	r := &record{}
	r.Body = d.bytes()
	r.Raw = d.bytes()
	for _, p := range [...]*string{&r.MessageID, &r.SessionID, &r.CorrelationID, &r.Subject, &r.To,
		&r.ReplyTo, &r.ReplyToSessionID, &r.ContentType, &r.PartitionKey, &r.DeadLetterSource} {
		*p = d.str()
	}
	r.TimeToLive = time.Duration(d.varint())
	r.ScheduledEnqueueTime = d.time()
	r.EnqueuedTime = d.time()
	r.ExpiresAt = d.time()
	r.EnqueuedSeq = d.uvarint()
	r.DeliveryCount = int32(d.varint())
	r.State = MessageState(d.varint())
	r.Hops = int(d.uvarint())
	r.ApplicationProperties = d.props()
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return nil, fmt.Errorf("message record: %w", d.err)
	}
	return r, nil
}

// indexEntry is the small sealed value stored under a message's index key:
// what the broker needs to rebuild its in-memory state without opening the
// (possibly large) message record.
type indexEntry struct {
	Size    int64 // Message.Size
	Expires int64 // unix nanoseconds; 0: never
	Sess    uint64
	SchedAt int64 // scheduled messages: unix nanoseconds of activation
	// Deliveries is the message's delivery count when it is newer than the
	// one in its record: a peek-lock delivery counts itself here, in a
	// small write, instead of rewriting the whole sealed record. Encoded
	// only when non-zero (entries without it read as 0).
	Deliveries int32
}

func (x *indexEntry) encode() []byte {
	var e encoder
	e.byte1(indexVersion)
	e.varint(x.Size)
	e.varint(x.Expires)
	e.uvarint(x.Sess)
	e.varint(x.SchedAt)
	if x.Deliveries != 0 {
		e.varint(int64(x.Deliveries))
	}
	return e.b
}

func decodeIndex(b []byte) (indexEntry, error) {
	d := decoder{b: b}
	var x indexEntry
	if d.byte1() != indexVersion {
		return x, fmt.Errorf("index entry: %w: unknown version", errCorrupt)
	}
	x.Size = d.varint()
	x.Expires = d.varint()
	x.Sess = d.uvarint()
	x.SchedAt = d.varint()
	if d.err == nil && len(d.b) != 0 {
		n := d.varint()
		if n < 0 || n > math.MaxInt32 {
			d.err = errCorrupt
		}
		x.Deliveries = int32(n)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return x, fmt.Errorf("index entry: %w", d.err)
	}
	return x, nil
}

// encodeProps and decodeProps store property maps (rule parameters,
// correlation filter properties) inside JSON entity records.
func encodeProps(m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	var e encoder
	if err := e.props(m); err != nil {
		return nil, err
	}
	return e.b, nil
}

func decodeProps(b []byte) (map[string]any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	d := decoder{b: b}
	m := d.props()
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return nil, fmt.Errorf("properties: %w", d.err)
	}
	return m, nil
}

// unixNano converts t to unix nanoseconds, clamping times outside int64's
// range; the zero time is 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	const maxSec = int64(math.MaxInt64/1_000_000_000) - 1
	s := t.Unix()
	switch {
	case s >= maxSec:
		return math.MaxInt64
	case s <= -maxSec:
		return math.MinInt64 + 1
	}
	return t.UnixNano()
}

// addDuration returns t+d, saturating to the zero time ("never") when d is
// Infinite or the sum would not be meaningful.
func expiryOf(enqueued time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 || ttl == Infinite {
		return time.Time{}
	}
	// Durations beyond ~290 years are effectively "never" for this broker.
	if ttl > 200*365*24*time.Hour {
		return time.Time{}
	}
	return enqueued.Add(ttl)
}
