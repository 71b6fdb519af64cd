package amqp_test

import (
	"context"
	"log"
	"net"

	"github.com/keyward/keyward/internal/amqp"
)

// A minimal echo broker: messages sent to any address are sent back to
// receivers of the same address.
func Example() {
	queues := map[string]chan []byte{}
	queue := func(name string) chan []byte { // (not concurrency-safe; a sketch)
		if queues[name] == nil {
			queues[name] = make(chan []byte, 100)
		}
		return queues[name]
	}
	srv, err := amqp.NewServer(amqp.Config{
		SASLMechanisms: []amqp.Symbol{amqp.SASLMSSBCBS, amqp.SASLAnonymous},
		Open: func(ctx context.Context, c *amqp.Conn) (*amqp.ConnHandler, error) {
			return &amqp.ConnHandler{
				AttachIncoming: func(ctx context.Context, l *amqp.IncomingLink) (*amqp.IncomingOptions, error) {
					if l.Attach().Target == nil {
						return nil, &amqp.Error{Condition: amqp.CondInvalidField, Description: "target required"}
					}
					q := queue(l.Attach().Target.Address)
					return &amqp.IncomingOptions{
						Reply: amqp.AttachReply{MaxMessageSize: 256 << 10},
						OnDelivery: func(ctx context.Context, d *amqp.Delivery) {
							q <- d.Payload
							_ = d.Accept() // or later, after a durable commit
						},
					}, nil
				},
				AttachOutgoing: func(ctx context.Context, l *amqp.OutgoingLink) (*amqp.OutgoingOptions, error) {
					if l.Attach().Source == nil {
						return nil, &amqp.Error{Condition: amqp.CondNotFound}
					}
					q := queue(l.Attach().Source.Address)
					settled := l.Attach().SenderSettleMode == amqp.SenderSettleModeSettled
					go func() {
						for n := 0; ; n++ {
							if err := l.WaitCredit(ctx); err != nil {
								return
							}
							select {
							case p := <-q:
								if err := l.SendPayload(ctx, p, 0, []byte{byte(n), byte(n >> 8)}, settled); err != nil {
									return
								}
							case <-ctx.Done():
								return
							}
						}
					}()
					return &amqp.OutgoingOptions{}, nil
				},
			}, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a real program cancels on shutdown
	if err := srv.Serve(ctx, ln); err != nil {
		log.Fatal(err)
	}
	// Output:
}
