package sbarm

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/isoduration"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/sqlfilter"
)

// dur is an ISO 8601 duration in JSON.
type dur struct {
	d   time.Duration
	set bool
}

func (d *dur) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return arm.BadRequest("InvalidDuration", "A duration must be an ISO 8601 string such as PT1M, not %s.", string(b))
	}
	v, err := isoduration.Parse(s)
	if err != nil {
		return arm.BadRequest("InvalidDuration", "'%s' is not an ISO 8601 duration (for example PT1M or P14D).", s)
	}
	d.d, d.set = v, true
	return nil
}

func fmtDur(d time.Duration) string { return isoduration.Format(d) }

type entityProps struct {
	LockDuration                              *dur    `json:"lockDuration"`
	MaxSizeInMegabytes                        *int64  `json:"maxSizeInMegabytes"`
	RequiresDuplicateDetection                *bool   `json:"requiresDuplicateDetection"`
	RequiresSession                           *bool   `json:"requiresSession"`
	DefaultMessageTimeToLive                  *dur    `json:"defaultMessageTimeToLive"`
	DeadLetteringOnMessageExpiration          *bool   `json:"deadLetteringOnMessageExpiration"`
	DeadLetteringOnFilterEvaluationExceptions *bool   `json:"deadLetteringOnFilterEvaluationExceptions"`
	DuplicateDetectionHistoryTimeWindow       *dur    `json:"duplicateDetectionHistoryTimeWindow"`
	MaxDeliveryCount                          *int32  `json:"maxDeliveryCount"`
	Status                                    *string `json:"status"`
	EnableBatchedOperations                   *bool   `json:"enableBatchedOperations"`
	AutoDeleteOnIdle                          *dur    `json:"autoDeleteOnIdle"`
	EnablePartitioning                        *bool   `json:"enablePartitioning"`
	SupportOrdering                           *bool   `json:"supportOrdering"`
	ForwardTo                                 *string `json:"forwardTo"`
	ForwardDeadLetteredMessagesTo             *string `json:"forwardDeadLetteredMessagesTo"`
	MaxMessageSizeInKilobytes                 *int64  `json:"maxMessageSizeInKilobytes"`
	UserMetadata                              *string `json:"userMetadata"`
}

func setDur(dst *time.Duration, v *dur) {
	if v != nil && v.set {
		*dst = v.d
	}
}

func (e entityProps) queue(q servicebus.QueueProperties) servicebus.QueueProperties {
	setDur(&q.LockDuration, e.LockDuration)
	setDur(&q.DefaultMessageTimeToLive, e.DefaultMessageTimeToLive)
	setDur(&q.DuplicateDetectionHistoryTimeWindow, e.DuplicateDetectionHistoryTimeWindow)
	setDur(&q.AutoDeleteOnIdle, e.AutoDeleteOnIdle)
	if e.MaxSizeInMegabytes != nil {
		q.MaxSizeInMegabytes = *e.MaxSizeInMegabytes
	}
	if e.RequiresDuplicateDetection != nil {
		q.RequiresDuplicateDetection = *e.RequiresDuplicateDetection
	}
	if e.RequiresSession != nil {
		q.RequiresSession = *e.RequiresSession
	}
	if e.DeadLetteringOnMessageExpiration != nil {
		q.DeadLetteringOnMessageExpiration = *e.DeadLetteringOnMessageExpiration
	}
	if e.MaxDeliveryCount != nil {
		q.MaxDeliveryCount = *e.MaxDeliveryCount
	}
	if e.Status != nil {
		q.Status = servicebus.EntityStatus(*e.Status)
	}
	if e.EnableBatchedOperations != nil {
		q.EnableBatchedOperations = *e.EnableBatchedOperations
	}
	if e.EnablePartitioning != nil {
		q.EnablePartitioning = *e.EnablePartitioning
	}
	if e.ForwardTo != nil {
		q.ForwardTo = *e.ForwardTo
	}
	if e.ForwardDeadLetteredMessagesTo != nil {
		q.ForwardDeadLetteredMessagesTo = *e.ForwardDeadLetteredMessagesTo
	}
	if e.MaxMessageSizeInKilobytes != nil {
		q.MaxMessageSizeInKilobytes = *e.MaxMessageSizeInKilobytes
	}
	if e.UserMetadata != nil {
		q.UserMetadata = *e.UserMetadata
	}
	return q
}

