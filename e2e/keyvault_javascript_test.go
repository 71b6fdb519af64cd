package e2e

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testenv"
)

// TestJavaScriptKeyVault runs e2e/js/keyvault.mjs with @azure/identity and
// @azure/keyvault-keys from npm, unmodified: keys, wrap/unwrap, sign/verify,
// rotation and its policy, disable, soft delete and recovery, and an App
// Service-style ManagedIdentityCredential. HTTPS reaches
// keyward's host names through a CONNECT proxy (HTTPS_PROXY, which the
// SDK's pipeline honours).
func TestJavaScriptKeyVault(t *testing.T) {
	dir := ensureJSModules(t)
	env := testenv.Start(t, nil)
	kv := newKVFixture(t, env)
	vault := kv.createVault(t, "js-sdk-vault", true)
	proxy := startConnectProxy(t, env)
	miSecret := kv.grantManagedIdentity(t, "js-sdk-vault", "js-app")
	_, port, _ := net.SplitHostPort(env.Config.Addr)

	runClientScript(t, "JavaScript Key Vault scenario", 90*time.Second, dir, append([]string{
		"KEYWARD_CONNECTION=" + filepath.Join(env.DataDir, "connection.json"),
		"KEYWARD_VAULT_URL=" + *vault.Properties.VaultURI,
		"NODE_EXTRA_CA_CERTS=" + filepath.Join(env.DataDir, "ca.pem"),
		// keyward's managed identity endpoint on the loopback address (no DNS name needed)
		"IDENTITY_ENDPOINT=https://127.0.0.1:" + port + "/msi/token", "IDENTITY_HEADER=" + miSecret,
	}, proxyEnv(proxy)...), "node", "keyvault.mjs")
}
