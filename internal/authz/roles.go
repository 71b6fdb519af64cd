package authz

// Built-in role definition ids (the GUIDs Azure uses).
const (
	RoleOwner                        = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	RoleContributor                  = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	RoleReader                       = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	RoleUserAccessAdministrator      = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	RoleKeyVaultAdministrator        = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
	RoleKeyVaultCryptoOfficer        = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
	RoleKeyVaultCryptoUser           = "12338af0-0e69-4776-bea7-57ae8d297424"
	RoleKeyVaultCryptoServiceEncUser = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
	RoleKeyVaultReader               = "21090545-7ca7-4776-b22c-e363652d74d2"
	RoleServiceBusDataOwner          = "090c5cfd-751d-490a-894a-3ce6f1109419"
	RoleServiceBusDataSender         = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
	RoleServiceBusDataReceiver       = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
	RoleManagedIdentityOperator      = "f1a07417-d97a-45cb-824c-7a7467783830"
	RoleManagedIdentityContributor   = "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59"
	RoleKeyVaultContributor          = "f25e0fa2-a7c8-4377-a976-54943a77a395"
	RoleLogicAppContributor          = "87a39d53-fc1b-424a-814c-f7e04687dc9e"
)

// Permission is one block of a role definition.
type Permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// RoleDefinition is a role: a named set of permissions.
type RoleDefinition struct {
	ID          string       `json:"id"` // the GUID
	Name        string       `json:"roleName"`
	Description string       `json:"description"`
	Type        string       `json:"type"` // "BuiltInRole" or "CustomRole"
	Permissions []Permission `json:"permissions"`
}

var kvReadActions = []string{
	"Microsoft.Authorization/*/read",
	"Microsoft.Insights/alertRules/*",
	"Microsoft.Resources/deployments/*",
	"Microsoft.Resources/subscriptions/resourceGroups/read",
	"Microsoft.Support/*",
	"Microsoft.KeyVault/checkNameAvailability/read",
	"Microsoft.KeyVault/deletedVaults/read",
	"Microsoft.KeyVault/locations/*/read",
	"Microsoft.KeyVault/vaults/*/read",
	"Microsoft.KeyVault/operations/read",
}

