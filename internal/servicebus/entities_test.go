package servicebus

import (
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/servicebus/sqlfilter"
)

func TestQueueDefaultsAndCRUD(t *testing.T) {
	e := newEnv(t)
	qi, err := e.ns.CreateQueue(e.ctx, "orders", QueueProperties{})
	e.must(err)
	p := qi.Properties
	if p.LockDuration != time.Minute || p.MaxDeliveryCount != 10 || p.MaxSizeInMegabytes != 1024 ||
		p.DefaultMessageTimeToLive != Infinite || p.DuplicateDetectionHistoryTimeWindow != 10*time.Minute ||
		p.AutoDeleteOnIdle != Infinite || p.Status != StatusActive || p.MaxMessageSizeInKilobytes != 256 {
		t.Fatalf("defaults: %+v", p)
	}
	if !qi.Runtime.CreatedAt.Equal(t0) {
		t.Fatalf("createdAt = %v", qi.Runtime.CreatedAt)
	}
	_, err = e.ns.CreateQueue(e.ctx, "ORDERS", QueueProperties{})
	wantCode(t, err, CodeEntityAlreadyExists)
	_, err = e.ns.CreateTopic(e.ctx, "Orders", TopicProperties{})
	wantCode(t, err, CodeEntityAlreadyExists)

	p.LockDuration = 30 * time.Second
	p.UserMetadata = "meta"
	p.Status = StatusSendDisabled
	qi, err = e.ns.UpdateQueue(e.ctx, "orders", p)
	e.must(err)
	if qi.Properties.LockDuration != 30*time.Second || qi.Properties.UserMetadata != "meta" {
		t.Fatalf("update: %+v", qi.Properties)
	}
	wantCode(t, e.ns.Send(e.ctx, "orders", []Message{msg("x")}), CodeEntityDisabled)
	p.RequiresSession = true
	_, err = e.ns.UpdateQueue(e.ctx, "orders", p)
	wantCode(t, err, CodeBadRequest)

	e.queue("alpha", nil)
	list, err := e.ns.ListQueues(e.ctx)
	e.must(err)
	if len(list) != 2 || list[0].Name != "alpha" || list[1].Name != "orders" {
		t.Fatalf("list: %+v", list)
	}
	e.must(e.ns.DeleteQueue(e.ctx, "orders"))
	_, err = e.ns.GetQueue(e.ctx, "orders")
	wantCode(t, err, CodeEntityNotFound)
	wantCode(t, e.ns.DeleteQueue(e.ctx, "orders"), CodeEntityNotFound)

	// Entities survive a restart with every property.
	e.reopen()
	qi, err = e.ns.GetQueue(e.ctx, "alpha")
	e.must(err)
	if qi.Properties.LockDuration != time.Minute {
		t.Fatalf("after reopen: %+v", qi.Properties)
	}
}

func TestQueueValidation(t *testing.T) {
	e := newEnv(t)
	e.queue("target", nil)
	cases := []struct {
		name string
		mod  func(*QueueProperties)
		code Code
	}{
		{"lock too short", func(p *QueueProperties) { p.LockDuration = time.Second }, CodeBadRequest},
		{"lock too long", func(p *QueueProperties) { p.LockDuration = 6 * time.Minute }, CodeBadRequest},
		{"lock max ok", func(p *QueueProperties) { p.LockDuration = 5 * time.Minute }, ""},
		{"ttl too short", func(p *QueueProperties) { p.DefaultMessageTimeToLive = time.Millisecond }, CodeBadRequest},
		{"dup window too short", func(p *QueueProperties) { p.DuplicateDetectionHistoryTimeWindow = 10 * time.Second }, CodeBadRequest},
		{"dup window too long", func(p *QueueProperties) { p.DuplicateDetectionHistoryTimeWindow = 8 * 24 * time.Hour }, CodeBadRequest},
		{"auto delete too short", func(p *QueueProperties) { p.AutoDeleteOnIdle = time.Minute }, CodeBadRequest},
		{"max delivery negative", func(p *QueueProperties) { p.MaxDeliveryCount = -1 }, CodeBadRequest},
		{"size too big", func(p *QueueProperties) { p.MaxSizeInMegabytes = 6000 }, CodeBadRequest},
		{"metadata too long", func(p *QueueProperties) { p.UserMetadata = strings.Repeat("m", 1025) }, CodeBadRequest},
		{"bad status", func(p *QueueProperties) { p.Status = "Sleeping" }, CodeBadRequest},
		{"forward to missing", func(p *QueueProperties) { p.ForwardTo = "nowhere" }, CodeEntityNotFound},
		{"forward to self", func(p *QueueProperties) { p.ForwardTo = "self" }, CodeBadRequest},
		{"forward ok", func(p *QueueProperties) { p.ForwardTo = "sb://x.servicebus.local/target" }, ""},
		{"dlq forward ok", func(p *QueueProperties) { p.ForwardDeadLetteredMessagesTo = "target" }, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := DefaultQueueProperties(Standard)
			c.mod(&p)
			name := "self"
			if c.code == "" {
				name = "ok" + string(rune('a'+i))
			}
			qi, err := e.ns.CreateQueue(e.ctx, name, p)
			if c.code == "" {
				e.must(err)
				if p.ForwardTo != "" && qi.Properties.ForwardTo != "target" {
					t.Fatalf("forwardTo = %q", qi.Properties.ForwardTo)
				}
				return
			}
			wantCode(t, err, c.code)
		})
	}
}

