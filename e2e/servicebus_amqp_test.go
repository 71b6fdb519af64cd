package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/servicebus/armservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/go-amqp"
	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/authz"
	"github.com/keyward/keyward/internal/connfile"
	"github.com/keyward/keyward/internal/testenv"
)

// sbPlainClient is an azservicebus client with the namespace's emulator
// connection string (plain AMQP), dialing the plain listener.
func sbPlainClient(t *testing.T, env *testenv.Env, ns testenv.SBNamespace) *azservicebus.Client {
	t.Helper()
	c, err := azservicebus.NewClientFromConnectionString(ns.EmulatorConnectionString(), &azservicebus.ClientOptions{
		CustomEndpoint: env.AMQPPlainAddr(),
		RetryOptions:   azservicebus.RetryOptions{MaxRetries: 1, RetryDelay: 50 * time.Millisecond, MaxRetryDelay: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// sbTLSClient is an azservicebus client with the namespace's connection
// string over TLS (amqps), trusting keyward's CA.
func sbTLSClient(t *testing.T, env *testenv.Env, ns testenv.SBNamespace) *azservicebus.Client {
	t.Helper()
	c, err := azservicebus.NewClientFromConnectionString(ns.ConnectionString(), &azservicebus.ClientOptions{
		CustomEndpoint: env.AMQPAddr(),
		TLSConfig:      env.AMQPTLSConfig(),
		RetryOptions:   azservicebus.RetryOptions{MaxRetries: 1, RetryDelay: 50 * time.Millisecond, MaxRetryDelay: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// http1Client is env's HTTP client limited to HTTP/1.1, which WebSocket
// upgrades need.
func http1Client(env *testenv.Env) *http.Client {
	hc := env.NewHTTPClient()
	hc.Transport.(*http.Transport).ForceAttemptHTTP2 = false
	return hc
}

// sbWebSocketClient is an azservicebus client with the namespace's
// connection string over AMQP on WebSockets (wss://<namespace>/$servicebus/websocket
// on the HTTPS listener), as the SDK's NewWebSocketConn option documents it.
func sbWebSocketClient(t *testing.T, env *testenv.Env, ns testenv.SBNamespace) *azservicebus.Client {
	t.Helper()
	hc := http1Client(env)
	c, err := azservicebus.NewClientFromConnectionString(ns.ConnectionString(), &azservicebus.ClientOptions{
		NewWebSocketConn: func(ctx context.Context, args azservicebus.NewWebSocketConnArgs) (net.Conn, error) {
			ws, _, err := websocket.Dial(ctx, args.Host, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"amqp"}})
			if err != nil {
				return nil, err
			}
			return websocket.NetConn(context.Background(), ws, websocket.MessageBinary), nil
		},
		RetryOptions: azservicebus.RetryOptions{MaxRetries: 1, RetryDelay: 50 * time.Millisecond, MaxRetryDelay: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// sbCredClient is an azservicebus client authenticating with a Microsoft
// Entra ID credential (always TLS).
func sbCredClient(t *testing.T, env *testenv.Env, ns testenv.SBNamespace, cred azcore.TokenCredential) *azservicebus.Client {
	t.Helper()
	c, err := azservicebus.NewClient(ns.FQDN, cred, &azservicebus.ClientOptions{
		CustomEndpoint: env.AMQPAddr(),
		TLSConfig:      env.AMQPTLSConfig(),
		RetryOptions:   azservicebus.RetryOptions{MaxRetries: 1, RetryDelay: 50 * time.Millisecond, MaxRetryDelay: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func mustNoErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// receiveN receives exactly n messages (failing after a deadline).
func receiveN(t *testing.T, r interface {
	ReceiveMessages(context.Context, int, *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
}, n int) []*azservicebus.ReceivedMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*azservicebus.ReceivedMessage
	for len(out) < n {
		msgs, err := r.ReceiveMessages(ctx, n-len(out), nil)
		if err != nil {
			t.Fatalf("receive (%d of %d so far): %v", len(out), n, err)
		}
		out = append(out, msgs...)
	}
	return out
}

// sdkScenario runs the Service Bus SDK scenario against queue q.
func sdkScenario(t *testing.T, c *azservicebus.Client, q string) {
	ctx := ctxT(t)
	snd, err := c.NewSender(q, nil)
	mustNoErr(t, "sender", err)
	defer snd.Close(ctx)
	rcv, err := c.NewReceiverForQueue(q, nil)
	mustNoErr(t, "receiver", err)
	defer rcv.Close(ctx)

	// Send with properties; receive peek-lock; renew; complete.
	ttl := 10 * time.Minute
	mustNoErr(t, "send", snd.SendMessage(ctx, &azservicebus.Message{
		Body: []byte("hello"), MessageID: to.Ptr("m-1"), Subject: to.Ptr("greeting"), CorrelationID: to.Ptr("c-1"),
		ContentType: to.Ptr("text/plain"), TimeToLive: &ttl, To: to.Ptr("dest"), ReplyTo: to.Ptr("back"),
		ApplicationProperties: map[string]any{"color": "red", "n": int64(7), "ok": true, "f": 1.5},
	}, nil))
	m := receiveN(t, rcv, 1)[0]
	if string(m.Body) != "hello" || m.MessageID != "m-1" || *m.Subject != "greeting" || *m.CorrelationID != "c-1" ||
		*m.ContentType != "text/plain" || *m.To != "dest" || *m.ReplyTo != "back" {
		t.Fatalf("received %+v", m)
	}
	if m.ApplicationProperties["color"] != "red" || m.ApplicationProperties["n"] != int64(7) || m.ApplicationProperties["ok"] != true || m.ApplicationProperties["f"] != 1.5 {
		t.Fatalf("application properties %v", m.ApplicationProperties)
	}
	if m.DeliveryCount != 1 || m.SequenceNumber == nil || *m.SequenceNumber <= 0 || m.EnqueuedTime == nil || m.LockedUntil == nil ||
		m.TimeToLive == nil || *m.TimeToLive != ttl || m.State != azservicebus.MessageStateActive {
		t.Fatalf("system properties: count %d seq %v enq %v locked %v ttl %v state %v", m.DeliveryCount, m.SequenceNumber, m.EnqueuedTime, m.LockedUntil, m.TimeToLive, m.State)
	}
	if time.Until(*m.LockedUntil) < 30*time.Second {
		t.Fatalf("locked until %v", m.LockedUntil)
	}
	before := *m.LockedUntil
	time.Sleep(20 * time.Millisecond)
	mustNoErr(t, "renew lock", rcv.RenewMessageLock(ctx, m, nil))
	if !m.LockedUntil.After(before) {
		t.Fatalf("renew: %v, was %v", m.LockedUntil, before)
	}
	mustNoErr(t, "complete", rcv.CompleteMessage(ctx, m, nil))

	// Batch send; receive and delete.
	batch, err := snd.NewMessageBatch(ctx, nil)
	mustNoErr(t, "batch", err)
	for i := range 3 {
		mustNoErr(t, "add", batch.AddMessage(&azservicebus.Message{Body: []byte(fmt.Sprintf("b%d", i))}, nil))
	}
	mustNoErr(t, "send batch", snd.SendMessageBatch(ctx, batch, nil))
	rad, err := c.NewReceiverForQueue(q, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	mustNoErr(t, "rad receiver", err)
	got := receiveN(t, rad, 3)
	for i, m := range got {
		if string(m.Body) != fmt.Sprintf("b%d", i) {
			t.Fatalf("batch message %d: %q", i, m.Body)
		}
	}
	mustNoErr(t, "close rad", rad.Close(ctx))
	if p, err := rcv.PeekMessages(ctx, 10, &azservicebus.PeekMessagesOptions{FromSequenceNumber: to.Ptr[int64](0)}); err != nil || len(p) != 0 {
		t.Fatalf("after receive-and-delete: %v %d", err, len(p))
	}

	// Abandon, then defer and receive deferred.
	mustNoErr(t, "send", snd.SendMessage(ctx, &azservicebus.Message{Body: []byte("again")}, nil))
	m = receiveN(t, rcv, 1)[0]
	mustNoErr(t, "abandon", rcv.AbandonMessage(ctx, m, &azservicebus.AbandonMessageOptions{PropertiesToModify: map[string]any{"tries": int64(1)}}))
	m = receiveN(t, rcv, 1)[0]
	if string(m.Body) != "again" || m.DeliveryCount != 2 || m.ApplicationProperties["tries"] != int64(1) {
		t.Fatalf("after abandon: %q count %d props %v", m.Body, m.DeliveryCount, m.ApplicationProperties)
	}
	seq := *m.SequenceNumber
	mustNoErr(t, "defer", rcv.DeferMessage(ctx, m, nil))
	peeked, err := rcv.PeekMessages(ctx, 5, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &seq})
	if err != nil || len(peeked) != 1 || peeked[0].State != azservicebus.MessageStateDeferred {
		t.Fatalf("peek deferred: %v %+v", err, peeked)
	}
	def, err := rcv.ReceiveDeferredMessages(ctx, []int64{seq}, nil)
	if err != nil || len(def) != 1 || string(def[0].Body) != "again" || def[0].State != azservicebus.MessageStateDeferred {
		t.Fatalf("receive deferred: %v %+v", err, def)
	}
	mustNoErr(t, "complete deferred", rcv.CompleteMessage(ctx, def[0], nil))

	// Dead-letter and read the dead-letter queue.
	mustNoErr(t, "send", snd.SendMessage(ctx, &azservicebus.Message{Body: []byte("poison"), MessageID: to.Ptr("p-1")}, nil))
	m = receiveN(t, rcv, 1)[0]
	mustNoErr(t, "dead-letter", rcv.DeadLetterMessage(ctx, m, &azservicebus.DeadLetterOptions{Reason: to.Ptr("bad"), ErrorDescription: to.Ptr("cannot parse")}))
	dlq, err := c.NewReceiverForQueue(q, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	mustNoErr(t, "dlq receiver", err)
	d := receiveN(t, dlq, 1)[0]
	if string(d.Body) != "poison" || d.MessageID != "p-1" || d.DeadLetterReason == nil || *d.DeadLetterReason != "bad" ||
		d.DeadLetterErrorDescription == nil || *d.DeadLetterErrorDescription != "cannot parse" {
		t.Fatalf("dead-lettered: %+v", d)
	}
	mustNoErr(t, "complete dlq", dlq.CompleteMessage(ctx, d, nil))
	mustNoErr(t, "close dlq", dlq.Close(ctx))

	// Schedule and cancel.
	later := time.Now().Add(time.Hour)
	seqs, err := snd.ScheduleMessages(ctx, []*azservicebus.Message{{Body: []byte("s1")}, {Body: []byte("s2")}}, later, nil)
	if err != nil || len(seqs) != 2 {
		t.Fatalf("schedule: %v %v", err, seqs)
	}
	peeked, err = rcv.PeekMessages(ctx, 10, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &seqs[0]})
	if err != nil || len(peeked) != 2 || peeked[0].State != azservicebus.MessageStateScheduled || peeked[0].ScheduledEnqueueTime == nil ||
		peeked[0].ScheduledEnqueueTime.Sub(later).Abs() > time.Second {
		t.Fatalf("peek scheduled: %v %+v", err, peeked)
	}
	mustNoErr(t, "cancel", snd.CancelScheduledMessages(ctx, seqs, nil))
	if p, err := rcv.PeekMessages(ctx, 10, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &seqs[0]}); err != nil || len(p) != 0 {
		t.Fatalf("after cancel: %v %d", err, len(p))
	}
	if err := snd.CancelScheduledMessages(ctx, seqs, nil); err == nil {
		t.Fatal("cancelling twice succeeded")
	}
	// A scheduled message arrives at its time; a plain send with a
	// scheduled time is scheduled too.
	soon := time.Now().Add(500 * time.Millisecond)
	_, err = snd.ScheduleMessages(ctx, []*azservicebus.Message{{Body: []byte("soon")}}, soon, nil)
	mustNoErr(t, "schedule soon", err)
	soon2 := time.Now().Add(600 * time.Millisecond)
	mustNoErr(t, "send scheduled", snd.SendMessage(ctx, &azservicebus.Message{Body: []byte("soon2"), ScheduledEnqueueTime: &soon2}, nil))
	got = receiveN(t, rcv, 2)
	if time.Now().Before(soon) {
		t.Fatalf("scheduled message arrived early")
	}
	for _, m := range got {
		if s := string(m.Body); s != "soon" && s != "soon2" {
			t.Fatalf("scheduled body %q", s)
		}
		mustNoErr(t, "complete", rcv.CompleteMessage(ctx, m, nil))
	}
}

func TestServiceBusAMQPSDK(t *testing.T) {
	env := testenv.Start(t, nil)
	admin := env.Bootstrap(t)
	ns := env.CreateServiceBusNamespace(t, admin, "sb-amqp-rg", "amqp-sdk-ns", "")
	// connection.json names the bound AMQP listeners (ephemeral ports here).
	cf, err := connfile.Read(filepath.Join(env.DataDir, connfile.Name))
	mustNoErr(t, "connection.json", err)
	if cf.AMQPAddr != env.AMQPAddr() || cf.AMQPPlainAddr != env.AMQPPlainAddr() || strings.HasSuffix(cf.AMQPAddr, ":0") {
		t.Fatalf("connection.json AMQP addresses %q %q, listeners %q %q", cf.AMQPAddr, cf.AMQPPlainAddr, env.AMQPAddr(), env.AMQPPlainAddr())
	}
	for _, q := range []string{"plain-q", "tls-q", "entra-q", "ws-q"} {
		ns.CreateQueue(t, q, &armservicebus.SBQueueProperties{MaxDeliveryCount: to.Ptr[int32](5)})
	}
	t.Run("PlainConnectionString", func(t *testing.T) { sdkScenario(t, sbPlainClient(t, env, ns), "plain-q") })
	t.Run("TLSConnectionString", func(t *testing.T) { sdkScenario(t, sbTLSClient(t, env, ns), "tls-q") })
	t.Run("WebSockets", func(t *testing.T) { sdkScenario(t, sbWebSocketClient(t, env, ns), "ws-q") })
	t.Run("EntraID", func(t *testing.T) {
		tok, err := getToken(t, admin, graphScope)
		mustNoErr(t, "graph token", err)
		ownerID, ownerSecret, ownerOID := graphCreatePrincipal(t, env, tok.Token, "sb-data-owner")
		otherID, otherSecret, _ := graphCreatePrincipal(t, env, tok.Token, "sb-nobody")
		_, err = env.App.Authz.Create(ctxT(t), authz.Assignment{Name: uuid.NewString(), Scope: ns.ID, RoleDefinitionID: authz.RoleServiceBusDataOwner,
			PrincipalID: ownerOID, PrincipalType: "ServicePrincipal"})
		mustNoErr(t, "role assignment", err)

		// Without a role: the link is refused as unauthorized.
		nobody := sbCredClient(t, env, ns, env.Credential(t, otherID, otherSecret))
		snd, err := nobody.NewSender("entra-q", nil)
		mustNoErr(t, "sender", err)
		var sbErr *azservicebus.Error
		if err := snd.SendMessage(ctxT(t), &azservicebus.Message{Body: []byte("x")}, nil); !errors.As(err, &sbErr) || sbErr.Code != azservicebus.CodeUnauthorizedAccess {
			t.Fatalf("send without a role: %v", err)
		}
		sdkScenario(t, sbCredClient(t, env, ns, env.Credential(t, ownerID, ownerSecret)), "entra-q")
	})
}

func TestServiceBusAMQPSessionsAndTopics(t *testing.T) {
	env := testenv.Start(t, nil)
	admin := env.Bootstrap(t)
	ns := env.CreateServiceBusNamespace(t, admin, "sb-amqp-rg", "amqp-sess-ns", "")
	ns.CreateQueue(t, "sess-q", &armservicebus.SBQueueProperties{RequiresSession: to.Ptr(true)})
	ns.CreateTopic(t, "events", nil)
	ns.CreateSubscription(t, "events", "all", nil)
	ns.CreateSubscription(t, "events", "red", nil)
	ns.CreateSubscription(t, "events", "invoices", nil)
	ns.CreateRule(t, "events", "red", "red-only", &armservicebus.Ruleproperties{FilterType: to.Ptr(armservicebus.FilterTypeSQLFilter),
		SQLFilter: &armservicebus.SQLFilter{SQLExpression: to.Ptr("color = 'red' AND sys.Label LIKE 'ev%'")},
		Action:    &armservicebus.Action{SQLExpression: to.Ptr("SET matched = 'red-only'")}})
	ns.DeleteRule(t, "events", "red", "$Default")
	ns.CreateRule(t, "events", "invoices", "by-subject", &armservicebus.Ruleproperties{FilterType: to.Ptr(armservicebus.FilterTypeCorrelationFilter),
		CorrelationFilter: &armservicebus.CorrelationFilter{Label: to.Ptr("invoice"), Properties: map[string]*string{"region": to.Ptr("eu")}}})
	ns.DeleteRule(t, "events", "invoices", "$Default")
	c := sbPlainClient(t, env, ns)
	ctx := ctxT(t)

	t.Run("Sessions", func(t *testing.T) {
		snd, err := c.NewSender("sess-q", nil)
		mustNoErr(t, "sender", err)
		for _, s := range []struct{ sid, body string }{{"s1", "a1"}, {"s2", "b1"}, {"s1", "a2"}, {"s2", "b2"}} {
			mustNoErr(t, "send", snd.SendMessage(ctx, &azservicebus.Message{Body: []byte(s.body), SessionID: to.Ptr(s.sid)}, nil))
		}
		// A plain receiver on a session queue is refused.
		plain, err := c.NewReceiverForQueue("sess-q", nil)
		mustNoErr(t, "receiver", err)
		if _, err := plain.ReceiveMessages(ctx, 1, nil); err == nil {
			t.Fatal("receiving from a session queue without a session succeeded")
		}

		s1, err := c.AcceptSessionForQueue(ctx, "sess-q", "s1", nil)
		mustNoErr(t, "accept s1", err)
		if s1.SessionID() != "s1" || time.Until(s1.LockedUntil()) < 10*time.Second {
			t.Fatalf("session %q locked until %v", s1.SessionID(), s1.LockedUntil())
		}
		// The same session cannot be locked twice.
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := c.AcceptSessionForQueue(sctx, "sess-q", "s1", nil); err == nil {
			t.Fatal("a locked session was accepted again")
		}
		cancel()
		got := receiveN(t, s1, 2)
		if string(got[0].Body) != "a1" || string(got[1].Body) != "a2" || *got[0].SessionID != "s1" {
			t.Fatalf("session s1: %q %q", got[0].Body, got[1].Body)
		}
		for _, m := range got {
			mustNoErr(t, "complete", s1.CompleteMessage(ctx, m, nil))
		}
		st, err := s1.GetSessionState(ctx, nil)
		if err != nil || st != nil {
			t.Fatalf("initial state: %v %q", err, st)
		}
		mustNoErr(t, "set state", s1.SetSessionState(ctx, []byte("step-2"), nil))
		st, err = s1.GetSessionState(ctx, nil)
		if err != nil || string(st) != "step-2" {
			t.Fatalf("state: %v %q", err, st)
		}
		before := s1.LockedUntil()
		time.Sleep(20 * time.Millisecond)
		mustNoErr(t, "renew session lock", s1.RenewSessionLock(ctx, nil))
		if !s1.LockedUntil().After(before) {
			t.Fatalf("session lock %v, was %v", s1.LockedUntil(), before)
		}
		// Sessions with messages or state.
		var ids []string
		pager := c.NewListSessionsForQueuePager("sess-q", nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			mustNoErr(t, "list sessions", err)
			ids = append(ids, page.Sessions...)
		}
		if len(ids) != 2 {
			t.Fatalf("sessions %v", ids)
		}
		mustNoErr(t, "close s1", s1.Close(ctx))

		next, err := c.AcceptNextSessionForQueue(ctx, "sess-q", nil)
		mustNoErr(t, "accept next", err)
		if next.SessionID() != "s2" {
			t.Fatalf("next session %q", next.SessionID())
		}
		got = receiveN(t, next, 2)
		mustNoErr(t, "defer", next.DeferMessage(ctx, got[1], nil))
		def, err := next.ReceiveDeferredMessages(ctx, []int64{*got[1].SequenceNumber}, nil)
		if err != nil || len(def) != 1 || string(def[0].Body) != "b2" {
			t.Fatalf("session deferred: %v %v", err, def)
		}
		for _, m := range []*azservicebus.ReceivedMessage{got[0], def[0]} {
			mustNoErr(t, "complete", next.CompleteMessage(ctx, m, nil))
		}
		mustNoErr(t, "close next", next.Close(ctx))
		// No session left: accepting the next one times out.
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var sbErr *azservicebus.Error
		if _, err := c.AcceptNextSessionForQueue(tctx, "sess-q", nil); !errors.As(err, &sbErr) || sbErr.Code != azservicebus.CodeTimeout {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("accept next with none left: %v", err)
			}
		}
	})

	t.Run("TopicFilters", func(t *testing.T) {
		snd, err := c.NewSender("events", nil)
		mustNoErr(t, "sender", err)
		for _, m := range []*azservicebus.Message{
			{Body: []byte("e1"), Subject: to.Ptr("event"), ApplicationProperties: map[string]any{"color": "red"}},
			{Body: []byte("e2"), Subject: to.Ptr("event"), ApplicationProperties: map[string]any{"color": "blue"}},
			{Body: []byte("i1"), Subject: to.Ptr("invoice"), ApplicationProperties: map[string]any{"region": "eu"}},
			{Body: []byte("i2"), Subject: to.Ptr("invoice"), ApplicationProperties: map[string]any{"region": "us"}},
		} {
			mustNoErr(t, "send", snd.SendMessage(ctx, m, nil))
		}
		bodies := func(sub string, n int) []string {
			r, err := c.NewReceiverForSubscription("events", sub, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
			mustNoErr(t, "receiver", err)
			defer r.Close(ctx)
			var out []string
			for _, m := range receiveN(t, r, n) {
				out = append(out, string(m.Body))
				if sub == "red" && m.ApplicationProperties["matched"] != "red-only" {
					t.Fatalf("rule action not applied: %v", m.ApplicationProperties)
				}
			}
			if p, err := r.PeekMessages(ctx, 10, nil); err != nil || len(p) != 0 {
				t.Fatalf("%s has %d more messages (%v)", sub, len(p), err)
			}
			return out
		}
		if got := fmt.Sprint(bodies("all", 4)); got != "[e1 e2 i1 i2]" {
			t.Fatalf("all: %s", got)
		}
		if got := fmt.Sprint(bodies("red", 1)); got != "[e1]" {
			t.Fatalf("red: %s", got)
		}
		if got := fmt.Sprint(bodies("invoices", 1)); got != "[i1]" {
			t.Fatalf("invoices: %s", got)
		}
	})
}

// rpc sends one request to a $management (or $cbs) node with go-amqp and
// returns the reply.
func rpc(t *testing.T, sess *amqp.Session, node, op string, body any, props ...string) *amqp.Message {
	t.Helper()
	ctx := ctxT(t)
	replyTo := "reply-" + uuid.NewString()
	snd, err := sess.NewSender(ctx, node, nil)
	mustNoErr(t, "rpc sender", err)
	defer snd.Close(ctx)
	rcv, err := sess.NewReceiver(ctx, node, &amqp.ReceiverOptions{TargetAddress: replyTo, Credit: 10,
		SettlementMode: amqp.ReceiverSettleModeFirst.Ptr(), RequestedSenderSettleMode: amqp.SenderSettleModeSettled.Ptr()})
	mustNoErr(t, "rpc receiver", err)
	defer rcv.Close(ctx)
	id := uuid.NewString()
	req := &amqp.Message{Value: body, Properties: &amqp.MessageProperties{MessageID: id, ReplyTo: &replyTo},
		ApplicationProperties: map[string]any{"operation": op}}
	for i := 0; i+1 < len(props); i += 2 {
		req.ApplicationProperties[props[i]] = props[i+1]
	}
	mustNoErr(t, "rpc send", snd.Send(ctx, req, nil))
	resp, err := rcv.Receive(ctx, nil)
	mustNoErr(t, "rpc receive", err)
	if resp.Properties == nil || resp.Properties.CorrelationID != id {
		t.Fatalf("reply not correlated: %+v", resp.Properties)
	}
	if _, ok := resp.ApplicationProperties["statusCode"].(int32); !ok {
		t.Fatalf("statusCode is %T", resp.ApplicationProperties["statusCode"])
	}
	return resp
}

// described reads a described value as go-amqp decodes it (its type is
// internal to go-amqp).
func described(v any) (descriptor, value any) {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct || !rv.FieldByName("Descriptor").IsValid() {
		return nil, nil
	}
	return rv.FieldByName("Descriptor").Interface(), rv.FieldByName("Value").Interface()
}

func status(m *amqp.Message) int32 { return m.ApplicationProperties["statusCode"].(int32) }

func TestServiceBusAMQPGenericClient(t *testing.T) {
	env := testenv.Start(t, nil)
	admin := env.Bootstrap(t)
	ns := env.CreateServiceBusNamespace(t, admin, "sb-amqp-rg", "amqp-raw-ns", "")
	ns.CreateQueue(t, "raw-q", nil)
	ns.CreateTopic(t, "raw-t", nil)
	ns.CreateSubscription(t, "raw-t", "sub", nil)
	ctx := ctxT(t)
	dial := func(host string, sasl amqp.SASLType) (*amqp.Conn, error) {
		return amqp.Dial(ctx, "amqp://"+env.AMQPPlainAddr(), &amqp.ConnOptions{SASLType: sasl, HostName: host})
	}
	conn, err := dial(ns.FQDN, amqp.SASLTypePlain(ns.KeyName, ns.Key))
	mustNoErr(t, "dial", err)
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	mustNoErr(t, "session", err)

	t.Run("SendReceive", func(t *testing.T) {
		snd, err := sess.NewSender(ctx, "raw-q", nil)
		mustNoErr(t, "sender", err)
		if snd.MaxMessageSize() != 256*1024 {
			t.Fatalf("max-message-size %d", snd.MaxMessageSize())
		}
		mustNoErr(t, "send", snd.Send(ctx, amqp.NewMessage([]byte("generic")), nil))
		uid := amqp.UUID(uuid.New())
		mustNoErr(t, "send value", snd.Send(ctx, &amqp.Message{Value: "a value body", Properties: &amqp.MessageProperties{MessageID: uid},
			Annotations: amqp.Annotations{"x-custom": "kept"}, ApplicationProperties: map[string]any{"k": int32(5)}}, nil))
		mustNoErr(t, "send", snd.Send(ctx, amqp.NewMessage([]byte("to-lose")), nil))
		mustNoErr(t, "send", snd.Send(ctx, amqp.NewMessage([]byte("to-reject")), nil))

		rcv, err := sess.NewReceiver(ctx, "RAW-Q", &amqp.ReceiverOptions{Credit: 10, SettlementMode: amqp.ReceiverSettleModeSecond.Ptr()})
		mustNoErr(t, "receiver", err)
		recv := func() *amqp.Message {
			m, err := rcv.Receive(ctx, nil)
			mustNoErr(t, "receive", err)
			return m
		}
		m := recv()
		if string(m.GetData()) != "generic" || len(m.DeliveryTag) != 16 {
			t.Fatalf("received %q tag %x", m.GetData(), m.DeliveryTag)
		}
		if _, ok := m.Annotations["x-opt-sequence-number"].(int64); !ok {
			t.Fatalf("x-opt-sequence-number is %T", m.Annotations["x-opt-sequence-number"])
		}
		if _, ok := m.Annotations["x-opt-locked-until"].(time.Time); !ok {
			t.Fatalf("x-opt-locked-until is %T", m.Annotations["x-opt-locked-until"])
		}
		mustNoErr(t, "accept", rcv.AcceptMessage(ctx, m))
		m = recv()
		if m.Value != "a value body" || m.Properties.MessageID != uid || m.Annotations["x-custom"] != "kept" || m.ApplicationProperties["k"] != int32(5) {
			t.Fatalf("value message: %+v %+v %v %v", m.Value, m.Properties.MessageID, m.Annotations, m.ApplicationProperties)
		}
		mustNoErr(t, "accept", rcv.AcceptMessage(ctx, m))

		// The lock is lost (completed elsewhere): the outcome is rejected with message-lock-lost.
		m = recv()
		tok := m.DeliveryTag
		lock := [16]byte{tok[3], tok[2], tok[1], tok[0], tok[5], tok[4], tok[7], tok[6], tok[8], tok[9], tok[10], tok[11], tok[12], tok[13], tok[14], tok[15]}
		nsb, err := env.App.Broker.Namespace(ns.Name)
		mustNoErr(t, "broker namespace", err)
		mustNoErr(t, "complete by token", nsb.Complete(ctx, "raw-q", lock))
		var ae *amqp.Error
		if err := rcv.AcceptMessage(ctx, m); !errors.As(err, &ae) || ae.Condition != "com.microsoft:message-lock-lost" {
			t.Fatalf("accept after the lock was lost: %v", err)
		}
		// Rejected without the dead-letter condition: dead-lettered with the condition as reason.
		m = recv()
		mustNoErr(t, "reject", rcv.RejectMessage(ctx, m, &amqp.Error{Condition: "app:bad", Description: "nope"}))
		dlq, err := sess.NewReceiver(ctx, "raw-q/$deadletterqueue", &amqp.ReceiverOptions{Credit: -1,
			SettlementMode: amqp.ReceiverSettleModeFirst.Ptr(), RequestedSenderSettleMode: amqp.SenderSettleModeSettled.Ptr()})
		mustNoErr(t, "dlq receiver", err)
		mustNoErr(t, "credit", dlq.IssueCredit(1))
		d, err := dlq.Receive(ctx, nil)
		mustNoErr(t, "dlq receive", err)
		if string(d.GetData()) != "to-reject" || d.ApplicationProperties["DeadLetterReason"] != "app:bad" || d.ApplicationProperties["DeadLetterErrorDescription"] != "nope" {
			t.Fatalf("dead-lettered: %q %v", d.GetData(), d.ApplicationProperties)
		}
		// Released: delivered again without counting a delivery.
		mustNoErr(t, "send", snd.Send(ctx, amqp.NewMessage([]byte("to-release")), nil))
		m = recv()
		mustNoErr(t, "release", rcv.ReleaseMessage(ctx, m))
		m = recv()
		if string(m.GetData()) != "to-release" || m.Header == nil || m.Header.DeliveryCount != 0 {
			t.Fatalf("after release: %q %+v", m.GetData(), m.Header)
		}
		mustNoErr(t, "accept", rcv.AcceptMessage(ctx, m))
		// Drain on an empty queue ends at once.
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		mustNoErr(t, "credit", dlq.IssueCredit(5))
		mustNoErr(t, "drain", dlq.DrainCredit(dctx, nil))
		mustNoErr(t, "close", rcv.Close(ctx))
	})

	t.Run("Refusals", func(t *testing.T) {
		var ae *amqp.Error
		if _, err := sess.NewSender(ctx, "no-such-queue", nil); !errors.As(err, &ae) || ae.Condition != amqp.ErrCondNotFound {
			t.Fatalf("unknown entity: %v", err)
		}
		if _, err := sess.NewReceiver(ctx, "raw-t", nil); !errors.As(err, &ae) || ae.Condition != amqp.ErrCondNotAllowed {
			t.Fatalf("receive from a topic: %v", err)
		}
		if _, err := dial(ns.FQDN, amqp.SASLTypePlain(ns.KeyName, "wrong-key")); err == nil {
			t.Fatal("wrong key accepted")
		}
		// ANONYMOUS without a claim: links are refused as unauthorized.
		anon, err := dial(ns.FQDN, amqp.SASLTypeAnonymous())
		mustNoErr(t, "dial anonymous", err)
		defer anon.Close()
		as, err := anon.NewSession(ctx, nil)
		mustNoErr(t, "session", err)
		if _, err := as.NewSender(ctx, "raw-q", nil); !errors.As(err, &ae) || ae.Condition != amqp.ErrCondUnauthorizedAccess {
			t.Fatalf("sender without a claim: %v", err)
		}
		// A bad SAS token is refused on $cbs with 401.
		r := rpc(t, as, "$cbs", "put-token", "SharedAccessSignature sr=x&sig=y&se=1&skn=z",
			"type", "servicebus.windows.net:sastoken", "name", "amqp://"+ns.FQDN+"/raw-q", "expiration", "1")
		if status(r) != 401 {
			t.Fatalf("bad token: %d", status(r))
		}
		// A connection by IP address finds its namespace from the PLAIN key.
		byIP, err := dial("127.0.0.1", amqp.SASLTypePlain(ns.KeyName, ns.Key))
		mustNoErr(t, "dial by IP", err)
		defer byIP.Close()
		is, err := byIP.NewSession(ctx, nil)
		mustNoErr(t, "session", err)
		if _, err := is.NewSender(ctx, "raw-q", nil); err != nil {
			t.Fatalf("sender by IP: %v", err)
		}
	})

	t.Run("ManagementRules", func(t *testing.T) {
		node := "raw-t/Subscriptions/sub/$management"
		r := rpc(t, sess, node, "com.microsoft:add-rule", map[string]any{"rule-name": "sql", "rule-description": map[string]any{
			"sql-filter": map[string]any{"expression": "n > 5"}, "sql-rule-action": map[string]any{"expression": "SET big = true"}}})
		if status(r) != 200 {
			t.Fatalf("add-rule: %d %v", status(r), r.ApplicationProperties)
		}
		r = rpc(t, sess, node, "com.microsoft:add-rule", map[string]any{"rule-name": "corr", "rule-description": map[string]any{
			"correlation-filter": map[string]any{"label": "x", "properties": map[string]any{"p": "v"}}}})
		if status(r) != 200 {
			t.Fatalf("add-rule: %d %v", status(r), r.ApplicationProperties)
		}
		r = rpc(t, sess, node, "com.microsoft:remove-rule", map[string]any{"rule-name": "$Default"})
		if status(r) != 200 {
			t.Fatalf("remove-rule: %d", status(r))
		}
		r = rpc(t, sess, node, "com.microsoft:enumerate-rules", map[string]any{"top": int32(10), "skip": int32(0)})
		rules := r.Value.(map[string]any)["rules"].([]any)
		if len(rules) != 2 {
			t.Fatalf("rules: %v", rules)
		}
		code, value := described(rules[1].(map[string]any)["rule-description"])
		fields := value.([]any)
		_, filter := described(fields[0])
		if code != uint64(0x0000013700000004) || fields[2] != "sql" || filter.([]any)[0] != "n > 5" {
			t.Fatalf("rule description: %v %#v", code, fields)
		}
		snd, err := sess.NewSender(ctx, "raw-t", nil)
		mustNoErr(t, "sender", err)
		for _, m := range []*amqp.Message{
			{Data: [][]byte{[]byte("small")}, ApplicationProperties: map[string]any{"n": int64(1)}},
			{Data: [][]byte{[]byte("big")}, ApplicationProperties: map[string]any{"n": int64(9)}},
			{Data: [][]byte{[]byte("corr")}, Properties: &amqp.MessageProperties{Subject: to.Ptr("x")}, ApplicationProperties: map[string]any{"p": "v"}},
		} {
			mustNoErr(t, "send", snd.Send(ctx, m, nil))
		}
		rcv, err := sess.NewReceiver(ctx, "raw-t/subscriptions/SUB", &amqp.ReceiverOptions{Credit: 10,
			SettlementMode: amqp.ReceiverSettleModeFirst.Ptr(), RequestedSenderSettleMode: amqp.SenderSettleModeSettled.Ptr()})
		mustNoErr(t, "receiver", err)
		var got []string
		for range 2 {
			m, err := rcv.Receive(ctx, nil)
			mustNoErr(t, "receive", err)
			got = append(got, string(m.GetData()))
			if string(m.GetData()) == "big" && m.ApplicationProperties["big"] != true {
				t.Fatalf("action not applied: %v", m.ApplicationProperties)
			}
		}
		if fmt.Sprint(got) != "[big corr]" {
			t.Fatalf("subscription received %v", got)
		}
	})
}

// TestServiceBusAMQPRevocation revokes a namespace's customer key while a
// receiver waits: it gets an error, sends are refused, nothing is lost,
// and after the key is restored the same clients work again.
func TestServiceBusAMQPRevocation(t *testing.T) {
	env := testenv.Start(t, nil)
	f := newSBFixture(t, env)
	ctx := ctxT(t)
	f.createKey(t, "amqp-cmk")
	created, err := f.putNamespace(t, "amqp-cmk-ns", premium(true))
	mustNoErr(t, "namespace", err)
	f.grant(t, "sb-keys", *created.Identity.PrincipalID)
	withKey := premium(true)
	withKey.Properties = &armservicebus.SBNamespaceProperties{Encryption: f.keyProps("amqp-cmk")}
	_, err = f.putNamespace(t, "amqp-cmk-ns", withKey)
	mustNoErr(t, "enable encryption", err)
	ns := env.ServiceBusNamespaceOf(t, f.admin, f.rg, "amqp-cmk-ns", *created.ID)
	ns.CreateQueue(t, "orders", nil)
	ns.CreateQueue(t, "archive", nil)

	c := sbPlainClient(t, env, ns)
	snd, err := c.NewSender("orders", nil)
	mustNoErr(t, "sender", err)
	arch, err := c.NewSender("archive", nil)
	mustNoErr(t, "archive sender", err)
	mustNoErr(t, "send", snd.SendMessage(ctx, &azservicebus.Message{Body: []byte("m1")}, nil))
	mustNoErr(t, "send keep", arch.SendMessage(ctx, &azservicebus.Message{Body: []byte("keep")}, nil))
	rcv, err := c.NewReceiverForQueue("orders", nil)
	mustNoErr(t, "receiver", err)
	m := receiveN(t, rcv, 1)[0]
	mustNoErr(t, "complete", rcv.CompleteMessage(ctx, m, nil))

	// A receiver waits on the empty queue while the key is disabled.
	errc := make(chan error, 1)
	go func() {
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		msgs, err := rcv.ReceiveMessages(rctx, 1, nil)
		if err == nil {
			err = fmt.Errorf("received %d messages while revoked", len(msgs))
		}
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	setKey := func(enabled bool) {
		t.Helper()
		_, err := f.keys.UpdateKey(ctx, "amqp-cmk", "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(enabled)}}, nil)
		mustNoErr(t, "update key", err)
	}
	setKey(false)
	waitNamespaceStatus(t, f.nc, f.rg, "amqp-cmk-ns", "Revoked", 2*time.Second)
	select {
	case err := <-errc:
		t.Logf("receiver error while revoked: %v", err)
		if err == nil || !strings.Contains(err.Error(), "Revoked") {
			t.Fatalf("receiver error while revoked: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting receiver got no error after the revocation")
	}
	if err := snd.SendMessage(ctx, &azservicebus.Message{Body: []byte("refused")}, nil); err == nil || !strings.Contains(err.Error(), "Revoked") {
		t.Fatalf("send while revoked: %v", err)
	}

	setKey(true)
	waitNamespaceStatus(t, f.nc, f.rg, "amqp-cmk-ns", "Active", 2*time.Second)
	mustNoErr(t, "send after restore", snd.SendMessage(ctx, &azservicebus.Message{Body: []byte("m2")}, nil))
	m = receiveN(t, rcv, 1)[0]
	if string(m.Body) != "m2" {
		t.Fatalf("after restore: %q", m.Body)
	}
	mustNoErr(t, "complete", rcv.CompleteMessage(ctx, m, nil))
	ar, err := c.NewReceiverForQueue("archive", nil)
	mustNoErr(t, "archive receiver", err)
	if k := receiveN(t, ar, 1)[0]; string(k.Body) != "keep" {
		t.Fatalf("archive: %q", k.Body)
	}
}

// TestServiceBusAMQPManyConnections opens 1,000 connections at once, each
// sending and receiving through its own links, and checks that nothing
// stalls and that no goroutine is left once they are closed.
func TestServiceBusAMQPManyConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 connections")
	}
	env := testenv.Start(t, nil)
	admin := env.Bootstrap(t)
	ns := env.CreateServiceBusNamespace(t, admin, "sb-amqp-rg", "amqp-many-ns", "")
	ns.CreateQueue(t, "load", nil)
	const n = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runtime.GC()
	baseline := runtime.NumGoroutine()

	type client struct {
		conn *amqp.Conn
		snd  *amqp.Sender
		rcv  *amqp.Receiver
	}
	clients := make([]client, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := amqp.Dial(ctx, "amqp://"+env.AMQPPlainAddr(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain(ns.KeyName, ns.Key), HostName: ns.FQDN})
			if err != nil {
				errs <- fmt.Errorf("dial %d: %w", i, err)
				return
			}
			clients[i].conn = conn
			s, err := conn.NewSession(ctx, nil)
			if err == nil {
				clients[i].snd, err = s.NewSender(ctx, "load", nil)
			}
			if err == nil {
				// Manual credit: one message each (automatic credit would
				// take a second message after the first is accepted).
				clients[i].rcv, err = s.NewReceiver(ctx, "load", &amqp.ReceiverOptions{Credit: -1, SettlementMode: amqp.ReceiverSettleModeSecond.Ptr()})
			}
			if err == nil {
				err = clients[i].rcv.IssueCredit(1)
			}
			if err != nil {
				errs <- fmt.Errorf("links %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	start := time.Now()
	// Every connection is open; each sends one message and receives one.
	received := make([]string, n)
	errs = make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[i]
			if err := c.snd.Send(ctx, amqp.NewMessage([]byte(fmt.Sprintf("m%d", i))), nil); err != nil {
				errs <- fmt.Errorf("send %d: %w", i, err)
				return
			}
			m, err := c.rcv.Receive(ctx, nil)
			if err != nil {
				errs <- fmt.Errorf("receive %d: %w", i, err)
				return
			}
			received[i] = string(m.GetData())
			if err := c.rcv.AcceptMessage(ctx, m); err != nil {
				errs <- fmt.Errorf("accept %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d connections sent, received and completed a message each in %v", n, time.Since(start))
	seen := map[string]bool{}
	for _, b := range received {
		seen[b] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages received, want %d", len(seen), n)
	}
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.conn.Close()
		}()
	}
	wg.Wait()
	nsb, err := env.App.Broker.Namespace(ns.Name)
	mustNoErr(t, "namespace", err)
	if p, err := nsb.Peek(ctx, "load", 0, 10); err != nil || len(p) != 0 {
		t.Fatalf("queue not empty: %v %d", err, len(p))
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		runtime.GC()
		g := runtime.NumGoroutine()
		if g <= baseline+10 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after close, %d before:\n%s", g, baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAMQPWebSocketEndpointRefusals: the WebSocket endpoint answers a plain
// request and a WebSocket without an AMQP subprotocol with errors, and
// nothing else is served on that path.
func TestAMQPWebSocketEndpointRefusals(t *testing.T) {
	env := testenv.Start(t, nil)
	st, _ := rawCall(t, env, "", "GET", env.URL("management", "/$servicebus/websocket"), nil)
	if st < 400 || st >= 500 {
		t.Fatalf("a plain GET: %d", st)
	}
	hc := http1Client(env)
	ctx := ctxT(t)
	ws, resp, err := websocket.Dial(ctx, env.URL("management", "/$servicebus/websocket"), &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{"mqtt"}})
	if err == nil {
		_, _, err = ws.Read(ctx)
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Fatalf("a WebSocket without an AMQP subprotocol: %v", err)
		}
	} else if resp == nil || resp.StatusCode < 400 {
		t.Fatalf("a WebSocket without an AMQP subprotocol: %v", err)
	}
}
