package amqpgw

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/amqp"
	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/namespaces"
)

// Directory answers questions about namespaces as resources
// (*namespaces.Service implements it).
type Directory interface {
	// Get returns a namespace by name.
	Get(name string) (namespaces.Namespace, bool)
	// Names returns every namespace name.
	Names() []string
	// VerifySAS verifies a shared access signature token for a namespace.
	VerifySAS(ctx context.Context, ns, token string) (namespaces.Grant, error)
}

// TokenValidator validates a Microsoft Entra ID access token for one of
// audiences (*identity.Service's ValidateToken).
type TokenValidator func(raw string, audiences ...string) (*identity.Claims, error)

// DataAuthorizer evaluates RBAC data actions (*authz.Service implements it).
type DataAuthorizer interface {
	AllowedData(principalID, scope, dataAction string) bool
}

// RBAC data actions checked for Entra ID callers.
const (
	ActionSend    = "Microsoft.ServiceBus/namespaces/messages/send/action"
	ActionReceive = "Microsoft.ServiceBus/namespaces/messages/receive/action"
	// ActionManage is checked for rule management on $management; only
	// roles granting every Service Bus data action (Azure Service Bus Data
	// Owner) allow it.
	ActionManage = "Microsoft.ServiceBus/namespaces/manage/action"
)

// Config configures a Gateway.
type Config struct {
	// Broker holds the messages (required).
	Broker *servicebus.Broker
	// Namespaces resolves namespaces and verifies SAS tokens (required).
	Namespaces Directory
	// ValidateToken and Audiences accept Entra ID tokens on $cbs (type
	// "jwt"); nil ValidateToken refuses them.
	ValidateToken TokenValidator
	Audiences     []string
	// Authz evaluates data actions for Entra ID callers (required with
	// ValidateToken).
	Authz DataAuthorizer
	// DNSSuffix is "servicebus.<domain>": a connection whose open frame
	// names "<ns>.<DNSSuffix>" belongs to namespace <ns> (required).
	DNSSuffix string
	// Logger receives diagnostics (default: none).
	Logger *slog.Logger
	// Now is the clock for claim expiry (default time.Now).
	Now func() time.Time
	// IdleTimeout closes silent connections (default 60 s; the open frame
	// announces half of it).
	IdleTimeout time.Duration
	// DefaultSessionWait is how long an attach for the next available
	// session waits when the client gives no com.microsoft:timeout
	// (default 60 s).
	DefaultSessionWait time.Duration
}

// Gateway is the Service Bus dialect of AMQP 1.0 in front of the broker:
// claims-based security, entity links, $management and sessions. It is safe
// for concurrent use and can serve several listeners.
type Gateway struct {
	cfg Config
	srv *amqp.Server
	log *slog.Logger

	plainMu sync.Mutex
	plain   map[context.Context]plainCred // SASL PLAIN credentials awaiting the open frame
}

// plainCred is a SASL PLAIN login: a shared access key name and key.
type plainCred struct {
	authzid, keyName, key string
}

// New validates cfg and returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.Broker == nil || cfg.Namespaces == nil || cfg.DNSSuffix == "" {
		return nil, errors.New("amqpgw: Config needs Broker, Namespaces and DNSSuffix")
	}
	if cfg.ValidateToken != nil && cfg.Authz == nil {
		return nil, errors.New("amqpgw: ValidateToken needs Authz")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DefaultSessionWait <= 0 {
		cfg.DefaultSessionWait = 60 * time.Second
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger, plain: map[context.Context]plainCred{}}
	srv, err := amqp.NewServer(amqp.Config{
		Open:           g.open,
		SASLMechanisms: []amqp.Symbol{amqp.SASLMSSBCBS, amqp.SASLPlain, amqp.SASLAnonymous},
		PlainAuth:      g.plainAuth,
		AllowNoSASL:    true,
		Properties:     map[amqp.Symbol]any{"product": "keyward"},
		// The largest Premium entity accepts 100 MB messages; each link
		// announces its entity's own limit.
		MaxMessageSize: servicebus.PremiumMaxMessageSizeKB*1024 + 64<<10,
		IdleTimeout:    cfg.IdleTimeout,
		Logger:         cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("amqpgw: %w", err)
	}
	g.srv = srv
	return g, nil
}

// Serve serves AMQP connections accepted on ln until ctx ends (see
// amqp.Server.Serve); wrap ln with tls.NewListener or use ServeTLS for TLS.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	return g.srv.Serve(ctx, ln)
}

