package servicebus

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/store"
)

// newEntity builds an entity's in-memory state from its record.
func (n *Namespace) newEntity(rec entityRecord, parent *entity) (*entity, error) {
	e := &entity{ns: n, id: rec.ID, kind: rec.Kind, rec: rec, parent: parent}
	switch rec.Kind {
	case kindQueue:
		if rec.Queue == nil {
			return nil, errCorrupt
		}
		e.seq = &seqAlloc{next: 1}
		e.sched = newSchedStore(e)
		e.dedup = &dedupState{pending: map[string]struct{}{}}
		e.makeQueues(rec.Queue.RequiresSession)
	case kindTopic:
		if rec.Topic == nil {
			return nil, errCorrupt
		}
		e.seq = &seqAlloc{next: 1}
		e.sched = newSchedStore(e)
		e.dedup = &dedupState{pending: map[string]struct{}{}}
		e.subs = map[string]*entity{}
	case kindSubscription:
		if rec.Subscription == nil || parent == nil || parent.kind != kindTopic {
			return nil, errCorrupt
		}
		e.rules = map[string]*entity{}
		e.makeQueues(rec.Subscription.RequiresSession)
	case kindRule:
		if rec.Rule == nil || parent == nil || parent.kind != kindSubscription {
			return nil, errCorrupt
		}
		props, err := ruleFromRecord(rec.Rule)
		if err != nil {
			return nil, err
		}
		c, err := compileRule(rec.Name, props)
		if err != nil {
			return nil, err
		}
		e.compiled = c
	default:
		return nil, errCorrupt
	}
	e.accessedPersisted.Store(unixNano(rec.AccessedAt))
	return e, nil
}

func (e *entity) makeQueues(sessions bool) {
	e.main = newLQueue(e, SubQueueMain, codeActive, codeDeferred, sessions)
	e.dlq = newLQueue(e, SubQueueDeadLetter, codeDLQ, codeDLQDeferred, false)
	e.tdlq = newLQueue(e, SubQueueTransferDeadLetter, codeTDLQ, codeTDLQDeferred, false)
}

func (n *Namespace) attachEntity(e *entity) {
	n.byID[e.id] = e
	switch e.kind {
	case kindQueue, kindTopic:
		n.byName[lower(e.rec.Name)] = e
	case kindSubscription:
		e.parent.subs[lower(e.rec.Name)] = e
	case kindRule:
		e.parent.rules[e.rec.Name] = e
	}
}

// closeEntityLocked detaches e and its children and wakes blocked calls (opMu held).
func (n *Namespace) closeEntityLocked(e *entity) {
	for _, s := range e.subs {
		n.closeEntityLocked(s)
	}
	for _, r := range e.rules {
		n.closeEntityLocked(r)
	}
	for _, lq := range e.lqueues() {
		lq.close()
	}
	if e.sched != nil {
		e.sched.mu.Lock()
		e.sched.closed = true
		e.sched.mu.Unlock()
	}
	delete(n.byID, e.id)
	switch e.kind {
	case kindQueue, kindTopic:
		if n.byName[lower(e.rec.Name)] == e {
			delete(n.byName, lower(e.rec.Name))
		}
	case kindSubscription:
		delete(e.parent.subs, lower(e.rec.Name))
	case kindRule:
		delete(e.parent.rules, e.rec.Name)
	}
}

// deleteEntityData adds the removal of every record of entity eid to b.
func (n *Namespace) deleteEntityData(b *store.Batch, eid uint64) {
	for _, kind := range []byte{'i', 'm', 'u', 's', 'w'} {
		p := n.k.key(kind, eid)
		b.DeleteRange(p, store.PrefixEnd(p))
	}
	b.Delete(n.k.entityKey(eid))
	b.Delete(n.k.reserveKey(eid))
}

func (n *Namespace) queueOrTopic(name string) *entity { return n.byName[lower(name)] }

func (n *Namespace) queueByName(name string) (*entity, error) {
	e := n.queueOrTopic(name)
	if e == nil || e.kind != kindQueue {
		return nil, notFound("queue", name)
	}
	return e, nil
}

func (n *Namespace) topicByName(name string) (*entity, error) {
	e := n.queueOrTopic(name)
	if e == nil || e.kind != kindTopic {
		return nil, notFound("topic", name)
	}
	return e, nil
}

func (n *Namespace) subscriptionByName(topic, name string) (*entity, error) {
	t, err := n.topicByName(topic)
	if err != nil {
		return nil, err
	}
	s := t.subs[lower(name)]
	if s == nil {
		return nil, notFound("subscription", topic+SubscriptionsSegment+name)
	}
	return s, nil
}

func (n *Namespace) countQueuesTopics() int { return len(n.byName) }

