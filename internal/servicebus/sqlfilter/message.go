package sqlfilter

import "strings"

// Canonical names of the Service Bus broker (system) properties, as passed
// to Message.SystemProperty and MutableMessage.SetSystemProperty. They are
// the BrokeredMessage property names Service Bus filters use after sys.;
// the suggested Go types are those the broker should return.
const (
	SysContentType             = "ContentType"             // string
	SysCorrelationID           = "CorrelationId"           // string
	SysDeadLetterSource        = "DeadLetterSource"        // string, read-only
	SysDeliveryCount           = "DeliveryCount"           // int32, read-only
	SysEnqueuedSequenceNumber  = "EnqueuedSequenceNumber"  // int64, read-only
	SysEnqueuedTimeUtc         = "EnqueuedTimeUtc"         // time.Time, read-only
	SysExpiresAtUtc            = "ExpiresAtUtc"            // time.Time, read-only
	SysForcePersistence        = "ForcePersistence"        // bool
	SysLabel                   = "Label"                   // string; AMQP subject, alias sys.Subject
	SysLockedUntilUtc          = "LockedUntilUtc"          // time.Time, read-only
	SysLockToken               = "LockToken"               // UUID, read-only
	SysMessageID               = "MessageId"               // string
	SysPartitionKey            = "PartitionKey"            // string
	SysReplyTo                 = "ReplyTo"                 // string
	SysReplyToSessionID        = "ReplyToSessionId"        // string
	SysScheduledEnqueueTimeUtc = "ScheduledEnqueueTimeUtc" // time.Time
	SysSequenceNumber          = "SequenceNumber"          // int64, read-only
	SysSessionID               = "SessionId"               // string
	SysSize                    = "Size"                    // int64, read-only
	SysState                   = "State"                   // int32 (0 active, 1 deferred, 2 scheduled), read-only
	SysTimeToLive              = "TimeToLive"              // time.Duration
	SysTo                      = "To"                      // string
	SysViaPartitionKey         = "ViaPartitionKey"         // string, alias sys.TransactionPartitionKey
)

// sysSettable is the kind a settable system property accepts; absent
// properties are read-only.
var sysSettable = map[string]kind{
	SysContentType:             kString,
	SysCorrelationID:           kString,
	SysForcePersistence:        kBool,
	SysLabel:                   kString,
	SysMessageID:               kString,
	SysPartitionKey:            kString,
	SysReplyTo:                 kString,
	SysReplyToSessionID:        kString,
	SysScheduledEnqueueTimeUtc: kTime,
	SysSessionID:               kString,
	SysTimeToLive:              kDuration,
	SysTo:                      kString,
	SysViaPartitionKey:         kString,
}

// sysNames maps lower-cased names and aliases to canonical names.
var sysNames = func() map[string]string {
	m := map[string]string{
		"subject":                 SysLabel,
		"transactionpartitionkey": SysViaPartitionKey,
	}
	for _, n := range []string{
		SysContentType, SysCorrelationID, SysDeadLetterSource, SysDeliveryCount,
		SysEnqueuedSequenceNumber, SysEnqueuedTimeUtc, SysExpiresAtUtc, SysForcePersistence,
		SysLabel, SysLockedUntilUtc, SysLockToken, SysMessageID, SysPartitionKey, SysReplyTo,
		SysReplyToSessionID, SysScheduledEnqueueTimeUtc, SysSequenceNumber, SysSessionID,
		SysSize, SysState, SysTimeToLive, SysTo, SysViaPartitionKey,
	} {
		m[strings.ToLower(n)] = n
	}
	return m
}()

// CanonicalSystemProperty maps a system property name as written after
// sys. (any case; Subject and TransactionPartitionKey are accepted as
// aliases) to its canonical Sys* name. ok is false for unknown names.
func CanonicalSystemProperty(name string) (canonical string, ok bool) {
	canonical, ok = sysNames[strings.ToLower(name)]
	return canonical, ok
}

// IsSettableSystemProperty reports whether a rule action may SET or REMOVE
// the system property with the given canonical name.
func IsSettableSystemProperty(canonical string) bool {
	_, ok := sysSettable[canonical]
	return ok
}

// MapMessage is a MutableMessage backed by two maps. System is keyed by
// canonical Sys* names. User property lookups try the exact name first,
// then a case-insensitive match (the smallest such key, for determinism);
// setting or removing a property affects the existing key that matches
// case-insensitively, if any. A MapMessage is not safe for concurrent
// mutation.
type MapMessage struct {
	System map[string]any
	User   map[string]any
}

// SystemProperty implements Message.
func (m *MapMessage) SystemProperty(name string) (any, bool) {
	v, ok := m.System[name]
	return v, ok
}

// UserProperty implements Message.
func (m *MapMessage) UserProperty(name string) (any, bool) {
	k, ok := m.userKey(name)
	if !ok {
		return nil, false
	}
	return m.User[k], true
}

// userKey finds the key of the user property called name.
func (m *MapMessage) userKey(name string) (string, bool) {
	if _, ok := m.User[name]; ok {
		return name, true
	}
	best, found := "", false
	for k := range m.User {
		if strings.EqualFold(k, name) && (!found || k < best) {
			best, found = k, true
		}
	}
	return best, found
}

// SetSystemProperty implements MutableMessage; nil deletes the property.
func (m *MapMessage) SetSystemProperty(name string, value any) error {
	if value == nil {
		delete(m.System, name)
		return nil
	}
	if m.System == nil {
		m.System = make(map[string]any)
	}
	m.System[name] = value
	return nil
}

// SetUserProperty implements MutableMessage.
func (m *MapMessage) SetUserProperty(name string, value any) error {
	if m.User == nil {
		m.User = make(map[string]any)
	}
	if k, ok := m.userKey(name); ok {
		name = k
	}
	m.User[name] = value
	return nil
}

// RemoveUserProperty implements MutableMessage.
func (m *MapMessage) RemoveUserProperty(name string) error {
	if k, ok := m.userKey(name); ok {
		delete(m.User, k)
	}
	return nil
}
