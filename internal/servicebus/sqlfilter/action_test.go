package sqlfilter

import (
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestActionApply(t *testing.T) {
	tests := []struct {
		expr     string
		in       *MapMessage
		wantUser map[string]any
		wantSys  map[string]any
	}{
		{"SET quantity = quantity / 2; REMOVE priority;SET sys.CorrelationId = 'low';",
			u("quantity", int32(10), "priority", "high", "color", "red"),
			map[string]any{"quantity": int64(5), "color": "red"},
			map[string]any{SysCorrelationID: "low"}},
		{"SET a = 1", u(), map[string]any{"a": int64(1)}, nil},
		{"set a = 1", u(), map[string]any{"a": int64(1)}, nil},
		{"SET source='routedOrders'", u("source", "orders"), map[string]any{"source": "routedOrders"}, nil},
		// Implicit conversion to the existing property's type.
		{"SET d = 1", u("d", 2.5), map[string]any{"d": 1.0}, nil},
		{"SET l = i", u("l", int64(5), "i", int32(2)), map[string]any{"l": int64(2), "i": int32(2)}, nil},
		{"SET i = 7", u("i", int32(2)), map[string]any{"i": int64(7)}, nil},
		{"SET s = 7", u("s", "x"), map[string]any{"s": int64(7)}, nil},
		{"SET i = i + i", u("i", int32(2)), map[string]any{"i": int32(4)}, nil},
		{"SET s = 'x' + 'y'", u(), map[string]any{"s": "xy"}, nil},
		{"SET f = 1.5E1", u(), map[string]any{"f": 15.0}, nil},
		{"SET b = TRUE", u(), map[string]any{"b": true}, nil},
		{"SET b = (x > 1)", u("x", 2), map[string]any{"b": true, "x": 2}, nil},
		{"SET [my prop] = 1", u(), map[string]any{"my prop": int64(1)}, nil},
		{"SET user.a = 1", u(), map[string]any{"a": int64(1)}, nil},
		{"SET [set] = 1", u(), map[string]any{"set": int64(1)}, nil},
		// Lists and separators.
		{"SET a = 1, b = 2", u(), map[string]any{"a": int64(1), "b": int64(2)}, nil},
		{"SET a = 1 SET b = 2", u(), map[string]any{"a": int64(1), "b": int64(2)}, nil},
		{"SET a = 1, REMOVE c", u("c", 1), map[string]any{"a": int64(1)}, nil},
		{"REMOVE a, b", u("a", 1, "b", 2, "c", 3), map[string]any{"c": 3}, nil},
		{"REMOVE a;;", u("a", 1), map[string]any{}, nil},
		{"REMOVE missing", u("a", 1), map[string]any{"a": 1}, nil},
		{"REMOVE A", u("a", 1), map[string]any{}, nil},
		// Statements see each other's effects.
		{"SET a = 1; SET b = a + 1", u(), map[string]any{"a": int64(1), "b": int64(2)}, nil},
		{"REMOVE a; SET b = a", u("a", 1), map[string]any{"b": nil}, nil},
		{"SET a = missing", u(), map[string]any{"a": nil}, nil},
		{"SET a = 2; SET a = a * 10", u("a", int32(1)), map[string]any{"a": int64(20)}, nil},
		// System properties.
		{"SET sys.Label = 'x'", u(), map[string]any{}, map[string]any{SysLabel: "x"}},
		{"SET sys.Subject = sys.Label + '!'", withSys(u(), SysLabel, "x"), map[string]any{}, map[string]any{SysLabel: "x!"}},
		{"SET sys.TimeToLive = d", u("d", time.Minute), map[string]any{"d": time.Minute}, map[string]any{SysTimeToLive: time.Minute}},
		{"SET sys.ScheduledEnqueueTimeUtc = sys.EnqueuedTimeUtc + d",
			withSys(u("d", time.Minute), SysEnqueuedTimeUtc, time.Unix(0, 0).UTC()),
			map[string]any{"d": time.Minute},
			map[string]any{SysEnqueuedTimeUtc: time.Unix(0, 0).UTC(), SysScheduledEnqueueTimeUtc: time.Unix(60, 0).UTC()}},
		{"SET sys.ForcePersistence = TRUE", u(), map[string]any{}, map[string]any{SysForcePersistence: true}},
		{"REMOVE sys.Label", withSys(u(), SysLabel, "x"), map[string]any{}, map[string]any{}},
		{"SET sys.Label = NULL", withSys(u(), SysLabel, "x"), map[string]any{}, map[string]any{}},
		{"SET copy = sys.MessageId", withSys(u(), SysMessageID, "m"), map[string]any{"copy": "m"}, map[string]any{SysMessageID: "m"}},
		{"SET sys.Label = 'a'; SET y = sys.Label + 'b'", u(), map[string]any{"y": "ab"}, map[string]any{SysLabel: "a"}},
		{"REMOVE sys.Label; SET y = sys.Label", withSys(u(), SysLabel, "x"), map[string]any{"y": nil}, map[string]any{}},
		{"SET sys.To = 't'; SET y = sys.Label", withSys(u(), SysLabel, "x"), map[string]any{"y": "x"}, map[string]any{SysLabel: "x", SysTo: "t"}},
		{"SET x = p('sys.MessageId')", withSys(u(), SysMessageID, "m"), map[string]any{"x": "m"}, map[string]any{SysMessageID: "m"}},
	}
	for _, tc := range tests {
		a, err := ParseAction(tc.expr)
		if err != nil {
			t.Errorf("ParseAction(%q): %v", tc.expr, err)
			continue
		}
		if a.String() != tc.expr {
			t.Errorf("String() = %q", a.String())
		}
		if err := a.Apply(tc.in); err != nil {
			t.Errorf("Apply(%q): %v", tc.expr, err)
			continue
		}
		if !reflect.DeepEqual(tc.in.User, tc.wantUser) {
			t.Errorf("Apply(%q) user = %#v, want %#v", tc.expr, tc.in.User, tc.wantUser)
		}
		wantSys := tc.wantSys
		if wantSys == nil {
			wantSys = map[string]any{}
		}
		if !reflect.DeepEqual(tc.in.System, wantSys) {
			t.Errorf("Apply(%q) sys = %#v, want %#v", tc.expr, tc.in.System, wantSys)
		}
	}
}

func TestActionNewID(t *testing.T) {
	a, err := ParseAction("SET id = newid()")
	if err != nil {
		t.Fatal(err)
	}
	m := u()
	if err := a.Apply(m); err != nil {
		t.Fatal(err)
	}
	id, ok := m.User["id"].(UUID)
	if !ok || id == (UUID{}) || id[6]>>4 != 4 || id[8]>>6 != 2 {
		t.Fatalf("id = %#v", m.User["id"])
	}
}

func TestActionErrorsLeaveMessageUnchanged(t *testing.T) {
	for _, expr := range []string{
		"SET a = 1; SET sys.Label = 5",
		"SET a = 1; SET b = 1 / 0",
		"REMOVE keep; SET b = 'x' + 1",
		"SET a = 1; SET b = property('sys.Nope' + '')",
		"SET sys.TimeToLive = 'x'",
	} {
		a, err := ParseAction(expr)
		if err != nil {
			t.Errorf("ParseAction(%q): %v", expr, err)
			continue
		}
		m := u("keep", 1)
		before := maps.Clone(m.User)
		err = a.Apply(m)
		var ee *EvalError
		if !errors.As(err, &ee) {
			t.Errorf("Apply(%q) = %v, want *EvalError", expr, err)
		}
		if !reflect.DeepEqual(m.User, before) || len(m.System) != 0 {
			t.Errorf("Apply(%q) changed the message: %v %v", expr, m.User, m.System)
		}
	}
}

// failingMessage rejects one user property.
type failingMessage struct {
	MapMessage
	reject string
}

var errRejected = errors.New("rejected")

func (f *failingMessage) SetUserProperty(name string, v any) error {
	if name == f.reject {
		return errRejected
	}
	return f.MapMessage.SetUserProperty(name, v)
}

func TestActionSetterError(t *testing.T) {
	a, err := ParseAction("SET a = 1; SET b = 2")
	if err != nil {
		t.Fatal(err)
	}
	m := &failingMessage{reject: "b"}
	err = a.Apply(m)
	if !errors.Is(err, errRejected) || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("Apply = %v", err)
	}
	var nilAction *Action
	if nilAction.Apply(u()) == nil {
		t.Error("nil action applied")
	}
}

