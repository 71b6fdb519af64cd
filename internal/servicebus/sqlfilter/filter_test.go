package sqlfilter

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// u builds a message with user properties given as alternating
// name/value pairs.
func u(kv ...any) *MapMessage {
	m := &MapMessage{User: map[string]any{}, System: map[string]any{}}
	for i := 0; i+1 < len(kv); i += 2 {
		m.User[kv[i].(string)] = kv[i+1]
	}
	return m
}

// withSys adds system properties to m.
func withSys(m *MapMessage, kv ...any) *MapMessage {
	for i := 0; i+1 < len(kv); i += 2 {
		m.System[kv[i].(string)] = kv[i+1]
	}
	return m
}

const (
	no  = 0 // no match
	yes = 1 // match
	bad = 2 // evaluation error
)

func TestMatch(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	t1 := t0.Add(90 * time.Minute)
	var id1 UUID
	id1[0] = 1
	type arr16 [16]byte

	tests := []struct {
		expr string
		msg  *MapMessage
		want int
	}{
		// Strings: ordinal, case-sensitive values; case-insensitive names.
		{"color = 'red'", u("color", "red"), yes},
		{"color = 'red'", u("color", "Red"), no},
		{"color = 'red'", u(), no},
		{"Color = 'red'", u("color", "red"), yes},
		{"user.color = 'red'", u("color", "red"), yes},
		{"USER.color = 'red'", u("color", "red"), yes},
		{"[color] = 'red'", u("color", "red"), yes},
		{`"color" = 'red'`, u("color", "red"), yes},
		{"user.[my prop] = 1", u("my prop", 1), yes},
		{"[HR-EmployeeID] = 7", u("HR-EmployeeID", 7), yes},
		{"[a]]b] = 1", u("a]b", 1), yes},
		{`"a""b" = 1`, u(`a"b`, 1), yes},
		{`"http://schemas.microsoft.com/xrm/2011/Claims/EntityLogicalName" = 'account'`,
			u("http://schemas.microsoft.com/xrm/2011/Claims/EntityLogicalName", "account"), yes},
		{"'it''s' = s", u("s", "it's"), yes},
		{"s = 'héllo wörld'", u("s", "héllo wörld"), yes},
		{"s = ''", u("s", ""), yes},
		{"color <> 'red'", u("color", "blue"), yes},
		{"color != 'red'", u("color", "red"), no},
		{"color <> 'red'", u(), no},
		{"s > 'a'", u("s", "b"), bad},
		{"s < 'a'", u("s", "b"), bad},
		{"s = 1", u("s", "1"), bad},
		{"s = 1", u(), no},
		{"s + 'y' = 'xy'", u("s", "x"), yes},
		{"s + 1 = 'x1'", u("s", "x"), bad},
		{"'a' + 1 = 'a1'", u(), bad},
		{"s - 'y' = 'x'", u("s", "x"), bad},
		{"ÄÖÜ_1 = 1", u("äöü_1", 1), yes},

		// Three-valued logic.
		{"NOT (color = 'red')", u(), no},
		{"NOT color = 'red'", u("color", "blue"), yes},
		{"NOT NOT color = 'red'", u("color", "red"), yes},
		{"a = 1 OR b = 1", u("b", 1), yes},
		{"a = 1 OR b = 1", u("b", 2), no},
		{"NOT (a = 1 OR b = 1)", u("b", 2), no},
		{"a = 1 AND b = 1", u("b", 1), no},
		{"NOT (a = 1 AND b = 1)", u("b", 2), yes},
		{"NOT (a = 1 AND b = 1)", u("b", 1), no},
		{"a = 1 and b = 2 Or NOT c is null", u("c", 3), yes},
		{"a = 1 AND b = 2 OR c = 3", u("c", 3), yes},
		{"a = 1 AND (b = 2 OR c = 3)", u("c", 3), no},
		{"TRUE", u(), yes},
		{"FALSE", u(), no},
		{"NULL", u(), no},
		{"NOT NULL", u(), no},
		{"TRUE AND NULL", u(), no},
		{"NOT (TRUE AND NULL)", u(), no},
		{"FALSE AND NULL", u(), no},
		{"NOT (FALSE AND NULL)", u(), yes},
		{"TRUE OR NULL", u(), yes},
		{"1=1", u(), yes},
		{"1=0", u(), no},
		// Short-circuit: the right side is not evaluated once the result is known.
		{"a = 1 AND s + 1 = 2", u("a", 2, "s", "x"), no},
		{"a = 1 AND s + 1 = 2", u("a", 1, "s", "x"), bad},
		{"a = 1 AND s + 1 = 2", u("s", "x"), bad},
		{"a = 1 OR s + 1 = 2", u("a", 1, "s", "x"), yes},

		// IS NULL and EXISTS.
		{"a IS NULL", u(), yes},
		{"a IS NULL", u("a", nil), yes},
		{"a IS NULL", u("a", 0), no},
		{"a IS NOT NULL", u("a", 0), yes},
		{"a IS NOT NULL", u("a", nil), no},
		{"a + 1 IS NULL", u(), yes},
		{"x IS NOT NULL", u("x", []byte{1}), yes},
		{"EXISTS(a)", u("a", nil), yes},
		{"EXISTS ( a )", u(), no},
		{"NOT EXISTS(a)", u(), yes},
		{"exists(user.[a b])", u("a b", 1), yes},
		{"EXISTS(sys.Label)", withSys(u(), SysLabel, "x"), yes},
		{"EXISTS(sys.Label)", u(), no},
		{"sys.Label IS NULL", withSys(u(), SysLabel, nil), yes},

		// System properties.
		{"sys.Label = 'x'", withSys(u(), SysLabel, "x"), yes},
		{"sys.label = 'x'", withSys(u(), SysLabel, "x"), yes},
		{"SYS.SUBJECT = 'x'", withSys(u(), SysLabel, "x"), yes},
		{"sys.[To] = 'x'", withSys(u(), SysTo, "x"), yes},
		{"sys.Label = 'x'", u("Label", "x"), no},
		{"Label = 'x'", withSys(u(), SysLabel, "x"), no},
		{"sys.Label LIKE '%bus%'", withSys(u(), SysLabel, "servicebus"), yes},
		{"sys.CorrelationId like 'abc-%'", withSys(u(), SysCorrelationID, "abc-1"), yes},
		{"sys.MessageId = 'm1' AND sys.SessionId = 's1'", withSys(u(), SysMessageID, "m1", SysSessionID, "s1"), yes},
		{"sys.SequenceNumber > 10", withSys(u(), SysSequenceNumber, int64(11)), yes},
		{"sys.DeliveryCount = 0", withSys(u(), SysDeliveryCount, int32(0)), yes},
		{"sys.TransactionPartitionKey = 'k'", withSys(u(), SysViaPartitionKey, "k"), yes},
		{"sys.To IN ('Store5','Store6','Store7') OR StoreId = 'Store8'", u("StoreId", "Store8"), yes},
		{"sys.To NOT IN ('Store1','Store2') OR StoreId NOT IN ('Store1','Store2')", withSys(u("StoreId", "Store1"), SysTo, "Store3"), yes},
		{"sys.EnqueuedTimeUtc >= t", withSys(u("t", t0), SysEnqueuedTimeUtc, t1), yes},
		{"sys.TimeToLive > d", withSys(u("d", time.Minute), SysTimeToLive, time.Hour), yes},

		// Numbers: int (int32), long (int64) and double, C# promotion.
		{"q = 10", u("q", int32(10)), yes},
		{"q = 10", u("q", int64(10)), yes},
		{"q = 10", u("q", 10), yes},
		{"q = 10", u("q", 10.0), yes},
		{"q = 10", u("q", uint8(10)), yes},
		{"q = 10", u("q", float32(10)), yes},
		{"q = 10.0", u("q", int32(10)), yes},
		{"q = 1.5E1 - 5", u("q", 10), yes},
		{"q = 10", u("q", "10"), bad},
		{"q > 2.08", u("q", 3), yes},
		{"q > 2.08", u("q", 2), no},
		{"q >= 3", u("q", 3), yes},
		{"q <= 3", u("q", int32(4)), no},
		{"q < 0.5E-2", u("q", 0.001), yes},
		{"q = .5", u("q", 0.5), yes},
		{"q = 101.5E5", u("q", 10150000), yes},
		{"q / 2 = 2", u("q", int32(5)), yes},
		{"q / 2 = 2", u("q", int64(5)), yes},
		{"q / 2 = 2.5", u("q", int32(5)), no},
		{"q / 2.0 = 2.5", u("q", int32(5)), yes},
		{"q / 2 = 2.5", u("q", 5.0), yes},
		{"q % 3 = 2", u("q", 5), yes},
		{"q % 3 = -2", u("q", -5), yes},
		{"q % 2.5 = 0.5", u("q", 5.5), yes},
		{"-q = -5", u("q", 5), yes},
		{"- -q = 5", u("q", 5), yes},
		{"+q = 5", u("q", 5), yes},
		{"+s = 'x'", u("s", "x"), bad},
		{"-s = 'x'", u("s", "x"), bad},
		{"q * 2 + 1 = 11", u("q", 5), yes},
		{"1 + 2 * 3 = 7", u(), yes},
		{"(1 + 2) * 3 = 9", u(), yes},
		{"10 - 2 - 3 = 5", u(), yes},
		{"2 * 3 % 4 = 2", u(), yes},
		{"100 / 10 / 5 = 2", u(), yes},
		{"a - b = 80", u("a", 100, "b", 20), yes},
		{"q / 0 = 1", u("q", 1), bad},
		{"q % 0 = 1", u("q", int32(1)), bad},
		{"q / 0 = 1", u(), no},
		{"q / 0.0 > 1E300", u("q", 1.0), yes},
		{"q / 0 > 1E300", u("q", 1.0), yes},
		{"q + r < 0", u("q", int32(math.MaxInt32), "r", int32(1)), yes}, // int wraps
		{"q + 1 < 0", u("q", int32(math.MaxInt32)), no},                 // int + long is long
		{"q + 1 < 0", u("q", int64(math.MaxInt64)), yes},                // long wraps
		{"q / -1 = 0", u("q", int64(math.MinInt64)), bad},
		{"q / r = 0", u("q", int32(math.MinInt32), "r", int32(-1)), bad},
		{"-9223372036854775808 < 0", u(), yes},
		{"q = 9223372036854775807", u("q", uint64(math.MaxInt64)), yes},
		{"q > 9223372036854775807", u("q", uint64(math.MaxUint64)), yes},
		{"q = q", u("q", math.NaN()), no},
		{"q <> q", u("q", math.NaN()), yes},
		{"q = 0.3", u("q", 0.30000000000000004), no},
		{"q = 16777217", u("q", float32(16777216)), no},

		// Booleans.
		{"b = TRUE", u("b", true), yes},
		{"b <> false", u("b", true), yes},
		{"b", u("b", true), yes},
		{"b", u("b", false), no},
		{"b", u(), no},
		{"b", u("b", "true"), bad},
		{"NOT b", u("b", false), yes},
		{"b AND c", u("b", true, "c", true), yes},
		{"b > TRUE", u("b", true), bad},
		{"b = 1", u("b", true), bad},
		{"(a = 1) = (b = 1)", u("a", 1, "b", 1), yes},

		// IN.
		{"c IN ('red', 'blue')", u("c", "blue"), yes},
		{"c IN('red','blue')", u("c", "green"), no},
		{"c IN ('red', 'blue')", u(), no},
		{"c NOT IN ('red', 'blue')", u("c", "green"), yes},
		{"c NOT IN ('red', 'blue')", u("c", "red"), no},
		{"c NOT IN ('red', 'blue')", u(), no},
		{"n IN (1, 2.5, 'x')", u("n", int32(1)), yes},
		{"n IN (1, 2.5, 'x')", u("n", 2.5), yes},
		{"n IN (1, 2.5, 'x')", u("n", "x"), yes},
		{"n IN (1, 2.5, 'x')", u("n", "y"), no},
		{"n IN (1, 2.5, 'x')", u("n", true), no},
		{"n IN (1, 2.5, 'x')", u("n", []byte("x")), no},
		{"n IN (1, NULL)", u("n", 1), yes},
		{"n IN (1, NULL)", u("n", 2), no},
		{"NOT (n IN (1, NULL))", u("n", 2), no},
		{"n NOT IN (1, NULL)", u("n", 2), no},
		{"n NOT IN (1, NULL)", u("n", 1), no},
		{"n IN (m, m + 1)", u("n", 4, "m", 3), yes},
		{"n IN (missing)", u("n", 4), no},
		{"n IN (1, 1 / 0)", u("n", 1), yes},
		{"n IN (1, 1 / 0)", u("n", 2), bad},
		{"u IN (v)", u("u", id1, "v", arr16(id1)), yes},

		// LIKE.
		{"s LIKE 'ab%'", u("s", "abc"), yes},
		{"s LIKE 'ab%'", u("s", "ab"), yes},
		{"s LIKE 'ab%'", u("s", "xab"), no},
		{"s LIKE '%bus%'", u("s", "servicebus!"), yes},
		{"s LIKE '%bus'", u("s", "busbusx"), no},
		{"s LIKE '%bus'", u("s", "busbus"), yes},
		{"s LIKE 'a_c'", u("s", "abc"), yes},
		{"s LIKE 'a_c'", u("s", "abbc"), no},
		{"s LIKE 'a_c'", u("s", "ac"), no},
		{"s LIKE 'a_c'", u("s", "aéc"), yes},
		{"s LIKE '_'", u("s", "日"), yes},
		{"s LIKE '__'", u("s", "日"), no},
		{`s LIKE 'ABC\%' ESCAPE '\'`, u("s", "ABC%"), yes},
		{`s LIKE 'ABC\%' ESCAPE '\'`, u("s", "ABCD"), no},
		{`s LIKE 'ABC%'`, u("s", "ABCD"), yes},
		{"s LIKE 'a!_b' ESCAPE '!'", u("s", "a_b"), yes},
		{"s LIKE 'a!_b' ESCAPE '!'", u("s", "axb"), no},
		{"s LIKE 'a!!b' ESCAPE '!'", u("s", "a!b"), yes},
		{"s LIKE 'a%%b'", u("s", "ab"), yes},
		{"s LIKE 'ABC%'", u("s", "abc"), no},
		{"s NOT LIKE 'a%'", u("s", "b"), yes},
		{"s NOT LIKE 'a%'", u("s", "a"), no},
		{"s NOT LIKE 'a%'", u(), no},
		{"s LIKE '%'", u("s", ""), yes},
		{"s LIKE ''", u("s", ""), yes},
		{"s LIKE ''", u("s", "a"), no},
		{"s LIKE '%a%b%c%'", u("s", "xaybzc"), yes},
		{"s LIKE '%a%b%c'", u("s", "xaybzcd"), no},
		{"s LIKE '%aab'", u("s", "aaaab"), yes},
		{"s LIKE '_%_'", u("s", "ab"), yes},
		{"s LIKE '_%_'", u("s", "a"), no},
		{"n LIKE '1%'", u("n", 1), bad},
		{"s LIKE p", u("s", "abc", "p", "a%"), yes},
		{"s LIKE p", u("s", "abc"), no},
		{"s LIKE p", u("s", "abc", "p", 1), bad},
		{"s LIKE 'a' + '%'", u("s", "abc"), yes},
		{"s LIKE p ESCAPE e", u("s", "a%", "p", "a!%", "e", "!"), yes},
		{"s LIKE p ESCAPE e", u("s", "a", "p", "a", "e", "ab"), bad},
		{"s LIKE p ESCAPE e", u("s", "a", "p", "a", "e", ""), bad},
		{"s LIKE p ESCAPE '!'", u("s", "x", "p", "x!"), bad},
		{"s LIKE 'a' ESCAPE NULL", u("s", "a"), no},
		{"s LIKE NULL", u("s", "a"), no},
		{"s LIKE " + "'" + strings.Repeat("%a", 100) + "b'", u("s", strings.Repeat("a", 1000)), no},

		// DateTime and TimeSpan.
		{"t1 > t0", u("t0", t0, "t1", t1), yes},
		{"t1 = t0", u("t0", t0, "t1", t0.In(time.FixedZone("x", 3600))), yes},
		{"t1 - t0 = d", u("t0", t0, "t1", t1, "d", 90*time.Minute), yes},
		{"(t1 - t0) <= d", u("t0", t0, "t1", t1, "d", time.Hour), no},
		{"t0 + d = t1", u("t0", t0, "t1", t1, "d", 90*time.Minute), yes},
		{"d + t0 = t1", u("t0", t0, "t1", t1, "d", 90*time.Minute), yes},
		{"t1 - d = t0", u("t0", t0, "t1", t1, "d", 90*time.Minute), yes},
		{"d + d > d", u("d", time.Second), yes},
		{"-d < d - d", u("d", time.Second), yes},
		{"t0 > 1", u("t0", t0), bad},
		{"t0 + t0 > t0", u("t0", t0), bad},

		// UUIDs.
		{"a = b", u("a", id1, "b", [16]byte(id1)), yes},
		{"a = b", u("a", id1, "b", arr16(id1)), yes},
		{"a <> b", u("a", id1, "b", UUID{}), yes},
		{"a = 'x'", u("a", id1), bad},
		{"a > b", u("a", id1, "b", id1), bad},

		// Functions.
		{"property('color') = 'red'", u("color", "red"), yes},
		{"p('sys.Label') = 'x'", withSys(u(), SysLabel, "x"), yes},
		{"P('user.a') = 1", u("a", 1), yes},
		{"property(name) = 1", u("name", "a", "a", 1), yes},
		{"property(name) = 1", u("name", "sys.Size"), no},
		{"property(name) = 1", u("name", "sys.Nope"), bad},
		{"property(n) = 1", u("n", 5), bad},
		{"property(n) IS NULL", u(), yes},
		{"property('a' + 'b') = 1", u("ab", 1), yes},
		{"newid() = newid()", u(), no},
		{"newid() IS NOT NULL", u(), yes},
		{"NewId() <> newid()", u(), yes},

		// Opaque values.
		{"x = 1", u("x", []byte{1}), bad},
		{"x = x", u("x", struct{}{}), bad},
		{"EXISTS(x)", u("x", struct{}{}), yes},

		// Layout.
		{"a = 1\nAND\tb = 2\r\n", u("a", 1, "b", 2), yes},
		{"((a = 1))", u("a", 1), yes},
		{"(((a))) = 1", u("a", 1), yes},
		{"set = 1 AND remove = 2", u("set", 1, "remove", 2), yes},
	}
	for _, tc := range tests {
		f, err := Parse(tc.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.expr, err)
			continue
		}
		if f.String() != tc.expr {
			t.Errorf("String() = %q, want %q", f.String(), tc.expr)
		}
		got, err := f.Match(tc.msg)
		switch {
		case tc.want == bad:
			var ee *EvalError
			if !errors.As(err, &ee) {
				t.Errorf("Match(%q, %v) = %v, %v; want an *EvalError", tc.expr, tc.msg.User, got, err)
			} else if got {
				t.Errorf("Match(%q) matched despite error", tc.expr)
			}
		case err != nil:
			t.Errorf("Match(%q, %v): unexpected error %v", tc.expr, tc.msg.User, err)
		case got != (tc.want == yes):
			t.Errorf("Match(%q, %v) = %v, want %v", tc.expr, tc.msg.User, got, tc.want == yes)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		expr      string
		pos       int
		line, col int
		msg       string
	}{
		{"", 0, 1, 1, "empty expression"},
		{"   ", 0, 1, 1, "empty expression"},
		{"a = 1 AND", 9, 1, 10, "expected expression after AND"},
		{"a = 1 OR", 8, 1, 9, "expected expression after OR"},
		{"NOT", 3, 1, 4, "expected expression after NOT"},
		{"a =", 3, 1, 4, "expected expression after '='"},
		{"a = = 1", 4, 1, 5, "expected expression after '=', found '='"},
		{"a = 1 AND AND b = 1", 10, 1, 11, "expected expression after AND, found AND"},
		{"a + = 1", 4, 1, 5, "expected expression after '+'"},
		{"(a = 1", 6, 1, 7, "expected ')'"},
		{"((a = 1) AND b = 2", 18, 1, 19, "expected ')'"},
		{"a = 1)", 5, 1, 6, "unexpected ')'"},
		{"a = 1 b = 2", 6, 1, 7, "unexpected 'b'"},
		{"a = 1 = 2", 6, 1, 7, "unexpected '='"},
		{"a = 'abc", 4, 1, 5, "unterminated string constant"},
		{"[abc = 1", 0, 1, 1, "unterminated delimited identifier"},
		{`"abc = 1`, 0, 1, 1, "unterminated quoted identifier"},
		{"[] = 1", 0, 1, 1, "empty delimited identifier"},
		{`"" = 1`, 0, 1, 1, "empty quoted identifier"},
		{"a = 1 # 2", 6, 1, 7, "unexpected character '#'"},
		{"a = !b", 4, 1, 5, "unexpected character '!'"},
		{"a == 1", 3, 1, 4, "expected expression after '='"},
		{"a IN 1", 5, 1, 6, "expected '(' after IN"},
		{"a IN (1, 2", 10, 1, 11, "expected ',' or ')' in IN list"},
		{"a IN (1 2)", 8, 1, 9, "expected ',' or ')' in IN list, found number 2"},
		{"a IN ()", 6, 1, 7, "expected expression after '('"},
		{"a NOT BETWEEN 1", 6, 1, 7, "expected IN or LIKE after NOT"},
		{"a IS 1", 5, 1, 6, "expected NULL after IS"},
		{"a IS NOT 1", 9, 1, 10, "expected NULL after NOT"},
		{"a LIKE", 6, 1, 7, "expected expression after LIKE"},
		{"a LIKE 'x' ESCAPE", 17, 1, 18, "expected expression after ESCAPE"},
		{"a LIKE 'x!' ESCAPE '!'", 7, 1, 8, "LIKE pattern ends with the escape character"},
		{"a LIKE 'x' ESCAPE 'ab'", 18, 1, 19, "ESCAPE must be a single character"},
		{"a LIKE 'x' ESCAPE ''", 18, 1, 19, "ESCAPE must be a single character"},
		{"a LIKE 1", 7, 1, 8, "LIKE pattern must be a string"},
		{"EXISTS a", 7, 1, 8, "expected '(' after EXISTS"},
		{"EXISTS(1)", 7, 1, 8, "EXISTS needs a property name, found number 1"},
		{"EXISTS(a", 8, 1, 9, "expected ')' after the property name"},
		{"EXISTS(not)", 7, 1, 8, "found keyword NOT (write [not]"},
		{"sys.Foo = 1", 4, 1, 5, "unknown system property 'Foo'"},
		{"sys. = 1", 5, 1, 6, "expected a property name after 'sys.'"},
		{"foo.bar = 1", 0, 1, 1, "unknown property scope 'foo'"},
		{"foo(1) = 1", 0, 1, 1, "unknown function 'foo'"},
		{"newid(1) = 1", 6, 1, 7, "newid() takes no arguments"},
		{"property() = 1", 9, 1, 10, "property() needs a property name argument"},
		{"property('a' = 1", 16, 1, 17, "expected ')' to close property("},
		{"property('sys.Foo') = 1", 9, 1, 10, "unknown system property 'Foo'"},
		{"9223372036854775808 = 1", 0, 1, 1, "out of the range of a long"},
		{"a = -9223372036854775809", 5, 1, 6, "out of the range of a long"},
		{"1e400 = 1", 0, 1, 1, "out of the range of a double"},
		{"1e = 1", 0, 1, 1, "malformed number"},
		{"1 + 2", 0, 1, 1, "expected a predicate"},
		{"'abc'", 0, 1, 1, "expected a predicate"},
		{"a = 1 AND 5", 10, 1, 11, "expected a predicate"},
		{"5 OR a = 1", 0, 1, 1, "expected a predicate"},
		{"NOT -a", 4, 1, 5, "expected a predicate"},
		{"newid()", 0, 1, 1, "expected a predicate"},
		{"and = 1", 0, 1, 1, "expected expression, found AND"},
		{"[a] = 1 AND in = 2", 12, 1, 13, "expected expression after AND, found IN"},
		{"a = @p", 4, 1, 5, "undefined parameter @p"},
		{"@ = 1", 0, 1, 1, "expected a parameter name after '@'"},
		{"a = 1 AND\n  b =", 15, 2, 6, "expected expression after '='"},
		{"a = 'é' AND", 11, 1, 12, "expected expression after AND"},
		{"a = '日本' AND\r\nb = 'x' c", 22, 2, 9, "unexpected 'c'"},
		// A lexical error is reported only where the parser reaches it.
		{"a = AND #", 4, 1, 5, "expected expression after '=', found AND"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.expr)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", tc.expr, err)
			continue
		}
		if se.Pos != tc.pos || se.Line != tc.line || se.Column != tc.col || !strings.Contains(se.Msg, tc.msg) {
			t.Errorf("Parse(%q) error = pos %d line %d col %d %q; want pos %d line %d col %d containing %q",
				tc.expr, se.Pos, se.Line, se.Column, se.Msg, tc.pos, tc.line, tc.col, tc.msg)
		}
	}
}

