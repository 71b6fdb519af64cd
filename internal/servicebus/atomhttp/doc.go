// Package atomhttp serves the HTTPS APIs of a Service Bus namespace host
// (<namespace>.servicebus.<domain>): the ATOM management API as the
// azservicebus/admin client speaks it, and the REST messaging API, both on
// the broker of package servicebus.
//
// # ATOM management
//
// GET /$namespaceinfo; GET /$Resources/Queues and /$Resources/Topics;
// GET|PUT|DELETE /{queue-or-topic}; GET /{topic}/Subscriptions;
// GET|PUT|DELETE /{topic}/Subscriptions/{sub}; GET
// /{topic}/Subscriptions/{sub}/Rules; GET|PUT|DELETE
// /{topic}/Subscriptions/{sub}/Rules/{rule}. Bodies are Atom entries whose
// content holds a QueueDescription, TopicDescription,
// SubscriptionDescription or RuleDescription; the entry, the content, the
// description and every xsi:type (filters, actions, parameter values) are
// read namespace-aware. A PUT without If-Match creates (409 if the name is
// taken), with If-Match updates (404 if missing); an update replaces the
// properties, omitted ones taking Azure's defaults, except the immutable
// ones (RequiresSession, RequiresDuplicateDetection, EnablePartitioning),
// which keep their value. Durations are ISO 8601 (TimeSpan.MaxValue for
// "never"); ForwardTo is returned as sb://<host>/<name>. Lists honour $skip
// and $top (default 100) exactly, so the admin client's pager ends. An
// unknown entity is a 404. After every change the metadata is replicated to
// a geo-disaster-recovery secondary.
//
// # REST messaging
//
// POST {path}/messages sends one message (the body; the BrokerProperties
// header as JSON; every other non-standard header a custom property) or,
// with Content-Type application/vnd.microsoft.servicebus.json, a batch
// (a JSON array of {Body, BrokerProperties, UserProperties}); 201.
// DELETE {path}/messages/head?timeout=N receives and deletes, POST
// {path}/messages/head?timeout=N peek-locks (201, Location
// {path}/messages/{sequence}/{lock-token}); 204 when no message came
// within the timeout (default and maximum Options.MaxReceiveWait). On the
// lock URI: PUT unlocks (abandons: the delivery counts toward
// MaxDeliveryCount), DELETE completes, POST renews the lock. {path} is a
// queue, topic/subscriptions/sub, or either with /$DeadLetterQueue. A
// keyward extension, GET {path}/messages/head?from=N, peeks without
// locking. Session-enabled entities support receive-and-delete (next
// available session) and peek, not peek-lock.
//
// # Authorization
//
// The Authorization header holds a shared access signature
// ("SharedAccessSignature sr=…&sig=…&se=…&skn=…", the resource being the
// namespace, an entity, or the request URL as the admin client signs it),
// or a Microsoft Entra ID token for https://servicebus.azure.net, with
// "Bearer " or bare as the admin client sends it. ATOM operations need the
// Manage right (Data Owner role); sends need Send (Data Sender); receives
// and lock operations need Listen (Data Receiver). Roles are checked at the
// entity's resource id (<namespace id>/queues/<q>, /topics/<t>,
// /topics/<t>/subscriptions/<s>) and above. Auto-forwarding needs Send on
// the destination, from the caller's own credential or the token in
// ServiceBusSupplementaryAuthorization (ServiceBusDlqSupplementaryAuthorization
// for ForwardDeadLetteredMessagesTo).
//
// # Errors
//
// Both APIs answer errors as Service Bus does:
// <Error><Code>HTTP status</Code><Detail>…</Detail></Error>, the detail
// starting with the Service Bus error name (MessagingEntityNotFound,
// MessagingEntityAlreadyExists, MessageLockLost, …) and ending with a
// tracking id. 401: missing, invalid or insufficient credentials. 404:
// unknown namespace or entity. 409: name taken. 410: unknown or expired
// lock token. 413: a message over the entity's size limit. 400: bad input,
// including an invalid SQL filter or action, whose line, column and offset
// are given. A namespace whose customer-managed keys are all revoked
// answers every operation except GET /$namespaceinfo with 403
// CustomerManagedKeyRevoked, at once (a waiting receive ends as soon as the
// revocation is seen): the condition needs the customer to act, so it is
// not a retriable 503. 503 (with Retry-After) is kept for a namespace whose
// key is temporarily unavailable.
package atomhttp
