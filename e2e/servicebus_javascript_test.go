package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/servicebus/armservicebus"

	"github.com/keyward/keyward/internal/testenv"
)

// ensureJSModules installs e2e/js's locked npm dependencies when they are
// missing (npm ci, from the npm registry). Node.js must be on the PATH.
func ensureJSModules(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is not installed: .ci/run installs it")
		}
		t.Skip("node is not installed: the JavaScript SDK conformance test needs Node.js 18+")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@azure", "service-bus")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	return dir
}

// TestJavaScriptSDK runs the same Service Bus scenario with the JavaScript
// SDK @azure/service-bus, unmodified, over plain AMQP
// (UseDevelopmentEmulator=true) with customEndpointAddress.
func TestJavaScriptSDK(t *testing.T) {
	dir := ensureJSModules(t)
	env := testenv.Start(t, nil)
	ctx := ctxT(t)
	admin := env.Bootstrap(t)
	ns := env.CreateServiceBusNamespace(t, admin, "js-rg", "js-sdk-ns", armservicebus.SKUNameStandard)
	ns.CreateQueue(t, "js-queue", nil)
	ns.CreateQueue(t, "js-sessions", &armservicebus.SBQueueProperties{RequiresSession: to.Ptr(true)})
	ns.CreateTopic(t, "js-topic", nil)
	ns.CreateSubscription(t, "js-topic", "red", nil)
	ns.CreateRule(t, "js-topic", "red", "red-only", &armservicebus.Ruleproperties{FilterType: to.Ptr(armservicebus.FilterTypeSQLFilter), SQLFilter: &armservicebus.SQLFilter{SQLExpression: to.Ptr("color = 'red'")}})
	ns.DeleteRule(t, "js-topic", "red", "$Default")
	ns.CreateSubscription(t, "js-topic", "blue", nil)
	ns.CreateRule(t, "js-topic", "blue", "blue-corr", &armservicebus.Ruleproperties{FilterType: to.Ptr(armservicebus.FilterTypeCorrelationFilter), CorrelationFilter: &armservicebus.CorrelationFilter{CorrelationID: to.Ptr("corr-blue")}})
	ns.DeleteRule(t, "js-topic", "blue", "$Default")

	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(rctx, "node", "scenario.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"SB_CONNECTION_STRING="+ns.EmulatorConnectionString(),
		"SB_CUSTOM_ENDPOINT=sb://"+env.AMQPPlainAddr(),
		"SB_QUEUE=js-queue", "SB_SESSION_QUEUE=js-sessions", "SB_TOPIC=js-topic", "DEBUG="+os.Getenv("KEYWARD_JS_DEBUG"),
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("JavaScript SDK scenario: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