func TestTierRules(t *testing.T) {
	basic := newEnv(t, NamespaceOptions{Tier: Basic})
	_, err := basic.ns.CreateTopic(basic.ctx, "t1", TopicProperties{})
	wantCode(t, err, CodeBadRequest)
	p := DefaultQueueProperties(Basic)
	if p.DefaultMessageTimeToLive != 14*24*time.Hour {
		t.Fatalf("basic ttl default %v", p.DefaultMessageTimeToLive)
	}
	p.RequiresSession = true
	_, err = basic.ns.CreateQueue(basic.ctx, "q", p)
	wantCode(t, err, CodeBadRequest)

	prem := newEnv(t, NamespaceOptions{Tier: Premium})
	qi, err := prem.ns.CreateQueue(prem.ctx, "q", QueueProperties{})
	prem.must(err)
	if qi.Properties.MaxMessageSizeInKilobytes != 1024 {
		t.Fatalf("premium default message size %d", qi.Properties.MaxMessageSizeInKilobytes)
	}
	_, err = prem.ns.CreateQueue(prem.ctx, "big", QueueProperties{MaxMessageSizeInKilobytes: 200 * 1024})
	wantCode(t, err, CodeBadRequest)
	qi, err = prem.ns.CreateQueue(prem.ctx, "big", QueueProperties{MaxMessageSizeInKilobytes: 100 * 1024})
	prem.must(err)
	if qi.Properties.MaxMessageSizeInKilobytes != 102400 {
		t.Fatalf("premium size %d", qi.Properties.MaxMessageSizeInKilobytes)
	}
	std := newEnv(t)
	qi, err = std.ns.CreateQueue(std.ctx, "q", QueueProperties{MaxMessageSizeInKilobytes: 4096})
	std.must(err)
	if qi.Properties.MaxMessageSizeInKilobytes != 256 {
		t.Fatalf("standard message size %d", qi.Properties.MaxMessageSizeInKilobytes)
	}
}

