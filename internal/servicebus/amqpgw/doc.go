// Package amqpgw is keyward's Service Bus dialect of AMQP 1.0: it puts the
// broker (package servicebus) behind the AMQP server of package amqp so
// that the Azure Service Bus SDKs and generic AMQP 1.0 clients work
// unmodified. It knows no storage details; every message operation is a
// broker call.
//
// # Connections and authentication
//
// A connection belongs to one namespace, named by the hostname of its open
// frame ("<ns>.servicebus.<domain>", port ignored). A client that opens with
// an IP address gets its namespace from its first $cbs put-token audience,
// or from its SASL PLAIN login. SASL offers MSSBCBS, PLAIN and ANONYMOUS:
//
//   - PLAIN: username = a namespace shared access key name, password = the
//     key (the authzid may name the namespace). The rule's rights apply to
//     every link of the connection, re-checked on each attach.
//   - ANONYMOUS and MSSBCBS: links need claims, put on $cbs with
//     put-token: "servicebus.windows.net:sastoken" (verified against the
//     namespace's or entity's rules) or "jwt" (a Microsoft Entra ID token
//     for one of Config.Audiences; the caller's RBAC data actions decide).
//     Claims are per connection, keyed by audience path, expire with the
//     token and are renewed by a new put-token for the same audience; a
//     link whose claim expires without renewal is detached with
//     amqp:unauthorized-access. Replies go to the link whose target equals
//     the request's reply-to, treated as opaque.
//
// # Links
//
// Addresses are entity paths ("queue", "topic", "topic/Subscriptions/sub",
// each optionally followed by "/$DeadLetterQueue" or
// "/$Transfer/$DeadLetterQueue"; case-insensitive), "<entity>/$management"
// and "$cbs". An attach without a covering claim is refused with
// amqp:unauthorized-access, an unknown entity with amqp:not-found, and a
// revoked namespace with com.microsoft:entity-disabled and a description
// saying so. Settle modes are echoed exactly.
//
// Senders announce the entity's max-message-size and accept a message (or
// a batch of message-format 0x80013700) only after the broker stored it
// durably; refusals are rejected outcomes with the broker's condition
// (amqp:link:message-size-exceeded, amqp:resource-limit-exceeded, ...).
//
// Receivers get messages as their credit allows, with a receive that waits
// as long as the link lives (a drain is answered with what is available).
// Peek-lock deliveries (receiver settle mode second, or first with
// unsettled transfers) carry the lock token as delivery tag in .NET GUID
// byte order; outcomes map to complete (accepted), release (released),
// abandon or defer (modified, undeliverable-here), and dead-letter
// (rejected, com.microsoft:dead-letter with DeadLetterReason and
// DeadLetterErrorDescription). Each unsettled outcome is confirmed with a
// settled disposition: accepted, or rejected with
// com.microsoft:message-lock-lost and the like. Receive-and-delete
// (sender settle mode settled) sends pre-settled transfers; messages are
// deleted once handed to the link. A session filter
// (com.microsoft:session-filter) locks the named or the next available
// session (waiting up to the link property com.microsoft:timeout) and the
// attach reply echoes its id with com.microsoft:locked-until-utc.
//
// # $management
//
// peek-message, receive-by-sequence-number, renew-lock,
// update-disposition, schedule-message, cancel-scheduled-message,
// renew-session-lock, get-session-state, set-session-state,
// get-message-sessions, add-rule, remove-rule and enumerate-rules, with
// the AMQP types the SDKs assert (status codes int, lists versus arrays).
package amqpgw
