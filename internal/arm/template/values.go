package template

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// unknown stands for a value that is only known while deploying (the result
// of reference() or a list*() function); Validate and WhatIf evaluate with
// it, and every operation on an unknown yields an unknown.
type unknown struct{ text string }

// lambdaValue is the value of lambda(...): parameter names and a body that is
// evaluated with the captured scope.
type lambdaValue struct {
	params []string
	body   *expr
	scope  *scope
}

// normalize converts caller-supplied values into the evaluator's value space
// (int64 for integers, []any, map[string]any), copying containers.
func normalize(v any) any {
	switch t := v.(type) {
	case nil, bool, string, int64:
		return t
	case float64:
		return normFloat(t)
	case float32:
		return normFloat(float64(t))
	case int:
		return int64(t)
	case int8:
		return int64(t)
	case int16:
		return int64(t)
	case int32:
		return int64(t)
	case uint8:
		return int64(t)
	case uint16:
		return int64(t)
	case uint32:
		return int64(t)
	case uint:
		if uint64(t) <= math.MaxInt64 {
			return int64(t)
		}
		return float64(t)
	case uint64:
		if t <= math.MaxInt64 {
			return int64(t)
		}
		return float64(t)
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return normFloat(f)
		}
		return t.String()
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalize(e)
		}
		return out
	case []string:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = e
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalize(e)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = e
		}
		return out
	case json.RawMessage:
		n, err := parseJSON(string(t), false)
		if err != nil {
			return nil
		}
		return n.literal()
	case unknown, *lambdaValue:
		return t
	}
	// Anything else (structs, typed slices or maps): round-trip through JSON.
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	n, err := parseJSON(string(data), false)
	if err != nil {
		return nil
	}
	return n.literal()
}

func normFloat(f float64) any {
	if f == math.Trunc(f) && f >= -9.2e18 && f <= 9.2e18 {
		return int64(f)
	}
	return f
}

// typeName names a value's type the way ARM's messages do.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "Null"
	case bool:
		return "Boolean"
	case int64:
		return "Integer"
	case float64:
		return "Float"
	case string:
		return "String"
	case []any:
		return "Array"
	case map[string]any:
		return "Object"
	case unknown:
		return "Unknown"
	case *lambdaValue:
		return "Lambda"
	}
	return "Unknown"
}

// deepEqual compares two values as ARM's equals() does: strings
// case-sensitively, numbers by value, containers element-wise.
func deepEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case int64:
		switch y := b.(type) {
		case int64:
			return x == y
		case float64:
			return float64(x) == y
		}
		return false
	case float64:
		switch y := b.(type) {
		case int64:
			return x == float64(y)
		case float64:
			return x == y
		}
		return false
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !deepEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !deepEqual(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

// boolString renders a boolean the way .NET does ("True"/"False").
func boolString(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// floatString renders a float roughly as Json.NET does.
func floatString(f float64) string {
	s := strconv.FormatFloat(f, 'G', -1, 64)
	if !strings.ContainsAny(s, ".EN") {
		s += ".0"
	}
	return s
}

// scalarString converts a scalar to a string (for concat, format, string()).
func scalarString(v any) (string, bool) {
	switch t := v.(type) {
	case nil:
		return "", true
	case string:
		return t, true
	case int64:
		return strconv.FormatInt(t, 10), true
	case float64:
		return floatString(t), true
	case bool:
		return boolString(t), true
	}
	return "", false
}

// compactJSON serialises a value the way Json.NET's Formatting.None does
// (no HTML escaping); object keys are sorted.
func compactJSON(v any) string {
	var b strings.Builder
	writeJSON(&b, v)
	return b.String()
}

func writeJSON(b *strings.Builder, v any) {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int64:
		b.WriteString(strconv.FormatInt(t, 10))
	case float64:
		b.WriteString(floatString(t))
	case string:
		writeJSONString(b, t)
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := sortedKeys(t)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k)
			b.WriteByte(':')
			writeJSON(b, t[k])
		}
		b.WriteByte('}')
	case unknown:
		writeJSONString(b, "["+t.text+"]")
	default:
		b.WriteString("null")
	}
}

func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xF])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// lookupKey finds an object member: exact match first, then a
// case-insensitive one (ARM property access is case-insensitive).
func lookupKey(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for _, k := range sortedKeys(m) {
		if strings.EqualFold(k, key) {
			return m[k], true
		}
	}
	return nil, false
}

// containsUnknown reports whether v is or contains an unknown value.
func containsUnknown(v any) bool {
	switch t := v.(type) {
	case unknown:
		return true
	case []any:
		for _, e := range t {
			if containsUnknown(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range t {
			if containsUnknown(e) {
				return true
			}
		}
	}
	return false
}

// renderUnknowns replaces unknown values by their "[expression]" text, as
// ARM's what-if shows them.
func renderUnknowns(v any) any {
	switch t := v.(type) {
	case unknown:
		return "[" + t.text + "]"
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = renderUnknowns(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = renderUnknowns(e)
		}
		return out
	}
	return v
}

// deepCopy copies containers so that callers cannot alias engine state.
func deepCopy(v any) any {
	switch t := v.(type) {
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	}
	return v
}

// Limits on the size of any value the evaluator builds, so that templates
// cannot exhaust memory (for example by doubling an array in reduce()).
const (
	maxValueNodes = 1 << 20
	maxValueBytes = 32 << 20
)

// errTooLarge is returned when a value exceeds the limits above.
var errTooLarge = fmt.Errorf("the value is too large: values are limited to %d elements and %d bytes of text", maxValueNodes, maxValueBytes)

// sizeOf counts the elements and text bytes of v, stopping once a limit is
// passed; over reports whether it was.
func sizeOf(v any) (nodes, bytes int, over bool) {
	var walk func(v any) bool
	walk = func(v any) bool {
		nodes++
		if nodes > maxValueNodes {
			return false
		}
		switch t := v.(type) {
		case string:
			bytes += len(t)
		case []any:
			for _, e := range t {
				if !walk(e) {
					return false
				}
			}
		case map[string]any:
			for k, e := range t {
				bytes += len(k)
				if !walk(e) {
					return false
				}
			}
		}
		return bytes <= maxValueBytes
	}
	ok := walk(v)
	return nodes, bytes, !ok
}

// checkSize returns errTooLarge when v exceeds the value limits.
func checkSize(v any) error {
	if _, _, over := sizeOf(v); over {
		return errTooLarge
	}
	return nil
}

// canonKey renders a value so that deepEqual values get equal keys.
func canonKey(v any) string {
	var b strings.Builder
	writeCanon(&b, v)
	return b.String()
}

func writeCanon(b *strings.Builder, v any) {
	switch t := v.(type) {
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e18 {
			b.WriteString(strconv.FormatInt(int64(t), 10))
			return
		}
		b.WriteString(strconv.FormatFloat(t, 'g', -1, 64))
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanon(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		for i, k := range sortedKeys(t) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k)
			b.WriteByte(':')
			writeCanon(b, t[k])
		}
		b.WriteByte('}')
	default:
		writeJSON(b, v)
	}
}
