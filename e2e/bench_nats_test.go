package e2e

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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

