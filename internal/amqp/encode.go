package amqp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// maxDepth bounds the nesting of compound values (lists, maps, arrays,
// described values) in both directions.
const maxDepth = 64

// errTooDeep is returned when a value nests deeper than maxDepth.
var errTooDeep = errors.New("amqp: value nested too deeply")

// Marshal encodes v as a single AMQP value. Supported Go types: nil, bool,
// uint8/16/32/64 and uint (ubyte, ushort, uint, ulong, ulong), int8/16/32/64
// and int (byte, short, int, long, long), float32, float64, Decimal32/64/128,
// Char, time.Time (timestamp, millisecond precision), UUID, []byte (binary),
// string, Symbol, BinaryKey, []any (list), maps (map[any]any,
// map[string]any, map[Symbol]any, Annotations), typed slices (array):
// []bool, []int8, []int16, []int32, []int64, []uint16, []uint32, []uint64,
// []float32, []float64, []Char, []time.Time, []UUID, [][]byte, []string,
// []Symbol; Array; Described/*Described; and the package's composite types
// (*Error, *Source, *Target and the delivery states). The most compact
// encoding is always chosen.
func Marshal(v any) ([]byte, error) {
	e := encoder{}
	if err := e.writeAny(v); err != nil {
		return nil, err
	}
	return e.buf, nil
}

// encoder appends AMQP encodings to buf.
type encoder struct {
	buf   []byte
	depth int
}

// compositeEncoder is implemented by the package's composite types.
type compositeEncoder interface {
	encodeAMQP(e *encoder) error
}

func (e *encoder) byte1(b byte) { e.buf = append(e.buf, b) }

func (e *encoder) u16(v uint16) { e.buf = binary.BigEndian.AppendUint16(e.buf, v) }

func (e *encoder) u32(v uint32) { e.buf = binary.BigEndian.AppendUint32(e.buf, v) }

func (e *encoder) u64(v uint64) { e.buf = binary.BigEndian.AppendUint64(e.buf, v) }

func (e *encoder) writeNull() { e.byte1(codeNull) }

func (e *encoder) writeBool(v bool) {
	if v {
		e.byte1(codeTrue)
	} else {
		e.byte1(codeFalse)
	}
}

func (e *encoder) writeUbyte(v uint8) { e.buf = append(e.buf, codeUbyte, v) }

func (e *encoder) writeUshort(v uint16) { e.byte1(codeUshort); e.u16(v) }

func (e *encoder) writeUint(v uint32) {
	switch {
	case v == 0:
		e.byte1(codeUint0)
	case v < 256:
		e.buf = append(e.buf, codeSmallUint, byte(v))
	default:
		e.byte1(codeUint)
		e.u32(v)
	}
}

func (e *encoder) writeUlong(v uint64) {
	switch {
	case v == 0:
		e.byte1(codeUlong0)
	case v < 256:
		e.buf = append(e.buf, codeSmallUlong, byte(v))
	default:
		e.byte1(codeUlong)
		e.u64(v)
	}
}

func (e *encoder) writeByte(v int8) { e.buf = append(e.buf, codeByte, byte(v)) }

func (e *encoder) writeShort(v int16) { e.byte1(codeShort); e.u16(uint16(v)) }

func (e *encoder) writeInt(v int32) {
	if v >= -128 && v <= 127 {
		e.buf = append(e.buf, codeSmallInt, byte(int8(v)))
		return
	}
	e.byte1(codeInt)
	e.u32(uint32(v))
}

func (e *encoder) writeLong(v int64) {
	if v >= -128 && v <= 127 {
		e.buf = append(e.buf, codeSmallLong, byte(int8(v)))
		return
	}
	e.byte1(codeLong)
	e.u64(uint64(v))
}

func (e *encoder) writeTimestamp(t time.Time) { e.byte1(codeTimestamp); e.u64(uint64(t.UnixMilli())) }

func (e *encoder) writeUUID(u UUID) { e.byte1(codeUUID); e.buf = append(e.buf, u[:]...) }

