package servicebus

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/servicebus/sqlfilter"
)

// compileRule validates and parses a rule's filter and action.
func compileRule(name string, p RuleProperties) (*compiledRule, error) {
	c := &compiledRule{name: name, typ: p.Filter.Type}
	switch p.Filter.Type {
	case FilterTrue:
		c.sql = sqlfilter.TrueFilter()
	case FilterFalse:
		c.sql = sqlfilter.FalseFilter()
	case FilterSQL:
		params, err := normalizeProps(p.Filter.Parameters)
		if err != nil {
			return nil, err
		}
		f, err := sqlfilter.ParseWithParameters(p.Filter.SQLExpression, params)
		if err != nil {
			return nil, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("rule %q: invalid SQL filter", name), Err: err}
		}
		c.sql = f
	case FilterCorrelation:
		if p.Filter.Correlation == nil || p.Filter.Correlation.IsEmpty() {
			return nil, newErr(CodeBadRequest, "rule %q: a correlation filter needs at least one property", name)
		}
		cf := *p.Filter.Correlation
		props, err := normalizeProps(cf.Properties)
		if err != nil {
			return nil, err
		}
		cf.Properties = props
		c.corr = &cf
	default:
		return nil, newErr(CodeBadRequest, "rule %q: unknown filter type %q", name, p.Filter.Type)
	}
	if p.Action != nil && strings.TrimSpace(p.Action.SQLExpression) != "" {
		params, err := normalizeProps(p.Action.Parameters)
		if err != nil {
			return nil, err
		}
		a, err := sqlfilter.ParseActionWithParameters(p.Action.SQLExpression, params)
		if err != nil {
			return nil, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("rule %q: invalid SQL action", name), Err: err}
		}
		c.action = a
	}
	return c, nil
}

func ruleToRecord(p RuleProperties) (*ruleRecord, error) {
	r := &ruleRecord{FilterType: p.Filter.Type}
	switch p.Filter.Type {
	case FilterSQL:
		r.SQL = p.Filter.SQLExpression
		b, err := encodeProps(p.Filter.Parameters)
		if err != nil {
			return nil, newErr(CodeBadRequest, "filter parameters: %v", err)
		}
		r.Params = b
	case FilterCorrelation:
		c := p.Filter.Correlation
		b, err := encodeProps(c.Properties)
		if err != nil {
			return nil, newErr(CodeBadRequest, "correlation filter properties: %v", err)
		}
		r.Correlation = &correlationJSON{
			CorrelationID: c.CorrelationID, MessageID: c.MessageID, To: c.To, ReplyTo: c.ReplyTo,
			Subject: c.Subject, SessionID: c.SessionID, ReplyToSessionID: c.ReplyToSessionID,
			ContentType: c.ContentType, Properties: b,
		}
	}
	if p.Action != nil && strings.TrimSpace(p.Action.SQLExpression) != "" {
		r.HasAction = true
		r.Action = p.Action.SQLExpression
		b, err := encodeProps(p.Action.Parameters)
		if err != nil {
			return nil, newErr(CodeBadRequest, "action parameters: %v", err)
		}
		r.ActionParams = b
	}
	return r, nil
}

func ruleFromRecord(r *ruleRecord) (RuleProperties, error) {
	var p RuleProperties
	p.Filter.Type = r.FilterType
	switch r.FilterType {
	case FilterSQL:
		p.Filter.SQLExpression = r.SQL
		m, err := decodeProps(r.Params)
		if err != nil {
			return p, err
		}
		p.Filter.Parameters = m
	case FilterCorrelation:
		if r.Correlation == nil {
			return p, errCorrupt
		}
		c := r.Correlation
		m, err := decodeProps(c.Properties)
		if err != nil {
			return p, err
		}
		p.Filter.Correlation = &sqlfilter.CorrelationFilter{
			CorrelationID: c.CorrelationID, MessageID: c.MessageID, To: c.To, ReplyTo: c.ReplyTo,
			Subject: c.Subject, SessionID: c.SessionID, ReplyToSessionID: c.ReplyToSessionID,
			ContentType: c.ContentType, Properties: m,
		}
	case FilterTrue, FilterFalse:
		p.Filter.SQLExpression = map[FilterType]string{FilterTrue: sqlfilter.TrueFilterExpression, FilterFalse: sqlfilter.FalseFilterExpression}[r.FilterType]
	}
	if r.HasAction {
		m, err := decodeProps(r.ActionParams)
		if err != nil {
			return p, err
		}
		p.Action = &RuleAction{SQLExpression: r.Action, Parameters: m}
	}
	return p, nil
}