func (e entityProps) topic(t servicebus.TopicProperties) servicebus.TopicProperties {
	setDur(&t.DefaultMessageTimeToLive, e.DefaultMessageTimeToLive)
	setDur(&t.DuplicateDetectionHistoryTimeWindow, e.DuplicateDetectionHistoryTimeWindow)
	setDur(&t.AutoDeleteOnIdle, e.AutoDeleteOnIdle)
	if e.MaxSizeInMegabytes != nil {
		t.MaxSizeInMegabytes = *e.MaxSizeInMegabytes
	}
	if e.RequiresDuplicateDetection != nil {
		t.RequiresDuplicateDetection = *e.RequiresDuplicateDetection
	}
	if e.Status != nil {
		t.Status = servicebus.EntityStatus(*e.Status)
	}
	if e.EnableBatchedOperations != nil {
		t.EnableBatchedOperations = *e.EnableBatchedOperations
	}
	if e.EnablePartitioning != nil {
		t.EnablePartitioning = *e.EnablePartitioning
	}
	if e.SupportOrdering != nil {
		t.SupportOrdering = *e.SupportOrdering
	}
	if e.MaxMessageSizeInKilobytes != nil {
		t.MaxMessageSizeInKilobytes = *e.MaxMessageSizeInKilobytes
	}
	if e.UserMetadata != nil {
		t.UserMetadata = *e.UserMetadata
	}
	return t
}

func (e entityProps) subscription(s servicebus.SubscriptionProperties) servicebus.SubscriptionProperties {
	setDur(&s.LockDuration, e.LockDuration)
	setDur(&s.DefaultMessageTimeToLive, e.DefaultMessageTimeToLive)
	setDur(&s.AutoDeleteOnIdle, e.AutoDeleteOnIdle)
	if e.RequiresSession != nil {
		s.RequiresSession = *e.RequiresSession
	}
	if e.DeadLetteringOnMessageExpiration != nil {
		s.DeadLetteringOnMessageExpiration = *e.DeadLetteringOnMessageExpiration
	}
	if e.DeadLetteringOnFilterEvaluationExceptions != nil {
		s.DeadLetteringOnFilterEvaluationExceptions = *e.DeadLetteringOnFilterEvaluationExceptions
	}
	if e.MaxDeliveryCount != nil {
		s.MaxDeliveryCount = *e.MaxDeliveryCount
	}
	if e.Status != nil {
		s.Status = servicebus.EntityStatus(*e.Status)
	}
	if e.EnableBatchedOperations != nil {
		s.EnableBatchedOperations = *e.EnableBatchedOperations
	}
	if e.ForwardTo != nil {
		s.ForwardTo = *e.ForwardTo
	}
	if e.ForwardDeadLetteredMessagesTo != nil {
		s.ForwardDeadLetteredMessagesTo = *e.ForwardDeadLetteredMessagesTo
	}
	if e.UserMetadata != nil {
		s.UserMetadata = *e.UserMetadata
	}
	return s
}

func runtimeJSON(props map[string]any, r servicebus.RuntimeProperties) {
	props["createdAt"] = arm.FormatTime(r.CreatedAt)
	props["updatedAt"] = arm.FormatTime(r.UpdatedAt)
	props["accessedAt"] = arm.FormatTime(r.AccessedAt)
	props["sizeInBytes"] = r.SizeInBytes
	props["messageCount"] = r.TotalMessageCount
	props["countDetails"] = map[string]any{
		"activeMessageCount": r.ActiveMessageCount, "deadLetterMessageCount": r.DeadLetterMessageCount,
		"scheduledMessageCount": r.ScheduledMessageCount, "transferMessageCount": r.TransferMessageCount,
		"transferDeadLetterMessageCount": r.TransferDeadLetterMessageCount,
	}
}

