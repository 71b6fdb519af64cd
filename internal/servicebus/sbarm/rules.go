package sbarm

import (
	"context"
	"strings"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/namespaces"
)

func ruleJSON(id, typ, name string, rights []string) map[string]any {
	return map[string]any{"id": id, "name": name, "type": typ, "properties": map[string]any{"rights": rights}}
}

func (p *Provider) keysJSON(ns, entity string, r namespaces.AuthRule) map[string]any {
	return map[string]any{
		"keyName": r.Name, "primaryKey": r.PrimaryKey, "secondaryKey": r.SecondaryKey,
		"primaryConnectionString":   p.ns.ConnectionString(ns, entity, r.Name, r.PrimaryKey),
		"secondaryConnectionString": p.ns.ConnectionString(ns, entity, r.Name, r.SecondaryKey),
	}
}

type rightsBody struct {
	Properties struct {
		Rights []string `json:"rights"`
	} `json:"properties"`
}

type regenBody struct {
	KeyType string `json:"keyType"`
	Key     string `json:"key"`
}

func (p *Provider) nsAuthRules(ctx context.Context, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	ns := t.Names[0]
	typ := "Microsoft.ServiceBus/Namespaces/AuthorizationRules"
	rules, err := p.ns.AuthRules(ns)
	if err != nil {
		return nil, err
	}
	if t.IsCollection() {
		var items []any
		for _, r := range rules {
			items = append(items, ruleJSON(t.ResourceID()+"/"+r.Name, typ, r.Name, r.Rights))
		}
		return arm.List(items), nil
	}
	name := t.Name()
	find := func() (namespaces.AuthRule, bool) {
		for _, r := range rules {
			if strings.EqualFold(r.Name, name) {
				return r, true
			}
		}
		return namespaces.AuthRule{}, false
	}
	switch {
	case req.Method == "POST" && strings.EqualFold(t.Action, "listKeys"):
		r, ok := find()
		if !ok {
			return nil, arm.Errorf(404, "AuthorizationRuleNotFound", "The authorization rule '%s' was not found in namespace '%s'.", name, ns)
		}
		return arm.OK(p.keysJSON(ns, "", r)), nil
	case req.Method == "POST" && strings.EqualFold(t.Action, "regenerateKeys"):
		var b regenBody
		if err := req.Decode(&b); err != nil {
			return nil, err
		}
		r, err := p.ns.RegenerateKey(ctx, ns, name, b.KeyType, b.Key)
		if err != nil {
			return nil, err
		}
		return arm.OK(p.keysJSON(ns, "", r)), nil
	case req.Method == "GET":
		r, ok := find()
		if !ok {
			return nil, arm.Errorf(404, "AuthorizationRuleNotFound", "The authorization rule '%s' was not found in namespace '%s'.", name, ns)
		}
		return arm.OK(ruleJSON(t.ResourceID(), typ, r.Name, r.Rights)), nil
	case req.Method == "PUT":
		var b rightsBody
		if err := req.Decode(&b); err != nil {
			return nil, err
		}
		r, _, err := p.ns.SetAuthRule(ctx, ns, name, b.Properties.Rights)
		if err != nil {
			return nil, err
		}
		return arm.OK(ruleJSON(t.ResourceID(), typ, r.Name, r.Rights)), nil
	case req.Method == "DELETE":
		if err := p.ns.DeleteAuthRule(ctx, ns, name); err != nil {
			return nil, err
		}
		return arm.OK(nil), nil
	}
	return nil, arm.Errorf(405, "MethodNotAllowed", "The method is not allowed on an authorization rule.")
}

