package sqlfilter

// CorrelationFilter is the Service Bus correlation filter: a message
// matches when every field that is set equals the message's property,
// exactly and case-sensitively. An empty string field is not set. It is
// equivalent to a SQL filter ANDing sys.X = 'value' and user property
// equalities, but cheaper to evaluate.
type CorrelationFilter struct {
	CorrelationID    string // sys.CorrelationId
	MessageID        string // sys.MessageId
	To               string // sys.To
	ReplyTo          string // sys.ReplyTo
	Subject          string // sys.Label (called Label by older SDKs)
	SessionID        string // sys.SessionId
	ReplyToSessionID string // sys.ReplyToSessionId
	ContentType      string // sys.ContentType
	// Properties are user properties that must be present and equal.
	// Numbers compare by value across int, long and double; other values
	// must have the same type. A nil value matches a property that is
	// present with a nil value.
	Properties map[string]any
}

// IsEmpty reports whether no field is set; such a filter matches every
// message (Service Bus refuses to create one).
func (c *CorrelationFilter) IsEmpty() bool {
	return c.CorrelationID == "" && c.MessageID == "" && c.To == "" && c.ReplyTo == "" &&
		c.Subject == "" && c.SessionID == "" && c.ReplyToSessionID == "" && c.ContentType == "" &&
		len(c.Properties) == 0
}

// Match reports whether m satisfies every field that is set.
func (c *CorrelationFilter) Match(m Message) bool {
	for _, f := range [...]struct{ want, name string }{
		{c.CorrelationID, SysCorrelationID},
		{c.MessageID, SysMessageID},
		{c.To, SysTo},
		{c.ReplyTo, SysReplyTo},
		{c.Subject, SysLabel},
		{c.SessionID, SysSessionID},
		{c.ReplyToSessionID, SysReplyToSessionID},
		{c.ContentType, SysContentType},
	} {
		if f.want == "" {
			continue
		}
		v, ok := m.SystemProperty(f.name)
		if s, isString := v.(string); !ok || !isString || s != f.want {
			return false
		}
	}
	for name, want := range c.Properties {
		got, ok := m.UserProperty(name)
		if !ok {
			return false
		}
		if want == nil || got == nil {
			if (want == nil) != (got == nil) {
				return false
			}
			continue
		}
		if equalLoose(fromAny(got), fromAny(want)) != triTrue {
			return false
		}
	}
	return true
}
