package e2e

import (
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/servicebus/armservicebus"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/keyward/keyward/internal/testenv"
)

// natsWorkQueueRate runs the work-queue job on an embedded NATS JetStream
// server (file storage, encryption at rest, sync on every write when
// syncAlways): total 1 KiB messages published by senders publishers (each
// publish waits for its ack) while receivers pull consumers fetch and
// AckSync them; it returns messages per second end to end.
func natsWorkQueueRate(b *testing.B, syncAlways bool, total, senders, receivers int) float64 {
	opts := &server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: b.TempDir(), JetStreamKey: "keyward-bench-0123456789abcdef0123456789abcdef",
		JetStreamCipher: server.AES, SyncAlways: syncAlways,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		b.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "WORK", Subjects: []string{"work"}, Retention: nats.WorkQueuePolicy, Storage: nats.FileStorage}); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	var received atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	per := total / senders
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < per; j++ {
				if _, err := js.Publish("work", body); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	var rwg sync.WaitGroup
	for i := 0; i < receivers; i++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			sub, err := js.PullSubscribe("work", "workers", nats.AckExplicit())
			if err != nil {
				b.Error(err)
				return
			}
			for {
				select {
				case <-done:
					return
				default:
				}
				msgs, err := sub.Fetch(32, nats.MaxWait(200*time.Millisecond))
				if err != nil && err != nats.ErrTimeout {
					continue
				}
				for _, m := range msgs {
					if err := m.AckSync(); err == nil {
						if received.Add(1) == int64(per*senders) {
							close(done)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("nats: only %d of %d messages received", received.Load(), per*senders)
	}
	elapsed := time.Since(start)
	rwg.Wait()
	return float64(per*senders) / elapsed.Seconds()
}

// keywardWorkQueueRate runs the same work-queue job through azservicebus
// against keyward (plain AMQP, durable sends, peek-lock with complete): total
// 1 KiB messages sent by senders goroutines (each send waits for its
// acknowledgement, given only after the durable commit) while receivers
// receive and complete them; it returns messages per second end to end.
func keywardWorkQueueRate(b *testing.B, env *testenv.Env, ns testenv.SBNamespace, queue string, total, senders, receivers int) float64 {
	client, err := azservicebus.NewClientFromConnectionString(ns.EmulatorConnectionString(), &azservicebus.ClientOptions{CustomEndpoint: env.AMQPPlainAddr()})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	body := make([]byte, 1024)
	want := int64(total / senders * senders)
	start := time.Now()
	sent := sendAll(ctx, b, client, queue, body, senders, want)
	completed := completeAll(ctx, b, client, queue, receivers, want)
	sent()
	_, redelivered := completed()
	elapsed := time.Since(start)
	b.Logf("keyward: %d of %d messages were delivered more than once", redelivered, want)
	return float64(want) / elapsed.Seconds()
}

// BenchmarkServiceBusVsNATS compares, in one run on one machine, the
// work-queue rate (1 KiB, durable, peek-lock with complete) of keyward
// through azservicebus with embedded NATS JetStream (file storage,
// encryption at rest) with sync on every write and without, and keyward's
// CMK on/off ratio over AMQP. Targets: ≥ 10× NATS with sync, ≥ 1.0× NATS
// without sync, CMK on/off ≥ 0.97.
//
//	go test ./e2e -run '^$' -bench ServiceBusVsNATS -benchtime 1x
func BenchmarkServiceBusVsNATS(b *testing.B) {
	total := 4000
	if s := os.Getenv("KEYWARD_BENCH_MESSAGES"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			total = n
		}
	}
	const senders, receivers = 16, 8
	env := testenv.Start(b, nil)
	f := newSBFixture(b, env)
	f.createKey(b, "bench-key")
	on, err := f.putNamespace(b, "amqp-bench-on", premium(true))
	if err != nil {
		b.Fatal(err)
	}
	f.grant(b, "sb-keys", *on.Identity.PrincipalID)
	withKey := premium(true)
	withKey.Properties = &armservicebus.SBNamespaceProperties{Encryption: f.keyProps("bench-key")}
	if _, err := f.putNamespace(b, "amqp-bench-on", withKey); err != nil {
		b.Fatal(err)
	}
	nsOn := env.ServiceBusNamespaceOf(b, f.admin, f.rg, "amqp-bench-on", *on.ID)
	off, err := f.putNamespace(b, "amqp-bench-off", premium(true))
	if err != nil {
		b.Fatal(err)
	}
	nsOff := env.ServiceBusNamespaceOf(b, f.admin, f.rg, "amqp-bench-off", *off.ID)
	nsOn.CreateQueue(b, "work", nil)
	nsOff.CreateQueue(b, "work", nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		natsSync, natsNoSync := 1.0, 1.0
		if os.Getenv("KEYWARD_BENCH_NO_NATS") == "" {
			natsSync = natsWorkQueueRate(b, true, total, senders, receivers)
			natsNoSync = natsWorkQueueRate(b, false, total, senders, receivers)
		}
		kwOff := keywardWorkQueueRate(b, env, nsOff, "work", total, senders, receivers)
		kwOn := keywardWorkQueueRate(b, env, nsOn, "work", total, senders, receivers)
		b.Logf("NATS JetStream, sync on every write: %8.0f msg/s", natsSync)
		b.Logf("NATS JetStream, no sync:             %8.0f msg/s", natsNoSync)
		b.Logf("keyward (azservicebus), CMK off:     %8.0f msg/s", kwOff)
		b.Logf("keyward (azservicebus), CMK on:      %8.0f msg/s", kwOn)
		b.Logf("keyward / NATS sync = %.2fx, keyward / NATS no sync = %.2fx, CMK on/off = %.2f", kwOff/natsSync, kwOff/natsNoSync, kwOn/kwOff)
		b.ReportMetric(kwOff/natsSync, "x-nats-sync")
		b.ReportMetric(kwOff/natsNoSync, "x-nats-nosync")
		b.ReportMetric(kwOn/kwOff, "cmk-on/off")
		b.ReportMetric(kwOn, "cmk-msg/s")
	}
}
