package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/client"
)

// serviceBusAPI is the Microsoft.ServiceBus api-version the CLI speaks.
const serviceBusAPI = "2021-11-01"

func newServiceBusCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "servicebus", Short: "Manage Service Bus namespaces, entities and messages (like az servicebus)"}
	cmd.AddCommand(newServiceBusMessageCmd(), newSASTokenCmd())
	cmd.AddCommand(sbNamespaceCmd(), sbQueueCmd(), sbTopicCmd())
	return cmd
}

// namespacesPath is the namespaces collection of a group ("" for the
// subscription's).
func namespacesPath(c *client.Client, rg string) string {
	if rg == "" {
		return subPath(c, "/providers/Microsoft.ServiceBus/namespaces")
	}
	return subPath(c, "/resourceGroups/"+url.PathEscape(rg)+"/providers/Microsoft.ServiceBus/namespaces")
}

func namespacePath(c *client.Client, rg, name string) string {
	return namespacesPath(c, rg) + "/" + url.PathEscape(name)
}

// getNamespace GETs a namespace.
func getNamespace(ctx context.Context, c *client.Client, rg, name string) (armObject, error) {
	var out armObject
	if err := armDo(ctx, c, "GET", namespacePath(c, rg, name), serviceBusAPI, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// putAndShow sends a request to path and prints the resource afterwards
// (once any long-running operation has ended).
func putAndShow(ctx context.Context, c *client.Client, cmd *cobra.Command, method, path string, body any) error {
	if err := armDo(ctx, c, method, path, serviceBusAPI, body, nil); err != nil {
		return err
	}
	var out armObject
	if err := armDo(ctx, c, "GET", path, serviceBusAPI, nil, &out); err != nil {
		return err
	}
	return printJSON(cmd.OutOrStdout(), out)
}

func sbNamespaceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "namespace", Short: "Manage Service Bus namespaces"}
	cmd.AddCommand(sbNamespaceCreateCmd(), sbNamespaceUpdateCmd(), sbNamespaceShowCmd(), sbNamespaceListCmd(), sbNamespaceDeleteCmd(),
		sbEncryptionCmd(), sbAuthRuleCmd())
	return cmd
}

// nsFlags are the settable properties of namespace create and update.
type nsFlags struct {
	sku, minTLS, publicAccess string
	capacity                  int
	systemAssigned            bool
	userAssigned              []string
	disableLocalAuth          bool
	zoneRedundant             bool
	tags                      []string
}

func (n *nsFlags) register(cmd *cobra.Command, create bool) {
	f := cmd.Flags()
	def := ""
	if create {
		def = "Standard"
	}
	f.StringVar(&n.sku, "sku", def, "Basic, Standard or Premium")
	f.IntVar(&n.capacity, "capacity", 0, "Premium messaging units: 1, 2, 4, 8 or 16")
	f.BoolVar(&n.systemAssigned, "mi-system-assigned", false, "give the namespace a system-assigned managed identity")
	f.StringSliceVar(&n.userAssigned, "mi-user-assigned", nil, "resource ids of user-assigned managed identities to attach")
	f.BoolVar(&n.disableLocalAuth, "disable-local-auth", false, "refuse SAS authentication")
	f.StringVar(&n.minTLS, "min-tls", "", "minimum TLS version: 1.0, 1.1 or 1.2")
	f.StringVar(&n.publicAccess, "public-network-access", "", "Enabled or Disabled")
	f.BoolVar(&n.zoneRedundant, "zone-redundant", false, "zone redundancy")
	f.StringSliceVar(&n.tags, "tags", nil, "tags as key=value")
}

// identity returns the identity block for the flags given, adding to cur
// (the namespace's current identity block, or nil); nil when no identity
// flag was given.
func (n *nsFlags) identity(cmd *cobra.Command, cur armObject) armObject {
	if !cmd.Flags().Changed("mi-system-assigned") && !cmd.Flags().Changed("mi-user-assigned") {
		return nil
	}
	system := strings.Contains(strings.ToLower(str(cur["type"])), "systemassigned")
	if cmd.Flags().Changed("mi-system-assigned") {
		system = n.systemAssigned
	}
	users := armObject{}
	for id := range obj(cur["userAssignedIdentities"]) {
		users[id] = armObject{}
	}
	for _, id := range n.userAssigned {
		users[id] = armObject{}
	}
	var types []string
	if system {
		types = append(types, "SystemAssigned")
	}
	if len(users) > 0 {
		types = append(types, "UserAssigned")
	}
	if len(types) == 0 {
		return armObject{"type": "None"}
	}
	out := armObject{"type": strings.Join(types, ", ")}
	if len(users) > 0 {
		out["userAssignedIdentities"] = users
	}
	return out
}