func (n *Namespace) entityQuota() int {
	o := n.Options()
	if o.Tier == Premium {
		return MaxPremiumEntities * max(o.MessagingUnits, 1)
	}
	return MaxEntitiesPerNamespace
}

// writeNewEntity stores a new entity record (with the advanced id counter)
// and attaches it.
func (n *Namespace) writeNewEntity(ctx context.Context, recs []entityRecord, parents []*entity) ([]*entity, error) {
	dk, err := n.key()
	if err != nil {
		return nil, err
	}
	b := &store.Batch{Sync: true}
	for i := range recs {
		if err := n.putEntityRecord(b, dk, &recs[i]); err != nil {
			return nil, internalErr(n.name, "seal entity", err)
		}
	}
	b.Set(n.k.counterKey(), be64(n.nextEID))
	ents := make([]*entity, len(recs))
	for i, r := range recs {
		parent := parents[i]
		for j := 0; parent == nil && r.Parent != 0 && j < i; j++ {
			if recs[j].ID == r.Parent {
				parent = ents[j]
			}
		}
		e, err := n.newEntity(r, parent)
		if err != nil {
			return nil, internalErr(n.name, "create entity", err)
		}
		ents[i] = e
	}
	if err := n.b.st.Apply(ctx, b); err != nil {
		return nil, internalErr(n.name, "store entity", err)
	}
	for _, e := range ents {
		n.attachEntity(e)
	}
	return ents, nil
}

func (n *Namespace) allocEID() uint64 {
	id := n.nextEID
	n.nextEID++
	return id
}

func (n *Namespace) updateEntityRecord(ctx context.Context, e *entity, rec entityRecord) error {
	dk, err := n.key()
	if err != nil {
		return err
	}
	b := &store.Batch{Sync: true}
	if a := e.accessed.Load(); a != 0 {
		rec.AccessedAt = time.Unix(0, a).UTC()
	}
	if err := n.putEntityRecord(b, dk, &rec); err != nil {
		return internalErr(n.name, "seal entity", err)
	}
	if err := n.b.st.Apply(ctx, b); err != nil {
		return internalErr(n.name, "store entity", err)
	}
	e.rec = rec
	return nil
}

func (n *Namespace) deleteEntity(ctx context.Context, e *entity) error {
	b := &store.Batch{Sync: true}
	var walk func(x *entity)
	walk = func(x *entity) {
		n.deleteEntityData(b, x.id)
		for _, s := range x.subs {
			walk(s)
		}
		for _, r := range x.rules {
			walk(r)
		}
	}
	walk(e)
	if err := n.b.st.Apply(ctx, b); err != nil {
		return internalErr(n.name, "delete entity", err)
	}
	n.closeEntityLocked(e)
	return nil
}

// normalizeForward turns "sb://host/path" into "path".
func normalizeForward(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			return strings.Trim(rest[j+1:], "/")
		}
		return ""
	}
	return strings.Trim(s, "/")
}

func validStatus(s EntityStatus, allowed ...EntityStatus) bool {
	return slices.Contains(allowed, s)
}

func (n *Namespace) checkForward(self, target, what string) (string, error) {
	if target == "" {
		return "", nil
	}
	if n.tier() == Basic {
		return "", newErr(CodeBadRequest, "%s is not supported in the Basic tier", what)
	}
	t := normalizeForward(target)
	if strings.EqualFold(t, self) {
		return "", newErr(CodeBadRequest, "%s cannot name the entity itself", what)
	}
	if n.queueOrTopic(t) == nil {
		return "", newErr(CodeEntityNotFound, "%s: entity %q does not exist", what, t)
	}
	return n.queueOrTopic(t).rec.Name, nil
}

func checkDurations(lock, ttl, dup, idle time.Duration, maxDelivery int32, tier Tier) error {
	if lock != 0 && (lock < MinLockDuration || lock > MaxLockDuration) {
		return newErr(CodeBadRequest, "lockDuration must be between %s and %s", MinLockDuration, MaxLockDuration)
	}
	if ttl < MinMessageTimeToLive {
		return newErr(CodeBadRequest, "defaultMessageTimeToLive must be at least %s", MinMessageTimeToLive)
	}
	if tier == Basic && ttl > BasicMaxMessageTimeToLive {
		return newErr(CodeBadRequest, "defaultMessageTimeToLive must be at most 14 days in the Basic tier")
	}
	if dup != 0 && (dup < MinDuplicateWindow || dup > MaxDuplicateWindow) {
		return newErr(CodeBadRequest, "duplicateDetectionHistoryTimeWindow must be between %s and %s", MinDuplicateWindow, MaxDuplicateWindow)
	}
	if idle < MinAutoDeleteOnIdle {
		return newErr(CodeBadRequest, "autoDeleteOnIdle must be at least %s", MinAutoDeleteOnIdle)
	}
	if maxDelivery < 1 {
		return newErr(CodeBadRequest, "maxDeliveryCount must be at least 1")
	}
	return nil
}

