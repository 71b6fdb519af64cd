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
	{
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range senders {
			s, err := client.NewSender("work", nil)
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.Close(ctx)
				for next.Add(1) <= total {
					if err := s.SendMessage(ctx, &azservicebus.Message{Body: body}, nil); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return float64(total) / time.Since(start).Seconds()
	}
}

// receiveLeg receives and completes total messages with receivers
// goroutines and returns messages per second and the number of messages
// seen more than once.
func receiveLeg(ctx context.Context, b *testing.B, client *azservicebus.Client, receivers int, total int64) (float64, int64) {
	{
		var done atomic.Int64
		var released atomic.Int64
		var wg sync.WaitGroup
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		start := time.Now()
		for range receivers {
			r, err := client.NewReceiverForQueue("work", nil)
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer r.Close(ctx)
				for rctx.Err() == nil {
					msgs, err := r.ReceiveMessages(rctx, 32, nil)
					if err != nil {
						return
					}
					for _, m := range msgs {
						if m.DeliveryCount > 1 {
							released.Add(1)
						}
						if err := r.CompleteMessage(rctx, m, nil); err != nil {
							return
						}
						if done.Add(1) == total {
							cancel()
						}
					}
				}
			}()
		}
		wg.Wait()
		if done.Load() < total {
			b.Fatalf("only %d of %d received", done.Load(), total)
		}
		return float64(total) / time.Since(start).Seconds(), released.Load()
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
