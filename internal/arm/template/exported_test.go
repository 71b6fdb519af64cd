package template

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func wdlEvaluator(t *testing.T) *Evaluator {
	t.Helper()
	body := map[string]any{"name": "ada", "items": []any{int64(1), int64(2)}, "nested": map[string]any{"x": nil}}
	ev, err := NewEvaluator(map[string]Function{
		"triggerBody": {Min: 0, Max: 0, Fn: func(context.Context, []any) (any, error) { return body, nil }},
		"fail":        {Min: 0, Max: 0, Fn: func(context.Context, []any) (any, error) { return nil, errors.New("boom") }},
		"parameters": {Min: 1, Max: 1, Fn: func(_ context.Context, args []any) (any, error) {
			return map[string]any{"p": "v"}[args[0].(string)], nil
		}},
	}, SharedBuiltins())
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestEvaluatorWDL(t *testing.T) {
	ev := wdlEvaluator(t)
	syn := Syntax{NullConditional: true, BareLiterals: true}
	tests := []struct {
		expr string
		want any
	}{
		{"triggerBody()?['name']", "ada"},
		{"triggerBody()?['missing']", nil},
		{"triggerBody()?['missing']?['deeper']", nil},
		{"triggerBody()?.nested?.x?.y", nil},
		{"triggerBody()['items'][1]", int64(2)},
		{"triggerBody()?['items']?[5]", nil},
		{"length(triggerBody()['items'])", int64(2)},
		{"equals(triggerBody()?['name'], 'ada')", true},
		{"if(equals(1, 1), 'yes', fail())", "yes"},
		{"or(true, fail())", true},
		{"and(false, fail())", false},
		{"coalesce(null, triggerBody()?['zzz'], 'd')", "d"},
		{"equals(1.5, json('1.5'))", true},
		{"createArray(2.5, -0.5)", []any{2.5, -0.5}},
		{"equals(true, not(false))", true},
		{"toUpper(parameters('p'))", "V"},
		{"concat('a', 'b''c')", "ab'c"},
		{"string(triggerBody()?['items'])", "[1,2]"},
		{"'it''s ?[x]'", "it's ?[x]"},
		{"-3", int64(-3)},
	}
	for _, tc := range tests {
		x, err := ParseExpression(tc.expr, syn)
		if err != nil {
			t.Fatalf("%s: parse: %v", tc.expr, err)
		}
		got, err := ev.Eval(context.Background(), x)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.expr, got, tc.want)
		}
	}
}

func TestEvaluatorErrors(t *testing.T) {
	ev := wdlEvaluator(t)
	syn := Syntax{NullConditional: true, BareLiterals: true}
	tests := []struct{ expr, want string }{
		{"triggerBody()['missing']", "doesn't exist"},
		{"fail()", "boom"},
		{"reference('x')", "is not valid"},
		{"length()", "requires 1 argument"},
		{"if(1, 2, 3)", "Boolean"},
		{"triggerBody()['items'][9]", "out of bounds"},
	}
	for _, tc := range tests {
		x, err := ParseExpression(tc.expr, syn)
		if err != nil {
			t.Fatalf("%s: parse: %v", tc.expr, err)
		}
		_, err = ev.Eval(context.Background(), x)
		var ee *ExpressionError
		if !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.expr, err, tc.want)
		}
	}
	// Without the WDL syntax, "?" is not accepted.
	if _, err := ParseExpression("a()?['x']", Syntax{}); err == nil {
		t.Fatal("ARM syntax accepted '?'")
	}
	if _, err := NewEvaluator(nil, []string{"reference"}); err == nil {
		t.Fatal("reference() shared")
	}
}

func FuzzParseExpression(f *testing.F) {
	for _, s := range []string{"triggerBody()?['a']", "add(1, 2.5)", "'x''y'", "a(", "?[", "1.2.3", "null", "f(true,false)"} {
		f.Add(s)
	}
	ev, err := NewEvaluator(nil, SharedBuiltins())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x, err := ParseExpression(s, Syntax{NullConditional: true, BareLiterals: true})
		if err != nil {
			return
		}
		_, _ = ev.Eval(context.Background(), x)
	})
}
