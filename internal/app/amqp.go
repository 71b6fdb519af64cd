package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"

	"github.com/keyward/keyward/internal/servicebus/amqpgw"
)

// amqpState holds the AMQP gateway, its listeners and serving goroutines.
type amqpState struct {
	gw      *amqpgw.Gateway
	tlsLn   net.Listener // --amqp-addr (amqps)
	plainLn net.Listener // --amqp-plain-addr (amqp), nil when disabled
	wsLn    *wsListener  // AMQP over WebSockets on the HTTPS listener
	tlsCfg  *tls.Config

	mu      sync.Mutex
	cancel  context.CancelFunc
	serving sync.WaitGroup
}

// AMQPAddr is the address the AMQP TLS listener is bound to.
func (a *App) AMQPAddr() string {
	if a.amqp.tlsLn == nil {
		return ""
	}
	return a.amqp.tlsLn.Addr().String()
}

// AMQPPlainAddr is the address the plain AMQP listener is bound to ("" when
// disabled).
func (a *App) AMQPPlainAddr() string {
	if a.amqp.plainLn == nil {
		return ""
	}
	return a.amqp.plainLn.Addr().String()
}

// openAMQP builds the Service Bus AMQP gateway and binds its listeners:
// --amqp-addr with TLS (the HTTPS server certificate) and --amqp-plain-addr
// without (empty disables it). connection.json records the bound
// addresses.
func (a *App) openAMQP(ctx context.Context) error {
	gw, err := amqpgw.New(amqpgw.Config{
		Broker:        a.Broker,
		Namespaces:    a.Namespaces,
		ValidateToken: a.Identity.ValidateToken,
		Audiences:     a.serviceBusAudiences(),
		Authz:         a.Authz,
		DNSSuffix:     "servicebus." + a.cfg.Domain,
		Logger:        a.log.With("component", "amqp"),
		Now:           a.clock.Now,
	})
	if err != nil {
		return err
	}
	base, err := a.tlsConfig()
	if err != nil {
		return err
	}
	tlsCfg := base.Clone()
	tlsCfg.NextProtos = nil
	a.amqp.gw, a.amqp.tlsCfg = gw, tlsCfg
	a.amqp.tlsLn, err = net.Listen("tcp", a.cfg.AMQPAddr)
	if err != nil {
		return fmt.Errorf("--amqp-addr %s: %w", a.cfg.AMQPAddr, err)
	}
	a.closers = append(a.closers, func() error { a.amqp.tlsLn.Close(); return nil })
	if a.cfg.AMQPPlainAddr != "" {
		a.amqp.plainLn, err = net.Listen("tcp", a.cfg.AMQPPlainAddr)
		if err != nil {
			return fmt.Errorf("--amqp-plain-addr %s: %w", a.cfg.AMQPPlainAddr, err)
		}
		a.closers = append(a.closers, func() error { a.amqp.plainLn.Close(); return nil })
	}
	a.amqp.wsLn = newWSListener(a.httpLn.Addr())
	a.closers = append(a.closers, func() error { a.amqp.wsLn.Close(); return nil })
	// Runs before the broker and the store close (closers run in reverse).
	a.closers = append(a.closers, func() error { a.stopAMQP(); return nil })
	a.conn.AMQPAddr = a.AMQPAddr()
	a.conn.AMQPPlainAddr = a.AMQPPlainAddr()
	return a.writeConnection()
}

// serveAMQP starts serving AMQP; errors that end serving go to errc. Serving
// stops when ctx ends or the App closes; Close waits for every connection.
func (a *App) serveAMQP(ctx context.Context, errc chan<- error) {
	s := &a.amqp
	if s.gw == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	serve := func(name string, run func() error) {
		s.serving.Add(1)
		go func() {
			defer s.serving.Done()
			if err := run(); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	serve("--amqp-addr", func() error { return s.gw.ServeTLS(sctx, s.tlsLn, s.tlsCfg) })
	if s.plainLn != nil {
		serve("--amqp-plain-addr", func() error { return s.gw.Serve(sctx, s.plainLn) })
	}
	serve("AMQP over WebSockets", func() error { return s.gw.Serve(sctx, s.wsLn) })
}

// stopAMQP closes every AMQP connection and waits for them.
func (a *App) stopAMQP() {
	s := &a.amqp
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.serving.Wait()
}