func (n *Namespace) checkSize(mb, msgKB *int64, partitioned bool) error {
	o := n.Options()
	limit := int64(5 * 1024)
	if o.Tier == Premium || partitioned {
		limit = 80 * 1024
	}
	if *mb < 1 || *mb > limit {
		return newErr(CodeBadRequest, "maxSizeInMegabytes must be between 1 and %d", limit)
	}
	if o.Tier != Premium {
		*msgKB = StandardMaxMessageSizeKB
		return nil
	}
	if *msgKB < PremiumDefaultMessageKB || *msgKB > PremiumMaxMessageSizeKB {
		return newErr(CodeBadRequest, "maxMessageSizeInKilobytes must be between %d and %d", PremiumDefaultMessageKB, PremiumMaxMessageSizeKB)
	}
	return nil
}

func (n *Namespace) fillQueue(p *QueueProperties) {
	t := n.tier()
	d := DefaultQueueProperties(t)
	if p.LockDuration == 0 {
		p.LockDuration = d.LockDuration
	}
	if p.MaxSizeInMegabytes == 0 {
		p.MaxSizeInMegabytes = d.MaxSizeInMegabytes
	}
	if p.DefaultMessageTimeToLive == 0 {
		p.DefaultMessageTimeToLive = d.DefaultMessageTimeToLive
	}
	if p.DuplicateDetectionHistoryTimeWindow == 0 {
		p.DuplicateDetectionHistoryTimeWindow = d.DuplicateDetectionHistoryTimeWindow
	}
	if p.MaxDeliveryCount == 0 {
		p.MaxDeliveryCount = d.MaxDeliveryCount
	}
	if p.Status == "" {
		p.Status = StatusActive
	}
	if p.AutoDeleteOnIdle == 0 {
		p.AutoDeleteOnIdle = Infinite
	}
	if p.MaxMessageSizeInKilobytes == 0 {
		p.MaxMessageSizeInKilobytes = defaultMessageKB(t, n.Options().MaxMessageSizeKB)
	}
	p.AuthorizationRules = slices.Clone(p.AuthorizationRules)
}

func (n *Namespace) validateQueue(name string, p *QueueProperties) error {
	t := n.tier()
	if err := checkDurations(p.LockDuration, p.DefaultMessageTimeToLive, p.DuplicateDetectionHistoryTimeWindow, p.AutoDeleteOnIdle, p.MaxDeliveryCount, t); err != nil {
		return err
	}
	if err := n.checkSize(&p.MaxSizeInMegabytes, &p.MaxMessageSizeInKilobytes, p.EnablePartitioning); err != nil {
		return err
	}
	if !validStatus(p.Status, StatusActive, StatusDisabled, StatusSendDisabled, StatusReceiveDisabled) {
		return newErr(CodeBadRequest, "invalid queue status %q", p.Status)
	}
	if len(p.UserMetadata) > MaxUserMetadataLength {
		return newErr(CodeBadRequest, "userMetadata is longer than %d characters", MaxUserMetadataLength)
	}
	if t == Basic && (p.RequiresSession || p.RequiresDuplicateDetection) {
		return newErr(CodeBadRequest, "sessions and duplicate detection are not supported in the Basic tier")
	}
	var err error
	if p.ForwardTo, err = n.checkForward(name, p.ForwardTo, "forwardTo"); err != nil {
		return err
	}
	if p.ForwardDeadLetteredMessagesTo, err = n.checkForward(name, p.ForwardDeadLetteredMessagesTo, "forwardDeadLetteredMessagesTo"); err != nil {
		return err
	}
	return nil
}

// CreateQueue creates a queue. Zero fields of p take their defaults.
func (n *Namespace) CreateQueue(ctx context.Context, name string, p QueueProperties) (QueueInfo, error) {
	if err := ValidateEntityName(name); err != nil {
		return QueueInfo{}, err
	}
	if _, err := n.beginAdmin(); err != nil {
		return QueueInfo{}, err
	}
	defer n.endAdmin()
	if n.queueOrTopic(name) != nil {
		return QueueInfo{}, newErr(CodeEntityAlreadyExists, "an entity named %q already exists", name)
	}
	if n.countQueuesTopics() >= n.entityQuota() {
		return QueueInfo{}, newErr(CodeQuotaExceeded, "the namespace already has %d queues and topics", n.entityQuota())
	}
	n.fillQueue(&p)
	if err := n.validateQueue(name, &p); err != nil {
		return QueueInfo{}, err
	}
	now := n.b.clk.Now().UTC()
	rec := entityRecord{ID: n.allocEID(), Kind: kindQueue, Name: name, Queue: &p, CreatedAt: now, UpdatedAt: now}
	ents, err := n.writeNewEntity(ctx, []entityRecord{rec}, []*entity{nil})
	if err != nil {
		return QueueInfo{}, err
	}
	return queueInfo(ents[0]), nil
}