// entityAuthRules serves queues/{q}/authorizationRules and topics/{t}/authorizationRules.
func (p *Provider) entityAuthRules(ctx context.Context, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	nsb, err := p.broker.Namespace(t.Names[0])
	if err != nil {
		return nil, brokerErr(err)
	}
	entity := t.Names[1]
	isQueue := strings.EqualFold(t.Types[1], "queues")
	typ := "Microsoft.ServiceBus/Namespaces/Queues/AuthorizationRules"
	if !isQueue {
		typ = "Microsoft.ServiceBus/Namespaces/Topics/AuthorizationRules"
	}
	var rules []servicebus.AuthorizationRule
	var q servicebus.QueueInfo
	var tp servicebus.TopicInfo
	if isQueue {
		if q, err = nsb.GetQueue(ctx, entity); err != nil {
			return nil, brokerErr(err)
		}
		rules = q.Properties.AuthorizationRules
	} else {
		if tp, err = nsb.GetTopic(ctx, entity); err != nil {
			return nil, brokerErr(err)
		}
		rules = tp.Properties.AuthorizationRules
	}
	save := func(rs []servicebus.AuthorizationRule) error {
		if isQueue {
			q.Properties.AuthorizationRules = rs
			_, err := nsb.UpdateQueue(ctx, entity, q.Properties)
			return brokerErr(err)
		}
		tp.Properties.AuthorizationRules = rs
		_, err := nsb.UpdateTopic(ctx, entity, tp.Properties)
		return brokerErr(err)
	}
	toDomain := func(r servicebus.AuthorizationRule) namespaces.AuthRule {
		return namespaces.AuthRule{Name: r.KeyName, Rights: r.Rights, PrimaryKey: r.PrimaryKey, SecondaryKey: r.SecondaryKey}
	}
	if t.IsCollection() {
		var items []any
		for _, r := range rules {
			items = append(items, ruleJSON(t.ResourceID()+"/"+r.KeyName, typ, r.KeyName, r.Rights))
		}
		return arm.List(items), nil
	}
	name := t.Name()
	idx := -1
	for i, r := range rules {
		if strings.EqualFold(r.KeyName, name) {
			idx = i
		}
	}
	notFound := arm.Errorf(404, "AuthorizationRuleNotFound", "The authorization rule '%s' was not found on '%s'.", name, entity)
	switch {
	case req.Method == "POST" && strings.EqualFold(t.Action, "listKeys"):
		if idx < 0 {
			return nil, notFound
		}
		return arm.OK(p.keysJSON(t.Names[0], entity, toDomain(rules[idx]))), nil
	case req.Method == "POST" && strings.EqualFold(t.Action, "regenerateKeys"):
		if idx < 0 {
			return nil, notFound
		}
		var b regenBody
		if err := req.Decode(&b); err != nil {
			return nil, err
		}
		fresh, err := namespaces.NewAuthRule(name, nil, rules[idx].ModifiedAt)
		if err != nil {
			return nil, err
		}
		key := b.Key
		if key == "" {
			key = fresh.PrimaryKey
		}
		switch strings.ToLower(b.KeyType) {
		case "primarykey":
			rules[idx].PrimaryKey = key
		case "secondarykey":
			rules[idx].SecondaryKey = key
		default:
			return nil, arm.BadRequest("InvalidKeyType", "keyType must be PrimaryKey or SecondaryKey.")
		}
		if err := save(rules); err != nil {
			return nil, err
		}
		return arm.OK(p.keysJSON(t.Names[0], entity, toDomain(rules[idx]))), nil
	case req.Method == "GET":
		if idx < 0 {
			return nil, notFound
		}
		return arm.OK(ruleJSON(t.ResourceID(), typ, rules[idx].KeyName, rules[idx].Rights)), nil
	case req.Method == "PUT":
		var b rightsBody
		if err := req.Decode(&b); err != nil {
			return nil, err
		}
		rights, err := namespaces.ValidRights(b.Properties.Rights)
		if err != nil {
			return nil, err
		}
		if idx >= 0 {
			rules[idx].Rights = rights
		} else {
			r, err := namespaces.NewAuthRule(name, rights, p.now().UTC())
			if err != nil {
				return nil, err
			}
			rules = append(rules, servicebus.AuthorizationRule{KeyName: r.Name, Rights: r.Rights, PrimaryKey: r.PrimaryKey, SecondaryKey: r.SecondaryKey, CreatedAt: r.CreatedAt, ModifiedAt: r.ModifiedAt})
		}
		if err := save(rules); err != nil {
			return nil, err
		}
		return arm.OK(ruleJSON(t.ResourceID(), typ, name, rights)), nil
	case req.Method == "DELETE":
		if idx >= 0 {
			rules = append(rules[:idx], rules[idx+1:]...)
			if err := save(rules); err != nil {
				return nil, err
			}
		}
		return arm.OK(nil), nil
	}
	return nil, arm.Errorf(405, "MethodNotAllowed", "The method is not allowed on an authorization rule.")
}

