package amqpgw

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/amqp"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/namespaces"
)

// Rights a shared access rule grants ("Manage" implies the others).
const (
	rightSend   = "Send"
	rightListen = "Listen"
	rightManage = "Manage"
)

// claim is what one put-token established on a connection.
type claim struct {
	path      string // lower-case entity path the audience names ("" = namespace)
	expires   time.Time
	grant     *namespaces.Grant // SAS tokens
	principal string            // Entra ID tokens: the caller's object id
}

// guardedLink is an attached link whose authorization expires with a
// claim; it is detached unless a renewed claim covers it.
type guardedLink struct {
	path    string
	right   string
	expires time.Time
	close   func(*amqp.Error)
}

// connState is the dialect's state of one connection.
type connState struct {
	g   *Gateway
	c   *amqp.Conn
	ctx context.Context

	mu         sync.Mutex
	ns         string // the namespace; "" until known
	plain      *plainCred
	claims     map[string]claim              // by lower-case audience path
	replyLinks map[string]*amqp.OutgoingLink // RPC reply links by target address
	// nodeReplies holds the first reply link attached to each RPC node
	// ($cbs or an entity's $management), for requests without a reply-to
	// (the C and Python uamqp clients send put-token without one).
	nodeReplies map[string]*amqp.OutgoingLink
	receivers   map[string]*receiverLink  // entity receivers by link name
	guarded     map[*guardedLink]struct{} // links watched for claim expiry
	timer       *time.Timer
	timerAt     time.Time
	closed      bool

	replySeq atomic.Uint64 // numbers reply deliveries (their tags)
}

func newConnState(ctx context.Context, g *Gateway, c *amqp.Conn) *connState {
	return &connState{g: g, c: c, ctx: ctx, claims: map[string]claim{}, replyLinks: map[string]*amqp.OutgoingLink{}, nodeReplies: map[string]*amqp.OutgoingLink{},
		receivers: map[string]*receiverLink{}, guarded: map[*guardedLink]struct{}{}}
}

func (cs *connState) handler() *amqp.ConnHandler {
	return &amqp.ConnHandler{
		AttachIncoming: cs.attachIncoming,
		AttachOutgoing: cs.attachOutgoing,
		Closed:         cs.closedConn,
	}
}

func (cs *connState) closedConn(err error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.closed = true
	if cs.timer != nil {
		cs.timer.Stop()
	}
	cs.plain = nil
}

// namespace returns the connection's namespace in the broker, or an error
// for the client.
func (cs *connState) namespace() (*servicebus.Namespace, string, error) {
	cs.mu.Lock()
	name := cs.ns
	cs.mu.Unlock()
	if name == "" {
		return nil, "", errUnauthorized("no claim: put a token on %s first, or open the connection with hostname <namespace>.%s", cbsNode, cs.g.cfg.DNSSuffix)
	}
	ns, err := cs.g.cfg.Broker.Namespace(name)
	if err != nil {
		e, _ := mapError(err)
		return nil, name, e
	}
	return ns, name, nil
}

// checkAvailable refuses work on a namespace that is revoked or has no key.
func checkAvailable(ns *servicebus.Namespace) error {
	switch ns.Status() {
	case servicebus.NamespaceRevoked:
		return &amqp.Error{Condition: CondEntityDisabled, Description: revokedDescription(ns.Name())}
	case servicebus.NamespaceUnavailable:
		return &amqp.Error{Condition: CondServerBusy, Description: fmt.Sprintf("namespace %q has no usable data key yet; try again later", ns.Name())}
	}
	return nil
}

// authorize checks that the connection may exercise right on path (lower
// case). It returns when the authorization expires (zero: never).
func (cs *connState) authorize(path, right string) (time.Time, error) {
	cs.mu.Lock()
	name, plain := cs.ns, cs.plain
	claims := make([]claim, 0, len(cs.claims))
	for _, c := range cs.claims {
		claims = append(claims, c)
	}
	cs.mu.Unlock()
	if name == "" {
		return time.Time{}, errUnauthorized("no claim for %q: put a token on %s first", path, cbsNode)
	}
	if plain != nil {
		r := ruleMatches(cs.g.cfg.Namespaces, name, plain.keyName, plain.key)
		if r == nil {
			return time.Time{}, errUnauthorized("the shared access key of this connection is no longer valid")
		}
		if !r.HasRight(right) {
			return time.Time{}, errUnauthorized("rule %q lacks the %s right", r.Name, right)
		}
		return time.Time{}, nil
	}
	now := cs.g.cfg.Now()
	host := cs.host(name)
	found := false
	for _, c := range claims {
		if !covers(c.path, path) || !now.Before(c.expires) {
			continue
		}
		found = true
		switch {
		case c.grant != nil:
			if c.grant.Allows(right, host, path) {
				return c.expires, nil
			}
		case c.principal != "":
			if cs.rbacAllows(name, c.principal, path, right) {
				return c.expires, nil
			}
		}
	}
	if !found {
		return time.Time{}, errUnauthorized("no valid claim covers %q: put a token for it on %s", path, cbsNode)
	}
	return time.Time{}, errUnauthorized("the claims of this connection do not grant %s on %q", right, path)
}

