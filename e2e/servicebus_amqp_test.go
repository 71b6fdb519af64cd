package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/servicebus/armservicebus"

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
	for _, q := range []string{"plain-q", "tls-q", "entra-q"} {
		ns.CreateQueue(t, q, &armservicebus.SBQueueProperties{MaxDeliveryCount: to.Ptr[int32](5)})
	}
	t.Run("PlainConnectionString", func(t *testing.T) { sdkScenario(t, sbPlainClient(t, env, ns), "plain-q") })
	t.Run("TLSConnectionString", func(t *testing.T) { sdkScenario(t, sbTLSClient(t, env, ns), "tls-q") })
}
