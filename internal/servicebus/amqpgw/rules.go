package amqpgw

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/amqp"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/sqlfilter"
)

// Descriptors of the rule description types enumerate-rules returns.
const (
	descRuleDescription   uint64 = 0x0000013700000004
	descEmptyRuleAction   uint64 = 0x0000013700000005
	descSQLRuleAction     uint64 = 0x0000013700000006
	descSQLFilter         uint64 = 0x0000001370000006
	descTrueFilter        uint64 = 0x0000001370000007
	descFalseFilter       uint64 = 0x0000001370000008
	descCorrelationFilter uint64 = 0x0000001370000009
)

// mgmtRules handles add-rule, remove-rule and enumerate-rules on a
// subscription's $management node.
func (cs *connState) mgmtRules(ctx context.Context, op string, a address, ns *servicebus.Namespace, body map[string]any) reply {
	if a.ep.Subscription == "" || a.ep.SubQueue != servicebus.SubQueueMain {
		return reply{status: statusBadRequest, desc: fmt.Sprintf("rules belong to subscriptions; %q is not one", a.path), cond: amqp.CondNotAllowed}
	}
	topic, sub := a.ep.Entity, a.ep.Subscription
	switch op {
	case opAddRule:
		name, _ := stringOf(body["rule-name"])
		if name == "" {
			return badRequest("rule-name is required")
		}
		desc, err := bodyMap(body["rule-description"])
		if err != nil {
			return badRequest("rule-description: %v", err)
		}
		props, err := parseRuleDescription(desc)
		if err != nil {
			return badRequest("rule %q: %v", name, err)
		}
		if _, err := ns.CreateRule(ctx, topic, sub, name, props); err != nil {
			return errReply(err)
		}
		return okReply(nil)
	case opRemoveRule:
		name, _ := stringOf(body["rule-name"])
		if name == "" {
			return badRequest("rule-name is required")
		}
		if err := ns.DeleteRule(ctx, topic, sub, name); err != nil {
			return errReply(err)
		}
		return okReply(nil)
	}
	rules, err := ns.ListRules(ctx, topic, sub)
	if err != nil {
		return errReply(err)
	}
	skip, _ := int64Of(body["skip"])
	top, ok := int64Of(body["top"])
	if !ok || top <= 0 {
		top = int64(len(rules))
	}
	skip = max(skip, 0)
	if skip >= int64(len(rules)) {
		return reply{status: statusNoContent, desc: "No rules"}
	}
	rules = rules[skip:min(int64(len(rules)), skip+top)]
	list := make([]any, 0, len(rules))
	for _, r := range rules {
		list = append(list, map[string]any{"rule-description": encodeRule(r)})
	}
	return okReply(map[string]any{"rules": list})
}

// parseRuleDescription reads an add-rule rule-description: one of
// sql-filter {expression}, correlation-filter {correlation-id, message-id,
// to, reply-to, label, session-id, reply-to-session-id, content-type,
// properties}, true-filter or false-filter, and optionally sql-rule-action
// {expression}.
func parseRuleDescription(desc map[string]any) (servicebus.RuleProperties, error) {
	var p servicebus.RuleProperties
	switch {
	case desc["sql-filter"] != nil:
		f, err := bodyMap(desc["sql-filter"])
		if err != nil {
			return p, fmt.Errorf("sql-filter: %w", err)
		}
		expr, ok := stringOf(f["expression"])
		if !ok || expr == "" {
			return p, fmt.Errorf("sql-filter needs an expression")
		}
		p.Filter = servicebus.RuleFilter{Type: servicebus.FilterSQL, SQLExpression: expr}
	case desc["correlation-filter"] != nil:
		f, err := bodyMap(desc["correlation-filter"])
		if err != nil {
			return p, fmt.Errorf("correlation-filter: %w", err)
		}
		cf := &sqlfilter.CorrelationFilter{}
		for key, dst := range map[string]*string{
			"correlation-id": &cf.CorrelationID, "message-id": &cf.MessageID, "to": &cf.To, "reply-to": &cf.ReplyTo,
			"label": &cf.Subject, "subject": &cf.Subject, "session-id": &cf.SessionID, "reply-to-session-id": &cf.ReplyToSessionID,
			"content-type": &cf.ContentType,
		} {
			if s, ok := stringOf(f[key]); ok && s != "" {
				*dst = s
			}
		}
		if f["properties"] != nil {
			props, err := bodyMap(f["properties"])
			if err != nil {
				return p, fmt.Errorf("correlation-filter properties: %w", err)
			}
			cf.Properties = map[string]any{}
			for k, v := range props {
				cv, ok := fromAMQPValue(v)
				if !ok {
					return p, fmt.Errorf("correlation-filter property %q has an unsupported type %T", k, v)
				}
				cf.Properties[k] = cv
			}
		}
		p.Filter = servicebus.RuleFilter{Type: servicebus.FilterCorrelation, Correlation: cf}
	case desc["true-filter"] != nil:
		p.Filter = servicebus.RuleFilter{Type: servicebus.FilterTrue}
	case desc["false-filter"] != nil:
		p.Filter = servicebus.RuleFilter{Type: servicebus.FilterFalse}
	default:
		return p, fmt.Errorf("no sql-filter, correlation-filter, true-filter or false-filter")
	}
	if a := desc["sql-rule-action"]; a != nil {
		m, err := bodyMap(a)
		if err != nil {
			return p, fmt.Errorf("sql-rule-action: %w", err)
		}
		expr, ok := stringOf(m["expression"])
		if !ok {
			return p, fmt.Errorf("sql-rule-action needs an expression")
		}
		if expr != "" {
			p.Action = &servicebus.RuleAction{SQLExpression: expr}
		}
	}
	return p, nil
}

// encodeRule is the described rule-description of enumerate-rules:
// [filter, action, name, created-at].
func encodeRule(r servicebus.RuleInfo) amqp.Described {
	var filter amqp.Described
	f := r.Properties.Filter
	switch f.Type {
	case servicebus.FilterTrue:
		filter = amqp.Described{Descriptor: descTrueFilter, Value: []any{}}
	case servicebus.FilterFalse:
		filter = amqp.Described{Descriptor: descFalseFilter, Value: []any{}}
	case servicebus.FilterCorrelation:
		cf := f.Correlation
		if cf == nil {
			cf = &sqlfilter.CorrelationFilter{}
		}
		var props any
		if len(cf.Properties) > 0 {
			m := make(map[string]any, len(cf.Properties))
			for k, v := range cf.Properties {
				m[k] = toAMQPValue(v)
			}
			props = m
		}
		filter = amqp.Described{Descriptor: descCorrelationFilter, Value: []any{
			nullable(cf.CorrelationID), nullable(cf.MessageID), nullable(cf.To), nullable(cf.ReplyTo),
			nullable(cf.Subject), nullable(cf.SessionID), nullable(cf.ReplyToSessionID), nullable(cf.ContentType), props,
		}}
	default:
		filter = amqp.Described{Descriptor: descSQLFilter, Value: []any{f.SQLExpression, int32(20)}}
	}
	action := amqp.Described{Descriptor: descEmptyRuleAction, Value: []any{}}
	if r.Properties.Action != nil && r.Properties.Action.SQLExpression != "" {
		action = amqp.Described{Descriptor: descSQLRuleAction, Value: []any{r.Properties.Action.SQLExpression, int32(20)}}
	}
	created := r.CreatedAt
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	return amqp.Described{Descriptor: descRuleDescription, Value: []any{filter, action, r.Name, created.UTC()}}
}

// nullable encodes "" as null.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
