// Package servicebus is keyward's Service Bus broker: namespaces as the
// broker sees them, queues, topics, subscriptions and rules, and the message
// semantics Service Bus users rely on, on an encrypted, durable store. It
// knows no wire protocol: the AMQP gateway and the ATOM/REST HTTP APIs are
// built on its exported API.
//
// # Namespaces and keys
//
// The resource manager owns namespace lifecycle. It opens every namespace
// with Broker.OpenNamespace (at startup too) and deletes it with
// Broker.DeleteNamespace. Each namespace's data key comes from a KeySource,
// asked when the namespace opens, on Broker.NamespaceStatusChanged and every
// Options.RevalidateInterval (default 1 s) - never per message. A KeySource
// error wrapping ErrRevoked revokes the namespace: every operation,
// including receives blocked waiting for messages, fails with ErrRevoked
// (CodeRevoked), and nothing is deleted. When the key source hands a key
// again, every message is readable as before. A namespace's data key never
// changes (customer key rotation re-wraps it); the first key's id is
// recorded and a different key is refused with a clear error.
//
// # Store layout and encryption
//
// Every value holding user data - message records (body, every property,
// Raw), index entries (size, expiry, session number, schedule time), entity
// records (names, properties, rules, authorization rules), session ids and
// session state - is sealed with the namespace's data key, with a context
// binding the namespace, the entity id and the record's place (sequence
// number, sub-queue), so a record moved to another key does not open. Keys
// hold only a hash of the namespace name, internal entity and session
// numbers, sequence numbers and keyed hashes (duplicate detection): no user
// string reaches the store in the clear. See keys.go for the layout.
//
// # Durability
//
// Send (single or batch: one atomic store batch including every topic copy
// and forward), Schedule, CancelScheduled, Complete, Defer, DeadLetter,
// receive-and-delete, session state and entity changes return only once
// synced (Store.Apply with Sync; concurrent callers share syncs). Peek-lock
// delivery writes the incremented delivery count before the message is
// handed out, without forcing a sync; abandon and lock expiry are not
// synced either. Locks live in memory: a crash releases them and the
// messages are delivered again, with their delivery count incremented (the
// last increments may be lost if nothing synced after them).
//
// # Memory
//
// Messages live in the store. In memory the broker keeps, per available
// message, its 8-byte sequence number; per message with a time to live, a
// 16-byte expiry entry; per scheduled or deferred message a map entry; and
// per lock, session and waiting receiver a small struct. Counters (active,
// dead-letter, scheduled, transfer dead-letter counts, size in bytes) are
// maintained as store writes commit and rebuilt from the index when a
// namespace loads.
//
// # Semantics not taken from Azure
//
// Auto-forwarding happens inside the send (TransferMessageCount is always
// 0); a message matching several rules of one subscription is delivered to
// it once, with the actions of every matching rule applied in rule-name
// order; a filter that fails to evaluate dead-letters the message (reason
// FilterEvaluationException) only when no rule of the subscription matched;
// duplicate detection applies at the entity a sender addressed; the size
// quota is enforced on sends, not on forwarded copies; a topic's
// SizeInBytes counts each subscription's copy.
package servicebus