func TestTopicSubscriptionRuleCRUD(t *testing.T) {
	e := newEnv(t)
	_, err := e.ns.CreateTopic(e.ctx, "events", DefaultTopicProperties(Standard))
	e.must(err)
	_, err = e.ns.CreateSubscription(e.ctx, "missing", "s1", SubscriptionProperties{}, nil)
	wantCode(t, err, CodeEntityNotFound)
	si, err := e.ns.CreateSubscription(e.ctx, "events", "s1", DefaultSubscriptionProperties(Standard), nil)
	e.must(err)
	if !si.Properties.DeadLetteringOnFilterEvaluationExceptions || si.Properties.MaxDeliveryCount != 10 {
		t.Fatalf("subscription defaults %+v", si.Properties)
	}
	rules, err := e.ns.ListRules(e.ctx, "events", "s1")
	e.must(err)
	if len(rules) != 1 || rules[0].Name != "$Default" || rules[0].Properties.Filter.Type != FilterTrue {
		t.Fatalf("default rule %+v", rules)
	}
	_, err = e.ns.CreateSubscription(e.ctx, "events", "S1", SubscriptionProperties{}, nil)
	wantCode(t, err, CodeEntityAlreadyExists)
	_, err = e.ns.CreateSubscription(e.ctx, "events", "custom", SubscriptionProperties{}, &Rule{Name: "onlyRed",
		Properties: RuleProperties{Filter: RuleFilter{Type: FilterSQL, SQLExpression: "color = @c", Parameters: map[string]any{"@c": "red"}},
			Action: &RuleAction{SQLExpression: "SET seen = true"}}})
	e.must(err)
	ri, err := e.ns.GetRule(e.ctx, "events", "custom", "onlyRed")
	e.must(err)
	if ri.Properties.Filter.SQLExpression != "color = @c" || ri.Properties.Filter.Parameters["@c"] != "red" || ri.Properties.Action.SQLExpression != "SET seen = true" {
		t.Fatalf("rule %+v", ri.Properties)
	}

	bad := []RuleProperties{
		{Filter: RuleFilter{Type: FilterSQL, SQLExpression: "color = "}},
		{Filter: RuleFilter{Type: FilterCorrelation, Correlation: &sqlfilter.CorrelationFilter{}}},
		{Filter: RuleFilter{Type: "Weird"}},
		{Filter: RuleFilter{Type: FilterTrue}, Action: &RuleAction{SQLExpression: "SET"}},
	}
	for i, p := range bad {
		_, err := e.ns.CreateRule(e.ctx, "events", "s1", "bad"+string(rune('a'+i)), p)
		wantCode(t, err, CodeBadRequest)
	}
	_, err = e.ns.CreateRule(e.ctx, "events", "s1", "corr", RuleProperties{Filter: RuleFilter{Type: FilterCorrelation,
		Correlation: &sqlfilter.CorrelationFilter{Subject: "s", Properties: map[string]any{"n": int32(5)}}}})
	e.must(err)
	_, err = e.ns.CreateRule(e.ctx, "events", "s1", "corr", RuleProperties{Filter: RuleFilter{Type: FilterFalse}})
	wantCode(t, err, CodeEntityAlreadyExists)
	_, err = e.ns.UpdateRule(e.ctx, "events", "s1", "corr", RuleProperties{Filter: RuleFilter{Type: FilterFalse}})
	e.must(err)

	e.reopen()
	rules, err = e.ns.ListRules(e.ctx, "events", "s1")
	e.must(err)
	if len(rules) != 2 || rules[1].Name != "corr" || rules[1].Properties.Filter.Type != FilterFalse {
		t.Fatalf("rules after reopen %+v", rules)
	}
	subs, err := e.ns.ListSubscriptions(e.ctx, "events")
	e.must(err)
	if len(subs) != 2 {
		t.Fatalf("subs %+v", subs)
	}
	ti, err := e.ns.GetTopic(e.ctx, "events")
	e.must(err)
	if ti.Runtime.SubscriptionCount != 2 {
		t.Fatalf("subscription count %d", ti.Runtime.SubscriptionCount)
	}
	e.must(e.ns.DeleteRule(e.ctx, "events", "s1", "corr"))
	e.must(e.ns.DeleteSubscription(e.ctx, "events", "custom"))
	e.must(e.ns.DeleteTopic(e.ctx, "events"))
	_, err = e.ns.GetSubscription(e.ctx, "events", "s1")
	wantCode(t, err, CodeEntityNotFound)
	e.reopen()
	topics, err := e.ns.ListTopics(e.ctx)
	e.must(err)
	if len(topics) != 0 {
		t.Fatalf("topics after delete %+v", topics)
	}
}