func TestSyntaxErrorString(t *testing.T) {
	_, err := Parse("a = 'red' AND")
	want := "sqlfilter: syntax error at line 1, column 14: expected expression after AND"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestLimits(t *testing.T) {
	// Exactly the maximum length parses; one more character does not.
	base := "a = '" + strings.Repeat("x", MaxExpressionLength-6) + "'"
	if len(base) != MaxExpressionLength {
		t.Fatalf("test setup: len %d", len(base))
	}
	if _, err := Parse(base); err != nil {
		t.Fatalf("Parse(max length): %v", err)
	}
	_, err := Parse(base + " ")
	var se *SyntaxError
	if !errors.As(err, &se) || se.Pos != MaxExpressionLength || !strings.Contains(se.Msg, "longer than") {
		t.Fatalf("Parse(too long) = %v", err)
	}
	// Characters outside the BMP count twice, as in .NET.
	_, err = Parse("a = '" + strings.Repeat("😀", 510) + "'")
	if !errors.As(err, &se) {
		t.Fatalf("Parse(long astral) = %v, want a length error", err)
	}

	for _, expr := range []string{
		strings.Repeat("(", 500) + "a = 1" + strings.Repeat(")", 500),
		strings.Repeat("(", 1000),
		strings.Repeat("NOT ", 250) + "a = 1",
		"a = " + strings.Repeat("-", 1000) + "1",
		"a = " + strings.Repeat("- ", 500) + "b",
		"a = " + strings.Repeat("p(", 300) + "'x'" + strings.Repeat(")", 300),
	} {
		_, err := Parse(expr)
		if !errors.As(err, &se) || !strings.Contains(se.Msg, "nested too deeply") {
			t.Errorf("Parse(deep %.20q...) = %v, want nesting error", expr, err)
		}
	}
	deep := strings.Repeat("(", MaxNestingDepth-1) + "a = 1" + strings.Repeat(")", MaxNestingDepth-1)
	if _, err := Parse(deep); err != nil {
		t.Errorf("Parse(depth %d): %v", MaxNestingDepth-1, err)
	}
	// Long flat chains are fine: they are not nesting.
	chain := "a = 0" + strings.Repeat(" OR a = 1", 100)
	f, err := Parse(chain)
	if err != nil {
		t.Fatalf("Parse(chain): %v", err)
	}
	if ok, err := f.Match(u("a", 1)); !ok || err != nil {
		t.Errorf("chain Match = %v, %v", ok, err)
	}
	sum := "a = 0" + strings.Repeat(" + 1", 200)
	if f, err = Parse(sum); err != nil {
		t.Fatalf("Parse(sum): %v", err)
	}
	if ok, err := f.Match(u("a", 200)); !ok || err != nil {
		t.Errorf("sum Match = %v, %v", ok, err)
	}
}

func TestConcatLimit(t *testing.T) {
	f, err := Parse("s + s + s = s")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Match(u("s", strings.Repeat("x", MaxStringLength/2)))
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Pos != 6 {
		t.Fatalf("Match = %v, want an EvalError at the second '+'", err)
	}
}

func TestEvalErrorPosition(t *testing.T) {
	f, err := Parse("a = 1 AND s + 1 = 2")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Match(u("a", 1, "s", "x"))
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Pos != 12 || !strings.Contains(ee.Msg, "'+' cannot be applied to string and long") {
		t.Fatalf("Match = %v", err)
	}
	if !strings.HasPrefix(err.Error(), "sqlfilter: evaluation error at offset 12: ") {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestParameters(t *testing.T) {
	t0 := time.Date(2020, 7, 5, 11, 12, 13, 0, time.UTC)
	params := map[string]any{
		"@param1":  1,
		"@Param2":  "high",
		"@dtParam": t0,
		"@span":    time.Hour,
		"@flag":    true,
	}
	tests := []struct {
		expr string
		msg  *MapMessage
		want bool
	}{
		{"Priority = @param1 and Level = @param2", u("Priority", 1, "Level", "high"), true},
		{"Priority = @PARAM1", u("Priority", 2), false},
		{"DateTimeMp < @dtParam", u("DateTimeMp", t0.Add(-time.Second)), true},
		{"DateTimeMp2-DateTimeMp1 <= @span", u("DateTimeMp1", t0, "DateTimeMp2", t0.Add(time.Minute)), true},
		{"@flag", u(), true},
		{"x IN (@param1, @param2)", u("x", "high"), true},
	}
	for _, tc := range tests {
		f, err := ParseWithParameters(tc.expr, params)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.expr, err)
			continue
		}
		if got, err := f.Match(tc.msg); err != nil || got != tc.want {
			t.Errorf("Match(%q) = %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
	_, err := ParseWithParameters("a = @bad", map[string]any{"@bad": []int{1}})
	var se *SyntaxError
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "unsupported type") {
		t.Errorf("unsupported parameter: %v", err)
	}
}

func TestTrueFalseFilter(t *testing.T) {
	m := u()
	if ok, err := TrueFilter().Match(m); !ok || err != nil {
		t.Errorf("TrueFilter = %v, %v", ok, err)
	}
	if ok, err := FalseFilter().Match(m); ok || err != nil {
		t.Errorf("FalseFilter = %v, %v", ok, err)
	}
	if TrueFilter().String() != "1=1" || FalseFilter().String() != "1=0" {
		t.Errorf("strings: %q %q", TrueFilter(), FalseFilter())
	}
	var nilFilter *Filter
	if _, err := nilFilter.Match(m); err == nil {
		t.Error("nil filter matched without error")
	}
}

func TestCanonicalSystemProperty(t *testing.T) {
	for in, want := range map[string]string{
		"label": SysLabel, "Subject": SysLabel, "MESSAGEID": SysMessageID,
		"transactionPartitionKey": SysViaPartitionKey, "EnqueuedTimeUtc": SysEnqueuedTimeUtc,
	} {
		if got, ok := CanonicalSystemProperty(in); !ok || got != want {
			t.Errorf("CanonicalSystemProperty(%q) = %q, %v", in, got, ok)
		}
	}
	if _, ok := CanonicalSystemProperty("Body"); ok {
		t.Error("Body is not a system property")
	}
	if IsSettableSystemProperty(SysSequenceNumber) || !IsSettableSystemProperty(SysLabel) {
		t.Error("IsSettableSystemProperty")
	}
}

func TestMapMessageFold(t *testing.T) {
	m := u("Color", "red", "COLOR", "blue")
	if v, _ := m.UserProperty("color"); v != "blue" { // smallest fold match: "COLOR"
		t.Errorf("fold lookup = %v", v)
	}
	if v, _ := m.UserProperty("Color"); v != "red" {
		t.Errorf("exact lookup = %v", v)
	}
	_ = m.SetUserProperty("color", "green")
	if len(m.User) != 2 || m.User["COLOR"] != "green" {
		t.Errorf("set by fold: %v", m.User)
	}
	_ = m.RemoveUserProperty("cOlOr")
	if _, ok := m.User["COLOR"]; ok || len(m.User) != 1 {
		t.Errorf("remove by fold: %v", m.User)
	}
}

func TestUUIDString(t *testing.T) {
	id := UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8}
	if got := id.String(); got != "12345678-9abc-def0-0102-030405060708" {
		t.Errorf("String() = %s", got)
	}
}
