package atomhttp

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/isoduration"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/sqlfilter"
)

// zeroTime is how Service Bus writes a time that never happened.
const zeroTime = "0001-01-01T00:00:00"

// timeLayout writes times as .NET does: UTC, at most 7 fractional digits.
const timeLayout = "2006-01-02T15:04:05.9999999Z07:00"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return zeroTime
	}
	return t.UTC().Format(timeLayout)
}

func badValue(field, value, why string) *apiError {
	return errorf(http.StatusBadRequest, codeBadRequest, "The value '%s' of %s is not valid: %s.", clip(value), field, why)
}

func parseDuration(field string, s *string, dst *time.Duration) error {
	if s == nil || strings.TrimSpace(*s) == "" {
		return nil
	}
	d, err := isoduration.Parse(*s)
	if err != nil || d <= 0 {
		return badValue(field, *s, "use a positive ISO 8601 duration such as PT1M")
	}
	*dst = d
	return nil
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

func setStr(dst *string, v *string) {
	if v != nil {
		*dst = strings.TrimSpace(*v)
	}
}

func parseStatus(s *string, dst *servicebus.EntityStatus) {
	if s == nil || strings.TrimSpace(*s) == "" {
		return
	}
	v := strings.TrimSpace(*s)
	for _, known := range []servicebus.EntityStatus{servicebus.StatusActive, servicebus.StatusDisabled, servicebus.StatusSendDisabled, servicebus.StatusReceiveDisabled} {
		if strings.EqualFold(v, string(known)) {
			*dst = known
			return
		}
	}
	*dst = servicebus.EntityStatus(v) // the broker refuses it with its message
}

// forwardTarget checks a forwarding destination and returns the entity
// name the broker takes. A destination in another namespace is refused.
func (c *call) forwardTarget(field string, v *string) (string, error) {
	if v == nil {
		return "", nil
	}
	s := strings.TrimSpace(*v)
	if s == "" {
		return "", nil
	}
	if _, rest, ok := strings.Cut(s, "://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		if h, _, ok := strings.Cut(host, ":"); ok {
			host = h
		}
		if !strings.EqualFold(host, c.host) {
			return "", badValue(field, s, "forwarding to another namespace is not supported")
		}
	}
	name := forwardName(s)
	if name == "" {
		return "", badValue(field, s, "name a queue or topic of this namespace")
	}
	return name, nil
}

// forwardURI is how Service Bus returns a forwarding destination.
func (c *call) forwardURI(name string) string {
	if name == "" {
		return ""
	}
	return "sb://" + c.host + "/" + name
}

func newKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("atomhttp: generate key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// authRules converts entity-level authorization rules, keeping the keys of
// rules that exist already when the request omits them.
func (c *call) authRules(in *authRulesIn, old []servicebus.AuthorizationRule) ([]servicebus.AuthorizationRule, error) {
	if in == nil {
		return nil, nil
	}
	now := c.h.o.Now().UTC()
	var out []servicebus.AuthorizationRule
	seen := map[string]bool{}
	for _, r := range in.Rules {
		if r.KeyName == nil || strings.TrimSpace(*r.KeyName) == "" || len(*r.KeyName) > 256 {
			return nil, errorf(http.StatusBadRequest, codeBadRequest, "Every authorization rule needs a KeyName of 1 to 256 characters.")
		}
		name := strings.TrimSpace(*r.KeyName)
		if seen[strings.ToLower(name)] {
			return nil, errorf(http.StatusBadRequest, codeBadRequest, "The authorization rule '%s' is given twice.", name)
		}
		seen[strings.ToLower(name)] = true
		rights, err := validRights(name, r.Rights)
		if err != nil {
			return nil, err
		}
		rule := servicebus.AuthorizationRule{KeyName: name, Rights: rights, CreatedAt: now, ModifiedAt: now}
		for _, o := range old {
			if strings.EqualFold(o.KeyName, name) {
				rule.PrimaryKey, rule.SecondaryKey, rule.CreatedAt = o.PrimaryKey, o.SecondaryKey, o.CreatedAt
				if !slices.Equal(o.Rights, rights) {
					rule.ModifiedAt = now
				} else {
					rule.ModifiedAt = o.ModifiedAt
				}
			}
		}
		for _, k := range []struct {
			in  *string
			dst *string
		}{{r.PrimaryKey, &rule.PrimaryKey}, {r.SecondaryKey, &rule.SecondaryKey}} {
			if k.in != nil && strings.TrimSpace(*k.in) != "" {
				v := strings.TrimSpace(*k.in)
				if len(v) < 32 || len(v) > 256 {
					return nil, errorf(http.StatusBadRequest, codeBadRequest, "The keys of authorization rule '%s' must be 32 to 256 characters.", name)
				}
				*k.dst = v
			}
			if *k.dst == "" {
				key, err := newKey()
				if err != nil {
					return nil, err
				}
				*k.dst = key
			}
		}
		out = append(out, rule)
	}
	return out, nil
}

func validRights(rule string, rights []string) ([]string, error) {
	have := map[string]bool{}
	var out []string
	for _, r := range rights {
		var canon string
		for _, k := range []string{RightListen, RightSend, RightManage} {
			if strings.EqualFold(strings.TrimSpace(r), k) {
				canon = k
			}
		}
		if canon == "" {
			return nil, errorf(http.StatusBadRequest, codeBadRequest, "The right '%s' of authorization rule '%s' is not valid: use Listen, Send or Manage.", clip(r), rule)
		}
		if !have[canon] {
			have[canon] = true
			out = append(out, canon)
		}
	}
	if len(out) == 0 {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "The authorization rule '%s' needs at least one right.", rule)
	}
	if have[RightManage] && (!have[RightListen] || !have[RightSend]) {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "The authorization rule '%s' has Manage, which requires Listen and Send too.", rule)
	}
	return out, nil
}