// builtInRoles are Azure's built-in roles that keyward knows, with Azure's
// permissions.
var builtInRoles = []RoleDefinition{
	{ID: RoleOwner, Name: "Owner", Description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
		Permissions: []Permission{{Actions: []string{"*"}}}},
	{ID: RoleContributor, Name: "Contributor", Description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
		Permissions: []Permission{{Actions: []string{"*"}, NotActions: []string{
			"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action",
			"Microsoft.Blueprint/blueprintAssignments/write", "Microsoft.Blueprint/blueprintAssignments/delete",
			"Microsoft.Compute/galleries/share/action", "Microsoft.Purview/consents/write", "Microsoft.Purview/consents/delete",
			"Microsoft.Resources/deploymentStacks/manageDenySetting/action", "Microsoft.Subscription/cancel/action", "Microsoft.Subscription/enable/action",
		}}}},
	{ID: RoleReader, Name: "Reader", Description: "View all resources, but does not allow you to make any changes.",
		Permissions: []Permission{{Actions: []string{"*/read"}}}},
	{ID: RoleUserAccessAdministrator, Name: "User Access Administrator", Description: "Lets you manage user access to Azure resources.",
		Permissions: []Permission{{Actions: []string{"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"}}}},
	{ID: RoleKeyVaultAdministrator, Name: "Key Vault Administrator", Description: "Perform all data plane operations on a key vault and all objects in it, including certificates, keys, and secrets. Cannot manage key vault resources or manage role assignments. Only works for key vaults that use the 'Azure role-based access control' permission model.",
		Permissions: []Permission{{Actions: kvReadActions, DataActions: []string{"Microsoft.KeyVault/vaults/*"}}}},
	{ID: RoleKeyVaultCryptoOfficer, Name: "Key Vault Crypto Officer", Description: "Perform any action on the keys of a key vault, except manage permissions. Only works for key vaults that use the 'Azure role-based access control' permission model.",
		Permissions: []Permission{{Actions: kvReadActions, DataActions: []string{"Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keyrotationpolicies/*"}}}},
	{ID: RoleKeyVaultCryptoUser, Name: "Key Vault Crypto User", Description: "Perform cryptographic operations using keys. Only works for key vaults that use the 'Azure role-based access control' permission model.",
		Permissions: []Permission{{DataActions: []string{
			"Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/update/action", "Microsoft.KeyVault/vaults/keys/backup/action",
			"Microsoft.KeyVault/vaults/keys/encrypt/action", "Microsoft.KeyVault/vaults/keys/decrypt/action",
			"Microsoft.KeyVault/vaults/keys/wrap/action", "Microsoft.KeyVault/vaults/keys/unwrap/action",
			"Microsoft.KeyVault/vaults/keys/sign/action", "Microsoft.KeyVault/vaults/keys/verify/action",
		}}}},
	{ID: RoleKeyVaultCryptoServiceEncUser, Name: "Key Vault Crypto Service Encryption User", Description: "Read metadata of keys and perform wrap/unwrap operations. Only works for key vaults that use the 'Azure role-based access control' permission model.",
		Permissions: []Permission{{
			Actions:     []string{"Microsoft.EventGrid/eventSubscriptions/write", "Microsoft.EventGrid/eventSubscriptions/read", "Microsoft.EventGrid/eventSubscriptions/delete"},
			DataActions: []string{"Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/wrap/action", "Microsoft.KeyVault/vaults/keys/unwrap/action"},
		}}},
	{ID: RoleKeyVaultReader, Name: "Key Vault Reader", Description: "Read metadata of key vaults and its certificates, keys, and secrets. Cannot read sensitive values such as secret contents or key material. Only works for key vaults that use the 'Azure role-based access control' permission model.",
		Permissions: []Permission{{Actions: kvReadActions, DataActions: []string{"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"}}}},
	{ID: RoleKeyVaultContributor, Name: "Key Vault Contributor", Description: "Lets you manage key vaults, but not access to them.",
		Permissions: []Permission{{Actions: []string{"Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.KeyVault/*", "Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*"},
			NotActions: []string{"Microsoft.KeyVault/locations/deletedVaults/purge/action", "Microsoft.KeyVault/hsmPools/*", "Microsoft.KeyVault/managedHsms/*"}}}},
	{ID: RoleServiceBusDataOwner, Name: "Azure Service Bus Data Owner", Description: "Allows for full access to Azure Service Bus resources.",
		Permissions: []Permission{{Actions: []string{"Microsoft.ServiceBus/*"}, DataActions: []string{"Microsoft.ServiceBus/*"}}}},
	{ID: RoleServiceBusDataSender, Name: "Azure Service Bus Data Sender", Description: "Allows for send access to Azure Service Bus resources.",
		Permissions: []Permission{{Actions: []string{"Microsoft.ServiceBus/*/queues/read", "Microsoft.ServiceBus/*/topics/read", "Microsoft.ServiceBus/*/topics/subscriptions/read"}, DataActions: []string{"Microsoft.ServiceBus/*/send/action"}}}},
	{ID: RoleServiceBusDataReceiver, Name: "Azure Service Bus Data Receiver", Description: "Allows for receive access to Azure Service Bus resources.",
		Permissions: []Permission{{Actions: []string{"Microsoft.ServiceBus/*/queues/read", "Microsoft.ServiceBus/*/topics/read", "Microsoft.ServiceBus/*/topics/subscriptions/read"}, DataActions: []string{"Microsoft.ServiceBus/*/receive/action"}}}},
	{ID: RoleManagedIdentityOperator, Name: "Managed Identity Operator", Description: "Read and Assign User Assigned Identity",
		Permissions: []Permission{{Actions: []string{"Microsoft.ManagedIdentity/userAssignedIdentities/*/read", "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Resources/deployments/*", "Microsoft.Support/*"}}}},
	{ID: RoleManagedIdentityContributor, Name: "Managed Identity Contributor", Description: "Create, Read, Update, and Delete User Assigned Identity",
		Permissions: []Permission{{Actions: []string{"Microsoft.ManagedIdentity/userAssignedIdentities/read", "Microsoft.ManagedIdentity/userAssignedIdentities/write", "Microsoft.ManagedIdentity/userAssignedIdentities/delete", "Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Resources/deployments/*", "Microsoft.Support/*"}}}},
	{ID: RoleLogicAppContributor, Name: "Logic App Contributor", Description: "Lets you manage logic app, but not access to them.",
		Permissions: []Permission{{Actions: []string{"Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Logic/*", "Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*", "Microsoft.Web/connections/*", "Microsoft.Web/serverFarms/join/action", "Microsoft.Web/serverFarms/read"}}}},
}
