// keyward conformance scenario for the JavaScript Key Vault SDK
// (@azure/keyvault-keys with @azure/identity), run by
// e2e/keyvault_javascript_test.go. HTTPS reaches keyward's host names
// through HTTPS_PROXY (the test runs a CONNECT proxy) and trusts its CA
// through NODE_EXTRA_CA_CERTS. The first failed expectation exits non-zero.
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { ClientSecretCredential, ManagedIdentityCredential } from "@azure/identity";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";

const conn = JSON.parse(readFileSync(process.env.KEYWARD_CONNECTION, "utf8"));
const vaultUrl = process.env.KEYWARD_VAULT_URL;

function check(cond, msg) {
  if (!cond) {
    throw new Error("expectation failed: " + msg);
  }
}

async function main() {
  const cred = new ClientSecretCredential(conn.tenantId, conn.clientId, conn.clientSecret, {
    authorityHost: conn.authorityHost,
    disableInstanceDiscovery: true,
  });
  const keys = new KeyClient(vaultUrl, cred);

  const key = await keys.createRsaKey("js-key", { keySize: 2048 });
  check(key.keyType === "RSA" && key.properties.enabled === true, "created an enabled RSA key");
  check(key.id.startsWith(vaultUrl.replace(/\/$/, "") + "/keys/js-key/"), "key id under the vault: " + key.id);

  const crypto = new CryptographyClient(key, cred);
  const dek = randomBytes(32);
  const wrapped = await crypto.wrapKey("RSA-OAEP-256", dek);
  check(wrapped.result.length === 256 && wrapped.keyID === key.id, "wrapKey RSA-OAEP-256");
  const unwrapped = await crypto.unwrapKey("RSA-OAEP-256", wrapped.result);
  check(Buffer.compare(Buffer.from(unwrapped.result), dek) === 0, "unwrapKey returns the data key");
  const digest = randomBytes(32);
  const sig = await crypto.sign("PS256", digest);
  check((await crypto.verify("PS256", digest, sig.result)).result === true, "sign/verify PS256");

  const rotated = await keys.rotateKey("js-key");
  check(rotated.id !== key.id, "rotation makes a new version");
  const versions = [];
  for await (const p of keys.listPropertiesOfKeyVersions("js-key")) {
    versions.push(p.version);
  }
  check(versions.length === 2, "two versions, got " + versions.length);
  const policy = await keys.updateKeyRotationPolicy("js-key", {
    expiresIn: "P90D",
    lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }],
  });
  check(policy.expiresIn === "P90D" && policy.lifetimeActions.length === 1, "rotation policy set");

  // Disabled, the key no longer unwraps; the error is the vault's.
  await keys.updateKeyProperties("js-key", { enabled: false });
  const current = new CryptographyClient(rotated.id, cred);
  try {
    await current.unwrapKey("RSA-OAEP-256", (await crypto.wrapKey("RSA-OAEP-256", dek)).result);
    check(false, "unwrapKey with a disabled key must fail");
  } catch (e) {
    check(e.statusCode === 403 && e.code === "Forbidden", "disabled key refused, got " + e.statusCode + " " + e.code);
  }
  await keys.updateKeyProperties("js-key", { enabled: true });

  const poller = await keys.beginDeleteKey("js-key");
  const deleted = await poller.pollUntilDone();
  check(deleted.properties.recoveryId !== undefined && deleted.properties.scheduledPurgeDate !== undefined, "soft deleted");
  const recover = await keys.beginRecoverDeletedKey("js-key");
  const recovered = await recover.pollUntilDone();
  check(recovered.id === rotated.id, "recovered with its versions");

  // A managed identity (App Service style: IDENTITY_ENDPOINT on the loopback
  // address, IDENTITY_HEADER) with get/wrapKey/unwrapKey on the vault.
  const mi = new ManagedIdentityCredential();
  const mk = await new KeyClient(vaultUrl, mi).getKey("js-key");
  check(mk.id === rotated.id, "the managed identity reads the key");
  const miCrypto = new CryptographyClient(mk, mi);
  const w = await miCrypto.wrapKey("RSA-OAEP-256", dek);
  check(Buffer.compare(Buffer.from((await miCrypto.unwrapKey("RSA-OAEP-256", w.result)).result), dek) === 0, "the managed identity unwraps");
  try {
    await new KeyClient(vaultUrl, mi).beginDeleteKey("js-key");
    check(false, "the managed identity has no delete permission");
  } catch (e) {
    check(e.statusCode === 403, "delete by the managed identity refused, got " + e.statusCode);
  }
  console.log("js key vault: all expectations met");
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