// properties returns the properties block for the flags given.
func (n *nsFlags) properties(cmd *cobra.Command) armObject {
	props := armObject{}
	if cmd.Flags().Changed("disable-local-auth") {
		props["disableLocalAuth"] = n.disableLocalAuth
	}
	if n.minTLS != "" {
		props["minimumTlsVersion"] = n.minTLS
	}
	if n.publicAccess != "" {
		props["publicNetworkAccess"] = n.publicAccess
	}
	if cmd.Flags().Changed("zone-redundant") {
		props["zoneRedundant"] = n.zoneRedundant
	}
	return props
}

// skuBlock returns {"name","tier"[,"capacity"]}.
func skuBlock(name string, capacity int) armObject {
	s := armObject{"name": name, "tier": name}
	if capacity > 0 {
		s["capacity"] = capacity
	}
	return s
}

func sbNamespaceCreateCmd() *cobra.Command {
	var rg, name, location string
	var n nsFlags
	cmd := azCommand("create", "Create a namespace", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		tg, err := parseTags(n.tags)
		if err != nil {
			return err
		}
		if location == "" {
			if location, err = groupLocation(ctx, c, rg); err != nil {
				return err
			}
		}
		body := armObject{"location": location, "sku": skuBlock(n.sku, n.capacity), "properties": n.properties(cmd)}
		if id := n.identity(cmd, nil); id != nil {
			body["identity"] = id
		}
		if tg != nil {
			body["tags"] = tg
		}
		return putAndShow(ctx, c, cmd, "PUT", namespacePath(c, rg, name), body)
	})
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
	cmd.Flags().StringVarP(&name, "name", "n", "", "namespace name (6-50 characters)")
	cmd.Flags().StringVarP(&location, "location", "l", "", "location (default: the resource group's)")
	n.register(cmd, true)
	required(cmd, "resource-group", "name")
	return cmd
}

func sbNamespaceUpdateCmd() *cobra.Command {
	var rg, name string
	var n nsFlags
	cmd := azCommand("update", "Update a namespace (SKU, capacity, identities, tags, network settings)", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		cur, err := getNamespace(ctx, c, rg, name)
		if err != nil {
			return err
		}
		body := armObject{}
		if props := n.properties(cmd); len(props) > 0 {
			body["properties"] = props
		}
		if n.sku != "" || cmd.Flags().Changed("capacity") {
			sku := n.sku
			if sku == "" {
				sku = str(obj(cur["sku"])["name"])
			}
			body["sku"] = skuBlock(sku, n.capacity)
		}
		if id := n.identity(cmd, obj(cur["identity"])); id != nil {
			body["identity"] = id
		}
		if cmd.Flags().Changed("tags") {
			tg, err := parseTags(n.tags)
			if err != nil {
				return err
			}
			if tg == nil {
				tg = map[string]string{}
			}
			body["tags"] = tg
		}
		return putAndShow(ctx, c, cmd, "PATCH", namespacePath(c, rg, name), body)
	})
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
	cmd.Flags().StringVarP(&name, "name", "n", "", "namespace name")
	n.register(cmd, false)
	required(cmd, "resource-group", "name")
	return cmd
}

func sbNamespaceShowCmd() *cobra.Command {
	var rg, name string
	cmd := azCommand("show", "Show a namespace", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		ns, err := getNamespace(ctx, c, rg, name)
		if err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), ns)
	})
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
	cmd.Flags().StringVarP(&name, "name", "n", "", "namespace name")
	required(cmd, "resource-group", "name")
	return cmd
}

func sbNamespaceListCmd() *cobra.Command {
	var rg string
	cmd := azCommand("list", "List namespaces (of a resource group, or of the subscription)", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		all, err := listAll(ctx, c, namespacesPath(c, rg), serviceBusAPI)
		if err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), all)
	})
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: every namespace of the subscription)")
	return cmd
}

