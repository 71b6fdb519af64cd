package e2e

import (
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/keyward/keyward/internal/testenv"
)

// BenchmarkAMQPLegs measures the two halves of the work-queue job of
// BenchmarkServiceBusVsNATS apart, through azservicebus against keyward:
// durable sends alone (16 senders, 1 KiB) into an empty queue, then
// peek-lock receive + complete alone (8 receivers) draining it. It shows
// which leg limits the end-to-end rate.
//
//	go test ./e2e -run '^$' -bench AMQPLegs -benchtime 1x
func BenchmarkAMQPLegs(b *testing.B) {
	env := testenv.Start(b, nil)
	f := newSBFixture(b, env)
	nsr, err := f.putNamespace(b, "amqp-legs", premium(true))
	if err != nil {
		b.Fatal(err)
	}
	ns := env.ServiceBusNamespaceOf(b, f.admin, f.rg, "amqp-legs", *nsr.ID)
	ns.CreateQueue(b, "work", nil)
	client, err := azservicebus.NewClientFromConnectionString(ns.EmulatorConnectionString(), &azservicebus.ClientOptions{CustomEndpoint: env.AMQPPlainAddr()})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close(context.Background())
	ctx := context.Background()
	const senders, receivers = 16, 8
	body := make([]byte, 1024)
	total := int64(20000)
	if s := os.Getenv("KEYWARD_BENCH_MESSAGES"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			total = int64(n)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0 := processCPU()
		send := sendLeg(ctx, b, client, body, senders, total)
		c1 := processCPU()
		recv, redelivered := receiveLeg(ctx, b, client, receivers, total)
		c2 := processCPU()
		b.Logf("send alone %8.0f msg/s (%d senders, %.0f µs CPU per message); receive+complete alone %8.0f msg/s (%d receivers, %.0f µs CPU per message, %d redeliveries)",
			send, senders, float64((c1-c0).Microseconds())/float64(total), recv, receivers, float64((c2-c1).Microseconds())/float64(total), redelivered)
		b.ReportMetric(send, "send-msg/s")
		b.ReportMetric(recv, "recv-msg/s")
	}
}

// sendLeg sends total 1 KiB messages from senders goroutines and returns
// messages per second.
func sendLeg(ctx context.Context, b *testing.B, client *azservicebus.Client, body []byte, senders int, total int64) float64 {
	start := time.Now()
	sendAll(ctx, b, client, "work", body, senders, total)()
	return float64(total) / time.Since(start).Seconds()
}

// receiveLeg receives and completes total messages with receivers
// goroutines and returns messages per second and the number of messages
// delivered more than once.
func receiveLeg(ctx context.Context, b *testing.B, client *azservicebus.Client, receivers int, total int64) (float64, int64) {
	start := time.Now()
	_, redelivered := completeAll(ctx, b, client, "work", receivers, total)()
	return float64(total) / time.Since(start).Seconds(), redelivered
}

// sendAll starts senders goroutines, each with its own sender link, that
// together send total messages with body to queue, one SendMessage (one
// acknowledged, durable send) at a time. The returned function waits for
// them.
func sendAll(ctx context.Context, b *testing.B, client *azservicebus.Client, queue string, body []byte, senders int, total int64) (wait func()) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range senders {
		s, err := client.NewSender(queue, nil)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close(context.WithoutCancel(ctx))
			for next.Add(1) <= total {
				if err := s.SendMessage(ctx, &azservicebus.Message{Body: body}, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	return wg.Wait
}

// completeAll starts receivers peek-lock receivers on queue that receive
// (up to 32 at a time) and complete messages until want are completed or
// ctx ends. The returned function waits for them and fails the benchmark
// if fewer than want were completed; it returns how many were completed
// and how many of those had been delivered before.
func completeAll(ctx context.Context, b *testing.B, client *azservicebus.Client, queue string, receivers int, want int64) (wait func() (completed, redelivered int64)) {
	var done, again atomic.Int64
	var wg sync.WaitGroup
	rctx, cancel := context.WithCancel(ctx)
	for range receivers {
		r, err := client.NewReceiverForQueue(queue, nil)
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close(context.WithoutCancel(ctx))
			for rctx.Err() == nil {
				msgs, err := r.ReceiveMessages(rctx, 32, nil)
				if err != nil {
					return
				}
				for _, m := range msgs {
					if m.DeliveryCount > 1 {
						again.Add(1)
					}
					if err := r.CompleteMessage(rctx, m, nil); err != nil {
						return
					}
					if done.Add(1) == want {
						cancel()
					}
				}
			}
		}()
	}
	return func() (int64, int64) {
		wg.Wait()
		cancel()
		if done.Load() < want {
			b.Fatalf("only %d of %d messages completed", done.Load(), want)
		}
		return done.Load(), again.Load()
	}
}

// processCPU returns the user plus system CPU time the process has used
// (client and server alike: they share the process and the machine).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
