package atomhttp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/namespaces"
)

// Broker is the part of the Service Bus broker the handler uses
// (*servicebus.Broker implements it).
type Broker interface {
	Namespace(name string) (*servicebus.Namespace, error)
}

// Namespaces is what the handler needs of the namespace resources
// (*namespaces.Service implements it).
type Namespaces interface {
	// Get returns a namespace by name.
	Get(name string) (namespaces.Namespace, bool)
	// VerifySAS checks a "SharedAccessSignature sr=…" token for a namespace.
	VerifySAS(ctx context.Context, ns, token string) (namespaces.Grant, error)
	// Host returns the namespace's host name (no port).
	Host(name string) string
	// ReplicateFrom copies a primary's entity metadata to its geo-DR
	// secondary; called after every entity change.
	ReplicateFrom(ctx context.Context, name string) error
}

// DataAuthorizer answers role-based data-action checks (*authz.Service
// implements it).
type DataAuthorizer interface {
	AllowedData(principalID, scope, dataAction string) bool
}

// Data actions checked for Microsoft Entra ID callers. Azure Service Bus
// Data Sender grants DataActionSend, Data Receiver DataActionReceive and Data
// Owner ("Microsoft.ServiceBus/*") every one of them, including
// DataActionManage, which the ATOM management API requires.
const (
	DataActionSend    = "Microsoft.ServiceBus/namespaces/messages/send/action"
	DataActionReceive = "Microsoft.ServiceBus/namespaces/messages/receive/action"
	DataActionManage  = "Microsoft.ServiceBus/namespaces/manage/action"
)

// Shared access rights.
const (
	RightManage = "Manage"
	RightSend   = "Send"
	RightListen = "Listen"
)

// Options configure a Handler. Broker, Namespaces, ValidateToken and Authz
// are required.
type Options struct {
	Broker     Broker
	Namespaces Namespaces
	// ValidateToken checks a Microsoft Entra ID access token for one of the
	// audiences (identity.Service.ValidateToken).
	ValidateToken func(raw string, audiences ...string) (*identity.Claims, error)
	// Audiences are the token audiences Service Bus accepts
	// ("https://servicebus.azure.net", …).
	Audiences []string
	Authz     DataAuthorizer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives internal errors (default: discard).
	Log *slog.Logger
	// MaxAtomBodyBytes bounds ATOM request bodies (default 1 MiB).
	MaxAtomBodyBytes int64
	// MaxReceiveWait bounds the timeout a REST receive may wait for a
	// message (default 60 s).
	MaxReceiveWait time.Duration
}

// Handler serves the HTTPS APIs of every namespace host. It holds no state
// beyond its options and is safe for concurrent use.
type Handler struct {
	o Options
}

// New returns a handler.
func New(o Options) *Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxAtomBodyBytes <= 0 {
		o.MaxAtomBodyBytes = 1 << 20
	}
	if o.MaxReceiveWait <= 0 {
		o.MaxReceiveWait = 60 * time.Second
	}
	return &Handler{o: o}
}

// Handler returns the handler of one namespace host (for
// httpx.HostRouter.HandleWildcard, which passes the lower-cased name).
func (h *Handler) Handler(namespace string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(namespace, w, r) })
}

// call is one request being served.
type call struct {
	h    *Handler
	w    http.ResponseWriter
	r    *http.Request
	ctx  context.Context
	ns   namespaces.Namespace
	host string // canonical host of the namespace, without port
	nsb  *servicebus.Namespace
	cred credential
}

func (h *Handler) serve(name string, w http.ResponseWriter, r *http.Request) {
	c := &call{h: h, w: w, r: r, ctx: r.Context()}
	ns, ok := h.o.Namespaces.Get(name)
	if !ok {
		c.host = name
		c.fail(errorf(http.StatusNotFound, codeNamespaceNotFound, "The namespace '%s' does not exist.", name))
		return
	}
	c.ns = ns
	c.host = h.o.Namespaces.Host(ns.Name)
	nsb, err := h.o.Broker.Namespace(ns.Name)
	if err != nil {
		c.fail(fromBroker(ns.Name, err))
		return
	}
	c.nsb = nsb
	cred, aerr := c.authenticate()
	if aerr != nil {
		c.fail(aerr)
		return
	}
	c.cred = cred
	rt, aerr := parseRoute(r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	if aerr != nil {
		c.fail(aerr)
		return
	}
	if rt.kind != routeNamespaceInfo && nsb.Status() == servicebus.NamespaceRevoked {
		c.fail(&apiError{Status: http.StatusForbidden, Code: codeRevoked, Message: revokedMessage(ns.Name)})
		return
	}
	if err := c.dispatch(rt); err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = fromBroker(ns.Name, err)
		}
		if ae.Status >= 500 {
			h.o.Log.Error("servicebus http: request failed", "namespace", ns.Name, "method", r.Method, "path", r.URL.Path, "err", err)
		}
		c.fail(ae)
	}
}

func (c *call) fail(e *apiError) {
	writeError(c.w, c.r, c.host, c.h.o.Now(), e)
}

func (c *call) dispatch(rt route) error {
	switch rt.kind {
	case routeNamespaceInfo:
		return c.namespaceInfo()
	case routeListQueues:
		return c.listQueues()
	case routeListTopics:
		return c.listTopics()
	case routeEntity:
		return c.entity(rt.entity)
	case routeListSubscriptions:
		return c.listSubscriptions(rt.topic)
	case routeSubscription:
		return c.subscription(rt.topic, rt.sub)
	case routeListRules:
		return c.listRules(rt.topic, rt.sub)
	case routeRule:
		return c.rule(rt.topic, rt.sub, rt.rule)
	case routeSend:
		return c.send(rt.entity)
	case routeHead:
		return c.head(rt.entity)
	case routeLocked:
		return c.locked(rt.entity, rt.msgRef, rt.lock)
	}
	return errorf(http.StatusNotFound, codeNotFound, "No operation is served at %s %s.", c.r.Method, c.r.URL.Path)
}

// entityScopes returns the resource ids role assignments are checked at for
// an entity path ("q", "t", "t/Subscriptions/s", with optional dead-letter
// suffix): the queue's and the topic's of that name, or the subscription's.
func (c *call) entityScopes(path string) []string {
	ep, err := servicebus.ParseEntityPath(path)
	if err != nil {
		return []string{c.ns.ID}
	}
	if ep.Subscription != "" {
		return []string{c.ns.ID + "/topics/" + ep.Entity + "/subscriptions/" + ep.Subscription}
	}
	return []string{c.ns.ID + "/queues/" + ep.Entity, c.ns.ID + "/topics/" + ep.Entity}
}

// absURL is the URL of path on the host the client called, for ids and links.
func (c *call) absURL(path string) string {
	return "https://" + c.r.Host + "/" + strings.TrimPrefix(path, "/")
}