func TestNames(t *testing.T) {
	ok := []string{"q", "a.b-c_d", "a/b/c", strings.Repeat("a", 260), "Q1"}
	bad := []string{"", "-a", "a-", "a//b", "a b", "a$b", "a?b", "/a", strings.Repeat("a", 261), "é"}
	for _, n := range ok {
		if err := ValidateEntityName(n); err != nil {
			t.Errorf("ValidateEntityName(%q) = %v", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateEntityName(n); err == nil {
			t.Errorf("ValidateEntityName(%q) accepted", n)
		}
	}
	if err := ValidateSubscriptionName(strings.Repeat("s", 51)); err == nil {
		t.Error("51-character subscription accepted")
	}
	if err := ValidateSubscriptionName("a/b"); err == nil {
		t.Error("subscription with a slash accepted")
	}
	if err := ValidateRuleName("$Default"); err != nil {
		t.Error(err)
	}
	if err := ValidateRuleName("$Other"); err == nil {
		t.Error("$Other accepted")
	}
	paths := []struct {
		in   string
		want EntityPath
		err  bool
	}{
		{"q1", EntityPath{Entity: "q1"}, false},
		{"/q1", EntityPath{Entity: "q1"}, false},
		{"q1/$DeadLetterQueue", EntityPath{Entity: "q1", SubQueue: SubQueueDeadLetter}, false},
		{"q1/$deadletterqueue", EntityPath{Entity: "q1", SubQueue: SubQueueDeadLetter}, false},
		{"q1/$Transfer/$DeadLetterQueue", EntityPath{Entity: "q1", SubQueue: SubQueueTransferDeadLetter}, false},
		{"t1/Subscriptions/s1", EntityPath{Entity: "t1", Subscription: "s1"}, false},
		{"a/b/subscriptions/s1/$DeadLetterQueue", EntityPath{Entity: "a/b", Subscription: "s1", SubQueue: SubQueueDeadLetter}, false},
		{"t1/Subscriptions/", EntityPath{}, true},
		{"", EntityPath{}, true},
		// Not valid UTF-8, or letters whose lower case has another length:
		// refused, never a panic (strings.ToLower would shift the offsets).
		{"\xf0/SuBsCriptions/0", EntityPath{}, true},
		{"\xff\xfe/$DeadLetterQueue", EntityPath{}, true},
		{"İİİ/Subscriptions/s", EntityPath{}, true},
		{"t\u212a/Subscriptions/s", EntityPath{}, true},
	}
	for _, c := range paths {
		got, err := ParseEntityPath(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseEntityPath(%q) = %+v, %v", c.in, got, err)
		}
		if err == nil {
			if again, _ := ParseEntityPath(got.String()); again != got {
				t.Errorf("round trip of %q: %+v", c.in, again)
			}
		}
	}
}

func FuzzParseEntityPath(f *testing.F) {
	for _, s := range []string{"q", "t/Subscriptions/s/$DeadLetterQueue", "q/$Transfer/$DeadLetterQueue", "//", "a/subscriptions/", "\xf0/SuBsCriptions/0", "İ/Subscriptions/s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseEntityPath(s)
		if err != nil {
			return
		}
		again, err := ParseEntityPath(p.String())
		if err != nil || again != p {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, p, p.String(), again, err)
		}
	})
}

func TestDescribe(t *testing.T) {
	e := newEnv(t, NamespaceOptions{Tier: Premium})
	e.queue("Q1", func(p *QueueProperties) { p.RequiresSession = true; p.LockDuration = 10 * time.Second })
	_, err := e.ns.CreateTopic(e.ctx, "t1", TopicProperties{MaxMessageSizeInKilobytes: 2048})
	e.must(err)
	_, err = e.ns.CreateSubscription(e.ctx, "t1", "S1", SubscriptionProperties{}, nil)
	e.must(err)
	cases := []struct {
		path string
		want EntityDescription
		code Code
	}{
		{"q1", EntityDescription{Kind: KindQueue, Name: "Q1", RequiresSession: true, LockDuration: 10 * time.Second, MaxMessageSizeBytes: 1 << 20}, ""},
		{"q1/$deadletterqueue", EntityDescription{Kind: KindQueue, Name: "Q1/$DeadLetterQueue", LockDuration: 10 * time.Second, MaxMessageSizeBytes: 1 << 20}, ""},
		{"T1/subscriptions/s1", EntityDescription{Kind: KindSubscription, Name: "t1/Subscriptions/S1", LockDuration: time.Minute, MaxMessageSizeBytes: 2 << 20}, ""},
		{"t1", EntityDescription{Kind: KindTopic, Name: "t1", LockDuration: time.Minute, MaxMessageSizeBytes: 2 << 20}, ""},
		{"t1/$DeadLetterQueue", EntityDescription{}, CodeEntityNotFound},
		{"nope", EntityDescription{}, CodeEntityNotFound},
	}
	for _, c := range cases {
		d, err := e.ns.Describe(e.ctx, c.path)
		if c.code != "" {
			wantCode(t, err, c.code)
			continue
		}
		e.must(err)
		d.Path, d.Status = EntityPath{}, ""
		if d != c.want {
			t.Errorf("Describe(%q) = %+v, want %+v", c.path, d, c.want)
		}
	}
}

func TestAccessedAtPersisted(t *testing.T) {
	e := newEnv(t)
	e.queue("q", nil)
	e.advance(time.Hour)
	e.send("q", msg("a"))
	e.b.Close()
	e.b = nil
	e.st.Close()
	e.st = nil
	e.open()
	qi, err := e.ns.GetQueue(e.ctx, "q")
	e.must(err)
	if !qi.Runtime.AccessedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("accessedAt %v", qi.Runtime.AccessedAt)
	}
}
