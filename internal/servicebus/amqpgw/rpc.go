package amqpgw

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/amqp"
	"github.com/keyward/keyward/internal/servicebus"
)

// Token types of put-token.
const (
	tokenTypeSAS = "servicebus.windows.net:sastoken"
	tokenTypeJWT = "jwt"
)

// replyTimeout bounds the wait for credit on a reply link.
const replyTimeout = 30 * time.Second

// reply is the answer to an RPC request.
type reply struct {
	status int32
	desc   string
	cond   amqp.Symbol
	body   any // amqp-value body; nil: none
}

func okReply(body any) reply { return reply{status: statusOK, desc: "OK", body: body} }

// errReply is the reply for err (a broker error or an *amqp.Error).
func errReply(err error) reply {
	e, status := mapError(err)
	return reply{status: status, desc: e.Description, cond: e.Condition}
}

// requestLink accepts a link on which the client sends requests to $cbs
// (ns nil) or to a $management node; each request is answered on the
// reply link its reply-to names (or the node's, without a reply-to).
func (cs *connState) requestLink(a address, ns *servicebus.Namespace) (*amqp.IncomingOptions, error) {
	return &amqp.IncomingOptions{
		Credit:         64,
		SettleOutcomes: true,
		OnDelivery: func(ctx context.Context, d *amqp.Delivery) {
			msg, err := d.Message()
			if err != nil {
				_ = d.Reject(&amqp.Error{Condition: amqp.CondDecodeError, Description: err.Error()})
				return
			}
			_ = d.Accept()
			var r reply
			if a.kind == nodeCBS {
				r = cs.putToken(ctx, msg)
			} else {
				r = cs.management(ctx, a, ns, msg)
			}
			cs.sendReply(ctx, a, msg, r)
		},
	}, nil
}

// sendReply sends r to the link whose target is the request's reply-to,
// or, for a request without one, to the reply link attached to node.
func (cs *connState) sendReply(ctx context.Context, node address, req *amqp.Message, r reply) {
	var replyTo string
	var msgID, corrID any
	if req.Properties != nil {
		replyTo, msgID, corrID = req.Properties.ReplyTo, req.Properties.MessageID, req.Properties.CorrelationID
	}
	l := cs.replyTarget(node, replyTo)
	if l == nil {
		cs.g.log.Debug("amqp reply dropped: no reply link", "reply_to", replyTo)
		return
	}
	props := map[string]any{
		"statusCode":         r.status,
		"status-code":        r.status,
		"statusDescription":  r.desc,
		"status-description": r.desc,
	}
	if r.cond != "" {
		props["errorCondition"] = r.cond
	}
	resp := amqp.Message{
		Properties:            &amqp.Properties{CorrelationID: msgID, To: replyTo},
		ApplicationProperties: props,
		Value:                 r.body,
	}
	if resp.Properties.CorrelationID == nil {
		resp.Properties.CorrelationID = corrID
	}
	payload, err := resp.MarshalBinary()
	if err != nil {
		cs.g.log.Debug("amqp reply cannot be encoded", "err", err)
		resp.Value = nil
		props["statusCode"], props["status-code"] = statusInternalServerError, statusInternalServerError
		props["statusDescription"], props["status-description"] = "the reply could not be encoded", "the reply could not be encoded"
		if payload, err = resp.MarshalBinary(); err != nil {
			return
		}
	}
	tag := binary.BigEndian.AppendUint64(nil, cs.replySeq.Add(1))
	settled := l.Attach().SenderSettleMode != amqp.SenderSettleModeUnsettled
	sctx, cancel := context.WithTimeout(ctx, replyTimeout)
	defer cancel()
	if err := l.SendPayload(sctx, payload, 0, tag, settled); err != nil {
		cs.g.log.Debug("amqp reply not sent", "err", err)
	}
}

// appString returns an application property as a string (string or symbol).
func appString(m *amqp.Message, key string) string {
	switch v := m.ApplicationProperties[key].(type) {
	case string:
		return v
	case amqp.Symbol:
		return string(v)
	}
	return ""
}

