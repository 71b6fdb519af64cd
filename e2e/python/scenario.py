"""keyward conformance scenario for the Azure SDK for Python, run by
e2e/python_test.go: azure-identity, azure-keyvault-keys and azure-servicebus
(with its ATOM administration client), unmodified. Configuration comes from
the environment; the first failed expectation raises and exits non-zero.

HTTPS reaches keyward's host names through HTTPS_PROXY (the test runs a
CONNECT proxy); Service Bus speaks AMQP over WebSockets to
custom_endpoint_address, which azure-servicebus 7.x supports.
"""

import datetime
import json
import os
import sys
import uuid

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential, ManagedIdentityCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import (CryptographyClient, EncryptionAlgorithm,
                                        KeyWrapAlgorithm, SignatureAlgorithm)
from azure.servicebus import (ServiceBusClient, ServiceBusMessage,
                              ServiceBusReceiveMode, ServiceBusSubQueue)
from azure.servicebus.management import (CorrelationRuleFilter, ServiceBusAdministrationClient,
                                         SqlRuleAction, SqlRuleFilter)


def check(cond, msg):
    if not cond:
        raise AssertionError("expectation failed: " + msg)


def keyvault(conn, vault_url):
    cred = ClientSecretCredential(conn["tenantId"], conn["clientId"], conn["clientSecret"],
                                  authority=conn["authorityHost"], instance_discovery=False)
    kc = KeyClient(vault_url=vault_url, credential=cred)
    key = kc.create_rsa_key("py-key", size=2048, key_operations=["wrapKey", "unwrapKey", "encrypt", "decrypt", "sign", "verify"])
    check(key.key_type == "RSA" and key.properties.enabled, "created an enabled RSA key")
    check(key.id.startswith(vault_url.rstrip("/") + "/keys/py-key/"), "key id under the vault: " + key.id)

    cc = CryptographyClient(key, credential=cred)
    dek = os.urandom(32)
    wrapped = cc.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, dek)
    check(wrapped.key_id == key.id and len(wrapped.encrypted_key) == 256, "wrapKey RSA-OAEP-256")
    check(cc.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == dek, "unwrapKey returns the data key")
    enc = cc.encrypt(EncryptionAlgorithm.rsa_oaep, b"secret")
    check(cc.decrypt(EncryptionAlgorithm.rsa_oaep, enc.ciphertext).plaintext == b"secret", "encrypt/decrypt RSA-OAEP")
    digest = bytes(range(32))
    sig = cc.sign(SignatureAlgorithm.rs256, digest)
    check(cc.verify(SignatureAlgorithm.rs256, digest, sig.signature).is_valid, "sign/verify RS256")

    rotated = kc.rotate_key("py-key")
    check(rotated.id != key.id and rotated.name == "py-key", "rotate makes a new version")
    versions = list(kc.list_properties_of_key_versions("py-key"))
    check(len(versions) == 2, "two versions after rotation, got %d" % len(versions))
    # The old version still unwraps what it wrapped.
    old = CryptographyClient(key.id, credential=cred)
    check(old.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == dek, "old version unwraps")

    # Disabled, the current version no longer unwraps (the SDK may wrap
    # locally with the public key; unwrapping always needs the vault).
    current = CryptographyClient(rotated.id, credential=cred)
    rewrapped = current.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, dek)
    check(kc.update_key_properties("py-key", enabled=False).properties.enabled is False, "disabled")
    try:
        current.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, rewrapped.encrypted_key)
        check(False, "unwrapKey with a disabled key must fail")
    except HttpResponseError as e:
        check(e.status_code == 403 and e.error is not None and e.error.code == "Forbidden",
              "disabled key refused: %s %s" % (e.status_code, e.error and e.error.code))
    kc.update_key_properties("py-key", enabled=True)
    check(current.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, rewrapped.encrypted_key).key == dek, "enabled again")

    deleted = kc.begin_delete_key("py-key").result()
    check(deleted.recovery_id is not None and deleted.scheduled_purge_date is not None, "soft delete")
    try:
        kc.get_key("py-key")
        check(False, "a deleted key is not found")
    except ResourceNotFoundError:
        pass
    check(kc.get_deleted_key("py-key").name == "py-key", "get deleted key")
    recovered = kc.begin_recover_deleted_key("py-key").result()
    check(recovered.name == "py-key" and kc.get_key("py-key").id == rotated.id, "recovered the key with its versions")

    # A managed identity (App Service style: IDENTITY_ENDPOINT and
    # IDENTITY_HEADER) with get/wrapKey/unwrapKey on the vault unwraps.
    mi = ManagedIdentityCredential()
    mk = KeyClient(vault_url=vault_url, credential=mi).get_key("py-key")
    check(mk.id == rotated.id, "the managed identity reads the key")
    check(CryptographyClient(mk, credential=mi).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, rewrapped.encrypted_key).key == dek,
          "the managed identity unwraps")
    try:
        KeyClient(vault_url=vault_url, credential=mi).begin_delete_key("py-key").result()
        check(False, "the managed identity has no delete permission")
    except HttpResponseError as e:
        check(e.status_code == 403, "delete by the managed identity refused: %s" % e.status_code)
    print("key vault: ok")


