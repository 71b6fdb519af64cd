package servicebus

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/servicebus/sqlfilter"
)

type entityKind string

const (
	kindQueue        entityKind = "queue"
	kindTopic        entityKind = "topic"
	kindSubscription entityKind = "subscription"
	kindRule         entityKind = "rule"
)

// entityRecord is an entity's metadata as stored (sealed JSON).
type entityRecord struct {
	ID           uint64                  `json:"id"`
	Kind         entityKind              `json:"kind"`
	Name         string                  `json:"name"`
	Parent       uint64                  `json:"parent,omitempty"`
	Queue        *QueueProperties        `json:"queue,omitempty"`
	Topic        *TopicProperties        `json:"topic,omitempty"`
	Subscription *SubscriptionProperties `json:"subscription,omitempty"`
	Rule         *ruleRecord             `json:"rule,omitempty"`
	CreatedAt    time.Time               `json:"createdAt"`
	UpdatedAt    time.Time               `json:"updatedAt"`
	AccessedAt   time.Time               `json:"accessedAt"`
}

// ruleRecord is a rule as stored; typed property maps use the binary codec.
type ruleRecord struct {
	FilterType   FilterType       `json:"filterType"`
	SQL          string           `json:"sql,omitempty"`
	Params       []byte           `json:"params,omitempty"`
	Correlation  *correlationJSON `json:"correlation,omitempty"`
	HasAction    bool             `json:"hasAction,omitempty"`
	Action       string           `json:"action,omitempty"`
	ActionParams []byte           `json:"actionParams,omitempty"`
}

type correlationJSON struct {
	CorrelationID    string `json:"correlationId,omitempty"`
	MessageID        string `json:"messageId,omitempty"`
	To               string `json:"to,omitempty"`
	ReplyTo          string `json:"replyTo,omitempty"`
	Subject          string `json:"subject,omitempty"`
	SessionID        string `json:"sessionId,omitempty"`
	ReplyToSessionID string `json:"replyToSessionId,omitempty"`
	ContentType      string `json:"contentType,omitempty"`
	Properties       []byte `json:"properties,omitempty"`
}

// entity is a queue, topic, subscription or rule in memory. Its record is
// changed only under the namespace's exclusive opMu.
type entity struct {
	ns     *Namespace
	id     uint64
	kind   entityKind
	rec    entityRecord
	parent *entity

	// queues and topics
	seq   *seqAlloc
	sched *schedStore
	dedup *dedupState

	// queues and subscriptions
	main, dlq, tdlq *lqueue

	// topics: subscriptions by lower-case name; subscriptions: rules by name
	subs  map[string]*entity
	rules map[string]*entity

	// rules
	compiled *compiledRule

	accessed          atomic.Int64 // unix nanoseconds of the last send/receive/peek
	accessedPersisted atomic.Int64
}

type seqAlloc struct {
	mu       sync.Mutex
	next     uint64 // next sequence number to hand out
	reserved uint64 // highest durably reserved
}

// seqReserveChunk is how many sequence numbers one durable reservation
// covers; a restart skips at most this many.
const seqReserveChunk = 1 << 14

type dedupState struct {
	mu        sync.Mutex
	pending   map[string]struct{} // hashed message ids being sent
	lastPrune time.Time
}

// path is the entity's address: "queue", "topic", "topic/Subscriptions/sub".
func (e *entity) path() string {
	if e.kind == kindSubscription {
		return e.parent.rec.Name + SubscriptionsSegment + e.rec.Name
	}
	return e.rec.Name
}

func (e *entity) status() EntityStatus {
	switch e.kind {
	case kindQueue:
		return e.rec.Queue.Status
	case kindTopic:
		return e.rec.Topic.Status
	case kindSubscription:
		return e.rec.Subscription.Status
	}
	return StatusActive
}

func (e *entity) canSend() bool {
	s := e.status()
	return s != StatusDisabled && s != StatusSendDisabled
}

func (e *entity) canReceive() bool {
	s := e.status()
	if e.kind == kindSubscription && e.parent.status() == StatusDisabled {
		return false
	}
	return s != StatusDisabled && s != StatusReceiveDisabled
}

func (e *entity) lockDuration() time.Duration {
	switch e.kind {
	case kindQueue:
		return e.rec.Queue.LockDuration
	case kindSubscription:
		return e.rec.Subscription.LockDuration
	}
	return DefaultLockDuration
}

func (e *entity) maxDelivery() int32 {
	switch e.kind {
	case kindQueue:
		return e.rec.Queue.MaxDeliveryCount
	case kindSubscription:
		return e.rec.Subscription.MaxDeliveryCount
	}
	return DefaultMaxDeliveryCount
}

func (e *entity) defaultTTL() time.Duration {
	switch e.kind {
	case kindQueue:
		return e.rec.Queue.DefaultMessageTimeToLive
	case kindTopic:
		return e.rec.Topic.DefaultMessageTimeToLive
	case kindSubscription:
		return min(e.rec.Subscription.DefaultMessageTimeToLive, e.parent.rec.Topic.DefaultMessageTimeToLive)
	}
	return Infinite
}