func queueJSON(id string, q servicebus.QueueInfo) map[string]any {
	p := q.Properties
	props := map[string]any{
		"lockDuration": fmtDur(p.LockDuration), "maxSizeInMegabytes": p.MaxSizeInMegabytes,
		"requiresDuplicateDetection": p.RequiresDuplicateDetection, "requiresSession": p.RequiresSession,
		"defaultMessageTimeToLive": fmtDur(p.DefaultMessageTimeToLive), "deadLetteringOnMessageExpiration": p.DeadLetteringOnMessageExpiration,
		"duplicateDetectionHistoryTimeWindow": fmtDur(p.DuplicateDetectionHistoryTimeWindow), "maxDeliveryCount": p.MaxDeliveryCount,
		"status": string(p.Status), "enableBatchedOperations": p.EnableBatchedOperations, "autoDeleteOnIdle": fmtDur(p.AutoDeleteOnIdle),
		"enablePartitioning": p.EnablePartitioning, "enableExpress": false, "forwardTo": p.ForwardTo,
		"forwardDeadLetteredMessagesTo": p.ForwardDeadLetteredMessagesTo, "maxMessageSizeInKilobytes": p.MaxMessageSizeInKilobytes,
	}
	runtimeJSON(props, q.Runtime)
	return map[string]any{"id": id, "name": q.Name, "type": "Microsoft.ServiceBus/Namespaces/Queues", "properties": props}
}

func topicJSON(id string, t servicebus.TopicInfo) map[string]any {
	p := t.Properties
	props := map[string]any{
		"maxSizeInMegabytes": p.MaxSizeInMegabytes, "requiresDuplicateDetection": p.RequiresDuplicateDetection,
		"defaultMessageTimeToLive": fmtDur(p.DefaultMessageTimeToLive), "duplicateDetectionHistoryTimeWindow": fmtDur(p.DuplicateDetectionHistoryTimeWindow),
		"status": string(p.Status), "enableBatchedOperations": p.EnableBatchedOperations, "autoDeleteOnIdle": fmtDur(p.AutoDeleteOnIdle),
		"enablePartitioning": p.EnablePartitioning, "supportOrdering": p.SupportOrdering, "enableExpress": false,
		"maxMessageSizeInKilobytes": p.MaxMessageSizeInKilobytes, "subscriptionCount": t.Runtime.SubscriptionCount,
	}
	runtimeJSON(props, t.Runtime)
	return map[string]any{"id": id, "name": t.Name, "type": "Microsoft.ServiceBus/Namespaces/Topics", "properties": props}
}

func subscriptionJSON(id string, s servicebus.SubscriptionInfo) map[string]any {
	p := s.Properties
	props := map[string]any{
		"lockDuration": fmtDur(p.LockDuration), "requiresSession": p.RequiresSession,
		"defaultMessageTimeToLive": fmtDur(p.DefaultMessageTimeToLive), "deadLetteringOnMessageExpiration": p.DeadLetteringOnMessageExpiration,
		"deadLetteringOnFilterEvaluationExceptions": p.DeadLetteringOnFilterEvaluationExceptions, "maxDeliveryCount": p.MaxDeliveryCount,
		"status": string(p.Status), "enableBatchedOperations": p.EnableBatchedOperations, "autoDeleteOnIdle": fmtDur(p.AutoDeleteOnIdle),
		"forwardTo": p.ForwardTo, "forwardDeadLetteredMessagesTo": p.ForwardDeadLetteredMessagesTo, "isClientAffine": false,
	}
	runtimeJSON(props, s.Runtime)
	return map[string]any{"id": id, "name": s.Name, "type": "Microsoft.ServiceBus/Namespaces/Topics/Subscriptions", "properties": props}
}

