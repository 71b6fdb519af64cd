package servicebus

import (
	"math"
	"time"

	"github.com/keyward/keyward/internal/servicebus/sqlfilter"
)

// Tier is a namespace's pricing tier, which decides features and limits.
type Tier string

// Tiers.
const (
	Basic    Tier = "Basic"    // queues only: no topics, sessions, duplicate detection or forwarding; TTL at most 14 days
	Standard Tier = "Standard" // every feature, 256 KB messages
	Premium  Tier = "Premium"  // every feature, 1 MB messages by default, up to 100 MB per entity
)

// EntityStatus is the status of a queue, topic or subscription.
type EntityStatus string

// Entity statuses.
const (
	StatusActive          EntityStatus = "Active"
	StatusDisabled        EntityStatus = "Disabled"
	StatusSendDisabled    EntityStatus = "SendDisabled"
	StatusReceiveDisabled EntityStatus = "ReceiveDisabled"
)

// Infinite stands for .NET's TimeSpan.MaxValue (P10675199DT2H48M5.4775807S),
// the "never" of DefaultMessageTimeToLive and AutoDeleteOnIdle. A Go
// time.Duration cannot hold TimeSpan.MaxValue; the transports map the two.
const Infinite time.Duration = math.MaxInt64

// Limits and defaults, as Azure Service Bus documents them.
const (
	DefaultLockDuration        = time.Minute
	MinLockDuration            = 5 * time.Second
	MaxLockDuration            = 5 * time.Minute
	DefaultMaxDeliveryCount    = 10
	DefaultDuplicateWindow     = 10 * time.Minute
	MinDuplicateWindow         = 20 * time.Second
	MaxDuplicateWindow         = 7 * 24 * time.Hour
	MinAutoDeleteOnIdle        = 5 * time.Minute
	MinMessageTimeToLive       = time.Second
	BasicMaxMessageTimeToLive  = 14 * 24 * time.Hour
	DefaultMaxSizeInMegabytes  = 1024
	StandardMaxMessageSizeKB   = 256
	PremiumDefaultMessageKB    = 1024
	PremiumMaxMessageSizeKB    = 100 * 1024
	MaxUserMetadataLength      = 1024
	MaxEntitiesPerNamespace    = 10000 // Basic and Standard: queues plus topics
	MaxPremiumEntities         = 1000  // Premium, per messaging unit
	MaxSubscriptionsPerTopic   = 2000
	MaxSQLFiltersPerTopic      = 2000
	MaxCorrelationFiltersTopic = 100000
	MaxForwardHops             = 4   // transfers beyond this dead-letter with MaxTransferHopCountExceeded
	MaxMessageIDLength         = 128 // MessageId, SessionId, PartitionKey
	MaxQueueNameLength         = 260 // queues and topics
	MaxSubscriptionNameLength  = 50  // subscriptions and rules
	DefaultRuleName            = "$Default"
)

