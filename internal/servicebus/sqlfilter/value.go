package sqlfilter

import (
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"time"
)

// UUID is a 16-byte GUID as produced by newid() and as accepted from
// messages (any array type with underlying type [16]byte is accepted too).
// Its bytes are in RFC 4122 (network) order.
type UUID [16]byte

// String formats u as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx in lower case.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// kind is the runtime type of an evaluated value.
type kind uint8

const (
	kNull kind = iota
	kBool
	kInt32
	kInt64
	kDouble
	kString
	kTime
	kDuration
	kUUID
	kOther
)

func (k kind) String() string {
	switch k {
	case kNull:
		return "null"
	case kBool:
		return "boolean"
	case kInt32:
		return "int"
	case kInt64:
		return "long"
	case kDouble:
		return "double"
	case kString:
		return "string"
	case kTime:
		return "DateTime"
	case kDuration:
		return "TimeSpan"
	case kUUID:
		return "Guid"
	default:
		return "unsupported type"
	}
}

// value is an evaluated operand. Integers, booleans (0/1) and durations
// live in n; doubles in f.
type value struct {
	k kind
	n int64
	f float64
	s string
	t time.Time
	u UUID
	o any
}

func nullValue() value            { return value{} }
func boolValue(b bool) value      { v := value{k: kBool}; v.setBool(b); return v }
func int32Value(i int32) value    { return value{k: kInt32, n: int64(i)} }
func int64Value(i int64) value    { return value{k: kInt64, n: i} }
func doubleValue(f float64) value { return value{k: kDouble, f: f} }
func stringValue(s string) value  { return value{k: kString, s: s} }

func (v *value) setBool(b bool) {
	if b {
		v.n = 1
	} else {
		v.n = 0
	}
}

func (v value) isNumeric() bool { return v.k == kInt32 || v.k == kInt64 || v.k == kDouble }

func (v value) float() float64 {
	if v.k == kDouble {
		return v.f
	}
	return float64(v.n)
}

// typeName names v's type for error messages.
func (v value) typeName() string {
	if v.k == kOther {
		return fmt.Sprintf("unsupported type %T", v.o)
	}
	return v.k.String()
}

// fromAny converts a property or parameter value to a value.
func fromAny(x any) value {
	switch t := x.(type) {
	case nil:
		return nullValue()
	case bool:
		return boolValue(t)
	case int8:
		return int32Value(int32(t))
	case int16:
		return int32Value(int32(t))
	case int32:
		return int32Value(t)
	case uint8:
		return int32Value(int32(t))
	case uint16:
		return int32Value(int32(t))
	case int:
		return int64Value(int64(t))
	case int64:
		return int64Value(t)
	case uint32:
		return int64Value(int64(t))
	case uint:
		if uint64(t) <= math.MaxInt64 {
			return int64Value(int64(t))
		}
		return doubleValue(float64(t))
	case uint64:
		if t <= math.MaxInt64 {
			return int64Value(int64(t))
		}
		return doubleValue(float64(t))
	case float32:
		return doubleValue(float64(t))
	case float64:
		return doubleValue(t)
	case string:
		return stringValue(t)
	case time.Time:
		return value{k: kTime, t: t}
	case time.Duration:
		return value{k: kDuration, n: int64(t)}
	case UUID:
		return value{k: kUUID, u: t}
	case [16]byte:
		return value{k: kUUID, u: UUID(t)}
	}
	rv := reflect.ValueOf(x)
	if rv.Kind() == reflect.Array && rv.Len() == 16 && rv.Type().Elem().Kind() == reflect.Uint8 {
		var u UUID
		for i := range 16 {
			u[i] = byte(rv.Index(i).Uint())
		}
		return value{k: kUUID, u: u}
	}
	return value{k: kOther, o: x}
}

// toAny converts a value back to the Go representation documented in the
// package comment.
func (v value) toAny() any {
	switch v.k {
	case kBool:
		return v.n != 0
	case kInt32:
		return int32(v.n)
	case kInt64:
		return v.n
	case kDouble:
		return v.f
	case kString:
		return v.s
	case kTime:
		return v.t
	case kDuration:
		return time.Duration(v.n)
	case kUUID:
		return v.u
	case kOther:
		return v.o
	default:
		return nil
	}
}

// tri is a three-valued logic result.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

func (t tri) value() value {
	switch t {
	case triTrue:
		return boolValue(true)
	case triFalse:
		return boolValue(false)
	default:
		return nullValue()
	}
}

func (t tri) not() tri {
	switch t {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	default:
		return triUnknown
	}
}

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// truth interprets v as a predicate result.
func truth(v value, pos int) (tri, error) {
	switch v.k {
	case kBool:
		return triOf(v.n != 0), nil
	case kNull:
		return triUnknown, nil
	default:
		return triUnknown, evalErrorf(pos, "expected a boolean value, got %s", v.typeName())
	}
}

// Comparison operators.
type cmpOp uint8