func authRulesXML(rules []servicebus.AuthorizationRule) authRulesOut {
	var out authRulesOut
	for _, r := range rules {
		out.Rules = append(out.Rules, authRuleOut{
			Type: "SharedAccessAuthorizationRule", ClaimType: "SharedAccessKey", ClaimValue: "None",
			Rights: r.Rights, CreatedTime: fmtTime(r.CreatedAt), ModifiedTime: fmtTime(r.ModifiedAt),
			KeyName: r.KeyName, PrimaryKey: r.PrimaryKey, SecondaryKey: r.SecondaryKey,
		})
	}
	return out
}

// queueProps builds the properties of a PUT: Azure's defaults, then every
// element the request has. On update (old != nil) the immutable properties
// the request omits keep their value.
func (c *call) queueProps(d *queueDescIn, old *servicebus.QueueProperties) (servicebus.QueueProperties, error) {
	p := servicebus.DefaultQueueProperties(c.nsb.Options().Tier)
	if old != nil {
		p.RequiresSession, p.RequiresDuplicateDetection, p.EnablePartitioning = old.RequiresSession, old.RequiresDuplicateDetection, old.EnablePartitioning
	}
	for _, f := range []struct {
		name string
		v    *string
		dst  *time.Duration
	}{
		{"LockDuration", d.LockDuration, &p.LockDuration},
		{"DefaultMessageTimeToLive", d.DefaultMessageTimeToLive, &p.DefaultMessageTimeToLive},
		{"DuplicateDetectionHistoryTimeWindow", d.DuplicateDetectionHistoryTimeWindow, &p.DuplicateDetectionHistoryTimeWindow},
		{"AutoDeleteOnIdle", d.AutoDeleteOnIdle, &p.AutoDeleteOnIdle},
	} {
		if err := parseDuration(f.name, f.v, f.dst); err != nil {
			return p, err
		}
	}
	if d.MaxSizeInMegabytes != nil {
		p.MaxSizeInMegabytes = *d.MaxSizeInMegabytes
	}
	if d.MaxDeliveryCount != nil {
		p.MaxDeliveryCount = *d.MaxDeliveryCount
		if p.MaxDeliveryCount < 1 {
			return p, badValue("MaxDeliveryCount", fmt.Sprint(*d.MaxDeliveryCount), "it must be at least 1")
		}
	}
	if d.MaxMessageSizeInKilobytes != nil {
		p.MaxMessageSizeInKilobytes = *d.MaxMessageSizeInKilobytes
	}
	setBool(&p.RequiresDuplicateDetection, d.RequiresDuplicateDetection)
	setBool(&p.RequiresSession, d.RequiresSession)
	setBool(&p.DeadLetteringOnMessageExpiration, d.DeadLetteringOnMessageExpiration)
	setBool(&p.EnableBatchedOperations, d.EnableBatchedOperations)
	setBool(&p.EnablePartitioning, d.EnablePartitioning)
	setStr(&p.UserMetadata, d.UserMetadata)
	parseStatus(d.Status, &p.Status)
	var err error
	if p.ForwardTo, err = c.forwardTarget("ForwardTo", d.ForwardTo); err != nil {
		return p, err
	}
	if p.ForwardDeadLetteredMessagesTo, err = c.forwardTarget("ForwardDeadLetteredMessagesTo", d.ForwardDeadLetteredMessagesTo); err != nil {
		return p, err
	}
	var oldRules []servicebus.AuthorizationRule
	if old != nil {
		oldRules = old.AuthorizationRules
	}
	if p.AuthorizationRules, err = c.authRules(d.AuthorizationRules, oldRules); err != nil {
		return p, err
	}
	return p, nil
}