// UpdateQueue replaces a queue's properties (zero fields take defaults).
// RequiresSession, RequiresDuplicateDetection and EnablePartitioning cannot
// change.
func (n *Namespace) UpdateQueue(ctx context.Context, name string, p QueueProperties) (QueueInfo, error) {
	if _, err := n.beginAdmin(); err != nil {
		return QueueInfo{}, err
	}
	defer n.endAdmin()
	e, err := n.queueByName(name)
	if err != nil {
		return QueueInfo{}, err
	}
	n.fillQueue(&p)
	old := e.rec.Queue
	if p.RequiresSession != old.RequiresSession || p.RequiresDuplicateDetection != old.RequiresDuplicateDetection || p.EnablePartitioning != old.EnablePartitioning {
		return QueueInfo{}, newErr(CodeBadRequest, "requiresSession, requiresDuplicateDetection and enablePartitioning of an existing queue cannot be changed")
	}
	if err := n.validateQueue(e.rec.Name, &p); err != nil {
		return QueueInfo{}, err
	}
	rec := e.rec
	rec.Queue = &p
	rec.UpdatedAt = n.b.clk.Now().UTC()
	if err := n.updateEntityRecord(ctx, e, rec); err != nil {
		return QueueInfo{}, err
	}
	return queueInfo(e), nil
}

// GetQueue returns a queue with its runtime properties.
func (n *Namespace) GetQueue(ctx context.Context, name string) (QueueInfo, error) {
	if _, err := n.begin(); err != nil {
		return QueueInfo{}, err
	}
	defer n.end()
	e, err := n.queueByName(name)
	if err != nil {
		return QueueInfo{}, err
	}
	return queueInfo(e), nil
}

// ListQueues returns every queue, sorted by name (case-insensitively).
func (n *Namespace) ListQueues(ctx context.Context) ([]QueueInfo, error) {
	if _, err := n.begin(); err != nil {
		return nil, err
	}
	defer n.end()
	var out []QueueInfo
	for _, e := range sortedEntities(n.byName) {
		if e.kind == kindQueue {
			out = append(out, queueInfo(e))
		}
	}
	return out, nil
}

// DeleteQueue deletes a queue and every message in it.
func (n *Namespace) DeleteQueue(ctx context.Context, name string) error {
	if _, err := n.beginAdmin(); err != nil {
		return err
	}
	defer n.endAdmin()
	e, err := n.queueByName(name)
	if err != nil {
		return err
	}
	return n.deleteEntity(ctx, e)
}