const (
	cmpEq cmpOp = iota
	cmpNe
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

func (op cmpOp) String() string {
	return [...]string{"=", "<>", "<", "<=", ">", ">="}[op]
}

// order applies a relational operator to a three-way comparison result.
func (op cmpOp) order(c int) bool {
	switch op {
	case cmpEq:
		return c == 0
	case cmpNe:
		return c != 0
	case cmpLt:
		return c < 0
	case cmpLe:
		return c <= 0
	case cmpGt:
		return c > 0
	default:
		return c >= 0
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compare applies op to a and b with Service Bus (C#) semantics.
func compare(op cmpOp, a, b value, pos int) (tri, error) {
	if a.k == kNull || b.k == kNull {
		return triUnknown, nil
	}
	if a.isNumeric() && b.isNumeric() {
		if a.k == kDouble || b.k == kDouble {
			x, y := a.float(), b.float()
			switch op {
			case cmpEq:
				return triOf(x == y), nil
			case cmpNe:
				return triOf(x != y), nil
			case cmpLt:
				return triOf(x < y), nil
			case cmpLe:
				return triOf(x <= y), nil
			case cmpGt:
				return triOf(x > y), nil
			default:
				return triOf(x >= y), nil
			}
		}
		return triOf(op.order(cmpInt(a.n, b.n))), nil
	}
	if a.k == b.k {
		switch a.k {
		case kTime:
			return triOf(op.order(a.t.Compare(b.t))), nil
		case kDuration:
			return triOf(op.order(cmpInt(a.n, b.n))), nil
		case kString, kBool, kUUID:
			if op != cmpEq && op != cmpNe {
				break
			}
			var eq bool
			switch a.k {
			case kString:
				eq = a.s == b.s
			case kBool:
				eq = a.n == b.n
			default:
				eq = a.u == b.u
			}
			return triOf(eq == (op == cmpEq)), nil
		}
	}
	return triUnknown, evalErrorf(pos, "operator '%s' cannot be applied to %s and %s", op, a.typeName(), b.typeName())
}

// equalLoose is equality for IN and correlation filters: incompatible
// types are simply unequal.
func equalLoose(a, b value) tri {
	if a.k == kNull || b.k == kNull {
		return triUnknown
	}
	if a.k == kOther || b.k == kOther {
		return triFalse
	}
	if (a.isNumeric() && b.isNumeric()) || a.k == b.k {
		t, err := compare(cmpEq, a, b, 0)
		if err != nil {
			return triFalse
		}
		return t
	}
	return triFalse
}

// arith applies a binary arithmetic operator.
func arith(op byte, a, b value, pos int) (value, error) {
	if a.k == kNull || b.k == kNull {
		return nullValue(), nil
	}
	if a.isNumeric() && b.isNumeric() {
		switch {
		case a.k == kDouble || b.k == kDouble:
			x, y := a.float(), b.float()
			switch op {
			case '+':
				return doubleValue(x + y), nil
			case '-':
				return doubleValue(x - y), nil
			case '*':
				return doubleValue(x * y), nil
			case '/':
				return doubleValue(x / y), nil
			default:
				return doubleValue(math.Mod(x, y)), nil
			}
		case a.k == kInt32 && b.k == kInt32:
			x, y := int32(a.n), int32(b.n)
			if (op == '/' || op == '%') && y == 0 {
				return nullValue(), evalErrorf(pos, "division by zero")
			}
			if (op == '/' || op == '%') && x == math.MinInt32 && y == -1 {
				return nullValue(), evalErrorf(pos, "arithmetic overflow")
			}
			switch op {
			case '+':
				return int32Value(x + y), nil
			case '-':
				return int32Value(x - y), nil
			case '*':
				return int32Value(x * y), nil
			case '/':
				return int32Value(x / y), nil
			default:
				return int32Value(x % y), nil
			}
		default:
			x, y := a.n, b.n
			if (op == '/' || op == '%') && y == 0 {
				return nullValue(), evalErrorf(pos, "division by zero")
			}
			if (op == '/' || op == '%') && x == math.MinInt64 && y == -1 {
				return nullValue(), evalErrorf(pos, "arithmetic overflow")
			}
			switch op {
			case '+':
				return int64Value(x + y), nil
			case '-':
				return int64Value(x - y), nil
			case '*':
				return int64Value(x * y), nil
			case '/':
				return int64Value(x / y), nil
			default:
				return int64Value(x % y), nil
			}
		}
	}
	switch {
	case op == '+' && a.k == kString && b.k == kString:
		if len(a.s)+len(b.s) > MaxStringLength {
			return nullValue(), evalErrorf(pos, "string result longer than %d bytes", MaxStringLength)
		}
		return stringValue(a.s + b.s), nil
	case op == '+' && a.k == kTime && b.k == kDuration:
		return value{k: kTime, t: a.t.Add(time.Duration(b.n))}, nil
	case op == '+' && a.k == kDuration && b.k == kTime:
		return value{k: kTime, t: b.t.Add(time.Duration(a.n))}, nil
	case op == '-' && a.k == kTime && b.k == kDuration:
		return value{k: kTime, t: a.t.Add(-time.Duration(b.n))}, nil
	case op == '-' && a.k == kTime && b.k == kTime:
		return value{k: kDuration, n: int64(a.t.Sub(b.t))}, nil
	case (op == '+' || op == '-') && a.k == kDuration && b.k == kDuration:
		if op == '+' {
			return value{k: kDuration, n: a.n + b.n}, nil
		}
		return value{k: kDuration, n: a.n - b.n}, nil
	}
	return nullValue(), evalErrorf(pos, "operator '%c' cannot be applied to %s and %s", op, a.typeName(), b.typeName())
}

// negate applies unary minus.
func negate(a value, pos int) (value, error) {
	switch a.k {
	case kNull:
		return a, nil
	case kInt32:
		return int32Value(-int32(a.n)), nil
	case kInt64, kDuration:
		a.n = -a.n
		return a, nil
	case kDouble:
		return doubleValue(-a.f), nil
	}
	return nullValue(), evalErrorf(pos, "operator '-' cannot be applied to %s", a.typeName())
}

// implicitConvert converts v to the type of existing when C# has an
// implicit numeric conversion (int to long or double, long to double).
func implicitConvert(v, existing value) value {
	switch {
	case v.k == kInt32 && existing.k == kInt64:
		return int64Value(v.n)
	case (v.k == kInt32 || v.k == kInt64) && existing.k == kDouble:
		return doubleValue(float64(v.n))
	}
	return v
}