func (c *call) topicProps(d *topicDescIn, old *servicebus.TopicProperties) (servicebus.TopicProperties, error) {
	p := servicebus.DefaultTopicProperties(c.nsb.Options().Tier)
	if old != nil {
		p.RequiresDuplicateDetection, p.EnablePartitioning = old.RequiresDuplicateDetection, old.EnablePartitioning
	}
	for _, f := range []struct {
		name string
		v    *string
		dst  *time.Duration
	}{
		{"DefaultMessageTimeToLive", d.DefaultMessageTimeToLive, &p.DefaultMessageTimeToLive},
		{"DuplicateDetectionHistoryTimeWindow", d.DuplicateDetectionHistoryTimeWindow, &p.DuplicateDetectionHistoryTimeWindow},
		{"AutoDeleteOnIdle", d.AutoDeleteOnIdle, &p.AutoDeleteOnIdle},
	} {
		if err := parseDuration(f.name, f.v, f.dst); err != nil {
			return p, err
		}
	}
	if d.MaxSizeInMegabytes != nil {
		p.MaxSizeInMegabytes = *d.MaxSizeInMegabytes
	}
	if d.MaxMessageSizeInKilobytes != nil {
		p.MaxMessageSizeInKilobytes = *d.MaxMessageSizeInKilobytes
	}
	setBool(&p.RequiresDuplicateDetection, d.RequiresDuplicateDetection)
	setBool(&p.EnableBatchedOperations, d.EnableBatchedOperations)
	setBool(&p.EnablePartitioning, d.EnablePartitioning)
	setBool(&p.SupportOrdering, d.SupportOrdering)
	setStr(&p.UserMetadata, d.UserMetadata)
	parseStatus(d.Status, &p.Status)
	var oldRules []servicebus.AuthorizationRule
	if old != nil {
		oldRules = old.AuthorizationRules
	}
	var err error
	if p.AuthorizationRules, err = c.authRules(d.AuthorizationRules, oldRules); err != nil {
		return p, err
	}
	return p, nil
}

func (c *call) subscriptionProps(d *subscriptionDescIn, old *servicebus.SubscriptionProperties) (servicebus.SubscriptionProperties, error) {
	p := servicebus.DefaultSubscriptionProperties(c.nsb.Options().Tier)
	if old != nil {
		p.RequiresSession = old.RequiresSession
	}
	for _, f := range []struct {
		name string
		v    *string
		dst  *time.Duration
	}{
		{"LockDuration", d.LockDuration, &p.LockDuration},
		{"DefaultMessageTimeToLive", d.DefaultMessageTimeToLive, &p.DefaultMessageTimeToLive},
		{"AutoDeleteOnIdle", d.AutoDeleteOnIdle, &p.AutoDeleteOnIdle},
	} {
		if err := parseDuration(f.name, f.v, f.dst); err != nil {
			return p, err
		}
	}
	if d.MaxDeliveryCount != nil {
		p.MaxDeliveryCount = *d.MaxDeliveryCount
		if p.MaxDeliveryCount < 1 {
			return p, badValue("MaxDeliveryCount", fmt.Sprint(*d.MaxDeliveryCount), "it must be at least 1")
		}
	}
	setBool(&p.RequiresSession, d.RequiresSession)
	setBool(&p.DeadLetteringOnMessageExpiration, d.DeadLetteringOnMessageExpiration)
	setBool(&p.DeadLetteringOnFilterEvaluationExceptions, d.DeadLetteringOnFilterEvaluationExceptions)
	setBool(&p.EnableBatchedOperations, d.EnableBatchedOperations)
	setStr(&p.UserMetadata, d.UserMetadata)
	parseStatus(d.Status, &p.Status)
	var err error
	if p.ForwardTo, err = c.forwardTarget("ForwardTo", d.ForwardTo); err != nil {
		return p, err
	}
	if p.ForwardDeadLetteredMessagesTo, err = c.forwardTarget("ForwardDeadLetteredMessagesTo", d.ForwardDeadLetteredMessagesTo); err != nil {
		return p, err
	}
	return p, nil
}

