package app

import (
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

// AMQP over WebSockets, as Service Bus offers it on port 443:
// wss://<namespace>.servicebus.<domain>/$servicebus/websocket with the
// subprotocol AMQPWSB10 (or "amqp", the OASIS binding's name). The
// WebSocket carries the same byte stream as a plain AMQP connection (SASL,
// then AMQP frames); TLS is the HTTPS listener's. The connection's namespace
// comes from the hostname of its AMQP open frame, as on the AMQP ports, so
// the endpoint answers on every host keyward serves (clients that set a
// custom endpoint address connect to 127.0.0.1 or a proxy's name).

// amqpWSSubprotocols are the WebSocket subprotocols accepted for AMQP, in
// order of preference.
var amqpWSSubprotocols = []string{"AMQPWSB10", "amqp"}

// wsListener is a net.Listener of AMQP connections that arrive as
// WebSocket upgrades on the HTTPS listener. Its ServeHTTP accepts the
// upgrade and hands the connection to Accept.
type wsListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	addr      net.Addr
}

func newWSListener(addr net.Addr) *wsListener {
	return &wsListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

// Accept implements net.Listener.
func (l *wsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener: later upgrades are refused.
func (l *wsListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener (the HTTPS listener's address).
func (l *wsListener) Addr() net.Addr { return l.addr }

// ServeHTTP upgrades the request to a WebSocket and serves AMQP on it until
// the AMQP connection ends.
func (l *wsListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-l.done:
		http.Error(w, "AMQP is not being served", http.StatusServiceUnavailable)
		return
	default:
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: amqpWSSubprotocols})
	if err != nil {
		return // Accept has answered the request with the reason
	}
	if ws.Subprotocol() == "" {
		ws.Close(websocket.StatusPolicyViolation, "the WebSocket subprotocol must be AMQPWSB10 or amqp")
		return
	}
	// The AMQP engine bounds frames itself; a WebSocket message may hold
	// several of them.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	nc := &wsConn{Conn: websocket.NetConn(ctx, ws, websocket.MessageBinary), closed: make(chan struct{})}
	select {
	case l.conns <- nc:
	case <-l.done:
		ws.Close(websocket.StatusGoingAway, "keyward is shutting down")
		return
	}
	// The handler lives as long as the connection, so the request's
	// goroutine (and its logging) ends with it.
	<-nc.closed
}

// wsConn is a WebSocket net.Conn that reports when it is closed.
type wsConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

// Close implements net.Conn.
func (c *wsConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}