// authorizeAny is authorize for any of rights; it returns the right that
// was granted.
func (cs *connState) authorizeAny(path string, rights ...string) (string, time.Time, error) {
	var first error
	for _, r := range rights {
		exp, err := cs.authorize(path, r)
		if err == nil {
			return r, exp, nil
		}
		if first == nil {
			first = err
		}
	}
	return "", time.Time{}, first
}

func (cs *connState) host(ns string) string {
	return strings.ToLower(ns) + "." + strings.ToLower(cs.g.cfg.DNSSuffix)
}

// rbacAllows evaluates a data action for an Entra ID principal at the
// namespace, then at the entity.
func (cs *connState) rbacAllows(nsName, principal, path, right string) bool {
	az := cs.g.cfg.Authz
	n, ok := cs.g.cfg.Namespaces.Get(nsName)
	if !ok || az == nil {
		return false
	}
	action := ActionReceive
	switch right {
	case rightSend:
		action = ActionSend
	case rightManage:
		action = ActionManage
	}
	if az.AllowedData(principal, n.ID, action) {
		return true
	}
	entity := strings.TrimSuffix(path, "/"+strings.ToLower(managementNode))
	ep, err := servicebus.ParseEntityPath(entity)
	if err != nil {
		return false
	}
	var scope string
	switch {
	case ep.Subscription != "":
		scope = n.ID + "/topics/" + ep.Entity + "/subscriptions/" + ep.Subscription
	default:
		kind := "queues"
		if ns, err := cs.g.cfg.Broker.Namespace(nsName); err == nil {
			if _, err := ns.GetTopic(cs.ctx, ep.Entity); err == nil {
				kind = "topics"
			}
		}
		scope = n.ID + "/" + kind + "/" + ep.Entity
	}
	return az.AllowedData(principal, scope, action)
}

// guard watches an attached link's authorization until it ends.
func (cs *connState) guard(path, right string, expires time.Time, closeFn func(*amqp.Error)) func() {
	if expires.IsZero() {
		return func() {}
	}
	gl := &guardedLink{path: path, right: right, expires: expires, close: closeFn}
	cs.mu.Lock()
	cs.guarded[gl] = struct{}{}
	cs.armLocked()
	cs.mu.Unlock()
	return func() {
		cs.mu.Lock()
		delete(cs.guarded, gl)
		cs.mu.Unlock()
	}
}

// armLocked sets the timer to the earliest expiry of a guarded link.
func (cs *connState) armLocked() {
	if cs.closed {
		return
	}
	var next time.Time
	for gl := range cs.guarded {
		if next.IsZero() || gl.expires.Before(next) {
			next = gl.expires
		}
	}
	if next.IsZero() {
		return
	}
	if cs.timer != nil && !cs.timerAt.IsZero() && !next.Before(cs.timerAt) {
		return
	}
	if cs.timer != nil {
		cs.timer.Stop()
	}
	cs.timerAt = next
	cs.timer = time.AfterFunc(max(next.Sub(cs.g.cfg.Now()), 0), cs.checkExpiry)
}

// checkExpiry re-authorizes links whose claim expired: a renewed claim keeps
// them, otherwise they are detached with amqp:unauthorized-access.
func (cs *connState) checkExpiry() {
	now := cs.g.cfg.Now()
	cs.mu.Lock()
	cs.timerAt = time.Time{}
	var due []*guardedLink
	for gl := range cs.guarded {
		if !now.Before(gl.expires) {
			due = append(due, gl)
		}
	}
	cs.mu.Unlock()
	for _, gl := range due {
		exp, err := cs.authorize(gl.path, gl.right)
		cs.mu.Lock()
		if err != nil || exp.IsZero() {
			delete(cs.guarded, gl)
		} else {
			gl.expires = exp
		}
		cs.mu.Unlock()
		if err != nil {
			gl.close(errUnauthorized("the claim for %q expired and was not renewed", gl.path))
		}
	}
	cs.mu.Lock()
	cs.armLocked()
	cs.mu.Unlock()
}

