package logic

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/arm/template"
)

func testEvaluator(t *testing.T) *evaluator {
	t.Helper()
	funcs := commonFuncs(func() time.Time { return time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC) })
	funcs["triggerBody"] = fn(0, 0, func([]any) (any, error) {
		return map[string]any{"name": "ada", "n": int64(2), "tags": []any{"x", "y"}, "nested": map[string]any{"ok": true}}, nil
	})
	ev, err := template.NewEvaluator(funcs, template.SharedBuiltins())
	if err != nil {
		t.Fatal(err)
	}
	return &evaluator{ev: ev}
}

func TestTemplateStrings(t *testing.T) {
	e := testEvaluator(t)
	tests := []struct {
		in   any
		want any
	}{
		{"plain text", "plain text"},
		{"mail@example.com", "mail@example.com"},
		{"@triggerBody()?['name']", "ada"},
		{"@triggerBody()?['n']", int64(2)},
		{"@triggerBody()?['missing']", nil},
		{"@{triggerBody()?['n']}", "2"},
		{"n=@{triggerBody()?['n']}, ok=@{triggerBody()?['nested']?['ok']}", "n=2, ok=True"},
		{"tags: @{triggerBody()?['tags']}", `tags: ["x","y"]`},
		{"@@{not an expression}", "@{not an expression}"},
		{"@@triggerBody()", "@triggerBody()"},
		{"brace in string @{concat('}', 'a')}", "brace in string }a"},
		{"@concat('a', 1, true, null)", "a1True"},
		{"@add(1, 2)", int64(3)},
		{"@div(7, 2)", int64(3)},
		{"@div(7.0, 2)", 3.5},
		{"@utcNow('yyyy-MM-dd')", "2026-05-04"},
		{"@addDays('2026-01-30T00:00:00Z', 2, 'yyyy-MM-dd')", "2026-02-01"},
		{"@formatDateTime('2026-01-30T10:11:12Z', 'HH:mm')", "10:11"},
		{"@length(guid())", int64(36)},
		{"@decodeBase64(base64('hé'))", "hé"},
		{"@encodeUriComponent('a b&c')", "a+b%26c"},
		{"@if(equals(triggerBody()?['n'], 2), 'two', 'other')", "two"},
		{"@toUpper(triggerBody()?['name'])", "ADA"},
		{[]any{"@triggerBody()?['n']", map[string]any{"k": "@{triggerBody()?['name']}"}}, []any{int64(2), map[string]any{"k": "ada"}}},
		{int64(5), int64(5)},
	}
	for _, tc := range tests {
		got, err := e.eval(context.Background(), tc.in)
		if err != nil {
			t.Errorf("%v: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v = %#v, want %#v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"@{unclosed", "@triggerBody(", "@nosuchfunction()", "x @{triggerBody()['missing']} y", "@div(1, 0)"} {
		if _, err := e.eval(context.Background(), bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseDefinition(t *testing.T) {
	ok := `{"triggers":{"manual":{"type":"request","kind":"Http"}},"actions":{"A":{"type":"compose","inputs":"@triggerBody()"},"B":{"type":"Response","runAfter":{"A":["Succeeded","Failed"]},"inputs":{"statusCode":200}}}}`
	d, err := ParseDefinition([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if d.Triggers["manual"].Type != TypeRequest || d.Actions["A"].Type != TypeCompose {
		t.Fatalf("types are not canonical: %+v", d.Actions["A"])
	}
	tests := []struct{ name, def, want string }{
		{"bad json", `{"actions":`, "InvalidRequestContent"},
		{"unknown trigger", `{"triggers":{"t":{"type":"ApiConnectionWebhook"}}}`, "keyward supports the Request and Recurrence triggers"},
		{"unknown action", `{"actions":{"A":{"type":"Function"}}}`, "which keyward does not run"},
		{"missing runAfter target", `{"actions":{"A":{"type":"Compose","runAfter":{"Z":["Succeeded"]}}}}`, "non-existent action: 'Z'"},
		{"cycle", `{"actions":{"A":{"type":"Compose","runAfter":{"B":[]}},"B":{"type":"Compose","runAfter":{"A":[]}}}}`, "form a cycle"},
		{"bad status", `{"actions":{"A":{"type":"Compose"},"B":{"type":"Compose","runAfter":{"A":["Done"]}}}}`, "'runAfter' status 'Done'"},
		{"duplicate name", `{"actions":{"A":{"type":"Scope","actions":{"a":{"type":"Compose"}}}}}`, "used more than once"},
		{"response without request", `{"triggers":{"r":{"type":"Recurrence","recurrence":{"frequency":"Hour","interval":1}}},"actions":{"R":{"type":"Response"}}}`, "needs a Request trigger"},
		{"bad expression", `{"actions":{"A":{"type":"Compose","inputs":"@concat('a'"}}}`, "unable to parse an expression"},
		{"bad recurrence", `{"triggers":{"r":{"type":"Recurrence","recurrence":{"frequency":"Fortnight","interval":1}}}}`, "frequency 'Fortnight'"},
		{"schedule", `{"triggers":{"r":{"type":"Recurrence","recurrence":{"frequency":"Week","interval":1,"schedule":{"weekDays":["Monday"]}}}}}`, "has a schedule"},
		{"if without expression", `{"actions":{"A":{"type":"If"}}}`, "needs an 'expression'"},
		{"foreach without items", `{"actions":{"A":{"type":"Foreach"}}}`, "needs a 'foreach'"},
		{"bad parameter type", `{"parameters":{"p":{"type":"Blob"}}}`, "the type 'Blob'"},
	}
	for _, tc := range tests {
		_, err := ParseDefinition([]byte(tc.def))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestParseConnectionString(t *testing.T) {
	c, err := ParseConnectionString("Endpoint=sb://NS1.servicebus.keyward.localhost/;SharedAccessKeyName=root;SharedAccessKey=abc=;EntityPath=q1")
	if err != nil || c.Host != "ns1.servicebus.keyward.localhost" || c.KeyName != "root" || c.Key != "abc=" || c.EntityPath != "q1" {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"", "Endpoint=http://x/;SharedAccessKeyName=a;SharedAccessKey=b", "Endpoint=sb://x/;SharedAccessKeyName=a", "garbage"} {
		if _, err := ParseConnectionString(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	red := redactConnection(map[string]any{"cs": "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=topsecret;EntityPath=q"})
	if strings.Contains(toText(red), "topsecret") {
		t.Fatalf("not redacted: %v", red)
	}
}

func FuzzParseConnectionString(f *testing.F) {
	f.Add("Endpoint=sb://ns.servicebus.x/;SharedAccessKeyName=a;SharedAccessKey=b")
	f.Add(";;=;Endpoint=")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConnectionString(s)
		if err == nil && (c.Host == "" || c.Key == "" || c.KeyName == "") {
			t.Fatalf("accepted an incomplete connection string: %q", s)
		}
		_ = redactConnection(s)
	})
}

func FuzzParseDefinition(f *testing.F) {
	f.Add(`{"triggers":{"manual":{"type":"Request"}},"actions":{"A":{"type":"Compose","inputs":"@{triggerBody()}"}}}`)
	f.Add(`{"actions":{"A":{"type":"If","expression":{"and":[{"equals":[1,1]}]},"actions":{"B":{"type":"Foreach","foreach":"@createArray(1)"}}}}}`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseDefinition([]byte(s))
	})
}

func FuzzTemplateString(f *testing.F) {
	for _, s := range []string{"@x()", "a@{b()}c", "@@{", "@{'}'}", "@{", "@"} {
		f.Add(s)
	}
	e, err := template.NewEvaluator(commonFuncs(time.Now), template.SharedBuiltins())
	if err != nil {
		f.Fatal(err)
	}
	ev := &evaluator{ev: e}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := parseTemplateString(s)
		if err != nil {
			return
		}
		_, _ = ev.evalString(context.Background(), ts)
	})
}