def servicebus(cs, endpoint, ca):
    admin = ServiceBusAdministrationClient.from_connection_string(cs, connection_verify=ca)
    admin.create_queue("py-q", max_delivery_count=3, lock_duration=datetime.timedelta(seconds=30))
    admin.create_queue("py-sessions", requires_session=True)
    check("py-q" in [q.name for q in admin.list_queues()], "admin lists the new queue")

    kw = dict(custom_endpoint_address=endpoint, connection_verify=ca, retry_total=1)
    with ServiceBusClient.from_connection_string(cs, **kw) as client:
        with client.get_queue_sender("py-q") as sender:
            sender.send_messages(ServiceBusMessage("hello from python", message_id="py-1", subject="greeting",
                                                   correlation_id="c-1", content_type="text/plain",
                                                   application_properties={"color": "red", "n": 7}))
            batch = sender.create_message_batch()
            for i in range(3):
                batch.add_message(ServiceBusMessage("b%d" % i, message_id="batch-%d" % i))
            sender.send_messages(batch)
            seq = sender.schedule_messages(ServiceBusMessage("later", message_id="sched"),
                                           datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
            check(len(seq) == 1 and seq[0] > 0, "scheduled with a sequence number")
            sender.cancel_scheduled_messages(seq)

        with client.get_queue_receiver("py-q") as receiver:
            peeked = receiver.peek_messages(max_message_count=10)
            check(len(peeked) == 4, "peek sees 4 messages, got %d" % len(peeked))
            got = {}
            while len(got) < 4:
                msgs = receiver.receive_messages(max_message_count=4 - len(got), max_wait_time=10)
                check(len(msgs) > 0, "received messages (%d so far)" % len(got))
                for m in msgs:
                    got[m.message_id] = m
            m = got["py-1"]
            check(str(m) == "hello from python" and m.subject == "greeting" and m.correlation_id == "c-1"
                  and m.content_type == "text/plain", "message round trip")
            props = {k.decode() if isinstance(k, bytes) else k: (v.decode() if isinstance(v, bytes) else v)
                     for k, v in m.application_properties.items()}
            check(props.get("color") == "red" and props.get("n") == 7, "application properties %r" % props)
            check(m.sequence_number > 0 and m.enqueued_time_utc is not None and m.delivery_count == 0, "system properties")
            receiver.renew_message_lock(m)
            receiver.complete_message(m)
            receiver.abandon_message(got["batch-0"])
            receiver.dead_letter_message(got["batch-1"], reason="py-reason", error_description="py-description")
            receiver.defer_message(got["batch-2"])
            deferred_seq = got["batch-2"].sequence_number

            again = receiver.receive_messages(max_message_count=1, max_wait_time=10)
            check(len(again) == 1 and again[0].message_id == "batch-0" and again[0].delivery_count == 1,
                  "abandoned message redelivered with delivery count 1")
            receiver.complete_message(again[0])
            deferred = receiver.receive_deferred_messages([deferred_seq])
            check(len(deferred) == 1 and deferred[0].message_id == "batch-2", "receive deferred by sequence number")
            receiver.complete_message(deferred[0])

        with client.get_queue_receiver("py-q", sub_queue=ServiceBusSubQueue.DEAD_LETTER,
                                       receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as dlq:
            dl = dlq.receive_messages(max_message_count=1, max_wait_time=10)
            check(len(dl) == 1 and dl[0].message_id == "batch-1" and dl[0].dead_letter_reason == "py-reason"
                  and dl[0].dead_letter_error_description == "py-description", "dead-lettered with reason")

        with client.get_queue_sender("py-sessions") as sender:
            sender.send_messages([ServiceBusMessage("s%d" % i, session_id="session-a") for i in range(3)])
        with client.get_queue_receiver("py-sessions", session_id="session-a") as receiver:
            receiver.session.set_state(b"state-1")
            check(receiver.session.get_state() == b"state-1", "session state round trip")
            bodies = []
            while len(bodies) < 3:
                msgs = receiver.receive_messages(max_message_count=3, max_wait_time=10)
                check(len(msgs) > 0, "session messages")
                for m in msgs:
                    bodies.append(str(m))
                    receiver.complete_message(m)
            check(bodies == ["s0", "s1", "s2"], "session messages in order: %r" % bodies)

    # Topic fan-out through rules made with the ATOM admin client: a SQL
    # filter with an action, and a correlation filter with a property.
    admin.create_topic("py-topic")
    admin.create_subscription("py-topic", "red")
    admin.create_rule("py-topic", "red", "red-only", filter=SqlRuleFilter("color = @c", parameters={"@c": "red"}),
                      action=SqlRuleAction("SET routed = 'red'"))
    admin.delete_rule("py-topic", "red", "$Default")
    admin.create_subscription("py-topic", "blue")
    admin.create_rule("py-topic", "blue", "blue-corr", filter=CorrelationRuleFilter(correlation_id="corr-blue", properties={"kind": "b"}))
    admin.delete_rule("py-topic", "blue", "$Default")
    rules = {r.name: r for r in admin.list_rules("py-topic", "red")}
    check(list(rules) == ["red-only"] and isinstance(rules["red-only"].filter, SqlRuleFilter)
          and rules["red-only"].filter.sql_expression == "color = @c", "rules listed: %r" % list(rules))
    q = admin.get_queue("py-q")
    q.max_delivery_count = 7
    admin.update_queue(q)
    check(admin.get_queue("py-q").max_delivery_count == 7, "queue updated")

    with ServiceBusClient.from_connection_string(cs, **kw) as client:
        with client.get_topic_sender("py-topic") as sender:
            sender.send_messages([ServiceBusMessage("red", application_properties={"color": "red"}),
                                  ServiceBusMessage("blue", correlation_id="corr-blue", application_properties={"kind": "b"}),
                                  ServiceBusMessage("green", application_properties={"color": "green"})])
        for sub, want in (("red", "red"), ("blue", "blue")):
            with client.get_subscription_receiver("py-topic", sub, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as r:
                got = r.receive_messages(max_message_count=5, max_wait_time=5)
                check([str(m) for m in got] == [want], "subscription %s got %r" % (sub, [str(m) for m in got]))
                if sub == "red":
                    props = {k.decode() if isinstance(k, bytes) else k: (v.decode() if isinstance(v, bytes) else v)
                             for k, v in got[0].application_properties.items()}
                    check(props.get("routed") == "red", "the rule action set a property: %r" % props)

    runtime = admin.get_queue_runtime_properties("py-q")
    check(runtime.active_message_count == 0 and runtime.dead_letter_message_count == 0,
          "queue empty afterwards: active %d, dead-letter %d" % (runtime.active_message_count, runtime.dead_letter_message_count))
    print("service bus: ok")


def main():
    conn = json.load(open(os.environ["KEYWARD_CONNECTION"]))
    keyvault(conn, os.environ["KEYWARD_VAULT_URL"])
    servicebus(os.environ["SB_CONNECTION_STRING"], os.environ["SB_CUSTOM_ENDPOINT"], conn["caFile"])


if __name__ == "__main__":
    main()