// AuthorizationRule is an entity-level shared access policy, stored (sealed)
// with the entity for the ARM and ATOM layers; the broker does not check it.
type AuthorizationRule struct {
	KeyName      string    `json:"keyName"`
	Rights       []string  `json:"rights"` // "Manage", "Send", "Listen"
	PrimaryKey   string    `json:"primaryKey,omitempty"`
	SecondaryKey string    `json:"secondaryKey,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	ModifiedAt   time.Time `json:"modifiedAt"`
}

// QueueProperties are a queue's settable properties. Zero numeric, duration
// and status fields take their defaults on create; booleans are taken as
// given, so start from DefaultQueueProperties to get Azure's defaults.
type QueueProperties struct {
	LockDuration                        time.Duration       `json:"lockDuration"`
	MaxSizeInMegabytes                  int64               `json:"maxSizeInMegabytes"`
	RequiresDuplicateDetection          bool                `json:"requiresDuplicateDetection"` // immutable
	RequiresSession                     bool                `json:"requiresSession"`            // immutable
	DefaultMessageTimeToLive            time.Duration       `json:"defaultMessageTimeToLive"`
	DeadLetteringOnMessageExpiration    bool                `json:"deadLetteringOnMessageExpiration"`
	DuplicateDetectionHistoryTimeWindow time.Duration       `json:"duplicateDetectionHistoryTimeWindow"`
	MaxDeliveryCount                    int32               `json:"maxDeliveryCount"`
	EnableBatchedOperations             bool                `json:"enableBatchedOperations"` // stored only
	Status                              EntityStatus        `json:"status"`
	AutoDeleteOnIdle                    time.Duration       `json:"autoDeleteOnIdle"`
	EnablePartitioning                  bool                `json:"enablePartitioning"` // stored only; immutable
	ForwardTo                           string              `json:"forwardTo,omitempty"`
	ForwardDeadLetteredMessagesTo       string              `json:"forwardDeadLetteredMessagesTo,omitempty"`
	UserMetadata                        string              `json:"userMetadata,omitempty"`
	MaxMessageSizeInKilobytes           int64               `json:"maxMessageSizeInKilobytes"` // Premium only; fixed at 256 otherwise
	AuthorizationRules                  []AuthorizationRule `json:"authorizationRules,omitempty"`
}

// TopicProperties are a topic's settable properties (see QueueProperties for
// how zero values are treated).
type TopicProperties struct {
	MaxSizeInMegabytes                  int64               `json:"maxSizeInMegabytes"`
	RequiresDuplicateDetection          bool                `json:"requiresDuplicateDetection"` // immutable
	DefaultMessageTimeToLive            time.Duration       `json:"defaultMessageTimeToLive"`
	DuplicateDetectionHistoryTimeWindow time.Duration       `json:"duplicateDetectionHistoryTimeWindow"`
	EnableBatchedOperations             bool                `json:"enableBatchedOperations"` // stored only
	Status                              EntityStatus        `json:"status"`
	AutoDeleteOnIdle                    time.Duration       `json:"autoDeleteOnIdle"`
	EnablePartitioning                  bool                `json:"enablePartitioning"` // stored only; immutable
	SupportOrdering                     bool                `json:"supportOrdering"`    // stored only
	UserMetadata                        string              `json:"userMetadata,omitempty"`
	MaxMessageSizeInKilobytes           int64               `json:"maxMessageSizeInKilobytes"`
	AuthorizationRules                  []AuthorizationRule `json:"authorizationRules,omitempty"`
}

// SubscriptionProperties are a subscription's settable properties (see
// QueueProperties for how zero values are treated).
type SubscriptionProperties struct {
	LockDuration                              time.Duration `json:"lockDuration"`
	RequiresSession                           bool          `json:"requiresSession"` // immutable
	DefaultMessageTimeToLive                  time.Duration `json:"defaultMessageTimeToLive"`
	DeadLetteringOnMessageExpiration          bool          `json:"deadLetteringOnMessageExpiration"`
	DeadLetteringOnFilterEvaluationExceptions bool          `json:"deadLetteringOnFilterEvaluationExceptions"`
	MaxDeliveryCount                          int32         `json:"maxDeliveryCount"`
	EnableBatchedOperations                   bool          `json:"enableBatchedOperations"` // stored only
	Status                                    EntityStatus  `json:"status"`
	AutoDeleteOnIdle                          time.Duration `json:"autoDeleteOnIdle"`
	ForwardTo                                 string        `json:"forwardTo,omitempty"`
	ForwardDeadLetteredMessagesTo             string        `json:"forwardDeadLetteredMessagesTo,omitempty"`
	UserMetadata                              string        `json:"userMetadata,omitempty"`
}

// FilterType names a rule filter kind as Service Bus does.
type FilterType string

// Filter types.
const (
	FilterSQL         FilterType = "SqlFilter"
	FilterCorrelation FilterType = "CorrelationFilter"
	FilterTrue        FilterType = "TrueFilter"
	FilterFalse       FilterType = "FalseFilter"
)

// RuleFilter is a rule's filter. SQLExpression and Parameters apply to
// FilterSQL, Correlation to FilterCorrelation.
type RuleFilter struct {
	Type          FilterType
	SQLExpression string
	Parameters    map[string]any // "@name" → value; value types as Message.ApplicationProperties
	Correlation   *sqlfilter.CorrelationFilter
}

// RuleAction is a SQL rule action ("SET a = 1; REMOVE b").
type RuleAction struct {
	SQLExpression string
	Parameters    map[string]any
}

// RuleProperties are a rule's filter and optional action.
type RuleProperties struct {
	Filter RuleFilter
	Action *RuleAction // nil: no action
}

// Rule is a rule with its name, as given to CreateSubscription for the
// subscription's initial rule.
type Rule struct {
	Name       string
	Properties RuleProperties
}

// RuntimeProperties are the counters and times of an entity. Counts are exact
// at every moment: they change when a store write commits.
type RuntimeProperties struct {
	CreatedAt  time.Time
	UpdatedAt  time.Time
	AccessedAt time.Time // last send, receive or peek
	// SizeInBytes is the total size of the stored messages (message sizes as
	// Message.Size computes them). For a topic: its scheduled messages plus
	// every subscription's messages.
	SizeInBytes int64
	// TotalMessageCount counts active, deferred, scheduled, dead-lettered and
	// transfer-dead-lettered messages.
	TotalMessageCount int64
	// ActiveMessageCount counts available, locked and deferred messages.
	ActiveMessageCount             int64
	DeadLetterMessageCount         int64
	ScheduledMessageCount          int64
	TransferMessageCount           int64 // always 0: forwarding happens within the send
	TransferDeadLetterMessageCount int64
	SubscriptionCount              int64 // topics only
}

// QueueInfo is a queue's name, properties and runtime properties.
type QueueInfo struct {
	Name       string
	Properties QueueProperties
	Runtime    RuntimeProperties
}

// TopicInfo is a topic's name, properties and runtime properties.
type TopicInfo struct {
	Name       string
	Properties TopicProperties
	Runtime    RuntimeProperties
}

// SubscriptionInfo is a subscription's names, properties and runtime properties.
type SubscriptionInfo struct {
	Topic      string
	Name       string
	Properties SubscriptionProperties
	Runtime    RuntimeProperties
}

// RuleInfo is a rule's names, properties and times.
type RuleInfo struct {
	Topic        string
	Subscription string
	Name         string
	Properties   RuleProperties
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// DefaultQueueProperties returns Azure's defaults for a new queue in a
// namespace of the given tier.
func DefaultQueueProperties(t Tier) QueueProperties {
	return QueueProperties{
		LockDuration:                        DefaultLockDuration,
		MaxSizeInMegabytes:                  DefaultMaxSizeInMegabytes,
		DefaultMessageTimeToLive:            defaultTTL(t),
		DuplicateDetectionHistoryTimeWindow: DefaultDuplicateWindow,
		MaxDeliveryCount:                    DefaultMaxDeliveryCount,
		EnableBatchedOperations:             true,
		Status:                              StatusActive,
		AutoDeleteOnIdle:                    Infinite,
		MaxMessageSizeInKilobytes:           defaultMessageKB(t, 0),
	}
}

// DefaultTopicProperties returns Azure's defaults for a new topic.
func DefaultTopicProperties(t Tier) TopicProperties {
	return TopicProperties{
		MaxSizeInMegabytes:                  DefaultMaxSizeInMegabytes,
		DefaultMessageTimeToLive:            defaultTTL(t),
		DuplicateDetectionHistoryTimeWindow: DefaultDuplicateWindow,
		EnableBatchedOperations:             true,
		Status:                              StatusActive,
		AutoDeleteOnIdle:                    Infinite,
		SupportOrdering:                     true,
		MaxMessageSizeInKilobytes:           defaultMessageKB(t, 0),
	}
}

// DefaultSubscriptionProperties returns Azure's defaults for a new subscription.
func DefaultSubscriptionProperties(t Tier) SubscriptionProperties {
	return SubscriptionProperties{
		LockDuration:                              DefaultLockDuration,
		DefaultMessageTimeToLive:                  defaultTTL(t),
		DeadLetteringOnFilterEvaluationExceptions: true,
		MaxDeliveryCount:                          DefaultMaxDeliveryCount,
		EnableBatchedOperations:                   true,
		Status:                                    StatusActive,
		AutoDeleteOnIdle:                          Infinite,
	}
}

func defaultTTL(t Tier) time.Duration {
	if t == Basic {
		return BasicMaxMessageTimeToLive
	}
	return Infinite
}

func defaultMessageKB(t Tier, nsDefault int64) int64 {
	if t != Premium {
		return StandardMaxMessageSizeKB
	}
	if nsDefault > 0 {
		return nsDefault
	}
	return PremiumDefaultMessageKB
}

// EntityKind is the kind of a receivable or sendable entity.
type EntityKind string

// Entity kinds.
const (
	KindQueue        EntityKind = "Queue"
	KindTopic        EntityKind = "Topic"
	KindSubscription EntityKind = "Subscription"
)

// EntityDescription is what a transport needs to attach a link to an entity
// path: its kind and the settings that shape the link.
type EntityDescription struct {
	Path                EntityPath
	Kind                EntityKind
	Name                string // canonical spelling of the path
	Status              EntityStatus
	RequiresSession     bool
	LockDuration        time.Duration
	MaxMessageSizeBytes int64 // largest message or batch a send to the entity (or its topic) accepts
}
