package logic

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// runOnce runs a workflow without ISE through its Request trigger and
// returns the stored run.
func (h *harness) runOnce(t *testing.T, def string, params map[string]any, body string) (CallbackResponse, Run) {
	t.Helper()
	ctx := context.Background()
	w := h.workflow(t, "wf-"+strings.ToLower(t.Name()), "", def, params)
	cb, err := h.s.TriggerCallbackURL(ctx, w.ID, "manual", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	resp := h.call(t, cb.Value, "POST", body)
	var run Run
	eventually(t, "the run to end", func() bool {
		runs, err := h.s.ListRuns(ctx, w.ID)
		if err != nil || len(runs) == 0 || runs[0].Status == StatusRunning {
			return false
		}
		run = runs[0]
		return true
	})
	return resp, run
}

func actionStatuses(r Run) map[string]string {
	out := map[string]string{}
	for _, a := range r.Actions {
		out[a.Name] = a.Status
	}
	return out
}

func TestRunActions(t *testing.T) {
	h := newHarness(t)
	def := `{
  "parameters": {"greeting": {"type": "String", "defaultValue": "hello"}, "conn": {"type": "SecureString"}},
  "triggers": {"manual": {"type": "Request", "kind": "Http"}},
  "actions": {
    "Init": {"type": "InitializeVariable", "inputs": {"variables": [{"name": "total", "type": "integer", "value": 0}, {"name": "names", "type": "array"}]}},
    "Compose": {"type": "Compose", "runAfter": {"Init": ["Succeeded"]}, "inputs": {"msg": "@{parameters('greeting')}, @{triggerBody()?['name']}!", "raw": "@@literal", "n": "@add(1, 2.5)"}},
    "Loop": {"type": "Foreach", "foreach": "@triggerBody()?['items']", "runAfter": {"Compose": ["Succeeded"]},
      "actions": {
        "Add": {"type": "IncrementVariable", "inputs": {"name": "total", "value": "@items('Loop')?['qty']"}},
        "Name": {"type": "AppendToArrayVariable", "runAfter": {"Add": ["Succeeded"]}, "inputs": {"name": "names", "value": "@toUpper(item()?['sku'])"}}
      }},
    "Big": {"type": "If", "runAfter": {"Loop": ["Succeeded"]}, "expression": "@greater(variables('total'), 5)",
      "actions": {"Yes": {"type": "Compose", "inputs": "big"}},
      "else": {"actions": {"No": {"type": "Compose", "inputs": "small"}}}},
    "Call": {"type": "Http", "runAfter": {"Big": ["Succeeded"]}, "inputs": {"method": "post", "uri": "http://127.0.0.1:9/echo", "queries": {"q": "1"}, "body": {"t": "@variables('total')"}}},
    "Fail": {"type": "Http", "runAfter": {"Call": ["Succeeded"]}, "inputs": {"method": "GET", "uri": "http://127.0.0.1:9/fail"}},
    "Handled": {"type": "Compose", "runAfter": {"Fail": ["Failed"]}, "inputs": "@actions('Fail')?['code']"},
    "NotRun": {"type": "Compose", "runAfter": {"Fail": ["Succeeded"]}, "inputs": "x"},
    "Send": {"type": "ApiConnection", "runAfter": {"Handled": ["Succeeded"]},
      "inputs": {"host": {"connection": {"name": "@parameters('$connections')['servicebus']['connectionId']"}}, "method": "post",
                 "path": "/@{encodeURIComponent(encodeURIComponent('orders'))}/messages", "body": {"ContentData": "@{base64(string(variables('names')))}", "SessionId": "s1"}}},
    "Response": {"type": "Response", "runAfter": {"Send": ["Succeeded"]},
      "inputs": {"statusCode": "@if(equals(variables('total'), 6), 200, 500)", "headers": {"X-Total": "@{variables('total')}"},
                 "body": {"compose": "@outputs('Compose')", "names": "@variables('names')", "call": "@body('Call')?['url']", "handled": "@body('Handled')", "big": "@outputs('Yes')"}}}
  }
}`
	params := map[string]any{"$connections": map[string]any{"servicebus": map[string]any{"connectionId": "/conn/sb",
		"connectionString": "Endpoint=sb://ns1.servicebus.test/;SharedAccessKeyName=root;SharedAccessKey=secret"}}}
	def = strings.Replace(def, `"conn": {"type": "SecureString"}`, `"$connections": {"type": "Object"}`, 1)
	resp, run := h.runOnce(t, def, params, `{"name":"ada","items":[{"sku":"a","qty":2},{"sku":"b","qty":4}]}`)
	if resp.Status != 200 || resp.Headers["X-Total"] != "6" {
		for _, a := range run.Actions {
			t.Logf("%s %s %+v", a.Name, a.Status, a.Error)
		}
		t.Fatalf("response %d %v %s", resp.Status, resp.Headers, resp.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"compose": map[string]any{"msg": "hello, ada!", "raw": "@literal", "n": 3.5},
		"names":   []any{"A", "B"}, "call": "http://127.0.0.1:9/echo?q=1", "handled": "InternalServerError", "big": "big",
	}
	if !reflect.DeepEqual(body, want) {
		t.Fatalf("body %v\nwant %v", body, want)
	}
	st := actionStatuses(run)
	for name, s := range map[string]string{"Init": "Succeeded", "Compose": "Succeeded", "Loop": "Succeeded", "Add": "Succeeded", "Name": "Succeeded",
		"Big": "Succeeded", "Yes": "Succeeded", "No": "Skipped", "Call": "Succeeded", "Fail": "Failed", "Handled": "Succeeded", "NotRun": "Skipped",
		"Send": "Succeeded", "Response": "Succeeded"} {
		if st[name] != s {
			t.Errorf("%s: %s, want %s", name, st[name], s)
		}
	}
	if run.Status != StatusSucceeded {
		t.Errorf("run status %s: the failure was handled", run.Status)
	}
	if a, _ := run.Action("Add"); a.Repetitions != 2 {
		t.Errorf("Add repetitions %d", a.Repetitions)
	}
	if len(h.sb.sent) != 1 || string(h.sb.sent[0].Body) != `["A","B"]` || h.sb.sent[0].SessionID != "s1" || h.sb.to[0] != "ns1.servicebus.test/orders" {
		t.Fatalf("sent %+v %v", h.sb.sent, h.sb.to)
	}
	if a, _ := run.Action("Send"); strings.Contains(toText(a.Inputs), "secret") {
		t.Fatal("the connection string's key is in the run history")
	}
	if len(h.http.reqs) != 2 || h.http.reqs[0].Method != "POST" || string(h.http.reqs[0].Body) != `{"t":6}` || h.http.reqs[0].Headers["Content-Type"] != "application/json" {
		t.Fatalf("http requests %+v", h.http.reqs)
	}
}

func TestRunFailureTerminateAndNoResponse(t *testing.T) {
	h := newHarness(t)
	def := `{
  "triggers": {"manual": {"type": "Request", "kind": "Http"}},
  "actions": {
    "Bad": {"type": "Compose", "inputs": "@triggerBody()['missing']"},
    "After": {"type": "Compose", "runAfter": {"Bad": ["Succeeded"]}, "inputs": 1},
    "Response": {"type": "Response", "runAfter": {"After": ["Succeeded"]}, "inputs": {"statusCode": 200}}
  }
}`
	resp, run := h.runOnce(t, def, nil, `{}`)
	if resp.Status != 502 || !strings.Contains(string(resp.Body), "NoResponse") {
		t.Fatalf("response %d %s", resp.Status, resp.Body)
	}
	if run.Status != StatusFailed || run.Error == nil {
		t.Fatalf("run %s %+v", run.Status, run.Error)
	}
	bad, _ := run.Action("Bad")
	if bad.Status != StatusFailed || bad.Error.Code != "InvalidTemplate" || !strings.Contains(bad.Error.Message, "missing") {
		t.Fatalf("Bad: %+v", bad.Error)
	}
	if st := actionStatuses(run); st["After"] != StatusSkipped || st["Response"] != StatusSkipped {
		t.Fatalf("statuses %v", st)
	}

	h2 := newHarness(t)
	def = `{
  "triggers": {"manual": {"type": "Request", "kind": "Http"}},
  "actions": {
    "Stop": {"type": "Terminate", "inputs": {"runStatus": "Failed", "runError": {"code": "Nope", "message": "stopped"}}},
    "Later": {"type": "Compose", "runAfter": {"Stop": ["Succeeded"]}, "inputs": 1}
  }
}`
	resp, run = h2.runOnce(t, def, nil, `{}`)
	if resp.Status != 202 {
		t.Fatalf("no Response action: %d", resp.Status)
	}
	if run.Status != StatusFailed || run.Error == nil || run.Error.Code != "Nope" || actionStatuses(run)["Later"] != StatusSkipped {
		t.Fatalf("terminated run: %s %+v %v", run.Status, run.Error, actionStatuses(run))
	}
}

func TestRecurrenceTrigger(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	def := `{
  "triggers": {"tick": {"type": "Recurrence", "recurrence": {"frequency": "Minute", "interval": 5, "startTime": "2026-03-01T12:02:00Z"}}},
  "actions": {"Now": {"type": "Compose", "inputs": "@trigger()?['scheduledTime']"}}
}`
	w := h.workflow(t, "wf-tick", "", def, nil)
	count := func() int {
		runs, err := h.s.ListRuns(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, r := range runs {
			if r.Status != StatusRunning {
				done++
			}
		}
		return done
	}
	eventually(t, "next execution", func() bool {
		got, _ := h.s.GetWorkflow(ctx, w.ID)
		return got.TriggerStates["tick"].NextExecution.Equal(t0.Add(2 * time.Minute))
	})
	h.clock.Advance(time.Minute)
	time.Sleep(5 * time.Millisecond)
	if n := count(); n != 0 {
		t.Fatalf("%d runs before the start time", n)
	}
	h.clock.Advance(time.Minute) // 12:02
	eventually(t, "first run", func() bool { return count() == 1 })
	for i := 0; i < 2; i++ {
		eventually(t, "rescheduled", func() bool {
			got, _ := h.s.GetWorkflow(ctx, w.ID)
			return got.TriggerStates["tick"].NextExecution.Equal(t0.Add(time.Duration(7+5*i) * time.Minute))
		})
		h.clock.Advance(5 * time.Minute)
		eventually(t, "next run", func() bool { return count() == 2+i })
	}
	runs, _ := h.s.ListRuns(ctx, w.ID)
	if a, ok := runs[0].Action("Now"); !ok || a.Outputs != "2026-03-01T12:12:00.0000000Z" {
		t.Fatalf("latest run's scheduled time: %+v", a)
	}
	// Disabled: no more runs.
	if err := h.s.SetWorkflowState(ctx, w.ID, WorkflowDisabled); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	time.Sleep(10 * time.Millisecond)
	if n := count(); n != 3 {
		t.Fatalf("%d runs after disabling", n)
	}
	if _, err := h.s.RunTrigger(ctx, w.ID, "tick"); armCode(err) != "WorkflowDisabled" {
		t.Fatalf("run trigger of a disabled workflow: %v", err)
	}
}

func TestNextFire(t *testing.T) {
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	tests := []struct {
		name      string
		r         Recurrence
		last, now string
		want      string
		ok        bool
	}{
		{"immediately without start", Recurrence{Frequency: "Hour", Interval: 1}, "", "2026-01-01T10:30:00Z", "2026-01-01T10:30:00Z", true},
		{"after last", Recurrence{Frequency: "Hour", Interval: 2}, "2026-01-01T10:30:00Z", "2026-01-01T10:31:00Z", "2026-01-01T12:30:00Z", true},
		{"missed while stopped", Recurrence{Frequency: "Minute", Interval: 1}, "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z", "2026-01-01T11:00:00Z", true},
		{"future start", Recurrence{Frequency: "Day", Interval: 1, StartTime: "2026-02-01T08:00:00Z"}, "", "2026-01-01T10:00:00Z", "2026-02-01T08:00:00Z", true},
		{"aligned to start", Recurrence{Frequency: "Minute", Interval: 15, StartTime: "2026-01-01T00:05:00Z"}, "", "2026-01-01T10:00:00Z", "2026-01-01T10:05:00Z", true},
		{"aligned after last", Recurrence{Frequency: "Minute", Interval: 15, StartTime: "2026-01-01T00:05:00Z"}, "2026-01-01T10:05:00Z", "2026-01-01T10:05:00Z", "2026-01-01T10:20:00Z", true},
		{"months", Recurrence{Frequency: "Month", Interval: 1, StartTime: "2026-01-31T00:00:00Z"}, "", "2026-02-15T00:00:00Z", "2026-03-03T00:00:00Z", true},
		{"ended", Recurrence{Frequency: "Hour", Interval: 1, EndTime: "2026-01-01T10:00:00Z"}, "2026-01-01T09:30:00Z", "2026-01-01T09:45:00Z", "", false},
	}
	for _, tc := range tests {
		var last time.Time
		if tc.last != "" {
			last = at(tc.last)
		}
		got, ok := NextFire(tc.r, last, at(tc.now))
		if ok != tc.ok || (ok && !got.Equal(at(tc.want))) {
			t.Errorf("%s: %v %v, want %s %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
