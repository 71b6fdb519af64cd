package atomhttp_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus/admin"

	"github.com/keyward/keyward/internal/servicebus"
)

func mustCode(t *testing.T, err error, status int, detail string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want HTTP %d, got %v", status, err)
	}
	if re.StatusCode != status || (detail != "" && !strings.Contains(err.Error(), detail)) {
		t.Fatalf("want HTTP %d %q, got %v", status, detail, err)
	}
}

func TestAdminNamespaceAndQueues(t *testing.T) {
	h := newHarness(t, servicebus.Standard)
	ac := h.adminSAS("RootManageSharedAccessKey", rootKey)
	ctx := h.ctx

	np, err := ac.GetNamespaceProperties(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if np.Name != testNS || np.SKU != "Standard" || np.CreatedTime.IsZero() || np.MessagingUnits != nil {
		t.Fatalf("namespace properties %+v", np)
	}

	// Create with defaults.
	cq, err := ac.CreateQueue(ctx, "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := cq.QueueProperties
	if *p.LockDuration != "PT1M" || *p.MaxDeliveryCount != 10 || *p.DefaultMessageTimeToLive != "P10675199DT2H48M5.4775807S" ||
		*p.RequiresSession || *p.Status != admin.EntityStatusActive || *p.MaxSizeInMegabytes != 1024 ||
		*p.AutoDeleteOnIdle != "P10675199DT2H48M5.4775807S" || *p.DuplicateDetectionHistoryTimeWindow != "PT10M" ||
		!*p.EnableBatchedOperations || *p.MaxMessageSizeInKilobytes != 256 {
		t.Fatalf("defaults: %+v", p)
	}
	// Create with properties.
	_, err = ac.CreateQueue(ctx, "jobs", &admin.CreateQueueOptions{Properties: &admin.QueueProperties{
		LockDuration: ptr("PT30S"), MaxDeliveryCount: ptr[int32](3), RequiresSession: ptr(true),
		DefaultMessageTimeToLive: ptr("P1D"), DeadLetteringOnMessageExpiration: ptr(true), UserMetadata: ptr("meta"),
		RequiresDuplicateDetection: ptr(true), DuplicateDetectionHistoryTimeWindow: ptr("PT5M"),
		AuthorizationRules: []admin.AuthorizationRule{{KeyName: ptr("jobs-listen"), AccessRights: []admin.AccessRight{admin.AccessRightListen}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := ac.GetQueue(ctx, "jobs", nil)
	if err != nil || g == nil {
		t.Fatalf("get: %v", err)
	}
	if *g.LockDuration != "PT30S" || *g.MaxDeliveryCount != 3 || !*g.RequiresSession || *g.DefaultMessageTimeToLive != "P1D" ||
		!*g.DeadLetteringOnMessageExpiration || *g.UserMetadata != "meta" || !*g.RequiresDuplicateDetection || *g.DuplicateDetectionHistoryTimeWindow != "PT5M" {
		t.Fatalf("get: %+v", g.QueueProperties)
	}
	if len(g.AuthorizationRules) != 1 || *g.AuthorizationRules[0].KeyName != "jobs-listen" || len(*g.AuthorizationRules[0].PrimaryKey) != 44 ||
		g.AuthorizationRules[0].AccessRights[0] != admin.AccessRightListen {
		t.Fatalf("auth rules: %+v", g.AuthorizationRules)
	}
	key := *g.AuthorizationRules[0].PrimaryKey

	// Duplicate create: 409.
	_, err = ac.CreateQueue(ctx, "orders", nil)
	mustCode(t, err, http.StatusConflict, "")
	// Invalid values: 400 with Service Bus's message.
	_, err = ac.CreateQueue(ctx, "bad", &admin.CreateQueueOptions{Properties: &admin.QueueProperties{LockDuration: ptr("PT10M")}})
	mustCode(t, err, http.StatusBadRequest, "")
	_, err = ac.CreateQueue(ctx, "bad", &admin.CreateQueueOptions{Properties: &admin.QueueProperties{LockDuration: ptr("ten minutes")}})
	mustCode(t, err, http.StatusBadRequest, "")

	// Update: the SDK sends back what it got; immutable properties kept.
	g.QueueProperties.MaxDeliveryCount = ptr[int32](7)
	g.QueueProperties.Status = ptr(admin.EntityStatusSendDisabled)
	up, err := ac.UpdateQueue(ctx, "jobs", g.QueueProperties, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *up.MaxDeliveryCount != 7 || *up.Status != admin.EntityStatusSendDisabled || !*up.RequiresSession || *up.AuthorizationRules[0].PrimaryKey != key {
		t.Fatalf("update: %+v", up.QueueProperties)
	}
	// Changing an immutable property is refused.
	up.QueueProperties.RequiresSession = ptr(false)
	_, err = ac.UpdateQueue(ctx, "jobs", up.QueueProperties, nil)
	mustCode(t, err, http.StatusBadRequest, "cannot be changed")
	// Update of a missing queue: 404.
	_, err = ac.UpdateQueue(ctx, "nosuch", admin.QueueProperties{}, nil)
	mustCode(t, err, http.StatusNotFound, "could not be found")

	// Runtime properties after sending with the broker.
	if err := h.nsb.Send(ctx, "orders", []servicebus.Message{{Body: []byte("a")}, {Body: []byte("bb")}, {Body: []byte("c"), ScheduledEnqueueTime: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	rt, err := ac.GetQueueRuntimeProperties(ctx, "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rt.ActiveMessageCount != 2 || rt.ScheduledMessageCount != 1 || rt.TotalMessageCount != 3 || rt.SizeInBytes <= 0 || rt.CreatedAt.IsZero() {
		t.Fatalf("runtime: %+v", rt.QueueRuntimeProperties)
	}

	// Paging: $top and $skip honoured, so the pager ends with every queue.
	for i := range 5 {
		if _, err := ac.CreateQueue(ctx, fmt.Sprintf("page-%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range []int32{0, 2, 3, 7, 100} {
		var names []string
		pages := 0
		pager := ac.NewListQueuesPager(&admin.ListQueuesOptions{MaxPageSize: size})
		for pager.More() {
			pg, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, q := range pg.Queues {
				names = append(names, q.QueueName)
			}
		}
		if len(names) != 7 || !slices.IsSorted(names) || names[0] != "jobs" {
			t.Fatalf("page size %d: %d pages, %v", size, pages, names)
		}
	}
	rtp := ac.NewListQueuesRuntimePropertiesPager(&admin.ListQueuesRuntimePropertiesOptions{MaxPageSize: 4})
	var total int32
	for rtp.More() {
		pg, err := rtp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range pg.QueueRuntimeProperties {
			total += q.ActiveMessageCount
		}
	}
	if total != 2 {
		t.Fatalf("listed active count %d", total)
	}

	// Delete, then gone.
	if _, err := ac.DeleteQueue(ctx, "page-0", nil); err != nil {
		t.Fatal(err)
	}
	if g, err := ac.GetQueue(ctx, "page-0", nil); err != nil || g != nil {
		t.Fatalf("deleted queue: %v %v", g, err)
	}
	_, err = ac.DeleteQueue(ctx, "page-0", nil)
	mustCode(t, err, http.StatusNotFound, "MessagingEntityNotFound")
	if h.nss.replicated.Load() == 0 {
		t.Fatal("entity changes were not replicated")
	}
}

func TestAdminTopicsSubscriptionsRules(t *testing.T) {
	h := newHarness(t, servicebus.Standard)
	ac := h.adminSAS("RootManageSharedAccessKey", rootKey)
	ctx := h.ctx

	ct, err := ac.CreateTopic(ctx, "events", &admin.CreateTopicOptions{Properties: &admin.TopicProperties{DefaultMessageTimeToLive: ptr("PT1H"), UserMetadata: ptr("t")}})
	if err != nil {
		t.Fatal(err)
	}
	if *ct.DefaultMessageTimeToLive != "PT1H" || !*ct.SupportOrdering || *ct.UserMetadata != "t" {
		t.Fatalf("topic: %+v", ct.TopicProperties)
	}
	// A queue cannot take the topic's name.
	_, err = ac.CreateQueue(ctx, "events", nil)
	mustCode(t, err, http.StatusConflict, "")
	gt, err := ac.GetTopic(ctx, "events", nil)
	if err != nil || gt == nil {
		t.Fatal(err)
	}
	gt.MaxSizeInMegabytes = ptr[int32](2048)
	ut, err := ac.UpdateTopic(ctx, "events", gt.TopicProperties, nil)
	if err != nil || *ut.MaxSizeInMegabytes != 2048 {
		t.Fatalf("update topic: %v", err)
	}

	// Subscriptions: $Default true filter, or a default rule of our own.
	if _, err := ac.CreateSubscription(ctx, "events", "all", nil); err != nil {
		t.Fatal(err)
	}
	_, err = ac.CreateSubscription(ctx, "events", "red", &admin.CreateSubscriptionOptions{Properties: &admin.SubscriptionProperties{
		MaxDeliveryCount: ptr[int32](4), LockDuration: ptr("PT45S"),
		DefaultRule: &admin.RuleProperties{Name: "onlyred", Filter: &admin.SQLFilter{Expression: "color = @c", Parameters: map[string]any{"@c": "red"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := ac.GetSubscription(ctx, "events", "red", nil)
	if err != nil || gs == nil || *gs.MaxDeliveryCount != 4 || *gs.LockDuration != "PT45S" {
		t.Fatalf("get subscription: %v %+v", err, gs)
	}
	gs.SubscriptionProperties.DefaultMessageTimeToLive = ptr("PT30M")
	us, err := ac.UpdateSubscription(ctx, "events", "red", gs.SubscriptionProperties, nil)
	if err != nil || *us.DefaultMessageTimeToLive != "PT30M" {
		t.Fatalf("update subscription: %v", err)
	}
	_, err = ac.CreateSubscription(ctx, "nosuchtopic", "s", nil)
	mustCode(t, err, http.StatusNotFound, "")

	// Rules: every filter and action kind, listed and read back.
	when := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	rules := []admin.RuleProperties{
		{Name: "sql", Filter: &admin.SQLFilter{Expression: "sys.Label = 'x' AND n > @n AND t < @t", Parameters: map[string]any{"@n": 5, "@t": when, "@d": 1.5, "@b": true}},
			Action: &admin.SQLAction{Expression: "SET seen = @v; REMOVE tmp", Parameters: map[string]any{"@v": "yes"}}},
		{Name: "corr", Filter: &admin.CorrelationFilter{CorrelationID: ptr("c1"), Subject: ptr("s1"), ContentType: ptr("text/plain"),
			ApplicationProperties: map[string]any{"k": "v", "n": int64(3), "f": 2.5, "b": false}}},
		{Name: "none", Filter: &admin.FalseFilter{}},
		{Name: "every", Filter: &admin.TrueFilter{}},
	}
	for _, r := range rules {
		cr, err := ac.CreateRule(ctx, "events", "all", &admin.CreateRuleOptions{Name: ptr(r.Name), Filter: r.Filter, Action: r.Action})
		if err != nil {
			t.Fatalf("create rule %s: %v", r.Name, err)
		}
		if cr.Name != r.Name {
			t.Fatalf("rule name %q", cr.Name)
		}
	}
	gr, err := ac.GetRule(ctx, "events", "all", "sql", nil)
	if err != nil || gr == nil {
		t.Fatal(err)
	}
	sf := gr.Filter.(*admin.SQLFilter)
	if sf.Expression != rules[0].Filter.(*admin.SQLFilter).Expression || sf.Parameters["@n"] != int64(5) || !sf.Parameters["@t"].(time.Time).Equal(when) ||
		sf.Parameters["@d"] != 1.5 || sf.Parameters["@b"] != true {
		t.Fatalf("sql filter: %+v", sf)
	}
	if a := gr.Action.(*admin.SQLAction); a.Expression != "SET seen = @v; REMOVE tmp" || a.Parameters["@v"] != "yes" {
		t.Fatalf("action: %+v", a)
	}
	gc, err := ac.GetRule(ctx, "events", "all", "corr", nil)
	if err != nil {
		t.Fatal(err)
	}
	cf := gc.Filter.(*admin.CorrelationFilter)
	if *cf.CorrelationID != "c1" || *cf.Subject != "s1" || *cf.ContentType != "text/plain" || cf.MessageID != nil ||
		cf.ApplicationProperties["k"] != "v" || cf.ApplicationProperties["n"] != int64(3) || cf.ApplicationProperties["f"] != 2.5 || cf.ApplicationProperties["b"] != false {
		t.Fatalf("correlation filter: %+v %v", cf, cf.ApplicationProperties)
	}
	if gc.Action != nil {
		t.Fatalf("empty action: %+v", gc.Action)
	}
	var names []string
	rp := ac.NewListRulesPager("events", "all", &admin.ListRulesOptions{MaxPageSize: 2})
	for rp.More() {
		pg, err := rp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range pg.Rules {
			names = append(names, r.Name)
		}
	}
	if strings.Join(names, ",") != "$Default,corr,every,none,sql" {
		t.Fatalf("rules %v", names)
	}
	if _, ok := mustRule(t, ac, "events", "red", "onlyred").Filter.(*admin.SQLFilter); !ok {
		t.Fatal("default rule of red is not the given SQL filter")
	}
	ur, err := ac.UpdateRule(ctx, "events", "all", admin.RuleProperties{Name: "none", Filter: &admin.SQLFilter{Expression: "1=1"}})
	if err != nil || ur.Filter.(*admin.SQLFilter).Expression != "1=1" {
		t.Fatalf("update rule: %v", err)
	}
	if _, err := ac.DeleteRule(ctx, "events", "all", "every", nil); err != nil {
		t.Fatal(err)
	}
	if r, err := ac.GetRule(ctx, "events", "all", "every", nil); err != nil || r != nil {
		t.Fatalf("deleted rule: %v %v", r, err)
	}

	// A bad SQL filter: 400 with the position of the error.
	_, err = ac.CreateRule(ctx, "events", "all", &admin.CreateRuleOptions{Name: ptr("bad"), Filter: &admin.SQLFilter{Expression: "color = = 'x'"}})
	mustCode(t, err, http.StatusBadRequest, "column")
	var re *azcore.ResponseError
	errors.As(err, &re)
	if !strings.Contains(err.Error(), "line 1, column 9") {
		t.Fatalf("position missing: %v", err)
	}

	// Runtime properties: fan-out through the rules.
	if err := h.nsb.Send(ctx, "events", []servicebus.Message{
		{Body: []byte("1"), ApplicationProperties: map[string]any{"color": "red"}},
		{Body: []byte("2"), ApplicationProperties: map[string]any{"color": "blue"}},
	}); err != nil {
		t.Fatal(err)
	}
	srt, err := ac.GetSubscriptionRuntimeProperties(ctx, "events", "red", nil)
	if err != nil || srt.ActiveMessageCount != 1 || srt.TotalMessageCount != 1 {
		t.Fatalf("red runtime: %v %+v", err, srt)
	}
	srt, err = ac.GetSubscriptionRuntimeProperties(ctx, "events", "all", nil)
	if err != nil || srt.ActiveMessageCount != 2 {
		t.Fatalf("all runtime: %v %+v", err, srt)
	}
	trt, err := ac.GetTopicRuntimeProperties(ctx, "events", nil)
	if err != nil || trt.SubscriptionCount != 2 || trt.SizeInBytes <= 0 || trt.SQLFilterCount != 4 || trt.CorrelationFilterCount != 1 {
		t.Fatalf("topic runtime: %v %+v", err, trt)
	}
	var subs []string
	sp := ac.NewListSubscriptionsPager("events", &admin.ListSubscriptionsOptions{MaxPageSize: 1})
	for sp.More() {
		pg, err := sp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range pg.Subscriptions {
			subs = append(subs, s.SubscriptionName)
		}
	}
	if strings.Join(subs, ",") != "all,red" {
		t.Fatalf("subscriptions %v", subs)
	}
	var tn []string
	tp := ac.NewListTopicsPager(nil)
	for tp.More() {
		pg, err := tp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range pg.Topics {
			tn = append(tn, x.TopicName)
		}
	}
	if len(tn) != 1 || tn[0] != "events" {
		t.Fatalf("topics %v", tn)
	}
	if _, err := ac.DeleteSubscription(ctx, "events", "red", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.DeleteTopic(ctx, "events", nil); err != nil {
		t.Fatal(err)
	}
	if tp, err := ac.GetTopic(ctx, "events", nil); err != nil || tp != nil {
		t.Fatalf("deleted topic: %v", err)
	}
}

func mustRule(t *testing.T, ac *admin.Client, topic, sub, name string) *admin.GetRuleResponse {
	t.Helper()
	r, err := ac.GetRule(t.Context(), topic, sub, name, nil)
	if err != nil || r == nil {
		t.Fatalf("rule %s: %v", name, err)
	}
	return r
}

func TestAdminForwardingAndAuthorization(t *testing.T) {
	h := newHarness(t, servicebus.Standard)
	root := h.adminSAS("RootManageSharedAccessKey", rootKey)
	ctx := h.ctx
	if _, err := root.CreateQueue(ctx, "target", nil); err != nil {
		t.Fatal(err)
	}
	fwd := "sb://" + testNS + testSuffix + "/target"
	q, err := root.CreateQueue(ctx, "source", &admin.CreateQueueOptions{Properties: &admin.QueueProperties{ForwardTo: ptr(fwd), ForwardDeadLetteredMessagesTo: ptr("target")}})
	if err != nil {
		t.Fatal(err)
	}
	if *q.ForwardTo != fwd || *q.ForwardDeadLetteredMessagesTo != fwd {
		t.Fatalf("forward: %v %v", *q.ForwardTo, *q.ForwardDeadLetteredMessagesTo)
	}
	_, err = root.CreateQueue(ctx, "elsewhere", &admin.CreateQueueOptions{Properties: &admin.QueueProperties{ForwardTo: ptr("sb://other" + testSuffix + "/target")}})
	mustCode(t, err, http.StatusBadRequest, "another namespace")

	// A Listen-only key cannot manage.
	_, err = h.adminSAS("listen", listenKey).GetQueue(ctx, "target", nil)
	mustCode(t, err, http.StatusUnauthorized, "claim(s) are required")
	// A wrong key: 401.
	_, err = h.adminSAS("RootManageSharedAccessKey", listenKey).GetQueue(ctx, "target", nil)
	mustCode(t, err, http.StatusUnauthorized, "InvalidSignature")

	// Entra ID: the raw JWT without "Bearer ". No role: 401; Data Owner
	// on the namespace: every operation.
	jc := h.adminJWT("owner-1")
	_, err = jc.GetQueue(ctx, "target", nil)
	mustCode(t, err, http.StatusUnauthorized, "Manage")
	h.authz.grant("owner-1", nsID, "Microsoft.ServiceBus/")
	if _, err := jc.CreateQueue(ctx, "byjwt", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := jc.GetNamespaceProperties(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Data Sender on one queue only: no management.
	h.authz.grant("sender-1", nsID+"/queues/byjwt", atomhttpSend)
	_, err = h.adminJWT("sender-1").GetQueue(ctx, "byjwt", nil)
	mustCode(t, err, http.StatusUnauthorized, "")
	// A Data Owner of one queue manages it, and only it.
	h.authz.grant("qowner", nsID+"/queues/byjwt", "Microsoft.ServiceBus/")
	if _, err := h.adminJWT("qowner").GetQueue(ctx, "byjwt", nil); err != nil {
		t.Fatal(err)
	}
	_, err = h.adminJWT("qowner").GetQueue(ctx, "target", nil)
	mustCode(t, err, http.StatusUnauthorized, "")
	// Forwarding needs Send on the destination.
	_, err = h.adminJWT("qowner").UpdateQueue(ctx, "byjwt", admin.QueueProperties{ForwardTo: ptr("target")}, nil)
	mustCode(t, err, http.StatusUnauthorized, "forwarding destination")
	h.authz.grant("qowner", nsID+"/queues/target", atomhttpSend)
	if _, err := h.adminJWT("qowner").UpdateQueue(ctx, "byjwt", admin.QueueProperties{ForwardTo: ptr("target")}, nil); err != nil {
		t.Fatal(err)
	}
	// Unknown namespace host: 404.
	r := h.do("GET", "/x", h.rootSAS(), nil, "")
	r.want(t, http.StatusNotFound, "MessagingEntityNotFound")
	r = h.do("GET", "/$Resources/Queues", "", nil, "")
	r.want(t, http.StatusUnauthorized, "MissingToken")
	if !strings.Contains(string(r.body), "<Code>401</Code>") {
		t.Fatalf("error body %s", r.body)
	}
}

const atomhttpSend = "Microsoft.ServiceBus/namespaces/messages/send/action"

func TestAdminRevokedNamespace(t *testing.T) {
	h := newHarness(t, servicebus.Premium)
	ac := h.adminSAS("RootManageSharedAccessKey", rootKey)
	ctx := h.ctx
	if _, err := ac.CreateQueue(ctx, "q", nil); err != nil {
		t.Fatal(err)
	}
	np, err := ac.GetNamespaceProperties(ctx, nil)
	if err != nil || np.SKU != "Premium" || np.MessagingUnits == nil || *np.MessagingUnits != 1 {
		t.Fatalf("premium: %v %+v", err, np)
	}
	h.keys.mu.Lock()
	h.keys.revoked[testNS] = true
	h.keys.mu.Unlock()
	if err := h.broker.NamespaceStatusChanged(ctx, testNS); err != nil && servicebus.CodeOf(err) != servicebus.CodeRevoked {
		t.Fatal(err)
	}
	_, err = ac.GetQueue(ctx, "q", nil)
	mustCode(t, err, http.StatusForbidden, "customer-managed key")
	_, err = ac.CreateQueue(ctx, "q2", nil)
	mustCode(t, err, http.StatusForbidden, "CustomerManagedKeyRevoked")
	if _, err := ac.GetNamespaceProperties(ctx, nil); err != nil {
		t.Fatalf("namespace info while revoked: %v", err)
	}
	h.keys.mu.Lock()
	h.keys.revoked[testNS] = false
	h.keys.mu.Unlock()
	if err := h.broker.NamespaceStatusChanged(ctx, testNS); err != nil {
		t.Fatal(err)
	}
	if q, err := ac.GetQueue(ctx, "q", nil); err != nil || q == nil {
		t.Fatalf("restored: %v", err)
	}
}
