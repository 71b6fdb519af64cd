// Package logic is keyward's Logic Apps: integration service environments
// (ISEs) whose data at rest is encrypted under a customer-managed key that
// can be given only when the ISE is created, and the logic apps (workflows)
// they host.
//
// An ISE with a customer key follows the rules Azure documents: an External
// access endpoint, a system-assigned identity, a vault with soft delete and
// purge protection, an enabled RSA key of 2048 bits or more, the key fixed
// at creation and never rotated (the key-binding engine pins its version).
// Creation is asynchronous: the ISE's identity exists as soon as the request
// is accepted, and provisioning waits, for at most Config.KeyAccessTimeout
// (--ise-key-access-timeout, 30 minutes by default), until that identity can
// use the key: an access policy, a Key Vault crypto role, or the Contributor
// role on the vault, in which case the ISE adds the access policy it needs
// itself through the resource manager, as its own identity. Without access
// in time the ISE fails with a permissions error and holds no data.
//
// Workflows are written in the Workflow Definition Language. The runtime
// knows the Request trigger (callback URLs signed with the workflow's access
// keys), the Recurrence trigger (driven by the service's clock), and the
// actions Compose, Response, Http, If, Foreach, Scope, the variable actions,
// and Service Bus send-message to a keyward namespace. Expressions (@…,
// @{…}) are evaluated by the template package's evaluator with the WDL
// function table of this package.
//
// Definitions, parameters, access keys and run history are sealed with the
// data key of the workflow's ISE (or, outside an ISE, of the workflow
// itself). When the ISE's key becomes unusable the ISE is Revoked: triggers
// are refused, run history cannot be read, nothing is purged; once the key
// is usable again everything works as before.
//
// The package is free of HTTP: logichttp serves callback URLs and performs
// the Http action, logicarm is the Microsoft.Logic resource provider.
package logic
