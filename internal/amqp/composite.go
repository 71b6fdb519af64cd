package amqp

import (
	"fmt"
	"math"
	"time"
)

// fields is the decoded field list of a composite value. Missing trailing
// fields and nulls both mean "absent".
type fields []any

func (f fields) at(i int) any {
	if i < len(f) {
		return f[i]
	}
	return nil
}

func fieldErr(name string, v any) error {
	return fmt.Errorf("amqp: field %s has wrong type %T", name, v)
}

// unsignedOf accepts any AMQP unsigned integer whose value fits in max.
func unsignedOf(v any, max uint64) (uint64, bool) {
	var u uint64
	switch x := v.(type) {
	case uint8:
		u = uint64(x)
	case uint16:
		u = uint64(x)
	case uint32:
		u = uint64(x)
	case uint64:
		u = x
	default:
		return 0, false
	}
	return u, u <= max
}

func (f fields) uint32(i int, name string) (uint32, bool, error) {
	v := f.at(i)
	if v == nil {
		return 0, false, nil
	}
	u, ok := unsignedOf(v, math.MaxUint32)
	if !ok {
		return 0, false, fieldErr(name, v)
	}
	return uint32(u), true, nil
}

func (f fields) uint64(i int, name string) (uint64, bool, error) {
	v := f.at(i)
	if v == nil {
		return 0, false, nil
	}
	u, ok := unsignedOf(v, math.MaxUint64)
	if !ok {
		return 0, false, fieldErr(name, v)
	}
	return u, true, nil
}

func (f fields) uint16(i int, name string) (uint16, bool, error) {
	v := f.at(i)
	if v == nil {
		return 0, false, nil
	}
	u, ok := unsignedOf(v, math.MaxUint16)
	if !ok {
		return 0, false, fieldErr(name, v)
	}
	return uint16(u), true, nil
}

func (f fields) uint8(i int, name string) (uint8, bool, error) {
	v := f.at(i)
	if v == nil {
		return 0, false, nil
	}
	u, ok := unsignedOf(v, math.MaxUint8)
	if !ok {
		return 0, false, fieldErr(name, v)
	}
	return uint8(u), true, nil
}

func (f fields) bool(i int, name string, def bool) (bool, error) {
	v := f.at(i)
	if v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fieldErr(name, v)
	}
	return b, nil
}

func (f fields) string(i int, name string) (string, error) {
	switch v := f.at(i).(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", fieldErr(name, v)
	}
}

// address accepts a string or a symbol (the address type is "*").
func (f fields) address(i int, name string) (string, error) {
	switch v := f.at(i).(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case Symbol:
		return string(v), nil
	default:
		return "", fieldErr(name, v)
	}
}

func (f fields) symbol(i int, name string) (Symbol, error) {
	switch v := f.at(i).(type) {
	case nil:
		return "", nil
	case Symbol:
		return v, nil
	default:
		return "", fieldErr(name, v)
	}
}

func (f fields) binary(i int, name string) ([]byte, bool, error) {
	switch v := f.at(i).(type) {
	case nil:
		return nil, false, nil
	case []byte:
		return v, true, nil
	default:
		return nil, false, fieldErr(name, v)
	}
}

// symbols reads a "symbol multiple" field: a single symbol or an array.
func (f fields) symbols(i int, name string) ([]Symbol, error) {
	switch v := f.at(i).(type) {
	case nil:
		return nil, nil
	case Symbol:
		return []Symbol{v}, nil
	case []Symbol:
		return v, nil
	case Array:
		if len(v) == 0 {
			return []Symbol{}, nil
		}
	}
	return nil, fieldErr(name, f.at(i))
}

// symbolMap reads a map with symbol keys (fields, filter-set,
// node-properties). String keys are tolerated and become symbols.
func (f fields) symbolMap(i int, name string) (map[Symbol]any, error) {
	return toSymbolMap(f.at(i), name)
}

func toSymbolMap(v any, name string) (map[Symbol]any, error) {
	switch m := v.(type) {
	case nil:
		return nil, nil
	case map[any]any:
		out := make(map[Symbol]any, len(m))
		for k, val := range m {
			switch k := k.(type) {
			case Symbol:
				out[k] = val
			case string:
				out[Symbol(k)] = val
			default:
				return nil, fmt.Errorf("amqp: %s has a key of type %T", name, k)
			}
		}
		return out, nil
	}
	return nil, fieldErr(name, v)
}

