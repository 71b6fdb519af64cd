package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/logic"
	"github.com/keyward/keyward/internal/logic/logicarm"
	"github.com/keyward/keyward/internal/logic/logichttp"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/namespaces"
	"github.com/keyward/keyward/internal/vault"
)

// openLogic builds the Logic Apps service (integration service environments
// and workflows) and registers the Microsoft.Logic provider. Its callback
// URLs are served on the management host (logicCallbacks).
func (a *App) openLogic(ctx context.Context) error {
	poll := 10 * time.Second
	if a.cfg.KeyPollInterval < poll {
		poll = a.cfg.KeyPollInterval
	}
	a.Logic = logic.New(a.st, a.sysKey, a.Keys, a.MSI, a.ARM, logicVaults{a.Vault},
		logicServiceBus{ns: a.Namespaces, broker: a.Broker, suffix: "servicebus." + a.cfg.Domain, now: a.clock.Now},
		logichttp.NewClient(nil), a.clock, a.log.With("component", "logic"), logic.Config{
			KeyAccessTimeout:   a.cfg.ISEKeyAccessTimeout,
			AccessPollInterval: poll,
			CallbackBase:       a.hostURL("management"),
		})
	if err := a.Logic.Start(ctx); err != nil {
		return fmt.Errorf("logic: %w", err)
	}
	a.closers = append(a.closers, func() error { a.Logic.Close(); return nil })
	a.ARM.Register(logicarm.New(a.Logic))
	return nil
}

// logicCallbacks puts the workflows' signed callback and content URLs
// (https://management.<domain>:<port>/workflows/…, no bearer token) in front
// of the resource manager's handler.
func (a *App) logicCallbacks(next http.Handler) http.Handler {
	if a.Logic == nil {
		return next
	}
	return logichttp.NewCallbacks(a.Logic).Wrap(next)
}

// logicVaults answers the ISEs' questions about key vaults.
type logicVaults struct{ v *vault.Service }

// Vault implements logic.Vaults.
func (l logicVaults) Vault(ctx context.Context, name string) (logic.VaultInfo, error) {
	v, err := l.v.GetVault(ctx, vault.Caller{ObjectID: "keyward", ClientIP: "keyward"}, vault.VaultRef{Name: name})
	if err != nil {
		return logic.VaultInfo{}, err
	}
	return logic.VaultInfo{ID: v.ID, Name: v.Name, URI: v.VaultURI, TenantID: v.TenantID, SoftDelete: v.EnableSoftDelete,
		PurgeProtection: v.EnablePurgeProtection, RBAC: v.EnableRbacAuthorization}, nil
}

// Subscribe implements logic.Vaults.
func (l logicVaults) Subscribe(fn func(string)) func() {
	return l.v.Subscribe(func(e vault.Event) { fn(e.VaultName) })
}

// logicServiceBus sends the Service Bus action's messages: the connection
// string's key is checked exactly as a client's SAS token would be (a
// token signed with it, verified by the namespace), then the broker stores
// the message.
type logicServiceBus struct {
	ns     *namespaces.Service
	broker *servicebus.Broker
	suffix string
	now    func() time.Time
}

// Send implements logic.ServiceBus.
func (l logicServiceBus) Send(ctx context.Context, conn logic.ServiceBusConnection, entity string, msg logic.ServiceBusMessage) error {
	name, ok := strings.CutSuffix(conn.Host, "."+l.suffix)
	if !ok || name == "" || strings.Contains(name, ".") {
		return fmt.Errorf("the connection string's endpoint %s is not a keyward Service Bus namespace (*.%s)", conn.Host, l.suffix)
	}
	entity = strings.Trim(entity, "/")
	token := namespaces.SignSAS("sb://"+conn.Host+"/"+entity, conn.KeyName, conn.Key, l.now().Add(5*time.Minute))
	grant, err := l.ns.VerifySAS(ctx, name, token)
	if err != nil {
		return fmt.Errorf("unauthorized: the connection string's key is not valid for namespace %s: %w", name, err)
	}
	if !grant.Allows("Send", l.ns.Host(name), entity) {
		return errors.New("unauthorized: the connection string's key does not grant the Send right on " + entity)
	}
	nsb, err := l.broker.Namespace(name)
	if err != nil {
		return err
	}
	id := msg.MessageID
	if id == "" {
		id = strings.ReplaceAll(uuid.NewString(), "-", "")
	}
	return nsb.Send(ctx, entity, []servicebus.Message{{
		Body: msg.Body, MessageID: id, SessionID: msg.SessionID, CorrelationID: msg.CorrelationID, Subject: msg.Subject,
		To: msg.To, ReplyTo: msg.ReplyTo, ContentType: msg.ContentType, TimeToLive: msg.TimeToLive,
		ScheduledEnqueueTime: msg.ScheduledEnqueueTime, ApplicationProperties: msg.Properties,
	}})
}
