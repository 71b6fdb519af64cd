package e2e

import (
	"context"
	"net"
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
// SDK @azure/service-bus, unmodified: over plain AMQP
// (UseDevelopmentEmulator=true) with customEndpointAddress, and over AMQP on
// WebSockets (webSocketOptions with the ws package) through TLS, with its
// ATOM administration client.
func TestJavaScriptSDK(t *testing.T) {
	dir := ensureJSModules(t)
	env := testenv.Start(t, nil)
	admin := env.Bootstrap(t)
	ns := env.CreateServiceBusNamespace(t, admin, "js-rg", "js-sdk-ns", armservicebus.SKUNameStandard)
	_, port, _ := net.SplitHostPort(env.Config.Addr)
	t.Run("PlainAMQP", func(t *testing.T) {
		runJSScenario(t, dir, ns, "js", "SB_CONNECTION_STRING="+ns.EmulatorConnectionString(), "SB_CUSTOM_ENDPOINT=sb://"+env.AMQPPlainAddr())
	})
	t.Run("WebSockets", func(t *testing.T) {
		proxy := startConnectProxy(t, env)
		runJSScenario(t, dir, ns, "js-ws", append([]string{
			"SB_CONNECTION_STRING=" + ns.ConnectionString(), "SB_CUSTOM_ENDPOINT=https://127.0.0.1:" + port,
			"SB_WEBSOCKET=1", "NODE_EXTRA_CA_CERTS=" + filepath.Join(env.DataDir, "ca.pem"),
			// and the ATOM administration client, through a CONNECT proxy to the namespace host
			"SB_ADMIN=1",
		}, proxyEnv(proxy)...)...)
	})
}

// runJSScenario creates the scenario's entities (names prefixed) and runs
// e2e/js/scenario.mjs with env added to its environment.
func runJSScenario(t *testing.T, dir string, ns testenv.SBNamespace, prefix string, env ...string) {
	ns.CreateQueue(t, prefix+"-queue", nil)
	ns.CreateQueue(t, prefix+"-sessions", &armservicebus.SBQueueProperties{RequiresSession: to.Ptr(true)})
	ns.CreateTopic(t, prefix+"-topic", nil)
	ns.CreateSubscription(t, prefix+"-topic", "red", nil)
	ns.CreateRule(t, prefix+"-topic", "red", "red-only", &armservicebus.Ruleproperties{FilterType: to.Ptr(armservicebus.FilterTypeSQLFilter), SQLFilter: &armservicebus.SQLFilter{SQLExpression: to.Ptr("color = 'red'")}})
	ns.DeleteRule(t, prefix+"-topic", "red", "$Default")
	ns.CreateSubscription(t, prefix+"-topic", "blue", nil)
	ns.CreateRule(t, prefix+"-topic", "blue", "blue-corr", &armservicebus.Ruleproperties{FilterType: to.Ptr(armservicebus.FilterTypeCorrelationFilter), CorrelationFilter: &armservicebus.CorrelationFilter{CorrelationID: to.Ptr("corr-blue")}})
	ns.DeleteRule(t, prefix+"-topic", "blue", "$Default")

	runClientScript(t, "JavaScript SDK scenario", 90*time.Second, dir, append(env,
		"SB_QUEUE="+prefix+"-queue", "SB_SESSION_QUEUE="+prefix+"-sessions", "SB_TOPIC="+prefix+"-topic", "DEBUG="+os.Getenv("KEYWARD_JS_DEBUG"),
	), "node", "scenario.mjs")
}