// evaluate runs a subscription's rules against rec. It returns the copy to
// deliver (with every matching rule's action applied, in rule-name order) or
// nil, and the first evaluation error when no rule matched.
func (sub *entity) evaluate(rec *record) (*record, error) {
	names := make([]string, 0, len(sub.rules))
	for k := range sub.rules {
		names = append(names, k)
	}
	sort.Strings(names)
	var matched []*compiledRule
	var firstErr error
	fm := &filterMessage{r: rec}
	for _, k := range names {
		c := sub.rules[k].compiled
		if c == nil {
			continue
		}
		ok, err := c.match(fm)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("rule %q: %w", c.name, err)
			}
			continue
		}
		if ok {
			matched = append(matched, c)
		}
	}
	if len(matched) == 0 {
		return nil, firstErr
	}
	cp := rec.cloneRecord()
	am := &filterMessage{r: cp}
	for _, c := range matched {
		if c.action == nil {
			continue
		}
		if err := c.action.Apply(am); err != nil {
			return nil, fmt.Errorf("rule %q action: %w", c.name, err)
		}
	}
	return cp, nil
}

func (c *compiledRule) match(m sqlfilter.Message) (bool, error) {
	if c.corr != nil {
		return c.corr.Match(m), nil
	}
	if c.sql == nil {
		return false, nil
	}
	return c.sql.Match(m)
}

func (r *record) cloneRecord() *record {
	c := *r
	c.Message = r.Message.clone()
	return &c
}

// filterMessage adapts a record to the sqlfilter message interfaces.
type filterMessage struct{ r *record }

var _ sqlfilter.MutableMessage = (*filterMessage)(nil)

func optString(s string) (any, bool) {
	if s == "" {
		return nil, false
	}
	return s, true
}

func optTime(t time.Time) (any, bool) {
	if t.IsZero() {
		return nil, false
	}
	return t, true
}

// SystemProperty implements sqlfilter.Message.
func (f *filterMessage) SystemProperty(name string) (any, bool) {
	r := f.r
	switch name {
	case sqlfilter.SysContentType:
		return optString(r.ContentType)
	case sqlfilter.SysCorrelationID:
		return optString(r.CorrelationID)
	case sqlfilter.SysDeadLetterSource:
		return optString(r.DeadLetterSource)
	case sqlfilter.SysDeliveryCount:
		return r.DeliveryCount, true
	case sqlfilter.SysEnqueuedSequenceNumber:
		return int64(r.EnqueuedSeq), true
	case sqlfilter.SysEnqueuedTimeUtc:
		return optTime(r.EnqueuedTime)
	case sqlfilter.SysExpiresAtUtc:
		return optTime(r.ExpiresAt)
	case sqlfilter.SysLabel:
		return optString(r.Subject)
	case sqlfilter.SysMessageID:
		return optString(r.MessageID)
	case sqlfilter.SysPartitionKey:
		return optString(r.PartitionKey)
	case sqlfilter.SysReplyTo:
		return optString(r.ReplyTo)
	case sqlfilter.SysReplyToSessionID:
		return optString(r.ReplyToSessionID)
	case sqlfilter.SysScheduledEnqueueTimeUtc:
		return optTime(r.ScheduledEnqueueTime)
	case sqlfilter.SysSequenceNumber:
		if r.seq != 0 {
			return int64(r.seq), true
		}
		return int64(r.EnqueuedSeq), true
	case sqlfilter.SysSessionID:
		return optString(r.SessionID)
	case sqlfilter.SysSize:
		return r.Message.Size(), true
	case sqlfilter.SysState:
		return int32(r.State), true
	case sqlfilter.SysTimeToLive:
		if r.TimeToLive == 0 {
			return nil, false
		}
		return r.TimeToLive, true
	case sqlfilter.SysTo:
		return optString(r.To)
	}
	return nil, false
}

