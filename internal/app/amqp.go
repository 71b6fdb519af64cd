package app

import "context"

// openAMQP binds the AMQP listeners (--amqp-addr with TLS, --amqp-plain-addr
// without). Filled in by the AMQP gateway.
func (a *App) openAMQP(ctx context.Context) error { return nil }

// serveAMQP starts serving AMQP; errors that end serving go to errc.
func (a *App) serveAMQP(ctx context.Context, errc chan<- error) {}