func (f fields) millis(i int, name string) (time.Duration, error) {
	u, _, err := f.uint32(i, name)
	return time.Duration(u) * time.Millisecond, err
}

func (f fields) errorField(i int, name string) (*Error, error) {
	switch v := f.at(i).(type) {
	case nil:
		return nil, nil
	case *Error:
		return v, nil
	default:
		return nil, fieldErr(name, v)
	}
}

func (f fields) deliveryState(i int, name string) (DeliveryState, error) {
	switch v := f.at(i).(type) {
	case nil:
		return nil, nil
	case DeliveryState:
		return v, nil
	default:
		return nil, fieldErr(name, v)
	}
}

// listBuilder writes a composite value: descriptor, then a list of fields.
// Absent fields are written as null and trailing nulls are trimmed.
type listBuilder struct {
	e       *encoder
	start   int // offset of the list header
	n       int // fields written so far
	lastN   int // field count up to the last non-null field
	lastEnd int // buffer length after the last non-null field
}

func (e *encoder) beginList(desc uint64) *listBuilder {
	e.byte1(codeDescribed)
	e.writeUlong(desc)
	start := e.beginCompound(codeList32)
	return &listBuilder{e: e, start: start, lastEnd: len(e.buf)}
}

// mark records that a non-null field was just written.
func (l *listBuilder) mark() {
	l.n++
	l.lastN = l.n
	l.lastEnd = len(l.e.buf)
}

func (l *listBuilder) null() {
	l.e.writeNull()
	l.n++
}

func (l *listBuilder) end() error {
	e := l.e
	e.buf = e.buf[:l.lastEnd]
	if l.lastN == 0 {
		e.buf = append(e.buf[:l.start], codeList0)
		return nil
	}
	return e.endCompound(l.start, codeList8, l.lastN)
}

func (l *listBuilder) uint32(v uint32) { l.e.writeUint(v); l.mark() }

func (l *listBuilder) optUint32(v *uint32) {
	if v == nil {
		l.null()
		return
	}
	l.uint32(*v)
}

func (l *listBuilder) ulong(v uint64) { l.e.writeUlong(v); l.mark() }

func (l *listBuilder) ushort(v uint16) { l.e.writeUshort(v); l.mark() }

func (l *listBuilder) ubyte(v uint8) { l.e.writeUbyte(v); l.mark() }

// bool writes v, or null when v equals the field's default.
func (l *listBuilder) bool(v, def bool) {
	if v == def {
		l.null()
		return
	}
	l.e.writeBool(v)
	l.mark()
}

// boolAlways writes v even when it equals the default.
func (l *listBuilder) boolAlways(v bool) { l.e.writeBool(v); l.mark() }

// string writes s, or null when empty.
func (l *listBuilder) string(s string) error {
	if s == "" {
		l.null()
		return nil
	}
	if err := l.e.writeString(s); err != nil {
		return err
	}
	l.mark()
	return nil
}

// stringAlways writes s even when empty (mandatory string fields).
func (l *listBuilder) stringAlways(s string) error {
	if err := l.e.writeString(s); err != nil {
		return err
	}
	l.mark()
	return nil
}

func (l *listBuilder) symbol(s Symbol) error {
	if s == "" {
		l.null()
		return nil
	}
	if err := l.e.writeSymbol(s); err != nil {
		return err
	}
	l.mark()
	return nil
}

func (l *listBuilder) binary(b []byte, present bool) {
	if !present {
		l.null()
		return
	}
	l.e.writeBinary(b)
	l.mark()
}

func (l *listBuilder) symbols(s []Symbol) error {
	if s == nil {
		l.null()
		return nil
	}
	if err := l.e.writeAny(s); err != nil {
		return err
	}
	l.mark()
	return nil
}

func (l *listBuilder) symbolMap(m map[Symbol]any) error {
	if m == nil {
		l.null()
		return nil
	}
	if err := l.e.writeAny(m); err != nil {
		return err
	}
	l.mark()
	return nil
}

// value writes any value; nil is null.
func (l *listBuilder) value(v any) error {
	if isNil(v) {
		l.null()
		return nil
	}
	if err := l.e.writeAny(v); err != nil {
		return err
	}
	l.mark()
	return nil
}

// isNil reports whether v is nil or a nil pointer of one of the package's
// composite types.
func isNil(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case *Error:
		return x == nil
	case *Source:
		return x == nil
	case *Target:
		return x == nil
	case *Described:
		return x == nil
	case DeliveryState:
		return isNilState(x)
	}
	return false
}
