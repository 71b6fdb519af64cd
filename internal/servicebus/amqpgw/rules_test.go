package amqpgw

import (
	"testing"
	"time"

	"github.com/keyward/keyward/internal/amqp"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/sqlfilter"
)

func TestParseRuleDescription(t *testing.T) {
	for _, tc := range []struct {
		name    string
		desc    map[string]any
		check   func(servicebus.RuleProperties) bool
		wantErr bool
	}{
		{name: "sql with action", desc: map[string]any{"sql-filter": map[any]any{"expression": "a > 1"}, "sql-rule-action": map[any]any{amqp.Symbol("expression"): "SET b = 2"}},
			check: func(p servicebus.RuleProperties) bool {
				return p.Filter.Type == servicebus.FilterSQL && p.Filter.SQLExpression == "a > 1" && p.Action != nil && p.Action.SQLExpression == "SET b = 2"
			}},
		{name: "correlation", desc: map[string]any{"correlation-filter": map[any]any{"label": "l", "correlation-id": "c", "properties": map[any]any{"p": int64(1)}}},
			check: func(p servicebus.RuleProperties) bool {
				cf := p.Filter.Correlation
				return p.Filter.Type == servicebus.FilterCorrelation && cf.Subject == "l" && cf.CorrelationID == "c" && cf.Properties["p"] == int64(1) && p.Action == nil
			}},
		{name: "true", desc: map[string]any{"true-filter": map[any]any{}}, check: func(p servicebus.RuleProperties) bool { return p.Filter.Type == servicebus.FilterTrue }},
		{name: "empty action", desc: map[string]any{"false-filter": map[any]any{}, "sql-rule-action": map[any]any{"expression": ""}},
			check: func(p servicebus.RuleProperties) bool {
				return p.Filter.Type == servicebus.FilterFalse && p.Action == nil
			}},
		{name: "no filter", desc: map[string]any{}, wantErr: true},
		{name: "sql without expression", desc: map[string]any{"sql-filter": map[any]any{}}, wantErr: true},
		{name: "sql filter not a map", desc: map[string]any{"sql-filter": "a > 1"}, wantErr: true},
		{name: "correlation property of a list", desc: map[string]any{"correlation-filter": map[any]any{"properties": map[any]any{"p": []any{}}}}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseRuleDescription(tc.desc)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("accepted: %+v", p)
				}
				return
			}
			if err != nil || !tc.check(p) {
				t.Fatalf("%v %+v", err, p)
			}
		})
	}
}

func TestEncodeRule(t *testing.T) {
	created := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		rule       servicebus.RuleInfo
		filterDesc uint64
		actionDesc uint64
	}{
		{servicebus.RuleInfo{Name: "r1", CreatedAt: created, Properties: servicebus.RuleProperties{Filter: servicebus.RuleFilter{Type: servicebus.FilterSQL, SQLExpression: "a=1"},
			Action: &servicebus.RuleAction{SQLExpression: "SET x=1"}}}, descSQLFilter, descSQLRuleAction},
		{servicebus.RuleInfo{Name: "r2", Properties: servicebus.RuleProperties{Filter: servicebus.RuleFilter{Type: servicebus.FilterTrue}}}, descTrueFilter, descEmptyRuleAction},
		{servicebus.RuleInfo{Name: "r3", Properties: servicebus.RuleProperties{Filter: servicebus.RuleFilter{Type: servicebus.FilterFalse}}}, descFalseFilter, descEmptyRuleAction},
		{servicebus.RuleInfo{Name: "r4", Properties: servicebus.RuleProperties{Filter: servicebus.RuleFilter{Type: servicebus.FilterCorrelation,
			Correlation: &sqlfilter.CorrelationFilter{Subject: "s", Properties: map[string]any{"k": "v"}}}}}, descCorrelationFilter, descEmptyRuleAction},
	} {
		b, err := amqp.Marshal(encodeRule(tc.rule))
		if err != nil {
			t.Fatal(err)
		}
		v, err := amqp.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		d := v.(amqp.Described)
		f := d.Value.([]any)
		filter, action := f[0].(amqp.Described), f[1].(amqp.Described)
		if d.Descriptor != descRuleDescription || f[2] != tc.rule.Name || filter.Descriptor != tc.filterDesc || action.Descriptor != tc.actionDesc {
			t.Errorf("%s: %#v", tc.rule.Name, d)
		}
		if tc.filterDesc == descCorrelationFilter && filter.Value.([]any)[4] != "s" {
			t.Errorf("correlation fields %v", filter.Value)
		}
	}
}
