package testenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/servicebus/armservicebus"
)

// AMQPAddr is the AMQP TLS listener's address (127.0.0.1:port).
func (e *Env) AMQPAddr() string { return e.App.AMQPAddr() }

// AMQPPlainAddr is the plain AMQP listener's address (127.0.0.1:port).
func (e *Env) AMQPPlainAddr() string { return e.App.AMQPPlainAddr() }

// ServiceBusFQDN is a namespace's host name, <ns>.servicebus.<domain>.
func (e *Env) ServiceBusFQDN(ns string) string { return ns + ".servicebus." + e.Config.Domain }

// AMQPTLSConfig trusts keyward's CA (for amqps clients that dial the TLS
// listener's 127.0.0.1 address and name the namespace's FQDN).
func (e *Env) AMQPTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: e.Pool, MinVersion: tls.VersionTLS12}
}

// SBNamespace is a namespace made by CreateServiceBusNamespace.
type SBNamespace struct {
	Name          string
	ResourceGroup string
	ID            string
	FQDN          string
	// KeyName and Key are the RootManageSharedAccessKey rule's name and
	// primary key.
	KeyName string
	Key     string
	env     *Env
	cred    azcore.TokenCredential
}

// EmulatorConnectionString is the connection string of the namespace's
// root key for plain AMQP (UseDevelopmentEmulator=true); clients reach the
// plain listener through the SDK's CustomEndpoint option.
func (n SBNamespace) EmulatorConnectionString() string {
	return fmt.Sprintf("Endpoint=sb://%s;SharedAccessKeyName=%s;SharedAccessKey=%s;UseDevelopmentEmulator=true", n.FQDN, n.KeyName, n.Key)
}

// ConnectionString is the namespace root key's connection string (amqps).
func (n SBNamespace) ConnectionString() string {
	return fmt.Sprintf("Endpoint=sb://%s/;SharedAccessKeyName=%s;SharedAccessKey=%s", n.FQDN, n.KeyName, n.Key)
}

var fastPoll = &runtime.PollUntilDoneOptions{Frequency: 100 * time.Millisecond}

func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// CreateServiceBusNamespace creates resource group rg (if needed) and
// namespace name (sku Standard when empty) through armservicebus as cred,
// and returns it with its root key.
func (e *Env) CreateServiceBusNamespace(t testing.TB, cred azcore.TokenCredential, rg, name string, sku armservicebus.SKUName) SBNamespace {
	t.Helper()
	ctx := tctx(t)
	if sku == "" {
		sku = armservicebus.SKUNameStandard
	}
	rgc, err := armresources.NewResourceGroupsClient(e.Conn.SubscriptionID, cred, e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rgc.CreateOrUpdate(ctx, rg, armresources.ResourceGroup{Location: to.Ptr("westeurope")}, nil); err != nil {
		t.Fatalf("resource group %s: %v", rg, err)
	}
	nc, err := armservicebus.NewNamespacesClient(e.Conn.SubscriptionID, cred, e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	tier := armservicebus.SKUTier(sku)
	p, err := nc.BeginCreateOrUpdate(ctx, rg, name, armservicebus.SBNamespace{Location: to.Ptr("westeurope"),
		SKU: &armservicebus.SBSKU{Name: to.Ptr(sku), Tier: to.Ptr(tier)}}, nil)
	if err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
	res, err := p.PollUntilDone(ctx, fastPoll)
	if err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
	return e.ServiceBusNamespaceOf(t, cred, rg, name, *res.ID)
}

// ServiceBusNamespaceOf returns an existing namespace with its root key.
func (e *Env) ServiceBusNamespaceOf(t testing.TB, cred azcore.TokenCredential, rg, name, id string) SBNamespace {
	t.Helper()
	nc, err := armservicebus.NewNamespacesClient(e.Conn.SubscriptionID, cred, e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := nc.ListKeys(tctx(t), rg, name, "RootManageSharedAccessKey", nil)
	if err != nil {
		t.Fatalf("list keys of %s: %v", name, err)
	}
	return SBNamespace{Name: name, ResourceGroup: rg, ID: id, FQDN: e.ServiceBusFQDN(name),
		KeyName: *keys.KeyName, Key: *keys.PrimaryKey, env: e, cred: cred}
}

// CreateQueue creates a queue through armservicebus (props may be nil).
func (n SBNamespace) CreateQueue(t testing.TB, queue string, props *armservicebus.SBQueueProperties) {
	t.Helper()
	qc, err := armservicebus.NewQueuesClient(n.env.Conn.SubscriptionID, n.cred, n.env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := qc.CreateOrUpdate(tctx(t), n.ResourceGroup, n.Name, queue, armservicebus.SBQueue{Properties: props}, nil); err != nil {
		t.Fatalf("queue %s: %v", queue, err)
	}
}

// CreateTopic creates a topic through armservicebus (props may be nil).
func (n SBNamespace) CreateTopic(t testing.TB, topic string, props *armservicebus.SBTopicProperties) {
	t.Helper()
	tc, err := armservicebus.NewTopicsClient(n.env.Conn.SubscriptionID, n.cred, n.env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.CreateOrUpdate(tctx(t), n.ResourceGroup, n.Name, topic, armservicebus.SBTopic{Properties: props}, nil); err != nil {
		t.Fatalf("topic %s: %v", topic, err)
	}
}

// CreateSubscription creates a subscription of topic (props may be nil);
// it starts with the $Default rule (a true filter).
func (n SBNamespace) CreateSubscription(t testing.TB, topic, sub string, props *armservicebus.SBSubscriptionProperties) {
	t.Helper()
	sc, err := armservicebus.NewSubscriptionsClient(n.env.Conn.SubscriptionID, n.cred, n.env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.CreateOrUpdate(tctx(t), n.ResourceGroup, n.Name, topic, sub, armservicebus.SBSubscription{Properties: props}, nil); err != nil {
		t.Fatalf("subscription %s/%s: %v", topic, sub, err)
	}
}

// CreateRule creates or replaces a rule of a subscription.
func (n SBNamespace) CreateRule(t testing.TB, topic, sub, rule string, props *armservicebus.Ruleproperties) {
	t.Helper()
	rc, err := armservicebus.NewRulesClient(n.env.Conn.SubscriptionID, n.cred, n.env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.CreateOrUpdate(tctx(t), n.ResourceGroup, n.Name, topic, sub, rule, armservicebus.Rule{Properties: props}, nil); err != nil {
		t.Fatalf("rule %s/%s/%s: %v", topic, sub, rule, err)
	}
}

// DeleteRule deletes a rule of a subscription.
func (n SBNamespace) DeleteRule(t testing.TB, topic, sub, rule string) {
	t.Helper()
	rc, err := armservicebus.NewRulesClient(n.env.Conn.SubscriptionID, n.cred, n.env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Delete(tctx(t), n.ResourceGroup, n.Name, topic, sub, rule, nil); err != nil {
		t.Fatalf("delete rule %s/%s/%s: %v", topic, sub, rule, err)
	}
}