func TestActionSyntaxErrors(t *testing.T) {
	many := strings.Repeat("SET a = 1;", MaxActionStatements)
	if _, err := ParseAction(many); err != nil {
		t.Fatalf("ParseAction(%d statements): %v", MaxActionStatements, err)
	}
	tests := []struct {
		expr string
		pos  int
		msg  string
	}{
		{"", 0, "empty action"},
		{"a = 1", 0, "expected SET or REMOVE, found 'a'"},
		{"SET = 1", 4, "expected a property name after SET, found '='"},
		{"REMOVE", 6, "expected a property name after REMOVE, found end of expression"},
		{"SET a 1", 6, "expected '=' after the property name, found number 1"},
		{"SET a =", 7, "expected expression after '='"},
		{"SET a = 1; foo", 11, "expected SET or REMOVE after ';', found 'foo'"},
		{"SET a = 1 foo", 10, "unexpected 'foo'; expected ';', ',' or end of action"},
		{"SET a = 1,", 10, "expected a property name after SET"},
		{"SET sys.SequenceNumber = 1", 4, "system property SequenceNumber is read-only"},
		{"REMOVE sys.EnqueuedTimeUtc", 7, "read-only"},
		{"SET sys.Nope = 1", 8, "unknown system property 'Nope'"},
		{"SET set = 1", 4, "found keyword SET"},
		{"SET a = 1 = 2", 10, "unexpected '='"},
		{"SET a = b > 1", 10, "unexpected '>'"},
		{"SET p('a') = 1", 5, "expected '=' after the property name, found '('"},
		{"SET a = 'x", 8, "unterminated string constant"},
		{many + "SET b = 2", len(many), "too many statements (maximum 32)"},
		{"SET a = @x", 8, "undefined parameter @x"},
	}
	for _, tc := range tests {
		_, err := ParseAction(tc.expr)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("ParseAction(%q) = %v, want *SyntaxError", tc.expr, err)
			continue
		}
		if se.Pos != tc.pos || !strings.Contains(se.Msg, tc.msg) {
			t.Errorf("ParseAction(%q) = pos %d %q; want pos %d containing %q", tc.expr, se.Pos, se.Msg, tc.pos, tc.msg)
		}
	}
}

func TestActionParameters(t *testing.T) {
	a, err := ParseActionWithParameters("SET a = @v; SET sys.Label = @l", map[string]any{"@v": int32(3), "@L": "lbl"})
	if err != nil {
		t.Fatal(err)
	}
	m := u()
	if err := a.Apply(m); err != nil {
		t.Fatal(err)
	}
	if m.User["a"] != int32(3) || m.System[SysLabel] != "lbl" {
		t.Errorf("got %v %v", m.User, m.System)
	}
}