func sortedEntities(m map[string]*entity) []*entity {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*entity, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

func queueInfo(e *entity) QueueInfo {
	p := *e.rec.Queue
	p.AuthorizationRules = slices.Clone(p.AuthorizationRules)
	return QueueInfo{Name: e.rec.Name, Properties: p, Runtime: e.runtime()}
}

func topicInfo(e *entity) TopicInfo {
	p := *e.rec.Topic
	p.AuthorizationRules = slices.Clone(p.AuthorizationRules)
	return TopicInfo{Name: e.rec.Name, Properties: p, Runtime: e.runtime()}
}

func subscriptionInfo(e *entity) SubscriptionInfo {
	return SubscriptionInfo{Topic: e.parent.rec.Name, Name: e.rec.Name, Properties: *e.rec.Subscription, Runtime: e.runtime()}
}

func ruleInfo(e *entity) RuleInfo {
	p, _ := ruleFromRecord(e.rec.Rule)
	return RuleInfo{Topic: e.parent.parent.rec.Name, Subscription: e.parent.rec.Name, Name: e.rec.Name,
		Properties: p, CreatedAt: e.rec.CreatedAt, UpdatedAt: e.rec.UpdatedAt}
}

func (n *Namespace) fillTopic(p *TopicProperties) {
	t := n.tier()
	d := DefaultTopicProperties(t)
	if p.MaxSizeInMegabytes == 0 {
		p.MaxSizeInMegabytes = d.MaxSizeInMegabytes
	}
	if p.DefaultMessageTimeToLive == 0 {
		p.DefaultMessageTimeToLive = d.DefaultMessageTimeToLive
	}
	if p.DuplicateDetectionHistoryTimeWindow == 0 {
		p.DuplicateDetectionHistoryTimeWindow = d.DuplicateDetectionHistoryTimeWindow
	}
	if p.Status == "" {
		p.Status = StatusActive
	}
	if p.AutoDeleteOnIdle == 0 {
		p.AutoDeleteOnIdle = Infinite
	}
	if p.MaxMessageSizeInKilobytes == 0 {
		p.MaxMessageSizeInKilobytes = defaultMessageKB(t, n.Options().MaxMessageSizeKB)
	}
	p.AuthorizationRules = slices.Clone(p.AuthorizationRules)
}

func (n *Namespace) validateTopic(p *TopicProperties) error {
	if err := checkDurations(0, p.DefaultMessageTimeToLive, p.DuplicateDetectionHistoryTimeWindow, p.AutoDeleteOnIdle, 1, n.tier()); err != nil {
		return err
	}
	if err := n.checkSize(&p.MaxSizeInMegabytes, &p.MaxMessageSizeInKilobytes, p.EnablePartitioning); err != nil {
		return err
	}
	if !validStatus(p.Status, StatusActive, StatusDisabled, StatusSendDisabled) {
		return newErr(CodeBadRequest, "invalid topic status %q", p.Status)
	}
	if len(p.UserMetadata) > MaxUserMetadataLength {
		return newErr(CodeBadRequest, "userMetadata is longer than %d characters", MaxUserMetadataLength)
	}
	return nil
}

// CreateTopic creates a topic (not in the Basic tier).
func (n *Namespace) CreateTopic(ctx context.Context, name string, p TopicProperties) (TopicInfo, error) {
	if err := ValidateEntityName(name); err != nil {
		return TopicInfo{}, err
	}
	if _, err := n.beginAdmin(); err != nil {
		return TopicInfo{}, err
	}
	defer n.endAdmin()
	if n.tier() == Basic {
		return TopicInfo{}, newErr(CodeBadRequest, "topics are not supported in the Basic tier")
	}
	if n.queueOrTopic(name) != nil {
		return TopicInfo{}, newErr(CodeEntityAlreadyExists, "an entity named %q already exists", name)
	}
	if n.countQueuesTopics() >= n.entityQuota() {
		return TopicInfo{}, newErr(CodeQuotaExceeded, "the namespace already has %d queues and topics", n.entityQuota())
	}
	n.fillTopic(&p)
	if err := n.validateTopic(&p); err != nil {
		return TopicInfo{}, err
	}
	now := n.b.clk.Now().UTC()
	rec := entityRecord{ID: n.allocEID(), Kind: kindTopic, Name: name, Topic: &p, CreatedAt: now, UpdatedAt: now}
	ents, err := n.writeNewEntity(ctx, []entityRecord{rec}, []*entity{nil})
	if err != nil {
		return TopicInfo{}, err
	}
	return topicInfo(ents[0]), nil
}

// UpdateTopic replaces a topic's properties. RequiresDuplicateDetection and
// EnablePartitioning cannot change.
func (n *Namespace) UpdateTopic(ctx context.Context, name string, p TopicProperties) (TopicInfo, error) {
	if _, err := n.beginAdmin(); err != nil {
		return TopicInfo{}, err
	}
	defer n.endAdmin()
	e, err := n.topicByName(name)
	if err != nil {
		return TopicInfo{}, err
	}
	n.fillTopic(&p)
	old := e.rec.Topic
	if p.RequiresDuplicateDetection != old.RequiresDuplicateDetection || p.EnablePartitioning != old.EnablePartitioning {
		return TopicInfo{}, newErr(CodeBadRequest, "requiresDuplicateDetection and enablePartitioning of an existing topic cannot be changed")
	}
	if err := n.validateTopic(&p); err != nil {
		return TopicInfo{}, err
	}
	rec := e.rec
	rec.Topic = &p
	rec.UpdatedAt = n.b.clk.Now().UTC()
	if err := n.updateEntityRecord(ctx, e, rec); err != nil {
		return TopicInfo{}, err
	}
	return topicInfo(e), nil
}

// GetTopic returns a topic with its runtime properties.
func (n *Namespace) GetTopic(ctx context.Context, name string) (TopicInfo, error) {
	if _, err := n.begin(); err != nil {
		return TopicInfo{}, err
	}
	defer n.end()
	e, err := n.topicByName(name)
	if err != nil {
		return TopicInfo{}, err
	}
	return topicInfo(e), nil
}

// ListTopics returns every topic, sorted by name.
func (n *Namespace) ListTopics(ctx context.Context) ([]TopicInfo, error) {
	if _, err := n.begin(); err != nil {
		return nil, err
	}
	defer n.end()
	var out []TopicInfo
	for _, e := range sortedEntities(n.byName) {
		if e.kind == kindTopic {
			out = append(out, topicInfo(e))
		}
	}
	return out, nil
}

// DeleteTopic deletes a topic with its subscriptions, rules and messages.
func (n *Namespace) DeleteTopic(ctx context.Context, name string) error {
	if _, err := n.beginAdmin(); err != nil {
		return err
	}
	defer n.endAdmin()
	e, err := n.topicByName(name)
	if err != nil {
		return err
	}
	return n.deleteEntity(ctx, e)
}

func (n *Namespace) fillSubscription(p *SubscriptionProperties) {
	d := DefaultSubscriptionProperties(n.tier())
	if p.LockDuration == 0 {
		p.LockDuration = d.LockDuration
	}
	if p.DefaultMessageTimeToLive == 0 {
		p.DefaultMessageTimeToLive = d.DefaultMessageTimeToLive
	}
	if p.MaxDeliveryCount == 0 {
		p.MaxDeliveryCount = d.MaxDeliveryCount
	}
	if p.Status == "" {
		p.Status = StatusActive
	}
	if p.AutoDeleteOnIdle == 0 {
		p.AutoDeleteOnIdle = Infinite
	}
}

func (n *Namespace) validateSubscription(topic *entity, p *SubscriptionProperties) error {
	if err := checkDurations(p.LockDuration, p.DefaultMessageTimeToLive, 0, p.AutoDeleteOnIdle, p.MaxDeliveryCount, n.tier()); err != nil {
		return err
	}
	if !validStatus(p.Status, StatusActive, StatusDisabled, StatusReceiveDisabled) {
		return newErr(CodeBadRequest, "invalid subscription status %q", p.Status)
	}
	if len(p.UserMetadata) > MaxUserMetadataLength {
		return newErr(CodeBadRequest, "userMetadata is longer than %d characters", MaxUserMetadataLength)
	}
	var err error
	if p.ForwardTo, err = n.checkForward("", p.ForwardTo, "forwardTo"); err != nil {
		return err
	}
	if p.ForwardDeadLetteredMessagesTo, err = n.checkForward("", p.ForwardDeadLetteredMessagesTo, "forwardDeadLetteredMessagesTo"); err != nil {
		return err
	}
	return nil
}

// ruleCounts returns how many SQL and correlation filters a topic has.
func ruleCounts(topic *entity) (sql, corr int) {
	for _, s := range topic.subs {
		for _, r := range s.rules {
			if r.rec.Rule.FilterType == FilterCorrelation && !r.rec.Rule.HasAction {
				corr++
			} else {
				sql++
			}
		}
	}
	return sql, corr
}

func checkRuleQuota(topic *entity, p RuleProperties) error {
	sql, corr := ruleCounts(topic)
	if p.Filter.Type == FilterCorrelation && p.Action == nil {
		if corr >= MaxCorrelationFiltersTopic {
			return newErr(CodeQuotaExceeded, "the topic already has %d correlation filters", MaxCorrelationFiltersTopic)
		}
		return nil
	}
	if sql >= MaxSQLFiltersPerTopic {
		return newErr(CodeQuotaExceeded, "the topic already has %d SQL filters", MaxSQLFiltersPerTopic)
	}
	return nil
}

// CreateSubscription creates a subscription with one rule: defaultRule, or
// when nil "$Default" with a true filter.
func (n *Namespace) CreateSubscription(ctx context.Context, topic, name string, p SubscriptionProperties, defaultRule *Rule) (SubscriptionInfo, error) {
	if err := ValidateSubscriptionName(name); err != nil {
		return SubscriptionInfo{}, err
	}
	if _, err := n.beginAdmin(); err != nil {
		return SubscriptionInfo{}, err
	}
	defer n.endAdmin()
	t, err := n.topicByName(topic)
	if err != nil {
		return SubscriptionInfo{}, err
	}
	if t.subs[lower(name)] != nil {
		return SubscriptionInfo{}, newErr(CodeEntityAlreadyExists, "subscription %q already exists", topic+SubscriptionsSegment+name)
	}
	if len(t.subs) >= MaxSubscriptionsPerTopic {
		return SubscriptionInfo{}, newErr(CodeQuotaExceeded, "the topic already has %d subscriptions", MaxSubscriptionsPerTopic)
	}
	n.fillSubscription(&p)
	if err := n.validateSubscription(t, &p); err != nil {
		return SubscriptionInfo{}, err
	}
	rule := Rule{Name: DefaultRuleName, Properties: RuleProperties{Filter: RuleFilter{Type: FilterTrue}}}
	if defaultRule != nil {
		rule = *defaultRule
		if rule.Name == "" {
			rule.Name = DefaultRuleName
		}
	}
	if err := ValidateRuleName(rule.Name); err != nil {
		return SubscriptionInfo{}, err
	}
	if _, err := compileRule(rule.Name, rule.Properties); err != nil {
		return SubscriptionInfo{}, err
	}
	if err := checkRuleQuota(t, rule.Properties); err != nil {
		return SubscriptionInfo{}, err
	}
	rr, err := ruleToRecord(rule.Properties)
	if err != nil {
		return SubscriptionInfo{}, err
	}
	now := n.b.clk.Now().UTC()
	srec := entityRecord{ID: n.allocEID(), Kind: kindSubscription, Name: name, Parent: t.id, Subscription: &p, CreatedAt: now, UpdatedAt: now}
	rrec := entityRecord{ID: n.allocEID(), Kind: kindRule, Name: rule.Name, Parent: srec.ID, Rule: rr, CreatedAt: now, UpdatedAt: now}
	ents, err := n.writeNewEntity(ctx, []entityRecord{srec, rrec}, []*entity{t, nil})
	if err != nil {
		return SubscriptionInfo{}, err
	}
	return subscriptionInfo(ents[0]), nil
}

// UpdateSubscription replaces a subscription's properties. RequiresSession
// cannot change.
func (n *Namespace) UpdateSubscription(ctx context.Context, topic, name string, p SubscriptionProperties) (SubscriptionInfo, error) {
	if _, err := n.beginAdmin(); err != nil {
		return SubscriptionInfo{}, err
	}
	defer n.endAdmin()
	e, err := n.subscriptionByName(topic, name)
	if err != nil {
		return SubscriptionInfo{}, err
	}
	n.fillSubscription(&p)
	if p.RequiresSession != e.rec.Subscription.RequiresSession {
		return SubscriptionInfo{}, newErr(CodeBadRequest, "requiresSession of an existing subscription cannot be changed")
	}
	if err := n.validateSubscription(e.parent, &p); err != nil {
		return SubscriptionInfo{}, err
	}
	rec := e.rec
	rec.Subscription = &p
	rec.UpdatedAt = n.b.clk.Now().UTC()
	if err := n.updateEntityRecord(ctx, e, rec); err != nil {
		return SubscriptionInfo{}, err
	}
	return subscriptionInfo(e), nil
}

// GetSubscription returns a subscription with its runtime properties.
func (n *Namespace) GetSubscription(ctx context.Context, topic, name string) (SubscriptionInfo, error) {
	if _, err := n.begin(); err != nil {
		return SubscriptionInfo{}, err
	}
	defer n.end()
	e, err := n.subscriptionByName(topic, name)
	if err != nil {
		return SubscriptionInfo{}, err
	}
	return subscriptionInfo(e), nil
}

// ListSubscriptions returns a topic's subscriptions, sorted by name.
func (n *Namespace) ListSubscriptions(ctx context.Context, topic string) ([]SubscriptionInfo, error) {
	if _, err := n.begin(); err != nil {
		return nil, err
	}
	defer n.end()
	t, err := n.topicByName(topic)
	if err != nil {
		return nil, err
	}
	var out []SubscriptionInfo
	for _, e := range sortedEntities(t.subs) {
		out = append(out, subscriptionInfo(e))
	}
	return out, nil
}

// DeleteSubscription deletes a subscription with its rules and messages.
func (n *Namespace) DeleteSubscription(ctx context.Context, topic, name string) error {
	if _, err := n.beginAdmin(); err != nil {
		return err
	}
	defer n.endAdmin()
	e, err := n.subscriptionByName(topic, name)
	if err != nil {
		return err
	}
	return n.deleteEntity(ctx, e)
}

// CreateRule adds a rule to a subscription.
func (n *Namespace) CreateRule(ctx context.Context, topic, sub, name string, p RuleProperties) (RuleInfo, error) {
	if err := ValidateRuleName(name); err != nil {
		return RuleInfo{}, err
	}
	if _, err := n.beginAdmin(); err != nil {
		return RuleInfo{}, err
	}
	defer n.endAdmin()
	s, err := n.subscriptionByName(topic, sub)
	if err != nil {
		return RuleInfo{}, err
	}
	if s.rules[name] != nil {
		return RuleInfo{}, newErr(CodeEntityAlreadyExists, "rule %q already exists", name)
	}
	if _, err := compileRule(name, p); err != nil {
		return RuleInfo{}, err
	}
	if err := checkRuleQuota(s.parent, p); err != nil {
		return RuleInfo{}, err
	}
	rr, err := ruleToRecord(p)
	if err != nil {
		return RuleInfo{}, err
	}
	now := n.b.clk.Now().UTC()
	rec := entityRecord{ID: n.allocEID(), Kind: kindRule, Name: name, Parent: s.id, Rule: rr, CreatedAt: now, UpdatedAt: now}
	ents, err := n.writeNewEntity(ctx, []entityRecord{rec}, []*entity{s})
	if err != nil {
		return RuleInfo{}, err
	}
	return ruleInfo(ents[0]), nil
}

// UpdateRule replaces a rule's filter and action.
func (n *Namespace) UpdateRule(ctx context.Context, topic, sub, name string, p RuleProperties) (RuleInfo, error) {
	if _, err := n.beginAdmin(); err != nil {
		return RuleInfo{}, err
	}
	defer n.endAdmin()
	s, err := n.subscriptionByName(topic, sub)
	if err != nil {
		return RuleInfo{}, err
	}
	r := s.rules[name]
	if r == nil {
		return RuleInfo{}, notFound("rule", name)
	}
	c, err := compileRule(name, p)
	if err != nil {
		return RuleInfo{}, err
	}
	rr, err := ruleToRecord(p)
	if err != nil {
		return RuleInfo{}, err
	}
	rec := r.rec
	rec.Rule = rr
	rec.UpdatedAt = n.b.clk.Now().UTC()
	if err := n.updateEntityRecord(ctx, r, rec); err != nil {
		return RuleInfo{}, err
	}
	r.compiled = c
	return ruleInfo(r), nil
}

// GetRule returns a rule.
func (n *Namespace) GetRule(ctx context.Context, topic, sub, name string) (RuleInfo, error) {
	if _, err := n.begin(); err != nil {
		return RuleInfo{}, err
	}
	defer n.end()
	s, err := n.subscriptionByName(topic, sub)
	if err != nil {
		return RuleInfo{}, err
	}
	r := s.rules[name]
	if r == nil {
		return RuleInfo{}, notFound("rule", name)
	}
	return ruleInfo(r), nil
}

// ListRules returns a subscription's rules, sorted by name.
func (n *Namespace) ListRules(ctx context.Context, topic, sub string) ([]RuleInfo, error) {
	if _, err := n.begin(); err != nil {
		return nil, err
	}
	defer n.end()
	s, err := n.subscriptionByName(topic, sub)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(s.rules))
	for k := range s.rules {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]RuleInfo, 0, len(names))
	for _, k := range names {
		out = append(out, ruleInfo(s.rules[k]))
	}
	return out, nil
}