type ruleBody struct {
	Properties struct {
		FilterType string `json:"filterType"`
		SQLFilter  *struct {
			SQLExpression string `json:"sqlExpression"`
		} `json:"sqlFilter"`
		CorrelationFilter *struct {
			CorrelationID    string         `json:"correlationId"`
			MessageID        string         `json:"messageId"`
			To               string         `json:"to"`
			ReplyTo          string         `json:"replyTo"`
			Label            string         `json:"label"`
			SessionID        string         `json:"sessionId"`
			ReplyToSessionID string         `json:"replyToSessionId"`
			ContentType      string         `json:"contentType"`
			Properties       map[string]any `json:"properties"`
		} `json:"correlationFilter"`
		Action *struct {
			SQLExpression string `json:"sqlExpression"`
		} `json:"action"`
	} `json:"properties"`
}

func (b ruleBody) toDomain() (servicebus.RuleProperties, error) {
	var rp servicebus.RuleProperties
	pr := b.Properties
	switch strings.ToLower(pr.FilterType) {
	case "", "sqlfilter":
		expr := "1=1"
		if pr.SQLFilter != nil && pr.SQLFilter.SQLExpression != "" {
			expr = pr.SQLFilter.SQLExpression
		}
		rp.Filter = servicebus.RuleFilter{Type: servicebus.FilterSQL, SQLExpression: expr}
	case "correlationfilter":
		cf := pr.CorrelationFilter
		if cf == nil {
			return rp, arm.BadRequest("BadRequest", "filterType CorrelationFilter needs a correlationFilter.")
		}
		rp.Filter = servicebus.RuleFilter{Type: servicebus.FilterCorrelation, Correlation: &sqlfilter.CorrelationFilter{
			CorrelationID: cf.CorrelationID, MessageID: cf.MessageID, To: cf.To, ReplyTo: cf.ReplyTo, Subject: cf.Label,
			SessionID: cf.SessionID, ReplyToSessionID: cf.ReplyToSessionID, ContentType: cf.ContentType, Properties: cf.Properties,
		}}
	default:
		return rp, arm.BadRequest("BadRequest", "filterType must be SqlFilter or CorrelationFilter, not '%s'.", pr.FilterType)
	}
	if pr.Action != nil && pr.Action.SQLExpression != "" {
		rp.Action = &servicebus.RuleAction{SQLExpression: pr.Action.SQLExpression}
	}
	return rp, nil
}

func ruleEntityJSON(id string, r servicebus.RuleInfo) map[string]any {
	props := map[string]any{}
	f := r.Properties.Filter
	switch f.Type {
	case servicebus.FilterCorrelation:
		cf := f.Correlation
		props["filterType"] = "CorrelationFilter"
		props["correlationFilter"] = map[string]any{"correlationId": cf.CorrelationID, "messageId": cf.MessageID, "to": cf.To, "replyTo": cf.ReplyTo,
			"label": cf.Subject, "sessionId": cf.SessionID, "replyToSessionId": cf.ReplyToSessionID, "contentType": cf.ContentType, "properties": cf.Properties}
	case servicebus.FilterTrue:
		props["filterType"] = "SqlFilter"
		props["sqlFilter"] = map[string]any{"sqlExpression": "1=1", "compatibilityLevel": 20}
	case servicebus.FilterFalse:
		props["filterType"] = "SqlFilter"
		props["sqlFilter"] = map[string]any{"sqlExpression": "1=0", "compatibilityLevel": 20}
	default:
		props["filterType"] = "SqlFilter"
		props["sqlFilter"] = map[string]any{"sqlExpression": f.SQLExpression, "compatibilityLevel": 20}
	}
	if a := r.Properties.Action; a != nil {
		props["action"] = map[string]any{"sqlExpression": a.SQLExpression, "compatibilityLevel": 20}
	}
	return map[string]any{"id": id, "name": r.Name, "type": "Microsoft.ServiceBus/Namespaces/Topics/Subscriptions/Rules", "properties": props}
}