func sbNamespaceDeleteCmd() *cobra.Command {
	var rg, name string
	cmd := azCommand("delete", "Delete a namespace and everything in it", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		return armDo(ctx, c, "DELETE", namespacePath(c, rg, name), serviceBusAPI, nil, nil)
	})
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
	cmd.Flags().StringVarP(&name, "name", "n", "", "namespace name")
	required(cmd, "resource-group", "name")
	return cmd
}

// ---------------------------------------------------------------------------
// Customer-managed keys.

func sbEncryptionCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "encryption", Short: "Customer-managed keys of a Premium namespace (at most three; never disabled once enabled)"}
	cmd.AddCommand(sbEncryptionAddCmd(), sbEncryptionRemoveCmd(), sbEncryptionShowCmd())
	return cmd
}

// encKey is one --key-name/--key-vault-uri/… of encryption add and remove.
type encKey struct {
	name, vaultURI, version, identity string
}

func (k *encKey) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&k.name, "key-name", "", "key name")
	f.StringVar(&k.vaultURI, "key-vault-uri", "", "vault URI (the vault's properties.vaultUri)")
	f.StringVar(&k.version, "key-version", "", "key version (default: follow the key's current version)")
	f.StringVar(&k.identity, "user-assigned-identity", "", "resource id of the user-assigned identity that reads the key (default: the system-assigned one)")
}

// matches reports whether an entry of keyVaultProperties is k (its
// version and identity too, when given).
func (k *encKey) matches(e armObject) bool {
	norm := func(u string) string { return strings.ToLower(strings.TrimRight(u, "/")) }
	if !strings.EqualFold(str(e["keyName"]), k.name) || norm(str(e["keyVaultUri"])) != norm(k.vaultURI) {
		return false
	}
	if k.version != "" && !strings.EqualFold(str(e["keyVersion"]), k.version) {
		return false
	}
	if k.identity != "" && !strings.EqualFold(str(obj(e["identity"])["userAssignedIdentity"]), k.identity) {
		return false
	}
	return true
}

// encryptionOf returns a namespace's encryption block and its keys.
func encryptionOf(ns armObject) (armObject, []any) {
	enc := obj(obj(ns["properties"])["encryption"])
	keys, _ := enc["keyVaultProperties"].([]any)
	return enc, keys
}

// setKeys PATCHes the namespace's keys and prints the namespace.
func setKeys(ctx context.Context, c *client.Client, cmd *cobra.Command, rg, name string, keys []any, infra *bool, cur armObject) error {
	enc := armObject{"keySource": "Microsoft.KeyVault", "keyVaultProperties": keys}
	if infra != nil {
		enc["requireInfrastructureEncryption"] = *infra
	} else if v, ok := cur["requireInfrastructureEncryption"].(bool); ok {
		enc["requireInfrastructureEncryption"] = v
	}
	return putAndShow(ctx, c, cmd, "PATCH", namespacePath(c, rg, name), armObject{"properties": armObject{"encryption": enc}})
}

func sbEncryptionAddCmd() *cobra.Command {
	var rg, name string
	var k encKey
	var infra bool
	cmd := azCommand("add", "Add a customer-managed key (enables encryption on a new, empty Premium namespace)", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		ns, err := getNamespace(ctx, c, rg, name)
		if err != nil {
			return err
		}
		enc, keys := encryptionOf(ns)
		for _, e := range keys {
			if k.matches(obj(e)) && str(obj(e)["keyVersion"]) == k.version {
				return fmt.Errorf("the key '%s' of %s is already listed on namespace '%s'", k.name, k.vaultURI, name)
			}
		}
		entry := armObject{"keyName": k.name, "keyVaultUri": k.vaultURI}
		if k.version != "" {
			entry["keyVersion"] = k.version
		}
		if k.identity != "" {
			entry["identity"] = armObject{"userAssignedIdentity": k.identity}
		}
		return setKeys(ctx, c, cmd, rg, name, append(keys, entry), boolIf(cmd, "infra-encryption", infra), enc)
	})
	cmd.Flags().StringVar(&name, "namespace-name", "", "namespace name")
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
	cmd.Flags().BoolVar(&infra, "infra-encryption", false, "requireInfrastructureEncryption")
	k.register(cmd)
	required(cmd, "namespace-name", "resource-group", "key-name", "key-vault-uri")
	return cmd
}

