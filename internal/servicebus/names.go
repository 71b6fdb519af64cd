package servicebus

import (
	"strings"
)

// SubQueue selects a queue's or subscription's main queue or one of its
// dead-letter sub-queues.
type SubQueue uint8

// Sub-queues.
const (
	SubQueueMain               SubQueue = iota // the entity itself
	SubQueueDeadLetter                         // <entity>/$DeadLetterQueue
	SubQueueTransferDeadLetter                 // <entity>/$Transfer/$DeadLetterQueue
)

// Path suffixes and separators of entity addresses.
const (
	DeadLetterSuffix         = "/$DeadLetterQueue"
	TransferDeadLetterSuffix = "/$Transfer/$DeadLetterQueue"
	SubscriptionsSegment     = "/Subscriptions/"
)

// EntityPath is a parsed entity address: a queue or topic, or a topic's
// subscription, optionally a dead-letter sub-queue.
type EntityPath struct {
	Entity       string   // queue or topic name
	Subscription string   // "" unless the path names a subscription
	SubQueue     SubQueue // main, dead-letter or transfer dead-letter
}

// ParseEntityPath parses "queue", "topic", "topic/Subscriptions/sub" and
// either of them followed by "/$DeadLetterQueue" or
// "/$Transfer/$DeadLetterQueue" (segments case-insensitive, a leading "/"
// ignored). Names are checked against the naming rules.
func ParseEntityPath(path string) (EntityPath, error) {
	var p EntityPath
	s := strings.TrimPrefix(path, "/")
	// The segments match without regard to case; byte offsets stay those
	// of s (strings.ToLower would change the length of a path that is not
	// valid UTF-8).
	switch {
	case hasSuffixFold(s, TransferDeadLetterSuffix):
		p.SubQueue = SubQueueTransferDeadLetter
		s = s[:len(s)-len(TransferDeadLetterSuffix)]
	case hasSuffixFold(s, DeadLetterSuffix):
		p.SubQueue = SubQueueDeadLetter
		s = s[:len(s)-len(DeadLetterSuffix)]
	}
	if i := lastIndexFold(s, SubscriptionsSegment); i > 0 {
		p.Entity = s[:i]
		p.Subscription = s[i+len(SubscriptionsSegment):]
		if err := ValidateSubscriptionName(p.Subscription); err != nil {
			return EntityPath{}, err
		}
	} else {
		p.Entity = s
	}
	if err := ValidateEntityName(p.Entity); err != nil {
		return EntityPath{}, err
	}
	return p, nil
}

// hasSuffixFold is strings.HasSuffix without regard to case, for an ASCII
// suffix: it compares the last len(suffix) bytes of s, so a match never
// spans a different number of bytes.
func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// lastIndexFold is strings.LastIndex without regard to case, for an ASCII
// sub (byte offsets, as hasSuffixFold).
func lastIndexFold(s, sub string) int {
	for i := len(s) - len(sub); i >= 0; i-- {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// String formats the path in its canonical spelling.
func (p EntityPath) String() string {
	s := p.Entity
	if p.Subscription != "" {
		s += SubscriptionsSegment + p.Subscription
	}
	switch p.SubQueue {
	case SubQueueDeadLetter:
		s += DeadLetterSuffix
	case SubQueueTransferDeadLetter:
		s += TransferDeadLetterSuffix
	}
	return s
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ValidateEntityName checks a queue or topic name: 1 to 260 characters of
// letters, digits, '.', '-', '_' and '/', starting and ending with a letter
// or digit, with no empty path segment.
func ValidateEntityName(name string) error {
	if len(name) == 0 || len(name) > MaxQueueNameLength {
		return newErr(CodeBadRequest, "entity name must be 1 to %d characters, got %d", MaxQueueNameLength, len(name))
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return newErr(CodeBadRequest, "entity name %q must start and end with a letter or a number", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isAlnum(c) || c == '.' || c == '-' || c == '_' {
			continue
		}
		if c == '/' && name[i-1] != '/' {
			continue
		}
		return newErr(CodeBadRequest, "entity name %q: character %q is not allowed (letters, numbers, '.', '-', '_' and '/' are)", name, c)
	}
	return nil
}

// ValidateSubscriptionName checks a subscription name: 1 to 50 characters of
// letters, digits, '.', '-' and '_', starting and ending with a letter or digit.
func ValidateSubscriptionName(name string) error {
	return validateShortName("subscription", name)
}

// ValidateRuleName checks a rule name like a subscription name; "$Default"
// is also allowed.
func ValidateRuleName(name string) error {
	if name == DefaultRuleName {
		return nil
	}
	return validateShortName("rule", name)
}

func validateShortName(kind, name string) error {
	if len(name) == 0 || len(name) > MaxSubscriptionNameLength {
		return newErr(CodeBadRequest, "%s name must be 1 to %d characters, got %d", kind, MaxSubscriptionNameLength, len(name))
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return newErr(CodeBadRequest, "%s name %q must start and end with a letter or a number", kind, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isAlnum(c) && c != '.' && c != '-' && c != '_' {
			return newErr(CodeBadRequest, "%s name %q: character %q is not allowed (letters, numbers, '.', '-' and '_' are)", kind, name, c)
		}
	}
	return nil
}

// ValidateNamespaceName checks a namespace name: 6 to 50 characters of
// letters, digits and '-', starting with a letter and ending with a letter
// or digit.
func ValidateNamespaceName(name string) error {
	if len(name) < 6 || len(name) > 50 {
		return newErr(CodeBadRequest, "namespace name must be 6 to 50 characters, got %d", len(name))
	}
	c0 := name[0]
	if !(c0 >= 'a' && c0 <= 'z' || c0 >= 'A' && c0 <= 'Z') || !isAlnum(name[len(name)-1]) {
		return newErr(CodeBadRequest, "namespace name %q must start with a letter and end with a letter or a number", name)
	}
	for i := 0; i < len(name); i++ {
		if !isAlnum(name[i]) && name[i] != '-' {
			return newErr(CodeBadRequest, "namespace name %q: character %q is not allowed", name, name[i])
		}
	}
	return nil
}
