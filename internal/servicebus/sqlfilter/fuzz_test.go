package sqlfilter

import (
	"errors"
	"maps"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzMessage is a message with properties of every supported type.
func fuzzMessage() *MapMessage {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	return withSys(u("a", int32(1), "b", int64(2), "c", 2.5, "s", "abc", "t", t0, "d", time.Second,
		"g", UUID{1}, "x", nil, "bin", []byte{1}, "flag", true, "color", "red", "n", "sys.Label"),
		SysLabel, "label", SysSequenceNumber, int64(7), SysEnqueuedTimeUtc, t0)
}

func checkSyntaxError(t *testing.T, expr string, err error) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
	}
	if n := utf8.RuneCountInString(expr); se.Pos < 0 || se.Pos > n || se.Line < 1 || se.Column < 1 || se.Msg == "" {
		t.Fatalf("bad error position %+v for %d runes", se, n)
	}
}

func checkEvalError(t *testing.T, err error) {
	t.Helper()
	var ee *EvalError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("evaluation error %v (%T) is not an *EvalError", err, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"color = 'red' AND quantity > 10",
		"sys.Label LIKE '%bus%' OR user.tag IN ('queue', 'topic', 'subscription')",
		"NOT EXISTS(a) AND b IS NOT NULL",
		"s LIKE 'a!%' ESCAPE '!'",
		"(a + b) * -c / 2.5E1 % 3 <> 4",
		"[my prop] = \"x\"",
		"property('sys.Label') = p(n)",
		"newid() <> newid()",
		"t - t = d - d",
		"(((((((a)))))))=1",
		"a NOT IN (1, 'x', NULL, 2.0)",
		"-9223372036854775808 = a",
		"'\u65e5' = s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := Parse(expr)
		if err != nil {
			checkSyntaxError(t, expr, err)
			return
		}
		if flt.String() != expr {
			t.Fatalf("String() = %q", flt.String())
		}
		_, err = flt.Match(fuzzMessage())
		checkEvalError(t, err)
		_, err = flt.Match(u())
		checkEvalError(t, err)
	})
}

func FuzzParseAction(f *testing.F) {
	for _, s := range []string{
		"SET quantity = quantity / 2; REMOVE priority;SET sys.CorrelationId = 'low';",
		"SET a = 1, b = 2 REMOVE c",
		"SET sys.Label = sys.Label + 'x'; SET [x y] = newid()",
		"SET d = t - t; SET sys.TimeToLive = d",
		"REMOVE a; SET b = a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		a, err := ParseAction(expr)
		if err != nil {
			checkSyntaxError(t, expr, err)
			return
		}
		m := fuzzMessage()
		before := maps.Clone(m.User)
		err = a.Apply(m)
		checkEvalError(t, err)
		if err != nil && !reflect.DeepEqual(m.User, before) {
			t.Fatalf("failed action changed the message")
		}
	})
}