func sbEncryptionRemoveCmd() *cobra.Command {
	var rg, name string
	var k encKey
	cmd := azCommand("remove", "Remove a customer-managed key (at least one must remain)", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		ns, err := getNamespace(ctx, c, rg, name)
		if err != nil {
			return err
		}
		enc, keys := encryptionOf(ns)
		kept := []any{}
		for _, e := range keys {
			if !k.matches(obj(e)) {
				kept = append(kept, e)
			}
		}
		if len(kept) == len(keys) {
			return fmt.Errorf("namespace '%s' does not list the key '%s' of %s", name, k.name, k.vaultURI)
		}
		return setKeys(ctx, c, cmd, rg, name, kept, nil, enc)
	})
	cmd.Flags().StringVar(&name, "namespace-name", "", "namespace name")
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
	k.register(cmd)
	required(cmd, "namespace-name", "resource-group", "key-name", "key-vault-uri")
	return cmd
}

func sbEncryptionShowCmd() *cobra.Command {
	var rg, name string
	cmd := azCommand("show", "Show a namespace's encryption settings and status", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		ns, err := getNamespace(ctx, c, rg, name)
		if err != nil {
			return err
		}
		enc, _ := encryptionOf(ns)
		out := armObject{"encryption": enc, "status": obj(ns["properties"])["status"]}
		if enc == nil {
			out["encryption"] = nil
		}
		return printJSON(cmd.OutOrStdout(), out)
	})
	cmd.Flags().StringVar(&name, "namespace-name", "", "namespace name")
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
	required(cmd, "namespace-name", "resource-group")
	return cmd
}

// ---------------------------------------------------------------------------
// Authorization rules.

func sbAuthRuleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "authorization-rule", Short: "Shared access authorization rules of a namespace"}
	var rg, ns string
	list := azCommand("list", "List a namespace's authorization rules", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		all, err := listAll(ctx, c, namespacePath(c, rg, ns)+"/authorizationRules", serviceBusAPI)
		if err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), all)
	})
	list.Flags().StringVar(&ns, "namespace-name", "", "namespace name")
	list.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
	required(list, "namespace-name", "resource-group")

	keys := &cobra.Command{Use: "keys", Short: "Keys and connection strings of an authorization rule"}
	var krg, kns, rule string
	klist := azCommand("list", "Print a rule's keys and connection strings", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		var out armObject
		p := namespacePath(c, krg, kns) + "/authorizationRules/" + url.PathEscape(rule) + "/listKeys"
		if err := armDo(ctx, c, "POST", p, serviceBusAPI, nil, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	})
	klist.Flags().StringVar(&kns, "namespace-name", "", "namespace name")
	klist.Flags().StringVarP(&krg, "resource-group", "g", "", "resource group")
	klist.Flags().StringVarP(&rule, "name", "n", "RootManageSharedAccessKey", "authorization rule name")
	required(klist, "namespace-name", "resource-group")
	keys.AddCommand(klist)
	cmd.AddCommand(list, keys)
	return cmd
}

// ---------------------------------------------------------------------------
// Queues and topics.

// entityFlag is one optional entity property flag.
type entityFlag struct {
	flag, prop, kind, usage string // kind: "string", "int", "bool"
}

var queueFlags = []entityFlag{
	{"lock-duration", "lockDuration", "string", "peek-lock duration (ISO 8601, e.g. PT1M)"},
	{"max-size", "maxSizeInMegabytes", "int", "maximum size in megabytes"},
	{"max-message-size", "maxMessageSizeInKilobytes", "int", "maximum message size in kilobytes (Premium)"},
	{"default-message-time-to-live", "defaultMessageTimeToLive", "string", "default message time to live (ISO 8601, e.g. P14D)"},
	{"auto-delete-on-idle", "autoDeleteOnIdle", "string", "idle time before the queue is deleted (ISO 8601)"},
	{"duplicate-detection-history-time-window", "duplicateDetectionHistoryTimeWindow", "string", "duplicate detection window (ISO 8601)"},
	{"max-delivery-count", "maxDeliveryCount", "int", "deliveries before a message is dead-lettered"},
	{"enable-session", "requiresSession", "bool", "require sessions"},
	{"enable-duplicate-detection", "requiresDuplicateDetection", "bool", "detect duplicates"},
	{"enable-dead-lettering-on-message-expiration", "deadLetteringOnMessageExpiration", "bool", "dead-letter expired messages"},
	{"enable-partitioning", "enablePartitioning", "bool", "partition the queue"},
	{"enable-batched-operations", "enableBatchedOperations", "bool", "batched operations"},
	{"forward-to", "forwardTo", "string", "queue or topic to forward messages to"},
	{"forward-dead-lettered-messages-to", "forwardDeadLetteredMessagesTo", "string", "queue or topic to forward dead letters to"},
	{"status", "status", "string", "Active, Disabled, SendDisabled or ReceiveDisabled"},
}