// attachIncoming decides about a link on which the client sends.
func (cs *connState) attachIncoming(ctx context.Context, l *amqp.IncomingLink) (*amqp.IncomingOptions, error) {
	t := l.Attach().Target
	if t == nil || t.Address == "" {
		return nil, &amqp.Error{Condition: amqp.CondInvalidField, Description: "the link needs a target address"}
	}
	a, err := parseAddress(t.Address)
	if err != nil {
		return nil, &amqp.Error{Condition: amqp.CondNotFound, Description: err.Error()}
	}
	switch a.kind {
	case nodeCBS:
		return cs.requestLink(a, nil)
	case nodeManagement:
		ns, _, err := cs.namespace()
		if err != nil {
			return nil, err
		}
		right, exp, err := cs.authorizeAny(a.authPath(), rightListen, rightSend, rightManage)
		if err != nil {
			return nil, err
		}
		opts, err := cs.requestLink(a, ns)
		if err == nil {
			cs.guardOnClose(opts, a.authPath(), right, exp, l.Close)
		}
		return opts, err
	}
	return cs.attachSender(ctx, l, a)
}

// attachOutgoing decides about a link on which the client receives.
func (cs *connState) attachOutgoing(ctx context.Context, l *amqp.OutgoingLink) (*amqp.OutgoingOptions, error) {
	s := l.Attach().Source
	if s == nil || s.Address == "" {
		return nil, &amqp.Error{Condition: amqp.CondInvalidField, Description: "the link needs a source address"}
	}
	a, err := parseAddress(s.Address)
	if err != nil {
		return nil, &amqp.Error{Condition: amqp.CondNotFound, Description: err.Error()}
	}
	switch a.kind {
	case nodeCBS, nodeManagement:
		return cs.replyLink(l, a)
	}
	return cs.attachReceiver(ctx, l, a)
}

// guardOnClose watches a link's claim and stops watching when it closes.
func (cs *connState) guardOnClose(opts *amqp.IncomingOptions, path, right string, exp time.Time, closeFn func(*amqp.Error)) {
	stop := cs.guard(path, right, exp, closeFn)
	prev := opts.OnClose
	opts.OnClose = func(err error) {
		stop()
		if prev != nil {
			prev(err)
		}
	}
}

// replyLink accepts a receiver link for RPC replies ($cbs or $management):
// replies are routed to it by its target address, which requests name as
// their reply-to. A link without a target address (the JavaScript and
// .NET SDKs leave it empty) is known by its link name, which those SDKs
// put in reply-to. Requests to the node without a reply-to are answered on
// the node's first reply link.
func (cs *connState) replyLink(l *amqp.OutgoingLink, node address) (*amqp.OutgoingOptions, error) {
	addr := l.Name()
	if t := l.Attach().Target; t != nil && t.Address != "" {
		addr = t.Address
	}
	if addr == "" {
		return nil, &amqp.Error{Condition: amqp.CondInvalidField, Description: "a reply link needs a target address or a name (the requests' reply-to)"}
	}
	cs.mu.Lock()
	if _, dup := cs.replyLinks[addr]; dup {
		cs.mu.Unlock()
		return nil, &amqp.Error{Condition: amqp.CondNotAllowed, Description: fmt.Sprintf("a reply link with target %q is already attached", addr)}
	}
	cs.replyLinks[addr] = l
	key := node.authPath()
	if cs.nodeReplies[key] == nil {
		cs.nodeReplies[key] = l
	}
	cs.mu.Unlock()
	return &amqp.OutgoingOptions{
		OnClose: func(error) {
			cs.mu.Lock()
			if cs.replyLinks[addr] == l {
				delete(cs.replyLinks, addr)
			}
			if cs.nodeReplies[key] == l {
				delete(cs.nodeReplies, key)
			}
			cs.mu.Unlock()
		},
	}, nil
}

// replyTarget returns the reply link for a request to node: the link its
// reply-to names or, without a reply-to, the node's reply link.
func (cs *connState) replyTarget(node address, replyTo string) *amqp.OutgoingLink {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if replyTo == "" {
		return cs.nodeReplies[node.authPath()]
	}
	return cs.replyLinks[replyTo]
}
