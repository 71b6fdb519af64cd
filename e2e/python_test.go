package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/servicebus/armservicebus"

	"github.com/keyward/keyward/internal/testenv"
)

// pythonModules are the Azure SDK for Python packages the scenario imports
// (Debian: python3-azure, python3-uamqp; .ci/run installs them).
const pythonModules = "import azure.identity, azure.keyvault.keys, azure.servicebus, azure.servicebus.management, uamqp"

// findPython returns a Python 3 interpreter that has the Azure SDK
// packages: the system one first (Debian's packages live there), then
// python3 on the PATH. Without one the test is skipped, or fails in CI.
func findPython(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", pythonModules).Run() == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no python3 with the Azure SDK for Python: .ci/run installs python3-azure and python3-uamqp")
	}
	t.Skip("no python3 with the Azure SDK for Python (apt-get install python3-azure python3-uamqp)")
	return ""
}

// TestPythonSDK runs e2e/python/scenario.py with the Azure SDK for Python,
// unmodified: azure-identity (a client secret and an App Service-style
// managed identity) and azure-keyvault-keys against a vault (keys,
// versions, wrap/unwrap, sign/verify, rotation, disable, soft delete and
// recovery), azure-servicebus's administration client over ATOM and its
// AMQP client over WebSockets (send, batch, schedule and cancel, peek,
// peek-lock with renew/complete/abandon/defer/dead-letter, the dead-letter
// queue, sessions with state).
func TestPythonSDK(t *testing.T) {
	python := findPython(t)
	env := testenv.Start(t, nil)
	kv := newKVFixture(t, env)
	vault := kv.createVault(t, "py-sdk-vault", true)
	admin := env.Bootstrap(t)
	ns := env.CreateServiceBusNamespace(t, admin, "py-rg", "py-sdk-ns", armservicebus.SKUNameStandard)
	miSecret := kv.grantManagedIdentity(t, "py-sdk-vault", "py-app")

	dir, err := filepath.Abs("python")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(env.Config.Addr)
	proxy := startConnectProxy(t, env)
	runClientScript(t, "Python SDK scenario", 3*time.Minute, dir, append([]string{
		"KEYWARD_CONNECTION=" + filepath.Join(env.DataDir, "connection.json"),
		"KEYWARD_VAULT_URL=" + *vault.Properties.VaultURI,
		"IDENTITY_ENDPOINT=" + env.URL("login", "/msi/token"), "IDENTITY_HEADER=" + miSecret,
		"SB_CONNECTION_STRING=" + ns.ConnectionString(),
		"SB_CUSTOM_ENDPOINT=sb://127.0.0.1:" + port,
		"REQUESTS_CA_BUNDLE=" + filepath.Join(env.DataDir, "ca.pem"),
		"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1",
	}, proxyEnv(proxy)...), python, "scenario.py")
}