var topicFlags = []entityFlag{
	{"max-size", "maxSizeInMegabytes", "int", "maximum size in megabytes"},
	{"max-message-size", "maxMessageSizeInKilobytes", "int", "maximum message size in kilobytes (Premium)"},
	{"default-message-time-to-live", "defaultMessageTimeToLive", "string", "default message time to live (ISO 8601)"},
	{"auto-delete-on-idle", "autoDeleteOnIdle", "string", "idle time before the topic is deleted (ISO 8601)"},
	{"duplicate-detection-history-time-window", "duplicateDetectionHistoryTimeWindow", "string", "duplicate detection window (ISO 8601)"},
	{"enable-duplicate-detection", "requiresDuplicateDetection", "bool", "detect duplicates"},
	{"enable-ordering", "supportOrdering", "bool", "support ordering"},
	{"enable-partitioning", "enablePartitioning", "bool", "partition the topic"},
	{"enable-batched-operations", "enableBatchedOperations", "bool", "batched operations"},
	{"status", "status", "string", "Active, Disabled or SendDisabled"},
}

// entityCmds builds create, list, show and delete for namespaces/{kind}.
func entityCmds(kind, noun string, flags []entityFlag) []*cobra.Command {
	var rg, ns, name string
	ids := func(cmd *cobra.Command, withName bool) {
		cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group")
		cmd.Flags().StringVar(&ns, "namespace-name", "", "namespace name")
		req := []string{"resource-group", "namespace-name"}
		if withName {
			cmd.Flags().StringVarP(&name, "name", "n", "", noun+" name")
			req = append(req, "name")
		}
		required(cmd, req...)
	}
	path := func(c *client.Client) string {
		return namespacePath(c, rg, ns) + "/" + kind + "/" + url.PathEscape(name)
	}

	strs := map[string]*string{}
	ints := map[string]*int{}
	bools := map[string]*bool{}
	create := azCommand("create", "Create or update a "+noun, func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		props := armObject{}
		for _, f := range flags {
			if !cmd.Flags().Changed(f.flag) {
				continue
			}
			switch f.kind {
			case "string":
				props[f.prop] = *strs[f.flag]
			case "int":
				props[f.prop] = *ints[f.flag]
			case "bool":
				props[f.prop] = *bools[f.flag]
			}
		}
		return putAndShow(ctx, c, cmd, "PUT", path(c), armObject{"properties": props})
	})
	ids(create, true)
	for _, f := range flags {
		switch f.kind {
		case "string":
			strs[f.flag] = create.Flags().String(f.flag, "", f.usage)
		case "int":
			ints[f.flag] = create.Flags().Int(f.flag, 0, f.usage)
		case "bool":
			bools[f.flag] = create.Flags().Bool(f.flag, false, f.usage)
		}
	}

	list := azCommand("list", "List the "+noun+"s of a namespace", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		all, err := listAll(ctx, c, namespacePath(c, rg, ns)+"/"+kind, serviceBusAPI)
		if err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), all)
	})
	ids(list, false)

	show := azCommand("show", "Show a "+noun+" with its runtime counts (properties.countDetails)", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		var out armObject
		if err := armDo(ctx, c, "GET", path(c), serviceBusAPI, nil, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	})
	ids(show, true)

	del := azCommand("delete", "Delete a "+noun+" and its messages", func(ctx context.Context, c *client.Client, cmd *cobra.Command) error {
		return armDo(ctx, c, "DELETE", path(c), serviceBusAPI, nil, nil)
	})
	ids(del, true)
	return []*cobra.Command{create, list, show, del}
}

func sbQueueCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "queue", Short: "Manage queues (resource manager)"}
	cmd.AddCommand(entityCmds("queues", "queue", queueFlags)...)
	return cmd
}

func sbTopicCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "topic", Short: "Manage topics (resource manager)"}
	cmd.AddCommand(entityCmds("topics", "topic", topicFlags)...)
	return cmd
}
