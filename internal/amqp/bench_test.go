package amqp

import (
	"context"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// BenchmarkLoopback measures messages per second sent by go-amqp to the
// server and received back by go-amqp over one loopback connection.
func BenchmarkLoopback(b *testing.B) {
	for _, tc := range []struct {
		name    string
		settled bool
	}{{"unsettled", false}, {"presettled", true}} {
		b.Run(tc.name, func(b *testing.B) {
			br := newTestBroker()
			addr, _ := startServer(b, br, func(c *Config) { c.LinkCredit = 1000 })
			conn := dial(b, addr, nil)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sess, err := conn.NewSession(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			snd, err := sess.NewSender(ctx, "bench", nil)
			if err != nil {
				b.Fatal(err)
			}
			rcv, err := sess.NewReceiver(ctx, "bench", &goamqp.ReceiverOptions{Credit: 1000})
			if err != nil {
				b.Fatal(err)
			}
			body := make([]byte, 256)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			const senders = 16
			errs := make(chan error, senders+1)
			for s := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := s; i < b.N; i += senders {
						m := goamqp.NewMessage(body)
						if err := snd.Send(ctx, m, &goamqp.SendOptions{Settled: tc.settled}); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			for range b.N {
				m, err := rcv.Receive(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := rcv.AcceptMessage(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

func BenchmarkMessageCodec(b *testing.B) {
	m := fullMessage()
	data, _ := m.MarshalBinary()
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := m.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var x Message
			if err := x.UnmarshalBinary(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
