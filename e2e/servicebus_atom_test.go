package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus/admin"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/servicebus/armservicebus"
	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/testenv"
)

// sbNamespace creates a resource group and a Standard namespace through
// armservicebus and returns the namespace and its root key.
func sbNamespace(t *testing.T, env *testenv.Env, rg, name string) (armservicebus.SBNamespace, armservicebus.AccessKeys) {
	t.Helper()
	ctx := ctxT(t)
	admin := env.Bootstrap(t)
	rgc, _ := armresources.NewResourceGroupsClient(env.Conn.SubscriptionID, admin, env.ARMOptions())
	if _, err := rgc.CreateOrUpdate(ctx, rg, armresources.ResourceGroup{Location: to.Ptr("westeurope")}, nil); err != nil {
		t.Fatal(err)
	}
	nc, _ := armservicebus.NewNamespacesClient(env.Conn.SubscriptionID, admin, env.ARMOptions())
	p, err := nc.BeginCreateOrUpdate(ctx, rg, name, armservicebus.SBNamespace{Location: to.Ptr("westeurope"),
		SKU: &armservicebus.SBSKU{Name: to.Ptr(armservicebus.SKUNameStandard), Tier: to.Ptr(armservicebus.SKUTierStandard)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := p.PollUntilDone(ctx, fastPoll)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := nc.ListKeys(ctx, rg, name, "RootManageSharedAccessKey", nil)
	if err != nil {
		t.Fatal(err)
	}
	return ns.SBNamespace, keys.AccessKeys
}

// sbSAS signs a shared access signature for uri.
func sbSAS(uri, keyName, key string) string {
	sr := strings.ToLower(url.QueryEscape(uri))
	se := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(sr + "\n" + se))
	return "SharedAccessSignature sr=" + sr + "&sig=" + url.QueryEscape(base64.StdEncoding.EncodeToString(m.Sum(nil))) + "&se=" + se + "&skn=" + keyName
}

// TestServiceBusAdminClient drives every entity operation of the
// unmodified azservicebus/admin client, with the namespace's connection
// string and with a Microsoft Entra ID credential.
func TestServiceBusAdminClient(t *testing.T) {
	env := testenv.Start(t, nil)
	ctx := ctxT(t)
	ns, keys := sbNamespace(t, env, "sb-atom-rg", "atom-ns-01")
	opts := &admin.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: env.HTTP}}
	ac, err := admin.NewClientFromConnectionString(*keys.PrimaryConnectionString, opts)
	if err != nil {
		t.Fatal(err)
	}

	np, err := ac.GetNamespaceProperties(ctx, nil)
	if err != nil || np.Name != "atom-ns-01" || np.SKU != "Standard" {
		t.Fatalf("namespace properties: %v %+v", err, np)
	}
	// Queues: create, get, update, list (paged), runtime counts, delete.
	if _, err := ac.CreateQueue(ctx, "orders", &admin.CreateQueueOptions{Properties: &admin.QueueProperties{
		LockDuration: to.Ptr("PT30S"), MaxDeliveryCount: to.Ptr[int32](5), DeadLetteringOnMessageExpiration: to.Ptr(true)}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := ac.CreateQueue(ctx, fmt.Sprintf("extra-%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	q, err := ac.GetQueue(ctx, "orders", nil)
	if err != nil || q == nil || *q.LockDuration != "PT30S" || *q.MaxDeliveryCount != 5 || !*q.DeadLetteringOnMessageExpiration {
		t.Fatalf("get queue: %v %+v", err, q)
	}
	q.QueueProperties.MaxDeliveryCount = to.Ptr[int32](8)
	if up, err := ac.UpdateQueue(ctx, "orders", q.QueueProperties, nil); err != nil || *up.MaxDeliveryCount != 8 {
		t.Fatalf("update queue: %v", err)
	}
	_, err = ac.CreateQueue(ctx, "orders", nil)
	mustStatus(t, err, http.StatusConflict, "409")
	var names []string
	pager := ac.NewListQueuesPager(&admin.ListQueuesOptions{MaxPageSize: 3})
	for pager.More() {
		pg, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range pg.Queues {
			names = append(names, q.QueueName)
		}
	}
	if strings.Join(names, ",") != "extra-0,extra-1,extra-2,orders" {
		t.Fatalf("queues %v", names)
	}
	nsb, err := env.App.Broker.Namespace("atom-ns-01")
	if err != nil {
		t.Fatal(err)
	}
	if err := nsb.Send(ctx, "orders", []servicebus.Message{{Body: []byte("1")}, {Body: []byte("2")}, {Body: []byte("3"), ScheduledEnqueueTime: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	rt, err := ac.GetQueueRuntimeProperties(ctx, "orders", nil)
	if err != nil || rt.ActiveMessageCount != 2 || rt.ScheduledMessageCount != 1 || rt.TotalMessageCount != 3 || rt.SizeInBytes == 0 {
		t.Fatalf("queue runtime: %v %+v", err, rt)
	}
	if _, err := ac.DeleteQueue(ctx, "extra-0", nil); err != nil {
		t.Fatal(err)
	}
	if q, err := ac.GetQueue(ctx, "extra-0", nil); err != nil || q != nil {
		t.Fatalf("deleted queue: %v %v", q, err)
	}

	// Topics, subscriptions and rules with SQL and correlation filters.
	if _, err := ac.CreateTopic(ctx, "events", nil); err != nil {
		t.Fatal(err)
	}
	tp, err := ac.GetTopic(ctx, "events", nil)
	if err != nil || tp == nil {
		t.Fatal(err)
	}
	tp.TopicProperties.DefaultMessageTimeToLive = to.Ptr("P7D")
	if ut, err := ac.UpdateTopic(ctx, "events", tp.TopicProperties, nil); err != nil || *ut.DefaultMessageTimeToLive != "P7D" {
		t.Fatalf("update topic: %v", err)
	}
	if _, err := ac.CreateSubscription(ctx, "events", "eu", &admin.CreateSubscriptionOptions{Properties: &admin.SubscriptionProperties{
		DefaultRule: &admin.RuleProperties{Name: "region", Filter: &admin.SQLFilter{Expression: "region = @r AND amount > 10", Parameters: map[string]any{"@r": "eu"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateSubscription(ctx, "events", "audit", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateRule(ctx, "events", "audit", &admin.CreateRuleOptions{Name: to.Ptr("vip"),
		Filter: &admin.CorrelationFilter{CorrelationID: to.Ptr("vip"), ApplicationProperties: map[string]any{"tier": "gold"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.DeleteRule(ctx, "events", "audit", "$Default", nil); err != nil {
		t.Fatal(err)
	}
	r, err := ac.GetRule(ctx, "events", "audit", "vip", nil)
	if err != nil || r == nil || *r.Filter.(*admin.CorrelationFilter).CorrelationID != "vip" || r.Filter.(*admin.CorrelationFilter).ApplicationProperties["tier"] != "gold" {
		t.Fatalf("get rule: %v %+v", err, r)
	}
	if _, err := ac.UpdateRule(ctx, "events", "eu", admin.RuleProperties{Name: "region", Filter: &admin.SQLFilter{Expression: "region = 'eu'"},
		Action: &admin.SQLAction{Expression: "SET routed = true"}}); err != nil {
		t.Fatal(err)
	}
	_, err = ac.CreateRule(ctx, "events", "eu", &admin.CreateRuleOptions{Name: to.Ptr("broken"), Filter: &admin.SQLFilter{Expression: "region = 'eu' AND"}})
	mustStatus(t, err, http.StatusBadRequest, "400")
	if !strings.Contains(err.Error(), "column") {
		t.Fatalf("bad filter error has no position: %v", err)
	}
	sub, err := ac.GetSubscription(ctx, "events", "eu", nil)
	if err != nil || sub == nil {
		t.Fatal(err)
	}
	sub.SubscriptionProperties.MaxDeliveryCount = to.Ptr[int32](3)
	if us, err := ac.UpdateSubscription(ctx, "events", "eu", sub.SubscriptionProperties, nil); err != nil || *us.MaxDeliveryCount != 3 {
		t.Fatalf("update subscription: %v", err)
	}
	if err := nsb.Send(ctx, "events", []servicebus.Message{
		{Body: []byte("a"), ApplicationProperties: map[string]any{"region": "eu"}},
		{Body: []byte("b"), CorrelationID: "vip", ApplicationProperties: map[string]any{"tier": "gold"}},
		{Body: []byte("c"), ApplicationProperties: map[string]any{"region": "us"}},
	}); err != nil {
		t.Fatal(err)
	}
	for sub, want := range map[string]int32{"eu": 1, "audit": 1} {
		srt, err := ac.GetSubscriptionRuntimeProperties(ctx, "events", sub, nil)
		if err != nil || srt.ActiveMessageCount != want {
			t.Fatalf("subscription %s runtime: %v %+v", sub, err, srt)
		}
	}
	trt, err := ac.GetTopicRuntimeProperties(ctx, "events", nil)
	if err != nil || trt.SubscriptionCount != 2 || trt.SQLFilterCount != 1 || trt.CorrelationFilterCount != 1 {
		t.Fatalf("topic runtime: %v %+v", err, trt)
	}
	var subs, rules []string
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
	rp := ac.NewListRulesPager("events", "eu", nil)
	for rp.More() {
		pg, err := rp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range pg.Rules {
			rules = append(rules, r.Name)
		}
	}
	if strings.Join(subs, ",") != "audit,eu" || strings.Join(rules, ",") != "region" {
		t.Fatalf("subscriptions %v rules %v", subs, rules)
	}

	// The resource manager and the ATOM API see the same entities.
	qc, _ := armservicebus.NewQueuesClient(env.Conn.SubscriptionID, env.Bootstrap(t), env.ARMOptions())
	if _, err := qc.CreateOrUpdate(ctx, "sb-atom-rg", "atom-ns-01", "from-arm", armservicebus.SBQueue{Properties: &armservicebus.SBQueueProperties{MaxDeliveryCount: to.Ptr[int32](4)}}, nil); err != nil {
		t.Fatal(err)
	}
	if q, err := ac.GetQueue(ctx, "from-arm", nil); err != nil || q == nil || *q.MaxDeliveryCount != 4 {
		t.Fatalf("queue created through ARM: %v %+v", err, q)
	}
	if aq, err := qc.Get(ctx, "sb-atom-rg", "atom-ns-01", "orders", nil); err != nil || *aq.Properties.MaxDeliveryCount != 8 {
		t.Fatalf("queue created through ATOM, read through ARM: %v", err)
	}

	// Microsoft Entra ID: admin.NewClient with a ClientSecretCredential.
	// Without a data role: 401; with Azure Service Bus Data Owner on the
	// namespace: every operation.
	gtok, err := getToken(t, env.Bootstrap(t), graphScope)
	if err != nil {
		t.Fatal(err)
	}
	clientID, secret, objectID := graphCreatePrincipal(t, env, gtok.Token, "sb-admin-app")
	jc, err := admin.NewClient("atom-ns-01.servicebus."+env.Config.Domain, env.Credential(t, clientID, secret), opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = jc.GetQueue(ctx, "orders", nil)
	mustStatus(t, err, http.StatusUnauthorized, "401")
	assignRole(t, env, *ns.ID, objectID, "Azure Service Bus Data Owner")
	if _, err := jc.CreateQueue(ctx, "by-entra", nil); err != nil {
		t.Fatalf("create with Data Owner: %v", err)
	}
	if rt, err := jc.GetQueueRuntimeProperties(ctx, "orders", nil); err != nil || rt.ActiveMessageCount != 2 {
		t.Fatalf("runtime with Data Owner: %v", err)
	}
	if _, err := jc.DeleteTopic(ctx, "events", nil); err != nil {
		t.Fatal(err)
	}
}

// assignRole gives principal a built-in role at scope.
func assignRole(t *testing.T, env *testenv.Env, scope, principal, role string) {
	t.Helper()
	ctx := ctxT(t)
	admin := env.Bootstrap(t)
	rd, _ := armauthorization.NewRoleDefinitionsClient(admin, env.ARMOptions())
	pg, err := rd.NewListPager("/subscriptions/"+env.Conn.SubscriptionID, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr("roleName eq '" + role + "'")}).NextPage(ctx)
	if err != nil || len(pg.Value) != 1 {
		t.Fatalf("role %s: %v", role, err)
	}
	ra, _ := armauthorization.NewRoleAssignmentsClient(env.Conn.SubscriptionID, admin, env.ARMOptions())
	if _, err := ra.Create(ctx, scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: pg.Value[0].ID, PrincipalID: to.Ptr(principal), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
	}}, nil); err != nil {
		t.Fatal(err)
	}
}

type restResp struct {
	status int
	header http.Header
	body   string
}

func restCall(t *testing.T, env *testenv.Env, method, u, auth string, hdr map[string]string, body string) restResp {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := env.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return restResp{resp.StatusCode, resp.Header, string(b)}
}

func (r restResp) want(t *testing.T, status int, body string) restResp {
	t.Helper()
	if r.status != status || !strings.Contains(r.body, body) {
		t.Fatalf("status %d body %q, want %d %q", r.status, r.body, status, body)
	}
	return r
}

// TestServiceBusREST sends and receives with plain net/http, as curl users do.
func TestServiceBusREST(t *testing.T) {
	env := testenv.Start(t, nil)
	ctx := ctxT(t)
	_, keys := sbNamespace(t, env, "sb-rest-rg", "rest-ns-01")
	ac, err := admin.NewClientFromConnectionString(*keys.PrimaryConnectionString, &admin.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: env.HTTP}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateQueue(ctx, "work", &admin.CreateQueueOptions{Properties: &admin.QueueProperties{MaxDeliveryCount: to.Ptr[int32](3)}}); err != nil {
		t.Fatal(err)
	}
	base := env.URL("rest-ns-01.servicebus", "")
	tok := sbSAS(base, "RootManageSharedAccessKey", *keys.PrimaryKey)

	// Send, peek-lock, complete.
	restCall(t, env, "POST", base+"/work/messages", tok, map[string]string{
		"Content-Type": "application/json", "BrokerProperties": `{"MessageId":"order-1","Label":"new"}`, "Customer": `"contoso"`, "Amount": "12",
	}, `{"id":1}`).want(t, http.StatusCreated, "")
	r := restCall(t, env, "POST", base+"/work/messages/head?timeout=5", tok, nil, "").want(t, http.StatusCreated, `{"id":1}`)
	var bp struct {
		MessageId, Label, LockToken string
		SequenceNumber              int64
		DeliveryCount               int
	}
	if err := json.Unmarshal([]byte(r.header.Get("BrokerProperties")), &bp); err != nil || bp.MessageId != "order-1" || bp.Label != "new" || bp.LockToken == "" || bp.DeliveryCount != 1 {
		t.Fatalf("BrokerProperties %q: %v", r.header.Get("BrokerProperties"), err)
	}
	if r.header.Get("Customer") != `"contoso"` || r.header.Get("Amount") != "12" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", r.header)
	}
	restCall(t, env, "DELETE", r.header.Get("Location"), tok, nil, "").want(t, http.StatusOK, "")
	restCall(t, env, "DELETE", r.header.Get("Location"), tok, nil, "").want(t, http.StatusGone, "MessageLockLost")

	// Abandon until dead-lettered (MaxDeliveryCount 3).
	restCall(t, env, "POST", base+"/work/messages", tok, map[string]string{"BrokerProperties": `{"MessageId":"poison"}`}, "bad").want(t, http.StatusCreated, "")
	for i := 0; i < 3; i++ {
		r := restCall(t, env, "POST", base+"/work/messages/head?timeout=5", tok, nil, "").want(t, http.StatusCreated, "bad")
		restCall(t, env, "PUT", r.header.Get("Location"), tok, nil, "").want(t, http.StatusOK, "")
	}
	restCall(t, env, "POST", base+"/work/messages/head?timeout=0", tok, nil, "").want(t, http.StatusNoContent, "")
	rt, err := ac.GetQueueRuntimeProperties(ctx, "work", nil)
	if err != nil || rt.DeadLetterMessageCount != 1 || rt.ActiveMessageCount != 0 {
		t.Fatalf("runtime: %v %+v", err, rt)
	}
	dl := restCall(t, env, "DELETE", base+"/work/$DeadLetterQueue/messages/head?timeout=5", tok, nil, "").want(t, http.StatusOK, "bad")
	if dl.header.Get("DeadLetterReason") != `"MaxDeliveryCountExceeded"` {
		t.Fatalf("dead letter: %v", dl.header)
	}

	// Batch send and receive-and-delete.
	restCall(t, env, "POST", base+"/work/messages", tok, map[string]string{"Content-Type": "application/vnd.microsoft.servicebus.json"},
		`[{"Body":"b1","UserProperties":{"n":1}},{"Body":"b2","BrokerProperties":{"Label":"second"}}]`).want(t, http.StatusCreated, "")
	restCall(t, env, "DELETE", base+"/work/messages/head?timeout=5", tok, nil, "").want(t, http.StatusOK, "b1")
	restCall(t, env, "DELETE", base+"/work/messages/head?timeout=5", tok, nil, "").want(t, http.StatusOK, "b2")
	restCall(t, env, "DELETE", base+"/work/messages/head?timeout=0", tok, nil, "").want(t, http.StatusNoContent, "")

	// SAS with a wrong key: 401. Over the size limit: 413.
	restCall(t, env, "POST", base+"/work/messages", sbSAS(base, "RootManageSharedAccessKey", *keys.SecondaryKey+"x"), nil, "x").want(t, http.StatusUnauthorized, "<Code>401</Code>")
	restCall(t, env, "POST", base+"/work/messages", tok, nil, strings.Repeat("x", 300*1024)).want(t, http.StatusRequestEntityTooLarge, "262144")
	restCall(t, env, "POST", base+"/nosuch/messages", tok, nil, "x").want(t, http.StatusNotFound, "MessagingEntityNotFound")
}
