package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/servicebus/armservicebus"

	"github.com/keyward/keyward/internal/testenv"
)

// TestServiceBusMessageCommands sends, peeks and receives over the REST
// messaging API with the namespace's root key, as the CLI does.
func TestServiceBusMessageCommands(t *testing.T) {
	env := testenv.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cred := env.Bootstrap(t)
	rgc, _ := armresources.NewResourceGroupsClient(env.Conn.SubscriptionID, cred, env.ARMOptions())
	if _, err := rgc.CreateOrUpdate(ctx, "cli-rg", armresources.ResourceGroup{Location: to.Ptr("westeurope")}, nil); err != nil {
		t.Fatal(err)
	}
	nc, _ := armservicebus.NewNamespacesClient(env.Conn.SubscriptionID, cred, env.ARMOptions())
	p, err := nc.BeginCreateOrUpdate(ctx, "cli-rg", "cli-ns-001", armservicebus.SBNamespace{Location: to.Ptr("westeurope"),
		SKU: &armservicebus.SBSKU{Name: to.Ptr(armservicebus.SKUNameStandard)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	qc, _ := armservicebus.NewQueuesClient(env.Conn.SubscriptionID, cred, env.ARMOptions())
	if _, err := qc.CreateOrUpdate(ctx, "cli-rg", "cli-ns-001", "inbox", armservicebus.SBQueue{}, nil); err != nil {
		t.Fatal(err)
	}
	tc, _ := armservicebus.NewTopicsClient(env.Conn.SubscriptionID, cred, env.ARMOptions())
	if _, err := tc.CreateOrUpdate(ctx, "cli-rg", "cli-ns-001", "news", armservicebus.SBTopic{}, nil); err != nil {
		t.Fatal(err)
	}
	sc, _ := armservicebus.NewSubscriptionsClient(env.Conn.SubscriptionID, cred, env.ARMOptions())
	if _, err := sc.CreateOrUpdate(ctx, "cli-rg", "cli-ns-001", "news", "reader", armservicebus.SBSubscription{}, nil); err != nil {
		t.Fatal(err)
	}
	dd := []string{"--data-dir", env.DataDir, "--namespace", "cli-ns-001"}

	for _, body := range []string{"hello", "world"} {
		out, err := run(t, append([]string{"servicebus", "message", "send", "--queue", "inbox", "--body", body, "--properties", "color=red", "--properties", "n=7", "--message-id", "id-" + body}, dd...)...)
		if err != nil {
			t.Fatalf("send: %v\n%s", err, out)
		}
	}
	type msg struct {
		Body             string
		BrokerProperties struct {
			MessageID      string `json:"MessageId"`
			SequenceNumber int64
		}
		Properties map[string]any
	}
	decode := func(out string) []msg {
		t.Helper()
		var ms []msg
		if err := json.Unmarshal([]byte(out), &ms); err != nil {
			t.Fatalf("output is not a JSON list: %v\n%s", err, out)
		}
		return ms
	}
	out, err := run(t, append([]string{"servicebus", "message", "peek", "--queue", "inbox", "--max", "5"}, dd...)...)
	if err != nil {
		t.Fatalf("peek: %v\n%s", err, out)
	}
	ms := decode(out)
	if len(ms) != 2 || ms[0].Body != "hello" || ms[1].BrokerProperties.SequenceNumber != 2 || ms[0].Properties["Color"] != "red" || ms[0].Properties["N"] != 7.0 {
		t.Fatalf("peek: %s", out)
	}
	out, err = run(t, append([]string{"servicebus", "message", "receive", "--queue", "inbox", "--max", "5", "--timeout", "1", "--peek-lock"}, dd...)...)
	if err != nil {
		t.Fatalf("receive: %v\n%s", err, out)
	}
	if ms := decode(out); len(ms) != 2 || ms[1].Body != "world" || ms[1].BrokerProperties.MessageID != "id-world" {
		t.Fatalf("receive: %s", out)
	}
	out, err = run(t, append([]string{"servicebus", "message", "receive", "--queue", "inbox", "--timeout", "0"}, dd...)...)
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("queue not empty: %v %s", err, out)
	}

	// A topic and its subscription.
	if out, err := run(t, append([]string{"servicebus", "message", "send", "--topic", "news", "--body", "extra!"}, dd...)...); err != nil {
		t.Fatalf("send to topic: %v\n%s", err, out)
	}
	out, err = run(t, append([]string{"servicebus", "message", "receive", "--topic", "news", "--subscription", "reader"}, dd...)...)
	if err != nil || len(decode(out)) != 1 || decode(out)[0].Body != "extra!" {
		t.Fatalf("receive from subscription: %v %s", err, out)
	}
	// Errors: an unknown queue, a missing subscription.
	if out, err := run(t, append([]string{"servicebus", "message", "send", "--queue", "nosuch", "--body", "x"}, dd...)...); err == nil || !strings.Contains(err.Error(), "could not be found") {
		t.Fatalf("unknown queue: %v %s", err, out)
	}
	if _, err := run(t, append([]string{"servicebus", "message", "receive", "--topic", "news"}, dd...)...); err == nil {
		t.Fatal("receive from a topic without --subscription succeeded")
	}
	if _, err := run(t, "servicebus", "message", "peek", "--data-dir", env.DataDir, "--namespace", "no-such-ns", "--queue", "q"); err == nil {
		t.Fatal("unknown namespace accepted")
	}
}
