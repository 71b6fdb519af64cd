package amqp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// errShort is returned when the input ends inside a value.
var errShort = errors.New("amqp: truncated value")

// Unmarshal decodes exactly one AMQP value from data; trailing bytes are an
// error. Values decode to the Go types listed at Marshal, with these rules:
// lists decode to []any, maps to map[any]any (binary keys become BinaryKey),
// arrays of primitive types to the matching typed slice (arrays of ubyte,
// decimals and compound or described elements to Array), timestamps to UTC
// time.Time, described values whose descriptor is one of this package's
// composite types to that type (*Error, *Source, *Target, delivery states)
// and all others to Described. Decoding never allocates more than a small
// multiple of len(data) and rejects nesting deeper than 64 levels.
func Unmarshal(data []byte) (any, error) {
	d := decoder{b: data}
	v, err := d.readAny()
	if err != nil {
		return nil, err
	}
	if d.i != len(d.b) {
		return nil, fmt.Errorf("amqp: %d trailing bytes after value", len(d.b)-d.i)
	}
	return v, nil
}

// decoder reads AMQP values from b starting at i. Every length read from the
// input is checked against the bytes that remain before anything is
// allocated, so allocations are bounded by the input size.
type decoder struct {
	b     []byte
	i     int
	depth int
	// budget is shared by a decoder and the sub-decoders of its compound
	// values: the total number of list, map and array elements one decode
	// may allocate. It starts at the input size, so zero-width array
	// elements (null, true, uint0, list0, ...) cannot multiply memory.
	budget *int
}

func (d *decoder) remaining() int { return len(d.b) - d.i }

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || n > d.remaining() {
		return nil, errShort
	}
	p := d.b[d.i : d.i+n]
	d.i += n
	return p, nil
}

func (d *decoder) u8() (byte, error) {
	if d.i >= len(d.b) {
		return 0, errShort
	}
	c := d.b[d.i]
	d.i++
	return c, nil
}