// ---- rules ----

func localType(t string) string {
	if _, l, ok := strings.Cut(t, ":"); ok {
		return strings.TrimSpace(l)
	}
	return strings.TrimSpace(t)
}

func kvMap(field string, l *kvListIn) (map[string]any, error) {
	if l == nil || len(l.Items) == 0 {
		return nil, nil
	}
	m := make(map[string]any, len(l.Items))
	for _, kv := range l.Items {
		if kv.Key == "" {
			return nil, errorf(http.StatusBadRequest, codeBadRequest, "An entry of %s has no Key.", field)
		}
		v, err := kv.Value.value()
		if err != nil {
			return nil, errorf(http.StatusBadRequest, codeBadRequest, "%s '%s': %v.", field, clip(kv.Key), err)
		}
		m[kv.Key] = v
	}
	return m, nil
}

func kvList(m map[string]any) *kvListOut {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := &kvListOut{}
	for _, k := range keys {
		out.Items = append(out.Items, kvOut{Key: k, Value: typedValueOf(m[k])})
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ruleProps converts a filter and action description.
func ruleProps(f *filterIn, a *actionIn) (servicebus.RuleProperties, error) {
	var p servicebus.RuleProperties
	if f == nil {
		p.Filter = servicebus.RuleFilter{Type: servicebus.FilterTrue}
	} else {
		switch t := localType(f.Type); t {
		case "SqlFilter":
			if f.SQLExpression == nil {
				return p, errorf(http.StatusBadRequest, codeBadRequest, "A SqlFilter needs a SqlExpression.")
			}
			params, err := kvMap("Filter parameter", f.Parameters)
			if err != nil {
				return p, err
			}
			p.Filter = servicebus.RuleFilter{Type: servicebus.FilterSQL, SQLExpression: *f.SQLExpression, Parameters: params}
		case "TrueFilter":
			p.Filter = servicebus.RuleFilter{Type: servicebus.FilterTrue}
		case "FalseFilter":
			p.Filter = servicebus.RuleFilter{Type: servicebus.FilterFalse}
		case "CorrelationFilter":
			props, err := kvMap("Correlation filter property", f.Properties)
			if err != nil {
				return p, err
			}
			p.Filter = servicebus.RuleFilter{Type: servicebus.FilterCorrelation, Correlation: &sqlfilter.CorrelationFilter{
				CorrelationID: deref(f.CorrelationID), MessageID: deref(f.MessageID), To: deref(f.To), ReplyTo: deref(f.ReplyTo),
				Subject: deref(f.Label), SessionID: deref(f.SessionID), ReplyToSessionID: deref(f.ReplyToSessionID),
				ContentType: deref(f.ContentType), Properties: props,
			}}
		case "":
			return p, errorf(http.StatusBadRequest, codeBadRequest, "The rule's Filter has no i:type (SqlFilter, CorrelationFilter, TrueFilter or FalseFilter).")
		default:
			return p, errorf(http.StatusBadRequest, codeBadRequest, "The filter type '%s' is not supported: use SqlFilter, CorrelationFilter, TrueFilter or FalseFilter.", clip(t))
		}
	}
	if a != nil {
		switch t := localType(a.Type); t {
		case "EmptyRuleAction", "":
			if t == "" && a.SQLExpression != nil && strings.TrimSpace(*a.SQLExpression) != "" {
				return p, errorf(http.StatusBadRequest, codeBadRequest, "The rule's Action has no i:type (SqlRuleAction or EmptyRuleAction).")
			}
		case "SqlRuleAction":
			params, err := kvMap("Action parameter", a.Parameters)
			if err != nil {
				return p, err
			}
			p.Action = &servicebus.RuleAction{SQLExpression: deref(a.SQLExpression), Parameters: params}
		default:
			return p, errorf(http.StatusBadRequest, codeBadRequest, "The action type '%s' is not supported: use SqlRuleAction or EmptyRuleAction.", clip(t))
		}
	}
	return p, nil
}

func ptr[T any](v T) *T { return &v }

func optPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func ruleXML(r servicebus.RuleInfo) *ruleDescOut {
	out := &ruleDescOut{XMLNSI: nsXSI, CreatedAt: fmtTime(r.CreatedAt), Name: r.Name}
	f := r.Properties.Filter
	switch f.Type {
	case servicebus.FilterSQL:
		out.Filter = filterOut{Type: "SqlFilter", SQLExpression: ptr(f.SQLExpression), CompatibilityLevel: ptr(20), Parameters: kvList(f.Parameters)}
	case servicebus.FilterTrue:
		out.Filter = filterOut{Type: "TrueFilter", SQLExpression: ptr(sqlfilter.TrueFilterExpression), CompatibilityLevel: ptr(20)}
	case servicebus.FilterFalse:
		out.Filter = filterOut{Type: "FalseFilter", SQLExpression: ptr(sqlfilter.FalseFilterExpression), CompatibilityLevel: ptr(20)}
	case servicebus.FilterCorrelation:
		cf := f.Correlation
		if cf == nil {
			cf = &sqlfilter.CorrelationFilter{}
		}
		out.Filter = filterOut{Type: "CorrelationFilter",
			CorrelationID: optPtr(cf.CorrelationID), MessageID: optPtr(cf.MessageID), To: optPtr(cf.To), ReplyTo: optPtr(cf.ReplyTo),
			Label: optPtr(cf.Subject), SessionID: optPtr(cf.SessionID), ReplyToSessionID: optPtr(cf.ReplyToSessionID),
			ContentType: optPtr(cf.ContentType), Properties: kvList(cf.Properties)}
	}
	if a := r.Properties.Action; a != nil && strings.TrimSpace(a.SQLExpression) != "" {
		out.Action = actionOut{Type: "SqlRuleAction", SQLExpression: ptr(a.SQLExpression), CompatibilityLevel: ptr(20), Parameters: kvList(a.Parameters)}
	} else {
		out.Action = actionOut{Type: "EmptyRuleAction"}
	}
	return out
}

func counts(rt servicebus.RuntimeProperties) countDetails {
	return countDetails{
		XMLNS:                          nsCount,
		ActiveMessageCount:             rt.ActiveMessageCount,
		DeadLetterMessageCount:         rt.DeadLetterMessageCount,
		ScheduledMessageCount:          rt.ScheduledMessageCount,
		TransferMessageCount:           rt.TransferMessageCount,
		TransferDeadLetterMessageCount: rt.TransferDeadLetterMessageCount,
	}
}

func (c *call) queueXML(q servicebus.QueueInfo) *queueDescOut {
	p, rt := q.Properties, q.Runtime
	return &queueDescOut{
		XMLNSI:                              nsXSI,
		LockDuration:                        isoduration.Format(p.LockDuration),
		MaxSizeInMegabytes:                  p.MaxSizeInMegabytes,
		RequiresDuplicateDetection:          p.RequiresDuplicateDetection,
		RequiresSession:                     p.RequiresSession,
		DefaultMessageTimeToLive:            isoduration.Format(p.DefaultMessageTimeToLive),
		DeadLetteringOnMessageExpiration:    p.DeadLetteringOnMessageExpiration,
		DuplicateDetectionHistoryTimeWindow: isoduration.Format(p.DuplicateDetectionHistoryTimeWindow),
		MaxDeliveryCount:                    p.MaxDeliveryCount,
		EnableBatchedOperations:             p.EnableBatchedOperations,
		SizeInBytes:                         rt.SizeInBytes,
		MessageCount:                        rt.TotalMessageCount,
		AuthorizationRules:                  authRulesXML(p.AuthorizationRules),
		Status:                              string(p.Status),
		ForwardTo:                           c.forwardURI(p.ForwardTo),
		CreatedAt:                           fmtTime(rt.CreatedAt),
		UpdatedAt:                           fmtTime(rt.UpdatedAt),
		AccessedAt:                          fmtTime(rt.AccessedAt),
		SupportOrdering:                     true,
		CountDetails:                        counts(rt),
		AutoDeleteOnIdle:                    isoduration.Format(p.AutoDeleteOnIdle),
		EnablePartitioning:                  p.EnablePartitioning,
		EntityAvailabilityStatus:            "Available",
		ForwardDeadLetteredMessagesTo:       c.forwardURI(p.ForwardDeadLetteredMessagesTo),
		UserMetadata:                        p.UserMetadata,
		MaxMessageSizeInKilobytes:           p.MaxMessageSizeInKilobytes,
	}
}

func (c *call) topicXML(t servicebus.TopicInfo, sqlCount, corrCount int64) *topicDescOut {
	p, rt := t.Properties, t.Runtime
	return &topicDescOut{
		XMLNSI:                              nsXSI,
		DefaultMessageTimeToLive:            isoduration.Format(p.DefaultMessageTimeToLive),
		MaxSizeInMegabytes:                  p.MaxSizeInMegabytes,
		RequiresDuplicateDetection:          p.RequiresDuplicateDetection,
		DuplicateDetectionHistoryTimeWindow: isoduration.Format(p.DuplicateDetectionHistoryTimeWindow),
		EnableBatchedOperations:             p.EnableBatchedOperations,
		SizeInBytes:                         rt.SizeInBytes,
		AuthorizationRules:                  authRulesXML(p.AuthorizationRules),
		Status:                              string(p.Status),
		CreatedAt:                           fmtTime(rt.CreatedAt),
		UpdatedAt:                           fmtTime(rt.UpdatedAt),
		AccessedAt:                          fmtTime(rt.AccessedAt),
		SupportOrdering:                     p.SupportOrdering,
		CountDetails:                        counts(rt),
		SubscriptionCount:                   rt.SubscriptionCount,
		AutoDeleteOnIdle:                    isoduration.Format(p.AutoDeleteOnIdle),
		EnablePartitioning:                  p.EnablePartitioning,
		EntityAvailabilityStatus:            "Available",
		UserMetadata:                        p.UserMetadata,
		SQLFilterCount:                      sqlCount,
		CorrelationFilterCount:              corrCount,
		MaxMessageSizeInKilobytes:           p.MaxMessageSizeInKilobytes,
	}
}

func (c *call) subscriptionXML(s servicebus.SubscriptionInfo) *subscriptionDescOut {
	p, rt := s.Properties, s.Runtime
	return &subscriptionDescOut{
		XMLNSI:                           nsXSI,
		LockDuration:                     isoduration.Format(p.LockDuration),
		RequiresSession:                  p.RequiresSession,
		DefaultMessageTimeToLive:         isoduration.Format(p.DefaultMessageTimeToLive),
		DeadLetteringOnMessageExpiration: p.DeadLetteringOnMessageExpiration,
		DeadLetteringOnFilterEvaluationExceptions: p.DeadLetteringOnFilterEvaluationExceptions,
		MessageCount:                  rt.TotalMessageCount,
		MaxDeliveryCount:              p.MaxDeliveryCount,
		EnableBatchedOperations:       p.EnableBatchedOperations,
		Status:                        string(p.Status),
		ForwardTo:                     c.forwardURI(p.ForwardTo),
		CreatedAt:                     fmtTime(rt.CreatedAt),
		UpdatedAt:                     fmtTime(rt.UpdatedAt),
		AccessedAt:                    fmtTime(rt.AccessedAt),
		CountDetails:                  counts(rt),
		UserMetadata:                  p.UserMetadata,
		ForwardDeadLetteredMessagesTo: c.forwardURI(p.ForwardDeadLetteredMessagesTo),
		AutoDeleteOnIdle:              isoduration.Format(p.AutoDeleteOnIdle),
		EntityAvailabilityStatus:      "Available",
	}
}