func (e *encoder) writeBinary(b []byte) {
	if len(b) < 256 {
		e.buf = append(e.buf, codeVbin8, byte(len(b)))
	} else {
		e.byte1(codeVbin32)
		e.u32(uint32(len(b)))
	}
	e.buf = append(e.buf, b...)
}

func (e *encoder) writeString(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("amqp: string is not valid UTF-8")
	}
	e.writeVar(codeStr8, codeStr32, s)
	return nil
}

func (e *encoder) writeSymbol(s Symbol) error {
	if !isASCII(string(s)) {
		return errors.New("amqp: symbol is not 7-bit ASCII")
	}
	e.writeVar(codeSym8, codeSym32, string(s))
	return nil
}

func (e *encoder) writeVar(c8, c32 byte, s string) {
	if len(s) < 256 {
		e.buf = append(e.buf, c8, byte(len(s)))
	} else {
		e.byte1(c32)
		e.u32(uint32(len(s)))
	}
	e.buf = append(e.buf, s...)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// writeAny encodes v with its most compact constructor.
func (e *encoder) writeAny(v any) error {
	switch v := v.(type) {
	case nil:
		e.writeNull()
	case bool:
		e.writeBool(v)
	case uint8:
		e.writeUbyte(v)
	case uint16:
		e.writeUshort(v)
	case uint32:
		e.writeUint(v)
	case uint64:
		e.writeUlong(v)
	case uint:
		e.writeUlong(uint64(v))
	case int8:
		e.writeByte(v)
	case int16:
		e.writeShort(v)
	case int32:
		e.writeInt(v)
	case int64:
		e.writeLong(v)
	case int:
		e.writeLong(int64(v))
	case float32:
		e.byte1(codeFloat)
		e.u32(math.Float32bits(v))
	case float64:
		e.byte1(codeDouble)
		e.u64(math.Float64bits(v))
	case Decimal32:
		e.byte1(codeDecimal32)
		e.buf = append(e.buf, v[:]...)
	case Decimal64:
		e.byte1(codeDecimal64)
		e.buf = append(e.buf, v[:]...)
	case Decimal128:
		e.byte1(codeDecimal128)
		e.buf = append(e.buf, v[:]...)
	case Char:
		e.byte1(codeChar)
		e.u32(uint32(v))
	case time.Time:
		e.writeTimestamp(v)
	case UUID:
		e.writeUUID(v)
	case []byte:
		e.writeBinary(v)
	case BinaryKey:
		e.writeBinary([]byte(v))
	case string:
		return e.writeString(v)
	case Symbol:
		return e.writeSymbol(v)
	case []any:
		return e.writeList(v)
	case map[any]any:
		return e.writeMapAny(v)
	case map[string]any:
		return writeMapOf(e, v, (*encoder).writeString)
	case map[Symbol]any:
		return writeMapOf(e, v, (*encoder).writeSymbol)
	case Annotations:
		return writeMapOf(e, v, (*encoder).writeSymbol)
	case Described:
		return e.writeDescribed(v.Descriptor, v.Value)
	case *Described:
		if v == nil {
			e.writeNull()
			return nil
		}
		return e.writeDescribed(v.Descriptor, v.Value)
	case Array:
		return e.writeArray(v)
	case compositeEncoder:
		return e.writeComposite(v)
	default:
		return e.writeTypedArray(v)
	}
	return nil
}

// writeComposite encodes one of the package's composite types; a typed nil
// pointer encodes as null.
func (e *encoder) writeComposite(v compositeEncoder) error {
	if isNil(v) {
		e.writeNull()
		return nil
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer e.leave()
	return v.encodeAMQP(e)
}

func (e *encoder) enter() error {
	e.depth++
	if e.depth > maxDepth {
		return errTooDeep
	}
	return nil
}

func (e *encoder) leave() { e.depth-- }

func (e *encoder) writeDescribed(desc, value any) error {
	switch desc.(type) {
	case uint64, Symbol:
	default:
		return fmt.Errorf("amqp: descriptor must be a uint64 or Symbol, not %T", desc)
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer e.leave()
	e.byte1(codeDescribed)
	if err := e.writeAny(desc); err != nil {
		return err
	}
	return e.writeAny(value)
}

// beginCompound reserves a 32-bit compound header (constructor, size, count)
// and returns its offset.
func (e *encoder) beginCompound(code32 byte) int {
	start := len(e.buf)
	e.buf = append(e.buf, code32, 0, 0, 0, 0, 0, 0, 0, 0)
	return start
}

// endCompound fills in the header reserved by beginCompound, shrinking it to
// the 8-bit form (code8) when size and count allow.
func (e *encoder) endCompound(start int, code8 byte, count int) error {
	body := len(e.buf) - start - 9
	if count < 256 && body+1 < 256 {
		e.buf[start] = code8
		e.buf[start+1] = byte(body + 1)
		e.buf[start+2] = byte(count)
		copy(e.buf[start+3:], e.buf[start+9:])
		e.buf = e.buf[:len(e.buf)-6]
		return nil
	}
	if uint64(body)+4 > math.MaxUint32 || uint64(count) > math.MaxUint32 {
		return errors.New("amqp: compound value too large")
	}
	binary.BigEndian.PutUint32(e.buf[start+1:], uint32(body+4))
	binary.BigEndian.PutUint32(e.buf[start+5:], uint32(count))
	return nil
}

func (e *encoder) writeList(l []any) error {
	if len(l) == 0 {
		e.byte1(codeList0)
		return nil
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer e.leave()
	start := e.beginCompound(codeList32)
	for _, v := range l {
		if err := e.writeAny(v); err != nil {
			return err
		}
	}
	return e.endCompound(start, codeList8, len(l))
}

func (e *encoder) writeMapAny(m map[any]any) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.leave()
	start := e.beginCompound(codeMap32)
	for k, v := range m {
		if err := e.writeAny(k); err != nil {
			return err
		}
		if err := e.writeAny(v); err != nil {
			return err
		}
	}
	return e.endCompound(start, codeMap8, 2*len(m))
}

func writeMapOf[K ~string](e *encoder, m map[K]any, key func(*encoder, K) error) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.leave()
	start := e.beginCompound(codeMap32)
	for k, v := range m {
		if err := key(e, k); err != nil {
			return err
		}
		if err := e.writeAny(v); err != nil {
			return err
		}
	}
	return e.endCompound(start, codeMap8, 2*len(m))
}

// writeArrayOf encodes xs as an array of the given element constructor;
// body writes one element without its constructor.
func writeArrayOf[T any](e *encoder, code byte, xs []T, body func(*encoder, T)) error {
	start := e.beginCompound(codeArray32)
	e.byte1(code)
	for _, x := range xs {
		body(e, x)
	}
	return e.endCompound(start, codeArray8, len(xs))
}

// varCode picks the 8- or 32-bit constructor for a slice of variable-width
// elements: the 8-bit one only if every element fits.
func varCode[T ~string | ~[]byte](xs []T, c8, c32 byte) byte {
	for _, x := range xs {
		if len(x) > 255 {
			return c32
		}
	}
	return c8
}

func varBody[T ~string | ~[]byte](code byte) func(*encoder, T) {
	if code&0xf0 == 0xa0 {
		return func(e *encoder, x T) { e.byte1(byte(len(x))); e.buf = append(e.buf, x...) }
	}
	return func(e *encoder, x T) { e.u32(uint32(len(x))); e.buf = append(e.buf, x...) }
}

// writeTypedArray encodes the typed slices that map to AMQP arrays.
func (e *encoder) writeTypedArray(v any) error {
	switch v := v.(type) {
	case []bool:
		return writeArrayOf(e, codeBool, v, func(e *encoder, x bool) {
			if x {
				e.byte1(1)
			} else {
				e.byte1(0)
			}
		})
	case []int8:
		return writeArrayOf(e, codeByte, v, func(e *encoder, x int8) { e.byte1(byte(x)) })
	case []int16:
		return writeArrayOf(e, codeShort, v, func(e *encoder, x int16) { e.u16(uint16(x)) })
	case []int32:
		return writeArrayOf(e, codeInt, v, func(e *encoder, x int32) { e.u32(uint32(x)) })
	case []int64:
		return writeArrayOf(e, codeLong, v, func(e *encoder, x int64) { e.u64(uint64(x)) })
	case []uint16:
		return writeArrayOf(e, codeUshort, v, func(e *encoder, x uint16) { e.u16(x) })
	case []uint32:
		return writeArrayOf(e, codeUint, v, func(e *encoder, x uint32) { e.u32(x) })
	case []uint64:
		return writeArrayOf(e, codeUlong, v, func(e *encoder, x uint64) { e.u64(x) })
	case []float32:
		return writeArrayOf(e, codeFloat, v, func(e *encoder, x float32) { e.u32(math.Float32bits(x)) })
	case []float64:
		return writeArrayOf(e, codeDouble, v, func(e *encoder, x float64) { e.u64(math.Float64bits(x)) })
	case []Char:
		return writeArrayOf(e, codeChar, v, func(e *encoder, x Char) { e.u32(uint32(x)) })
	case []time.Time:
		return writeArrayOf(e, codeTimestamp, v, func(e *encoder, x time.Time) { e.u64(uint64(x.UnixMilli())) })
	case []UUID:
		return writeArrayOf(e, codeUUID, v, func(e *encoder, x UUID) { e.buf = append(e.buf, x[:]...) })
	case [][]byte:
		code := varCode(v, codeVbin8, codeVbin32)
		return writeArrayOf(e, code, v, varBody[[]byte](code))
	case []string:
		for _, s := range v {
			if !utf8.ValidString(s) {
				return errors.New("amqp: string is not valid UTF-8")
			}
		}
		code := varCode(v, codeStr8, codeStr32)
		return writeArrayOf(e, code, v, varBody[string](code))
	case []Symbol:
		for _, s := range v {
			if !isASCII(string(s)) {
				return errors.New("amqp: symbol is not 7-bit ASCII")
			}
		}
		code := varCode(v, codeSym8, codeSym32)
		return writeArrayOf(e, code, v, varBody[Symbol](code))
	}
	return fmt.Errorf("amqp: cannot encode Go type %T", v)
}

// writeArray encodes an Array: every element must produce the same
// constructor, which is written once.
func (e *encoder) writeArray(a Array) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.leave()
	if len(a) == 0 {
		// An empty array still needs an element constructor; null is the
		// only one that carries no assumption about the element type.
		e.buf = append(e.buf, codeArray8, 2, 0, codeNull)
		return nil
	}
	start := e.beginCompound(codeArray32)
	ctor, err := e.arrayConstructor(a)
	if err != nil {
		return err
	}
	e.buf = append(e.buf, ctor...)
	for _, v := range a {
		if err := e.writeElement(ctor, v); err != nil {
			return err
		}
	}
	return e.endCompound(start, codeArray8, len(a))
}

// arrayConstructor returns the shared element constructor of a (including a
// descriptor for arrays of described values).
func (e *encoder) arrayConstructor(a Array) ([]byte, error) {
	if d, ok := asDescribed(a[0]); ok {
		tmp := encoder{depth: e.depth}
		tmp.byte1(codeDescribed)
		if err := tmp.writeAny(d.Descriptor); err != nil {
			return nil, err
		}
		vals := make(Array, len(a))
		for i, x := range a {
			dx, ok := asDescribed(x)
			if !ok || dx.Descriptor != d.Descriptor {
				return nil, errors.New("amqp: array elements have different types")
			}
			vals[i] = dx.Value
		}
		inner, err := e.arrayConstructor(vals)
		if err != nil {
			return nil, err
		}
		return append(tmp.buf, inner...), nil
	}
	code, err := elementCode(a[0])
	if err != nil {
		return nil, err
	}
	switch code {
	case codeVbin8, codeStr8, codeSym8:
		for _, x := range a {
			if l, ok := varLen(x); ok && l > 255 {
				return []byte{code | 0x10}, nil
			}
		}
	}
	return []byte{code}, nil
}

func asDescribed(v any) (Described, bool) {
	switch d := v.(type) {
	case Described:
		return d, true
	case *Described:
		if d != nil {
			return *d, true
		}
	}
	return Described{}, false
}

func varLen(v any) (int, bool) {
	switch v := v.(type) {
	case []byte:
		return len(v), true
	case string:
		return len(v), true
	case Symbol:
		return len(v), true
	}
	return 0, false
}

// elementCode returns the fixed array-element constructor for v's type.
func elementCode(v any) (byte, error) {
	switch v.(type) {
	case bool:
		return codeBool, nil
	case uint8:
		return codeUbyte, nil
	case uint16:
		return codeUshort, nil
	case uint32:
		return codeUint, nil
	case uint64, uint:
		return codeUlong, nil
	case int8:
		return codeByte, nil
	case int16:
		return codeShort, nil
	case int32:
		return codeInt, nil
	case int64, int:
		return codeLong, nil
	case float32:
		return codeFloat, nil
	case float64:
		return codeDouble, nil
	case Decimal32:
		return codeDecimal32, nil
	case Decimal64:
		return codeDecimal64, nil
	case Decimal128:
		return codeDecimal128, nil
	case Char:
		return codeChar, nil
	case time.Time:
		return codeTimestamp, nil
	case UUID:
		return codeUUID, nil
	case []byte:
		return codeVbin8, nil
	case string:
		return codeStr8, nil
	case Symbol:
		return codeSym8, nil
	case []any:
		return codeList32, nil
	case map[any]any, map[string]any, map[Symbol]any, Annotations:
		return codeMap32, nil
	}
	return 0, fmt.Errorf("amqp: cannot encode %T as an array element", v)
}

// writeElement writes v's body for the shared constructor ctor.
func (e *encoder) writeElement(ctor []byte, v any) error {
	if ctor[0] == codeDescribed {
		d, _ := asDescribed(v)
		// Skip the descriptor: the inner constructor is the last byte(s)
		// after it; compute it by re-deriving the descriptor's length.
		tmp := encoder{}
		if err := tmp.writeAny(d.Descriptor); err != nil {
			return err
		}
		return e.writeElement(ctor[1+len(tmp.buf):], d.Value)
	}
	code := ctor[0]
	mismatch := fmt.Errorf("amqp: array element %T does not match constructor %#02x", v, code)
	switch code {
	case codeBool:
		x, ok := v.(bool)
		if !ok {
			return mismatch
		}
		if x {
			e.byte1(1)
		} else {
			e.byte1(0)
		}
	case codeUbyte:
		x, ok := v.(uint8)
		if !ok {
			return mismatch
		}
		e.byte1(x)
	case codeUshort:
		x, ok := v.(uint16)
		if !ok {
			return mismatch
		}
		e.u16(x)
	case codeUint:
		x, ok := v.(uint32)
		if !ok {
			return mismatch
		}
		e.u32(x)
	case codeUlong:
		switch x := v.(type) {
		case uint64:
			e.u64(x)
		case uint:
			e.u64(uint64(x))
		default:
			return mismatch
		}
	case codeByte:
		x, ok := v.(int8)
		if !ok {
			return mismatch
		}
		e.byte1(byte(x))
	case codeShort:
		x, ok := v.(int16)
		if !ok {
			return mismatch
		}
		e.u16(uint16(x))
	case codeInt:
		x, ok := v.(int32)
		if !ok {
			return mismatch
		}
		e.u32(uint32(x))
	case codeLong:
		switch x := v.(type) {
		case int64:
			e.u64(uint64(x))
		case int:
			e.u64(uint64(x))
		default:
			return mismatch
		}
	case codeFloat:
		x, ok := v.(float32)
		if !ok {
			return mismatch
		}
		e.u32(math.Float32bits(x))
	case codeDouble:
		x, ok := v.(float64)
		if !ok {
			return mismatch
		}
		e.u64(math.Float64bits(x))
	case codeDecimal32:
		x, ok := v.(Decimal32)
		if !ok {
			return mismatch
		}
		e.buf = append(e.buf, x[:]...)
	case codeDecimal64:
		x, ok := v.(Decimal64)
		if !ok {
			return mismatch
		}
		e.buf = append(e.buf, x[:]...)
	case codeDecimal128:
		x, ok := v.(Decimal128)
		if !ok {
			return mismatch
		}
		e.buf = append(e.buf, x[:]...)
	case codeChar:
		x, ok := v.(Char)
		if !ok {
			return mismatch
		}
		e.u32(uint32(x))
	case codeTimestamp:
		x, ok := v.(time.Time)
		if !ok {
			return mismatch
		}
		e.u64(uint64(x.UnixMilli()))
	case codeUUID:
		x, ok := v.(UUID)
		if !ok {
			return mismatch
		}
		e.buf = append(e.buf, x[:]...)
	case codeVbin8, codeVbin32:
		x, ok := v.([]byte)
		if !ok {
			return mismatch
		}
		e.varElement(code, string(x))
	case codeStr8, codeStr32:
		x, ok := v.(string)
		if !ok {
			return mismatch
		}
		if !utf8.ValidString(x) {
			return errors.New("amqp: string is not valid UTF-8")
		}
		e.varElement(code, x)
	case codeSym8, codeSym32:
		x, ok := v.(Symbol)
		if !ok {
			return mismatch
		}
		if !isASCII(string(x)) {
			return errors.New("amqp: symbol is not 7-bit ASCII")
		}
		e.varElement(code, string(x))
	case codeList32:
		x, ok := v.([]any)
		if !ok {
			return mismatch
		}
		return e.compoundElement(x)
	case codeMap32:
		switch v.(type) {
		case map[any]any, map[string]any, map[Symbol]any, Annotations:
		default:
			return mismatch
		}
		return e.compoundElement(v)
	default:
		return mismatch
	}
	return nil
}

func (e *encoder) varElement(code byte, s string) {
	if code&0xf0 == 0xa0 {
		e.byte1(byte(len(s)))
	} else {
		e.u32(uint32(len(s)))
	}
	e.buf = append(e.buf, s...)
}

// compoundElement writes a list or map in its 32-bit form without the
// constructor byte (as array elements require).
func (e *encoder) compoundElement(v any) error {
	tmp := encoder{depth: e.depth}
	var err error
	switch x := v.(type) {
	case []any:
		start := tmp.beginCompound(codeList32)
		for _, el := range x {
			if err = tmp.writeAny(el); err != nil {
				return err
			}
		}
		err = tmp.fixCompound32(start, len(x))
	default:
		if err = tmp.writeAny(v); err != nil {
			return err
		}
		err = tmp.widenMap()
	}
	if err != nil {
		return err
	}
	e.buf = append(e.buf, tmp.buf[1:]...)
	return nil
}

func (e *encoder) fixCompound32(start, count int) error {
	body := len(e.buf) - start - 9
	if uint64(body)+4 > math.MaxUint32 {
		return errors.New("amqp: compound value too large")
	}
	binary.BigEndian.PutUint32(e.buf[start+1:], uint32(body+4))
	binary.BigEndian.PutUint32(e.buf[start+5:], uint32(count))
	return nil
}

// widenMap rewrites a map8 at the start of e.buf as a map32.
func (e *encoder) widenMap() error {
	if len(e.buf) == 0 || e.buf[0] != codeMap8 {
		return nil
	}
	count := int(e.buf[2])
	body := e.buf[3:]
	out := make([]byte, 0, len(body)+9)
	out = append(out, codeMap32)
	out = binary.BigEndian.AppendUint32(out, uint32(len(body)+4))
	out = binary.BigEndian.AppendUint32(out, uint32(count))
	e.buf = append(out, body...)
	return nil
}