func (d *decoder) u16() (uint16, error) {
	p, err := d.take(2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(p), nil
}

func (d *decoder) u32() (uint32, error) {
	p, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(p), nil
}

func (d *decoder) u64() (uint64, error) {
	p, err := d.take(8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(p), nil
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > maxDepth {
		return errTooDeep
	}
	return nil
}

func (d *decoder) leave() { d.depth-- }

// readAny reads one complete value (constructor and body).
func (d *decoder) readAny() (any, error) {
	c, err := d.u8()
	if err != nil {
		return nil, err
	}
	if c == codeDescribed {
		return d.readDescribedBody()
	}
	return d.readBody(c)
}

// readDescribedBody reads the descriptor and value after a 0x00
// constructor and converts known composite types.
func (d *decoder) readDescribedBody() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	desc, err := d.readAny()
	if err != nil {
		return nil, err
	}
	switch desc.(type) {
	case uint64, Symbol:
	default:
		return nil, fmt.Errorf("amqp: invalid descriptor type %T", desc)
	}
	val, err := d.readAny()
	if err != nil {
		return nil, err
	}
	return convertDescribed(Described{Descriptor: desc, Value: val})
}

// readBody reads the body of a value whose constructor c was already read.
func (d *decoder) readBody(c byte) (any, error) {
	switch c {
	case codeNull:
		return nil, nil
	case codeTrue:
		return true, nil
	case codeFalse:
		return false, nil
	case codeBool:
		b, err := d.u8()
		if err != nil {
			return nil, err
		}
		switch b {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
		return nil, fmt.Errorf("amqp: invalid boolean octet %#02x", b)
	case codeUbyte:
		b, err := d.u8()
		return b, err
	case codeUshort:
		v, err := d.u16()
		return v, err
	case codeUint0:
		return uint32(0), nil
	case codeSmallUint:
		b, err := d.u8()
		return uint32(b), err
	case codeUint:
		v, err := d.u32()
		return v, err
	case codeUlong0:
		return uint64(0), nil
	case codeSmallUlong:
		b, err := d.u8()
		return uint64(b), err
	case codeUlong:
		v, err := d.u64()
		return v, err
	case codeByte:
		b, err := d.u8()
		return int8(b), err
	case codeShort:
		v, err := d.u16()
		return int16(v), err
	case codeSmallInt:
		b, err := d.u8()
		return int32(int8(b)), err
	case codeInt:
		v, err := d.u32()
		return int32(v), err
	case codeSmallLong:
		b, err := d.u8()
		return int64(int8(b)), err
	case codeLong:
		v, err := d.u64()
		return int64(v), err
	case codeFloat:
		v, err := d.u32()
		return math.Float32frombits(v), err
	case codeDouble:
		v, err := d.u64()
		return math.Float64frombits(v), err
	case codeDecimal32:
		var x Decimal32
		p, err := d.take(4)
		copy(x[:], p)
		return x, err
	case codeDecimal64:
		var x Decimal64
		p, err := d.take(8)
		copy(x[:], p)
		return x, err
	case codeDecimal128:
		var x Decimal128
		p, err := d.take(16)
		copy(x[:], p)
		return x, err
	case codeChar:
		v, err := d.u32()
		if err != nil {
			return nil, err
		}
		if v > utf8.MaxRune {
			return nil, fmt.Errorf("amqp: invalid char %#x", v)
		}
		return Char(v), nil
	case codeTimestamp:
		v, err := d.u64()
		if err != nil {
			return nil, err
		}
		return time.UnixMilli(int64(v)).UTC(), nil
	case codeUUID:
		var u UUID
		p, err := d.take(16)
		copy(u[:], p)
		return u, err
	case codeVbin8, codeVbin32:
		p, err := d.varBytes(c)
		if err != nil {
			return nil, err
		}
		return append([]byte{}, p...), nil
	case codeStr8, codeStr32:
		p, err := d.varBytes(c)
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(p) {
			return nil, errors.New("amqp: string is not valid UTF-8")
		}
		return string(p), nil
	case codeSym8, codeSym32:
		p, err := d.varBytes(c)
		if err != nil {
			return nil, err
		}
		if !isASCII(string(p)) {
			return nil, errors.New("amqp: symbol is not 7-bit ASCII")
		}
		return Symbol(p), nil
	case codeList0:
		return []any{}, nil
	case codeList8, codeList32:
		return d.readList(c)
	case codeMap8, codeMap32:
		return d.readMap(c)
	case codeArray8, codeArray32:
		return d.readArray(c)
	}
	return nil, fmt.Errorf("amqp: unknown constructor %#02x", c)
}

// varBytes reads the length-prefixed body of vbin/str/sym (not copied).
func (d *decoder) varBytes(c byte) ([]byte, error) {
	var n int
	if c&0xf0 == 0xa0 {
		b, err := d.u8()
		if err != nil {
			return nil, err
		}
		n = int(b)
	} else {
		v, err := d.u32()
		if err != nil {
			return nil, err
		}
		if uint64(v) > uint64(d.remaining()) {
			return nil, errShort
		}
		n = int(v)
	}
	return d.take(n)
}

// compoundHeader reads size and count of a list, map or array and returns
// a decoder restricted to the compound's body plus the element count.
func (d *decoder) compoundHeader(c byte) (sub decoder, count int, err error) {
	var size, cnt uint64
	if c == codeList8 || c == codeMap8 || c == codeArray8 {
		s, err := d.u8()
		if err != nil {
			return sub, 0, err
		}
		if s < 1 {
			return sub, 0, errors.New("amqp: compound size too small")
		}
		n, err := d.u8()
		if err != nil {
			return sub, 0, err
		}
		size, cnt = uint64(s)-1, uint64(n)
	} else {
		s, err := d.u32()
		if err != nil {
			return sub, 0, err
		}
		if s < 4 {
			return sub, 0, errors.New("amqp: compound size too small")
		}
		n, err := d.u32()
		if err != nil {
			return sub, 0, err
		}
		size, cnt = uint64(s)-4, uint64(n)
	}
	if size > uint64(d.remaining()) {
		return sub, 0, errShort
	}
	body := d.b[d.i : d.i+int(size)]
	d.i += int(size)
	if d.budget == nil {
		n := len(d.b)
		d.budget = &n
	}
	if cnt > uint64(*d.budget) {
		return sub, 0, fmt.Errorf("amqp: element count %d exceeds what the input can hold", cnt)
	}
	*d.budget -= int(cnt)
	return decoder{b: body, depth: d.depth, budget: d.budget}, int(cnt), nil
}

func (d *decoder) readList(c byte) (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	sub, n, err := d.compoundHeader(c)
	if err != nil {
		return nil, err
	}
	if n > len(sub.b) {
		return nil, errShort
	}
	l := make([]any, n)
	for i := range l {
		if l[i], err = sub.readAny(); err != nil {
			return nil, err
		}
	}
	if sub.remaining() != 0 {
		return nil, errors.New("amqp: list size does not match its elements")
	}
	return l, nil
}

func (d *decoder) readMap(c byte) (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	sub, n, err := d.compoundHeader(c)
	if err != nil {
		return nil, err
	}
	if n%2 != 0 {
		return nil, errors.New("amqp: map has an odd element count")
	}
	if n > len(sub.b) {
		return nil, errShort
	}
	m := make(map[any]any, n/2)
	for range n / 2 {
		k, err := sub.readAny()
		if err != nil {
			return nil, err
		}
		if b, ok := k.([]byte); ok {
			k = BinaryKey(b)
		}
		if !hashable(k, 0) {
			return nil, fmt.Errorf("amqp: unsupported map key type %T", k)
		}
		v, err := sub.readAny()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("amqp: duplicate map key %v", k)
		}
		m[k] = v
	}
	if sub.remaining() != 0 {
		return nil, errors.New("amqp: map size does not match its elements")
	}
	return m, nil
}

// hashable reports whether k can be used as a Go map key without panicking.
func hashable(k any, depth int) bool {
	switch k := k.(type) {
	case float32:
		return k == k // a NaN key could never be looked up
	case float64:
		return k == k
	case nil, bool, uint8, uint16, uint32, uint64, int8, int16, int32, int64,
		Decimal32, Decimal64, Decimal128, Char, time.Time,
		UUID, string, Symbol, BinaryKey:
		return true
	case Described:
		return depth < 4 && hashable(k.Descriptor, depth+1) && hashable(k.Value, depth+1)
	}
	return false
}

func (d *decoder) readArray(c byte) (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	sub, n, err := d.compoundHeader(c)
	if err != nil {
		return nil, err
	}
	ctor, err := sub.u8()
	if err != nil {
		return nil, err
	}
	var desc any
	if ctor == codeDescribed {
		if err := sub.enter(); err != nil {
			return nil, err
		}
		if desc, err = sub.readAny(); err != nil {
			return nil, err
		}
		switch desc.(type) {
		case uint64, Symbol:
		default:
			return nil, fmt.Errorf("amqp: invalid descriptor type %T", desc)
		}
		if ctor, err = sub.u8(); err != nil {
			return nil, err
		}
		if ctor == codeDescribed {
			return nil, errors.New("amqp: nested described array constructor")
		}
	}
	if n > len(sub.b) && !zeroWidth(ctor) {
		return nil, errShort
	}
	elems := make([]any, n)
	for i := range elems {
		v, err := sub.readBody(ctor)
		if err != nil {
			return nil, err
		}
		if desc != nil {
			cv, err := convertDescribed(Described{Descriptor: desc, Value: v})
			if err != nil {
				return nil, err
			}
			v = cv
		}
		elems[i] = v
	}
	if sub.remaining() != 0 {
		return nil, errors.New("amqp: array size does not match its elements")
	}
	if desc != nil {
		return Array(elems), nil
	}
	return typedArray(ctor, elems), nil
}

func zeroWidth(c byte) bool {
	switch c {
	case codeNull, codeTrue, codeFalse, codeUint0, codeUlong0, codeList0:
		return true
	}
	return false
}

// typedArray converts decoded array elements to the Go slice type matching
// the element constructor.
func typedArray(ctor byte, elems []any) any {
	switch ctor {
	case codeBool, codeTrue, codeFalse:
		return convertSlice[bool](elems)
	case codeByte:
		return convertSlice[int8](elems)
	case codeShort:
		return convertSlice[int16](elems)
	case codeInt, codeSmallInt:
		return convertSlice[int32](elems)
	case codeLong, codeSmallLong:
		return convertSlice[int64](elems)
	case codeUshort:
		return convertSlice[uint16](elems)
	case codeUint, codeSmallUint, codeUint0:
		return convertSlice[uint32](elems)
	case codeUlong, codeSmallUlong, codeUlong0:
		return convertSlice[uint64](elems)
	case codeFloat:
		return convertSlice[float32](elems)
	case codeDouble:
		return convertSlice[float64](elems)
	case codeChar:
		return convertSlice[Char](elems)
	case codeTimestamp:
		return convertSlice[time.Time](elems)
	case codeUUID:
		return convertSlice[UUID](elems)
	case codeVbin8, codeVbin32:
		return convertSlice[[]byte](elems)
	case codeStr8, codeStr32:
		return convertSlice[string](elems)
	case codeSym8, codeSym32:
		return convertSlice[Symbol](elems)
	}
	return Array(elems)
}

func convertSlice[T any](elems []any) []T {
	out := make([]T, len(elems))
	for i, e := range elems {
		out[i] = e.(T)
	}
	return out
}

// convertDescribed turns a described value with a known composite
// descriptor into the package's Go type; others stay Described.
func convertDescribed(dv Described) (any, error) {
	code, ok := descriptorCode(dv.Descriptor)
	if !ok {
		return dv, nil
	}
	switch code {
	case descError:
		f, err := compositeFields(dv, "error")
		if err != nil {
			return nil, err
		}
		return decodeError(f)
	case descReceived, descAccepted, descRejected, descReleased, descModified:
		f, err := compositeFields(dv, "delivery state")
		if err != nil {
			return nil, err
		}
		return decodeDeliveryState(code, f)
	case descSource:
		f, err := compositeFields(dv, "source")
		if err != nil {
			return nil, err
		}
		return decodeSource(f)
	case descTarget, descCoordinator:
		f, err := compositeFields(dv, "target")
		if err != nil {
			return nil, err
		}
		return decodeTarget(f, code == descCoordinator)
	}
	return dv, nil
}

// compositeFields returns the field list of a described list value.
func compositeFields(dv Described, what string) (fields, error) {
	switch v := dv.Value.(type) {
	case []any:
		return fields(v), nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("amqp: %s is not a list", what)
}