// DeleteRule removes a rule from a subscription.
func (n *Namespace) DeleteRule(ctx context.Context, topic, sub, name string) error {
	if _, err := n.beginAdmin(); err != nil {
		return err
	}
	defer n.endAdmin()
	s, err := n.subscriptionByName(topic, sub)
	if err != nil {
		return err
	}
	r := s.rules[name]
	if r == nil {
		return notFound("rule", name)
	}
	return n.deleteEntity(ctx, r)
}

// Describe resolves an entity path ("queue", "topic",
// "topic/Subscriptions/sub", optionally a dead-letter sub-queue).
func (n *Namespace) Describe(ctx context.Context, path string) (EntityDescription, error) {
	if _, err := n.begin(); err != nil {
		return EntityDescription{}, err
	}
	defer n.end()
	ep, err := ParseEntityPath(path)
	if err != nil {
		return EntityDescription{}, err
	}
	var e *entity
	if ep.Subscription != "" {
		if e, err = n.subscriptionByName(ep.Entity, ep.Subscription); err != nil {
			return EntityDescription{}, err
		}
	} else if e = n.queueOrTopic(ep.Entity); e == nil {
		return EntityDescription{}, notFound("entity", ep.Entity)
	}
	if e.kind == kindTopic && ep.SubQueue != SubQueueMain {
		return EntityDescription{}, notFound("entity", path)
	}
	d := EntityDescription{Path: ep, Status: e.status(), LockDuration: e.lockDuration()}
	switch e.kind {
	case kindQueue:
		d.Kind = KindQueue
		d.MaxMessageSizeBytes = e.maxMessageBytes()
	case kindTopic:
		d.Kind = KindTopic
		d.MaxMessageSizeBytes = e.maxMessageBytes()
	case kindSubscription:
		d.Kind = KindSubscription
		d.MaxMessageSizeBytes = e.parent.maxMessageBytes()
		d.Path.Entity = e.parent.rec.Name
		d.Path.Subscription = e.rec.Name
	}
	if d.Kind != KindSubscription {
		d.Path.Entity = e.rec.Name
	}
	d.RequiresSession = e.requiresSession() && ep.SubQueue == SubQueueMain
	d.Name = d.Path.String()
	return d, nil
}