func (e *entity) dlqOnExpiry() bool {
	switch e.kind {
	case kindQueue:
		return e.rec.Queue.DeadLetteringOnMessageExpiration
	case kindSubscription:
		return e.rec.Subscription.DeadLetteringOnMessageExpiration
	}
	return false
}

func (e *entity) requiresSession() bool {
	switch e.kind {
	case kindQueue:
		return e.rec.Queue.RequiresSession
	case kindSubscription:
		return e.rec.Subscription.RequiresSession
	}
	return false
}

func (e *entity) forwardTo() string {
	switch e.kind {
	case kindQueue:
		return e.rec.Queue.ForwardTo
	case kindSubscription:
		return e.rec.Subscription.ForwardTo
	}
	return ""
}

func (e *entity) forwardDLQTo() string {
	switch e.kind {
	case kindQueue:
		return e.rec.Queue.ForwardDeadLetteredMessagesTo
	case kindSubscription:
		return e.rec.Subscription.ForwardDeadLetteredMessagesTo
	}
	return ""
}

func (e *entity) autoDeleteOnIdle() time.Duration {
	switch e.kind {
	case kindQueue:
		return e.rec.Queue.AutoDeleteOnIdle
	case kindTopic:
		return e.rec.Topic.AutoDeleteOnIdle
	case kindSubscription:
		return e.rec.Subscription.AutoDeleteOnIdle
	}
	return Infinite
}

// maxMessageBytes is the largest message (and batch) the entity accepts.
func (e *entity) maxMessageBytes() int64 {
	var kb int64
	switch e.kind {
	case kindQueue:
		kb = e.rec.Queue.MaxMessageSizeInKilobytes
	case kindTopic:
		kb = e.rec.Topic.MaxMessageSizeInKilobytes
	}
	if kb <= 0 {
		kb = StandardMaxMessageSizeKB
	}
	return kb * 1024
}

func (e *entity) maxSizeBytes() int64 {
	switch e.kind {
	case kindQueue:
		return e.rec.Queue.MaxSizeInMegabytes << 20
	case kindTopic:
		return e.rec.Topic.MaxSizeInMegabytes << 20
	}
	return 0
}

func (e *entity) duplicateWindow() (time.Duration, bool) {
	switch e.kind {
	case kindQueue:
		return e.rec.Queue.DuplicateDetectionHistoryTimeWindow, e.rec.Queue.RequiresDuplicateDetection
	case kindTopic:
		return e.rec.Topic.DuplicateDetectionHistoryTimeWindow, e.rec.Topic.RequiresDuplicateDetection
	}
	return 0, false
}

// lqueues returns the entity's receivable queues.
func (e *entity) lqueues() []*lqueue {
	if e.main == nil {
		return nil
	}
	return []*lqueue{e.main, e.dlq, e.tdlq}
}

// sizeBytes is the entity's total stored message size.
func (e *entity) sizeBytes() int64 {
	var n int64
	for _, lq := range e.lqueues() {
		lq.mu.Lock()
		n += lq.bytes
		lq.mu.Unlock()
	}
	if e.sched != nil {
		e.sched.mu.Lock()
		n += e.sched.bytes
		e.sched.mu.Unlock()
	}
	if e.kind == kindTopic {
		for _, s := range e.subs {
			n += s.sizeBytes()
		}
	}
	return n
}

func (e *entity) touch(now time.Time) { e.accessed.Store(now.UnixNano()) }

func (e *entity) runtime() RuntimeProperties {
	r := RuntimeProperties{CreatedAt: e.rec.CreatedAt, UpdatedAt: e.rec.UpdatedAt, AccessedAt: e.rec.AccessedAt}
	if a := e.accessed.Load(); a != 0 {
		r.AccessedAt = time.Unix(0, a).UTC()
	}
	count := func(lq *lqueue) (int64, int64) {
		lq.mu.Lock()
		defer lq.mu.Unlock()
		return lq.nActive + lq.nDeferred, lq.bytes
	}
	if e.main != nil {
		a, s1 := count(e.main)
		d, s2 := count(e.dlq)
		t, s3 := count(e.tdlq)
		r.ActiveMessageCount, r.DeadLetterMessageCount, r.TransferDeadLetterMessageCount = a, d, t
		r.SizeInBytes = s1 + s2 + s3
	}
	if e.sched != nil {
		e.sched.mu.Lock()
		r.ScheduledMessageCount = int64(len(e.sched.items))
		r.SizeInBytes += e.sched.bytes
		e.sched.mu.Unlock()
	}
	if e.kind == kindTopic {
		r.SubscriptionCount = int64(len(e.subs))
		for _, s := range e.subs {
			r.SizeInBytes += s.sizeBytes()
		}
	}
	r.TotalMessageCount = r.ActiveMessageCount + r.DeadLetterMessageCount + r.ScheduledMessageCount +
		r.TransferDeadLetterMessageCount + r.TransferMessageCount
	return r
}

// compiledRule is a rule's parsed filter and action.
type compiledRule struct {
	name   string
	typ    FilterType
	sql    *sqlfilter.Filter
	corr   *sqlfilter.CorrelationFilter
	action *sqlfilter.Action
}

func lower(s string) string { return strings.ToLower(s) }