// putToken handles a put-token request on $cbs: it verifies the token and
// records a claim for the audience on the connection (replacing an older
// claim for the same audience, which is how clients renew).
func (cs *connState) putToken(ctx context.Context, msg *amqp.Message) reply {
	if op := appString(msg, "operation"); op != "put-token" {
		return reply{status: statusBadRequest, desc: fmt.Sprintf("unsupported $cbs operation %q", op), cond: amqp.CondNotImplemented}
	}
	typ, aud := appString(msg, "type"), appString(msg, "name")
	var token string
	switch v := msg.Value.(type) {
	case string:
		token = v
	case []byte:
		token = string(v)
	default:
		if len(msg.Data) == 1 {
			token = string(msg.Data[0])
		}
	}
	if token == "" || aud == "" {
		return reply{status: statusBadRequest, desc: "put-token needs a token body and the name (audience) property", cond: CondArgumentError}
	}
	host, path, err := splitAudience(aud)
	if err != nil {
		return reply{status: statusBadRequest, desc: err.Error(), cond: CondArgumentError}
	}
	nsName := namespaceFromHost(host, cs.g.cfg.DNSSuffix)
	if nsName == "" {
		return reply{status: statusBadRequest, desc: fmt.Sprintf("the audience %q does not name a namespace (<namespace>.%s)", aud, cs.g.cfg.DNSSuffix), cond: CondArgumentError}
	}
	cs.mu.Lock()
	bound := cs.ns
	cs.mu.Unlock()
	if bound != "" && !strings.EqualFold(bound, nsName) {
		return reply{status: statusUnauthorized, desc: fmt.Sprintf("this connection belongs to namespace %q, not %q", bound, nsName), cond: amqp.CondUnauthorizedAccess}
	}
	n, ok := cs.g.cfg.Namespaces.Get(nsName)
	if !ok {
		return reply{status: statusNotFound, desc: fmt.Sprintf("namespace %q does not exist", nsName), cond: amqp.CondNotFound}
	}
	c := claim{path: path}
	switch typ {
	case tokenTypeSAS:
		g, err := cs.g.cfg.Namespaces.VerifySAS(ctx, n.Name, token)
		if err != nil {
			return reply{status: statusUnauthorized, desc: err.Error(), cond: amqp.CondUnauthorizedAccess}
		}
		target := strings.TrimRight(host+"/"+path, "/")
		if g.Resource != target && !strings.HasPrefix(target, g.Resource+"/") {
			return reply{status: statusUnauthorized, desc: fmt.Sprintf("the token is for %q, which does not cover the audience %q", g.Resource, aud), cond: amqp.CondUnauthorizedAccess}
		}
		c.grant, c.expires = &g, g.Expires
	case tokenTypeJWT:
		if cs.g.cfg.ValidateToken == nil {
			return reply{status: statusUnauthorized, desc: "Microsoft Entra ID tokens are not accepted", cond: amqp.CondUnauthorizedAccess}
		}
		claims, err := cs.g.cfg.ValidateToken(token, cs.g.cfg.Audiences...)
		if err != nil {
			return reply{status: statusUnauthorized, desc: err.Error(), cond: amqp.CondUnauthorizedAccess}
		}
		if n.TenantID != "" && !strings.EqualFold(claims.TenantID, n.TenantID) {
			return reply{status: statusUnauthorized, desc: fmt.Sprintf("the token is from tenant %s; namespace %q is in tenant %s", claims.TenantID, n.Name, n.TenantID), cond: amqp.CondUnauthorizedAccess}
		}
		if claims.ObjectID == "" {
			return reply{status: statusUnauthorized, desc: "the token names no principal (oid)", cond: amqp.CondUnauthorizedAccess}
		}
		c.principal, c.expires = claims.ObjectID, claims.ExpiresAt
	default:
		return reply{status: statusBadRequest, desc: fmt.Sprintf("unsupported token type %q (want %q or %q)", typ, tokenTypeSAS, tokenTypeJWT), cond: CondArgumentError}
	}
	cs.mu.Lock()
	if cs.ns != "" && !strings.EqualFold(cs.ns, n.Name) {
		cs.mu.Unlock()
		return reply{status: statusUnauthorized, desc: fmt.Sprintf("this connection belongs to namespace %q", cs.ns), cond: amqp.CondUnauthorizedAccess}
	}
	cs.ns = n.Name
	cs.claims[path] = c
	cs.mu.Unlock()
	return reply{status: statusAccepted, desc: "Accepted"}
}