// ServeTLS serves AMQP over TLS (amqps) on ln.
func (g *Gateway) ServeTLS(ctx context.Context, ln net.Listener, cfg *tls.Config) error {
	return g.srv.ServeTLS(ctx, ln, cfg)
}

// ServeConn serves one connection until it ends.
func (g *Gateway) ServeConn(ctx context.Context, nc net.Conn) error {
	return g.srv.ServeConn(ctx, nc)
}

// plainAuth checks SASL PLAIN credentials (username: a shared access key
// name, password: its key; authzid may name the namespace) against every
// namespace that allows local authentication, and keeps them until the
// connection's open frame says which namespace it is for. ctx is the
// connection's context.
func (g *Gateway) plainAuth(ctx context.Context, authzid, username, password string) error {
	if len(g.plainMatches(authzid, username, password)) == 0 {
		return errors.New("no namespace has this shared access key")
	}
	g.plainMu.Lock()
	g.plain[ctx] = plainCred{authzid: authzid, keyName: username, key: password}
	g.plainMu.Unlock()
	context.AfterFunc(ctx, func() {
		g.plainMu.Lock()
		delete(g.plain, ctx)
		g.plainMu.Unlock()
	})
	return nil
}

// plainMatches returns the namespaces with a rule keyName whose primary or
// secondary key is key (only namespace authzid, if given).
func (g *Gateway) plainMatches(authzid, keyName, key string) []string {
	names := g.cfg.Namespaces.Names()
	if authzid != "" {
		names = []string{authzid}
	}
	var out []string
	for _, name := range names {
		if ruleMatches(g.cfg.Namespaces, name, keyName, key) != nil {
			out = append(out, name)
		}
	}
	return out
}

// ruleMatches returns the namespace rule keyName if key is one of its keys
// and the namespace allows local authentication.
func ruleMatches(d Directory, ns, keyName, key string) *namespaces.AuthRule {
	n, ok := d.Get(ns)
	if !ok || n.DisableLocalAuth {
		return nil
	}
	for i := range n.AuthRules {
		r := &n.AuthRules[i]
		if r.Name != keyName {
			continue
		}
		for _, k := range []string{r.PrimaryKey, r.SecondaryKey} {
			if k != "" && subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
				return r
			}
		}
	}
	return nil
}

func (g *Gateway) takePlain(ctx context.Context) (plainCred, bool) {
	g.plainMu.Lock()
	defer g.plainMu.Unlock()
	c, ok := g.plain[ctx]
	delete(g.plain, ctx)
	return c, ok
}

// open decides about a connection after SASL and the peer's open frame.
func (g *Gateway) open(ctx context.Context, c *amqp.Conn) (*amqp.ConnHandler, error) {
	cs := newConnState(ctx, g, c)
	if name := namespaceFromHost(c.Hostname(), g.cfg.DNSSuffix); name != "" {
		n, ok := g.cfg.Namespaces.Get(name)
		if !ok {
			return nil, &amqp.Error{Condition: amqp.CondNotFound, Description: fmt.Sprintf("namespace %q does not exist", name)}
		}
		cs.ns = n.Name
	}
	if c.SASL().Mechanism == amqp.SASLPlain {
		cred, ok := g.takePlain(ctx)
		if !ok {
			return nil, errUnauthorized("the SASL PLAIN login was not recorded")
		}
		switch {
		case cs.ns != "":
			if ruleMatches(g.cfg.Namespaces, cs.ns, cred.keyName, cred.key) == nil {
				return nil, errUnauthorized("the shared access key is not valid for namespace %q", cs.ns)
			}
		default:
			m := g.plainMatches(cred.authzid, cred.keyName, cred.key)
			if len(m) != 1 {
				return nil, errUnauthorized("the connection does not name its namespace: open it with hostname <namespace>.%s", g.cfg.DNSSuffix)
			}
			cs.ns = m[0]
		}
		cs.plain = &cred
	}
	g.log.Debug("amqp connection opened", "remote", c.RemoteAddr().String(), "hostname", c.Hostname(), "namespace", cs.ns, "sasl", string(c.SASL().Mechanism))
	return cs.handler(), nil
}