func (p *Provider) dr(ctx context.Context, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	n, _ := p.ns.Get(t.Names[0])
	typ := "Microsoft.ServiceBus/Namespaces/disasterrecoveryconfigs"
	drJSON := func(n namespaces.Namespace) map[string]any {
		return map[string]any{
			"id": n.ID + "/disasterRecoveryConfigs/" + n.DR.Alias, "name": n.DR.Alias, "type": typ,
			"properties": map[string]any{"provisioningState": "Succeeded", "pendingReplicationOperationsCount": 0,
				"partnerNamespace": n.DR.Partner, "alternateName": n.DR.AlternateName, "role": n.DR.Role},
		}
	}
	if t.IsCollection() {
		if req.Method == "POST" {
			// …/disasterRecoveryConfigs/CheckNameAvailability arrives as a collection POST.
			var b struct {
				Name string `json:"name"`
			}
			if err := req.Decode(&b); err != nil {
				return nil, err
			}
			_, taken := p.ns.Get(b.Name)
			return arm.OK(map[string]any{"nameAvailable": !taken && namespaces.ValidName(b.Name), "reason": "None"}), nil
		}
		var items []any
		if n.DR != nil {
			items = append(items, drJSON(n))
		}
		return arm.List(items), nil
	}
	alias := t.Name()
	if strings.EqualFold(alias, "CheckNameAvailability") && req.Method == "POST" {
		var b struct {
			Name string `json:"name"`
		}
		if err := req.Decode(&b); err != nil {
			return nil, err
		}
		_, taken := p.ns.Get(b.Name)
		return arm.OK(map[string]any{"nameAvailable": !taken && namespaces.ValidName(b.Name), "reason": "None"}), nil
	}
	switch {
	case req.Method == "POST" && strings.EqualFold(t.Action, "breakPairing"):
		if err := p.ns.BreakPairing(ctx, n.Name, alias); err != nil {
			return nil, err
		}
		return arm.OK(nil), nil
	case req.Method == "POST" && strings.EqualFold(t.Action, "failover"):
		if err := p.ns.Failover(ctx, n.Name, alias); err != nil {
			return nil, err
		}
		return arm.OK(nil), nil
	case req.Method == "GET":
		if n.DR == nil || !strings.EqualFold(n.DR.Alias, alias) {
			return nil, arm.Errorf(404, "ResourceNotFound", "The disaster recovery configuration '%s' was not found.", alias)
		}
		return arm.OK(drJSON(n)), nil
	case req.Method == "PUT":
		var b struct {
			Properties struct {
				PartnerNamespace string `json:"partnerNamespace"`
				AlternateName    string `json:"alternateName"`
			} `json:"properties"`
		}
		if err := req.Decode(&b); err != nil {
			return nil, err
		}
		pn, err := p.ns.Pair(ctx, n.Name, alias, b.Properties.PartnerNamespace, b.Properties.AlternateName)
		if err != nil {
			return nil, err
		}
		return arm.OK(drJSON(pn)), nil
	case req.Method == "DELETE":
		if n.DR == nil {
			return arm.NoContent(), nil
		}
		if n.DR.Role == "Primary" || n.DR.Role == "Secondary" {
			return nil, arm.BadRequest("PairingActive", "Break the pairing (POST …/breakPairing) before deleting the alias '%s'.", alias)
		}
		return arm.OK(nil), nil
	}
	return nil, arm.Errorf(405, "MethodNotAllowed", "The method is not allowed on a disaster recovery configuration.")
}
