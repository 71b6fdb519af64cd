// keyward conformance scenario for the JavaScript Service Bus SDK
// (@azure/service-bus), run by e2e/servicebus_js_test.go. It takes its
// configuration from the environment and exits non-zero on the first
// failed expectation.
import { ServiceBusAdministrationClient, ServiceBusClient } from "@azure/service-bus";
import WebSocket from "ws";

const cs = process.env.SB_CONNECTION_STRING;
const endpoint = process.env.SB_CUSTOM_ENDPOINT;
const queue = process.env.SB_QUEUE;
const sessionQueue = process.env.SB_SESSION_QUEUE;
const topic = process.env.SB_TOPIC;

function check(cond, msg) {
  if (!cond) {
    throw new Error("expectation failed: " + msg);
  }
}

const options = {
  customEndpointAddress: endpoint,
  retryOptions: { maxRetries: 1, retryDelayInMs: 100, timeoutInMs: 10000 },
};
if (process.env.SB_WEBSOCKET === "1") {
  // AMQP over WebSockets (wss://<endpoint>/$servicebus/websocket); TLS trust from NODE_EXTRA_CA_CERTS.
  options.webSocketOptions = { webSocket: WebSocket };
}
const client = new ServiceBusClient(cs, options);

async function main() {
  const sender = client.createSender(queue);
  // Send one and a batch.
  await sender.sendMessages({ body: "hello from js", messageId: "js-1", subject: "greeting", applicationProperties: { n: 7, kind: "test" } });
  const batch = await sender.createMessageBatch();
  for (let i = 0; i < 3; i++) {
    check(batch.tryAddMessage({ body: { i }, messageId: "batch-" + i }), "batch accepts message " + i);
  }
  await sender.sendMessages(batch);

  // Peek does not lock.
  const peeked = await client.createReceiver(queue).peekMessages(10);
  check(peeked.length === 4, "peek sees 4 messages, got " + peeked.length);

  // Peek-lock: complete, abandon, defer, dead-letter, renew lock.
  const receiver = client.createReceiver(queue, { receiveMode: "peekLock" });
  let msgs = await receiver.receiveMessages(4, { maxWaitTimeInMs: 5000 });
  check(msgs.length >= 1, "received messages");
  while (msgs.length < 4) {
    const more = await receiver.receiveMessages(4 - msgs.length, { maxWaitTimeInMs: 5000 });
    check(more.length > 0, "received the rest");
    msgs = msgs.concat(more);
  }
  const byId = Object.fromEntries(msgs.map((m) => [m.messageId, m]));
  check(byId["js-1"].body === "hello from js", "body round trip");
  check(byId["js-1"].subject === "greeting", "subject round trip");
  check(byId["js-1"].applicationProperties.n === 7, "application property round trip");
  check(typeof byId["js-1"].sequenceNumber !== "undefined", "sequence number set");
  const until = await receiver.renewMessageLock(byId["js-1"]);
  check(until instanceof Date && until.getTime() > Date.now(), "renewed lock");
  await receiver.completeMessage(byId["js-1"]);
  await receiver.abandonMessage(byId["batch-0"]);
  await receiver.deferMessage(byId["batch-1"]);
  await receiver.deadLetterMessage(byId["batch-2"], { deadLetterReason: "js-reason", deadLetterErrorDescription: "js-description" });

  const again = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
  check(again.length === 1 && again[0].messageId === "batch-0" && again[0].deliveryCount === 1, "abandoned message redelivered with deliveryCount 1, got " + JSON.stringify(again.map((m) => [m.messageId, m.deliveryCount])));
  await receiver.completeMessage(again[0]);

  const deferred = await receiver.receiveDeferredMessages([byId["batch-1"].sequenceNumber]);
  check(deferred.length === 1 && deferred[0].messageId === "batch-1", "deferred message received by sequence number");
  await receiver.completeMessage(deferred[0]);

  const dlq = client.createReceiver(queue, { subQueueType: "deadLetter" });
  const dead = await dlq.receiveMessages(1, { maxWaitTimeInMs: 5000 });
  check(dead.length === 1 && dead[0].deadLetterReason === "js-reason" && dead[0].deadLetterErrorDescription === "js-description", "dead-lettered message with reason and description");
  await dlq.completeMessage(dead[0]);

  // Schedule and cancel.
  const seqs = await sender.scheduleMessages({ body: "later" }, new Date(Date.now() + 3600 * 1000));
  check(seqs.length === 1, "scheduled");
  const scheduledPeek = await client.createReceiver(queue).peekMessages(10);
  check(scheduledPeek.length === 1 && scheduledPeek[0].state === "scheduled", "scheduled message peeked, got " + JSON.stringify(scheduledPeek.map((m) => m.state)));
  await sender.cancelScheduledMessages(seqs);
  const afterCancel = await client.createReceiver(queue).peekMessages(10);
  check(afterCancel.length === 0, "cancelled scheduled message is gone");

  // Receive and delete.
  await sender.sendMessages({ body: "rd", messageId: "rd-1" });
  const rd = client.createReceiver(queue, { receiveMode: "receiveAndDelete" });
  const rdm = await rd.receiveMessages(1, { maxWaitTimeInMs: 5000 });
  check(rdm.length === 1 && rdm[0].messageId === "rd-1", "receive and delete");

  // Sessions with state.
  const ss = client.createSender(sessionQueue);
  await ss.sendMessages([{ body: "s1", sessionId: "session-a" }, { body: "s2", sessionId: "session-a" }]);
  const sr = await client.acceptSession(sessionQueue, "session-a");
  const sm = await sr.receiveMessages(2, { maxWaitTimeInMs: 2000 });
  check(sm.length >= 1 && sm[0].sessionId === "session-a", "session message");
  await sr.setSessionState("state-42");
  const state = await sr.getSessionState();
  check(Buffer.isBuffer(state) ? state.toString() === "state-42" : state === "state-42", "session state round trip, got " + state);
  for (const m of sm) {
    await sr.completeMessage(m);
  }
  await sr.close();

  // Topic with SQL and correlation filters (subscriptions and rules made by the Go test).
  const ts = client.createSender(topic);
  await ts.sendMessages([
    { body: "red", applicationProperties: { color: "red" } },
    { body: "blue", correlationId: "corr-blue" },
  ]);
  const red = await client.createReceiver(topic, "red", { receiveMode: "receiveAndDelete" }).receiveMessages(2, { maxWaitTimeInMs: 1000 });
  check(red.length === 1 && red[0].body === "red", "SQL filter subscription got only red, got " + JSON.stringify(red.map((m) => m.body)));
  const blue = await client.createReceiver(topic, "blue", { receiveMode: "receiveAndDelete" }).receiveMessages(2, { maxWaitTimeInMs: 1000 });
  check(blue.length === 1 && blue[0].body === "blue", "correlation filter subscription got only blue, got " + JSON.stringify(blue.map((m) => m.body)));

  if (process.env.SB_ADMIN === "1") {
    // The ATOM administration client over HTTPS (HTTPS_PROXY reaches the namespace host).
    const admin = new ServiceBusAdministrationClient(cs);
    const q = topic + "-admin-q";
    await admin.createQueue(q, { maxDeliveryCount: 4, lockDuration: "PT45S", requiresDuplicateDetection: true });
    const props = await admin.getQueue(q);
    check(props.maxDeliveryCount === 4 && props.lockDuration === "PT45S" && props.requiresDuplicateDetection === true, "admin queue properties " + JSON.stringify(props));
    const s = client.createSender(q);
    await s.sendMessages([{ body: "a", messageId: "dup" }, { body: "b", messageId: "dup" }, { body: "c", messageId: "other" }]);
    const rt = await admin.getQueueRuntimeProperties(q);
    check(rt.activeMessageCount === 2, "duplicate detection and runtime counts: " + rt.activeMessageCount);
    await admin.createRule(topic, "blue", "sql-rule", { sqlExpression: "n > 5" }, { sqlExpression: "SET seen = true" });
    const names = [];
    for await (const r of admin.listRules(topic, "blue")) {
      names.push(r.name);
    }
    check(names.length === 2 && names.includes("sql-rule") && names.includes("blue-corr"), "rules " + JSON.stringify(names));
    const queues = [];
    for await (const x of admin.listQueues()) {
      queues.push(x.name);
    }
    check(queues.includes(q), "listQueues includes " + q);
    await admin.deleteQueue(q);
    check(!(await admin.queueExists(q)), "queue deleted");
  }

  await client.close();
  console.log("js scenario: all expectations met");
}

main().catch(async (err) => {
  console.error(err && err.stack ? err.stack : String(err));
  try {
    await client.close();
  } catch {}
  process.exit(1);
});