// UserProperty implements sqlfilter.Message: exact name first, then a
// case-insensitive match (the smallest such name).
func (f *filterMessage) UserProperty(name string) (any, bool) {
	k, ok := f.userKey(name)
	if !ok {
		return nil, false
	}
	return f.r.ApplicationProperties[k], true
}

func (f *filterMessage) userKey(name string) (string, bool) {
	props := f.r.ApplicationProperties
	if _, ok := props[name]; ok {
		return name, true
	}
	best, found := "", false
	for k := range props {
		if strings.EqualFold(k, name) && (!found || k < best) {
			best, found = k, true
		}
	}
	return best, found
}

var errNotSettable = errors.New("system property cannot be set")

// SetSystemProperty implements sqlfilter.MutableMessage.
func (f *filterMessage) SetSystemProperty(name string, value any) error {
	r := f.r
	str := func(p *string) error {
		switch v := value.(type) {
		case nil:
			*p = ""
		case string:
			*p = v
		default:
			return fmt.Errorf("sys.%s: want a string, got %T", name, value)
		}
		return nil
	}
	switch name {
	case sqlfilter.SysContentType:
		return str(&r.ContentType)
	case sqlfilter.SysCorrelationID:
		return str(&r.CorrelationID)
	case sqlfilter.SysLabel:
		return str(&r.Subject)
	case sqlfilter.SysMessageID:
		return str(&r.MessageID)
	case sqlfilter.SysPartitionKey:
		return str(&r.PartitionKey)
	case sqlfilter.SysReplyTo:
		return str(&r.ReplyTo)
	case sqlfilter.SysReplyToSessionID:
		return str(&r.ReplyToSessionID)
	case sqlfilter.SysSessionID:
		return str(&r.SessionID)
	case sqlfilter.SysTo:
		return str(&r.To)
	case sqlfilter.SysViaPartitionKey, sqlfilter.SysForcePersistence:
		return nil // accepted, not stored
	case sqlfilter.SysScheduledEnqueueTimeUtc:
		switch v := value.(type) {
		case nil:
			r.ScheduledEnqueueTime = time.Time{}
		case time.Time:
			r.ScheduledEnqueueTime = v.UTC()
		default:
			return fmt.Errorf("sys.%s: want a time, got %T", name, value)
		}
		return nil
	case sqlfilter.SysTimeToLive:
		switch v := value.(type) {
		case nil:
			r.TimeToLive = 0
		case time.Duration:
			r.TimeToLive = v
		default:
			return fmt.Errorf("sys.%s: want a duration, got %T", name, value)
		}
		return nil
	}
	return fmt.Errorf("sys.%s: %w", name, errNotSettable)
}

// SetUserProperty implements sqlfilter.MutableMessage.
func (f *filterMessage) SetUserProperty(name string, value any) error {
	v, err := normalizeValue(value)
	if err != nil {
		return err
	}
	if f.r.ApplicationProperties == nil {
		f.r.ApplicationProperties = map[string]any{}
	}
	if k, ok := f.userKey(name); ok {
		name = k
	}
	f.r.ApplicationProperties[name] = v
	return nil
}

// RemoveUserProperty implements sqlfilter.MutableMessage.
func (f *filterMessage) RemoveUserProperty(name string) error {
	if k, ok := f.userKey(name); ok {
		delete(f.r.ApplicationProperties, k)
	}
	return nil
}