// entity serves queues, topics, subscriptions and rules.
func (p *Provider) entity(ctx context.Context, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	nsName := t.Names[0]
	nsb, err := p.broker.Namespace(nsName)
	if err != nil {
		return nil, brokerErr(err)
	}
	n, _ := p.ns.Get(nsName)
	tier := servicebus.Tier(n.SKU.Tier)
	kind := strings.ToLower(t.TypePath())
	var body struct {
		Properties entityProps `json:"properties"`
	}
	if req.Method == "PUT" || req.Method == "PATCH" {
		if kind != "namespaces/topics/subscriptions/rules" {
			if len(req.Body) > 0 {
				if err := json.Unmarshal(req.Body, &body); err != nil {
					var ae *arm.Error
					if errors.As(err, &ae) {
						return nil, ae
					}
					return nil, arm.BadRequest("InvalidRequestContent", "The request content was invalid: %v", err)
				}
			}
		}
	}
	switch kind {
	case "namespaces/queues":
		if t.IsCollection() {
			qs, err := nsb.ListQueues(ctx)
			if err != nil {
				return nil, brokerErr(err)
			}
			var items []any
			for _, q := range qs {
				items = append(items, queueJSON(t.ResourceID()+"/"+q.Name, q))
			}
			return arm.List(items), nil
		}
		name := t.Name()
		switch req.Method {
		case "GET":
			q, err := nsb.GetQueue(ctx, name)
			if err != nil {
				return nil, brokerErr(err)
			}
			return arm.OK(queueJSON(t.ResourceID(), q)), nil
		case "PUT":
			cur, err := nsb.GetQueue(ctx, name)
			if err != nil {
				q, err := nsb.CreateQueue(ctx, name, body.Properties.queue(servicebus.DefaultQueueProperties(tier)))
				if err != nil {
					return nil, brokerErr(err)
				}
				return arm.OK(queueJSON(t.ResourceID(), q)), nil
			}
			q, err := nsb.UpdateQueue(ctx, name, body.Properties.queue(cur.Properties))
			if err != nil {
				return nil, brokerErr(err)
			}
			return arm.OK(queueJSON(t.ResourceID(), q)), nil
		case "DELETE":
			if err := nsb.DeleteQueue(ctx, name); err != nil && servicebus.CodeOf(err) != servicebus.CodeEntityNotFound {
				return nil, brokerErr(err)
			}
			return arm.OK(nil), nil
		}
	case "namespaces/topics":
		if t.IsCollection() {
			ts, err := nsb.ListTopics(ctx)
			if err != nil {
				return nil, brokerErr(err)
			}
			var items []any
			for _, tp := range ts {
				items = append(items, topicJSON(t.ResourceID()+"/"+tp.Name, tp))
			}
			return arm.List(items), nil
		}
		name := t.Name()
		switch req.Method {
		case "GET":
			tp, err := nsb.GetTopic(ctx, name)
			if err != nil {
				return nil, brokerErr(err)
			}
			return arm.OK(topicJSON(t.ResourceID(), tp)), nil
		case "PUT":
			cur, err := nsb.GetTopic(ctx, name)
			if err != nil {
				tp, err := nsb.CreateTopic(ctx, name, body.Properties.topic(servicebus.DefaultTopicProperties(tier)))
				if err != nil {
					return nil, brokerErr(err)
				}
				return arm.OK(topicJSON(t.ResourceID(), tp)), nil
			}
			tp, err := nsb.UpdateTopic(ctx, name, body.Properties.topic(cur.Properties))
			if err != nil {
				return nil, brokerErr(err)
			}
			return arm.OK(topicJSON(t.ResourceID(), tp)), nil
		case "DELETE":
			if err := nsb.DeleteTopic(ctx, name); err != nil && servicebus.CodeOf(err) != servicebus.CodeEntityNotFound {
				return nil, brokerErr(err)
			}
			return arm.OK(nil), nil
		}
	case "namespaces/topics/subscriptions":
		topic := t.Names[1]
		if t.IsCollection() {
			ss, err := nsb.ListSubscriptions(ctx, topic)
			if err != nil {
				return nil, brokerErr(err)
			}
			var items []any
			for _, s := range ss {
				items = append(items, subscriptionJSON(t.ResourceID()+"/"+s.Name, s))
			}
			return arm.List(items), nil
		}
		name := t.Name()
		switch req.Method {
		case "GET":
			s, err := nsb.GetSubscription(ctx, topic, name)
			if err != nil {
				return nil, brokerErr(err)
			}
			return arm.OK(subscriptionJSON(t.ResourceID(), s)), nil
		case "PUT":
			cur, err := nsb.GetSubscription(ctx, topic, name)
			if err != nil {
				s, err := nsb.CreateSubscription(ctx, topic, name, body.Properties.subscription(servicebus.DefaultSubscriptionProperties(tier)), nil)
				if err != nil {
					return nil, brokerErr(err)
				}
				return arm.OK(subscriptionJSON(t.ResourceID(), s)), nil
			}
			s, err := nsb.UpdateSubscription(ctx, topic, name, body.Properties.subscription(cur.Properties))
			if err != nil {
				return nil, brokerErr(err)
			}
			return arm.OK(subscriptionJSON(t.ResourceID(), s)), nil
		case "DELETE":
			if err := nsb.DeleteSubscription(ctx, topic, name); err != nil && servicebus.CodeOf(err) != servicebus.CodeEntityNotFound {
				return nil, brokerErr(err)
			}
			return arm.OK(nil), nil
		}
	case "namespaces/topics/subscriptions/rules":
		topic, sub := t.Names[1], t.Names[2]
		if t.IsCollection() {
			rs, err := nsb.ListRules(ctx, topic, sub)
			if err != nil {
				return nil, brokerErr(err)
			}
			var items []any
			for _, r := range rs {
				items = append(items, ruleEntityJSON(t.ResourceID()+"/"+r.Name, r))
			}
			return arm.List(items), nil
		}
		name := t.Name()
		switch req.Method {
		case "GET":
			r, err := nsb.GetRule(ctx, topic, sub, name)
			if err != nil {
				return nil, brokerErr(err)
			}
			return arm.OK(ruleEntityJSON(t.ResourceID(), r)), nil
		case "PUT":
			var rb ruleBody
			if len(req.Body) > 0 {
				if err := json.Unmarshal(req.Body, &rb); err != nil {
					return nil, arm.BadRequest("InvalidRequestContent", "The request content was invalid: %v", err)
				}
			}
			rp, err := rb.toDomain()
			if err != nil {
				return nil, err
			}
			var r servicebus.RuleInfo
			if _, gerr := nsb.GetRule(ctx, topic, sub, name); gerr == nil {
				r, err = nsb.UpdateRule(ctx, topic, sub, name, rp)
			} else {
				r, err = nsb.CreateRule(ctx, topic, sub, name, rp)
			}
			if err != nil {
				return nil, brokerErr(err)
			}
			return arm.OK(ruleEntityJSON(t.ResourceID(), r)), nil
		case "DELETE":
			if err := nsb.DeleteRule(ctx, topic, sub, name); err != nil && servicebus.CodeOf(err) != servicebus.CodeEntityNotFound {
				return nil, brokerErr(err)
			}
			return arm.OK(nil), nil
		}
	}
	return nil, arm.Errorf(405, "MethodNotAllowed", "The method '%s' is not allowed here.", req.Method)
}
