package atomhttp

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/isoduration"
)

// XML namespaces of the ATOM management API.
const (
	nsAtom    = "http://www.w3.org/2005/Atom"
	nsConnect = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
	nsXSI     = "http://www.w3.org/2001/XMLSchema-instance"
	nsXSD     = "http://www.w3.org/2001/XMLSchema"
	nsSer     = "http://schemas.microsoft.com/2003/10/Serialization/"
	nsCount   = "http://schemas.microsoft.com/netservices/2011/06/servicebus"
)

// ---- requests ----

// entryIn is an Atom entry as clients PUT it. The entry, its content and
// the description are matched by namespace; so is the xsi:type of filters,
// actions, rules and values.
type entryIn struct {
	XMLName xml.Name   `xml:"http://www.w3.org/2005/Atom entry"`
	Content *contentIn `xml:"http://www.w3.org/2005/Atom content"`
}

type contentIn struct {
	Queue        *queueDescIn        `xml:"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect QueueDescription"`
	Topic        *topicDescIn        `xml:"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect TopicDescription"`
	Subscription *subscriptionDescIn `xml:"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect SubscriptionDescription"`
	Rule         *ruleDescIn         `xml:"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect RuleDescription"`
}

type queueDescIn struct {
	LockDuration                        *string      `xml:"LockDuration"`
	MaxSizeInMegabytes                  *int64       `xml:"MaxSizeInMegabytes"`
	RequiresDuplicateDetection          *bool        `xml:"RequiresDuplicateDetection"`
	RequiresSession                     *bool        `xml:"RequiresSession"`
	DefaultMessageTimeToLive            *string      `xml:"DefaultMessageTimeToLive"`
	DeadLetteringOnMessageExpiration    *bool        `xml:"DeadLetteringOnMessageExpiration"`
	DuplicateDetectionHistoryTimeWindow *string      `xml:"DuplicateDetectionHistoryTimeWindow"`
	MaxDeliveryCount                    *int32       `xml:"MaxDeliveryCount"`
	EnableBatchedOperations             *bool        `xml:"EnableBatchedOperations"`
	AuthorizationRules                  *authRulesIn `xml:"AuthorizationRules"`
	Status                              *string      `xml:"Status"`
	AutoDeleteOnIdle                    *string      `xml:"AutoDeleteOnIdle"`
	EnablePartitioning                  *bool        `xml:"EnablePartitioning"`
	ForwardTo                           *string      `xml:"ForwardTo"`
	ForwardDeadLetteredMessagesTo       *string      `xml:"ForwardDeadLetteredMessagesTo"`
	UserMetadata                        *string      `xml:"UserMetadata"`
	MaxMessageSizeInKilobytes           *int64       `xml:"MaxMessageSizeInKilobytes"`
}

type topicDescIn struct {
	DefaultMessageTimeToLive            *string      `xml:"DefaultMessageTimeToLive"`
	MaxSizeInMegabytes                  *int64       `xml:"MaxSizeInMegabytes"`
	RequiresDuplicateDetection          *bool        `xml:"RequiresDuplicateDetection"`
	DuplicateDetectionHistoryTimeWindow *string      `xml:"DuplicateDetectionHistoryTimeWindow"`
	EnableBatchedOperations             *bool        `xml:"EnableBatchedOperations"`
	AuthorizationRules                  *authRulesIn `xml:"AuthorizationRules"`
	Status                              *string      `xml:"Status"`
	UserMetadata                        *string      `xml:"UserMetadata"`
	SupportOrdering                     *bool        `xml:"SupportOrdering"`
	AutoDeleteOnIdle                    *string      `xml:"AutoDeleteOnIdle"`
	EnablePartitioning                  *bool        `xml:"EnablePartitioning"`
	MaxMessageSizeInKilobytes           *int64       `xml:"MaxMessageSizeInKilobytes"`
}

type subscriptionDescIn struct {
	LockDuration                              *string            `xml:"LockDuration"`
	RequiresSession                           *bool              `xml:"RequiresSession"`
	DefaultMessageTimeToLive                  *string            `xml:"DefaultMessageTimeToLive"`
	DeadLetteringOnMessageExpiration          *bool              `xml:"DeadLetteringOnMessageExpiration"`
	DeadLetteringOnFilterEvaluationExceptions *bool              `xml:"DeadLetteringOnFilterEvaluationExceptions"`
	DefaultRuleDescription                    *defaultRuleDescIn `xml:"DefaultRuleDescription"`
	MaxDeliveryCount                          *int32             `xml:"MaxDeliveryCount"`
	EnableBatchedOperations                   *bool              `xml:"EnableBatchedOperations"`
	Status                                    *string            `xml:"Status"`
	ForwardTo                                 *string            `xml:"ForwardTo"`
	UserMetadata                              *string            `xml:"UserMetadata"`
	ForwardDeadLetteredMessagesTo             *string            `xml:"ForwardDeadLetteredMessagesTo"`
	AutoDeleteOnIdle                          *string            `xml:"AutoDeleteOnIdle"`
}

type defaultRuleDescIn struct {
	Filter *filterIn `xml:"Filter"`
	Action *actionIn `xml:"Action"`
	Name   *string   `xml:"Name"`
}

type ruleDescIn struct {
	Filter *filterIn `xml:"Filter"`
	Action *actionIn `xml:"Action"`
	Name   *string   `xml:"Name"`
}

type filterIn struct {
	Type               string    `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
	SQLExpression      *string   `xml:"SqlExpression"`
	CompatibilityLevel *int      `xml:"CompatibilityLevel"`
	Parameters         *kvListIn `xml:"Parameters"`
	CorrelationID      *string   `xml:"CorrelationId"`
	MessageID          *string   `xml:"MessageId"`
	To                 *string   `xml:"To"`
	ReplyTo            *string   `xml:"ReplyTo"`
	Label              *string   `xml:"Label"`
	SessionID          *string   `xml:"SessionId"`
	ReplyToSessionID   *string   `xml:"ReplyToSessionId"`
	ContentType        *string   `xml:"ContentType"`
	Properties         *kvListIn `xml:"Properties"`
}

type actionIn struct {
	Type               string    `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
	SQLExpression      *string   `xml:"SqlExpression"`
	CompatibilityLevel *int      `xml:"CompatibilityLevel"`
	Parameters         *kvListIn `xml:"Parameters"`
}

type kvListIn struct {
	Items []kvIn `xml:"KeyValueOfstringanyType"`
}

type kvIn struct {
	Key   string     `xml:"Key"`
	Value typedValue `xml:"Value"`
}

type authRulesIn struct {
	Rules []authRuleIn `xml:"AuthorizationRule"`
}

type authRuleIn struct {
	Type         string   `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
	ClaimType    string   `xml:"ClaimType"`
	ClaimValue   string   `xml:"ClaimValue"`
	Rights       []string `xml:"Rights>AccessRights"`
	KeyName      *string  `xml:"KeyName"`
	PrimaryKey   *string  `xml:"PrimaryKey"`
	SecondaryKey *string  `xml:"SecondaryKey"`
}

// typedValue is a <Value i:type="prefix:type">text</Value> of a parameter
// or property list. TypeNS is the namespace the prefix is bound to on the
// element itself ("" when declared further up, which is accepted).
type typedValue struct {
	Type   string
	TypeNS string
	Nil    bool
	Text   string
}

// UnmarshalXML reads the xsi:type and xsi:nil attributes namespace-aware
// and the text content.
func (v *typedValue) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	decls := map[string]string{}
	for _, a := range start.Attr {
		if a.Name.Space == "xmlns" {
			decls[a.Name.Local] = a.Value
		}
	}
	for _, a := range start.Attr {
		if a.Name.Space != nsXSI {
			continue
		}
		switch a.Name.Local {
		case "type":
			v.Type = a.Value
			if prefix, _, ok := strings.Cut(a.Value, ":"); ok {
				v.TypeNS = decls[prefix]
			}
		case "nil":
			v.Nil = strings.TrimSpace(a.Value) == "true"
		}
	}
	var s string
	if err := d.DecodeElement(&s, &start); err != nil {
		return err
	}
	v.Text = s
	return nil
}

// value converts the typed value to the Go type the broker stores.
func (v typedValue) value() (any, error) {
	if v.Nil {
		return nil, nil
	}
	t := v.Type
	if _, local, ok := strings.Cut(t, ":"); ok {
		t = local
	}
	if v.TypeNS != "" && v.TypeNS != nsXSD && v.TypeNS != nsSer {
		return nil, fmt.Errorf("value type %q is in the unknown namespace %q", v.Type, v.TypeNS)
	}
	s := v.Text
	ts := strings.TrimSpace(s)
	bad := func(err error) (any, error) {
		return nil, fmt.Errorf("value %q is not a valid %s", clip(s), t)
	}
	switch t {
	case "string":
		return s, nil
	case "boolean":
		b, err := strconv.ParseBool(ts)
		if err != nil {
			return bad(err)
		}
		return b, nil
	case "int":
		i, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return bad(err)
		}
		if i >= math.MinInt32 && i <= math.MaxInt32 {
			return int32(i), nil
		}
		return i, nil // the Go SDK writes every integer as int
	case "long":
		i, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return bad(err)
		}
		return i, nil
	case "short":
		i, err := strconv.ParseInt(ts, 10, 16)
		if err != nil {
			return bad(err)
		}
		return int16(i), nil
	case "byte":
		i, err := strconv.ParseInt(ts, 10, 8)
		if err != nil {
			return bad(err)
		}
		return int8(i), nil
	case "unsignedByte":
		i, err := strconv.ParseUint(ts, 10, 8)
		if err != nil {
			return bad(err)
		}
		return uint8(i), nil
	case "unsignedShort":
		i, err := strconv.ParseUint(ts, 10, 16)
		if err != nil {
			return bad(err)
		}
		return uint16(i), nil
	case "unsignedInt":
		i, err := strconv.ParseUint(ts, 10, 32)
		if err != nil {
			return bad(err)
		}
		return uint32(i), nil
	case "unsignedLong":
		i, err := strconv.ParseUint(ts, 10, 64)
		if err != nil {
			return bad(err)
		}
		return i, nil
	case "double", "decimal":
		f, err := strconv.ParseFloat(ts, 64)
		if err != nil {
			return bad(err)
		}
		return f, nil
	case "float":
		f, err := strconv.ParseFloat(ts, 32)
		if err != nil {
			return bad(err)
		}
		return float32(f), nil
	case "dateTime":
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return bad(err)
		}
		return tm.UTC(), nil
	case "duration":
		d, err := isoduration.Parse(ts)
		if err != nil {
			return bad(err)
		}
		return d, nil
	case "guid":
		u, err := uuid.Parse(ts)
		if err != nil {
			return bad(err)
		}
		return u, nil
	case "base64Binary":
		b, err := base64.StdEncoding.DecodeString(ts)
		if err != nil {
			return bad(err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("value type %q is not supported", clip(v.Type))
}

// ---- responses ----

type entryOut struct {
	XMLName   xml.Name   `xml:"http://www.w3.org/2005/Atom entry"`
	ID        string     `xml:"id"`
	Title     titleOut   `xml:"title"`
	Published string     `xml:"published,omitempty"`
	Updated   string     `xml:"updated"`
	Author    *authorOut `xml:"author,omitempty"`
	Link      linkOut    `xml:"link"`
	Content   contentOut `xml:"content"`
}

type feedOut struct {
	XMLName xml.Name   `xml:"http://www.w3.org/2005/Atom feed"`
	Title   titleOut   `xml:"title"`
	ID      string     `xml:"id"`
	Updated string     `xml:"updated"`
	Link    linkOut    `xml:"link"`
	Entries []entryOut `xml:"entry"`
}

type titleOut struct {
	Type string `xml:"type,attr"`
	Text string `xml:",chardata"`
}

type authorOut struct {
	Name string `xml:"name"`
}

type linkOut struct {
	Rel  string `xml:"rel,attr"`
	Href string `xml:"href,attr"`
}

// contentOut is <content type="application/xml"> holding one description
// (nil ones are not written).
type contentOut struct {
	Type          string `xml:"type,attr"`
	Queue         *queueDescOut
	Topic         *topicDescOut
	Subscription  *subscriptionDescOut
	Rule          *ruleDescOut
	NamespaceInfo *namespaceInfoOut
}

type countDetails struct {
	XMLNS                          string `xml:"xmlns:d2p1,attr"`
	ActiveMessageCount             int64  `xml:"d2p1:ActiveMessageCount"`
	DeadLetterMessageCount         int64  `xml:"d2p1:DeadLetterMessageCount"`
	ScheduledMessageCount          int64  `xml:"d2p1:ScheduledMessageCount"`
	TransferMessageCount           int64  `xml:"d2p1:TransferMessageCount"`
	TransferDeadLetterMessageCount int64  `xml:"d2p1:TransferDeadLetterMessageCount"`
}

type authRulesOut struct {
	Rules []authRuleOut `xml:"AuthorizationRule"`
}

type authRuleOut struct {
	Type         string   `xml:"i:type,attr"`
	ClaimType    string   `xml:"ClaimType"`
	ClaimValue   string   `xml:"ClaimValue"`
	Rights       []string `xml:"Rights>AccessRights"`
	CreatedTime  string   `xml:"CreatedTime"`
	ModifiedTime string   `xml:"ModifiedTime"`
	KeyName      string   `xml:"KeyName"`
	PrimaryKey   string   `xml:"PrimaryKey"`
	SecondaryKey string   `xml:"SecondaryKey"`
}

type queueDescOut struct {
	XMLName                             xml.Name     `xml:"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect QueueDescription"`
	XMLNSI                              string       `xml:"xmlns:i,attr"`
	LockDuration                        string       `xml:"LockDuration"`
	MaxSizeInMegabytes                  int64        `xml:"MaxSizeInMegabytes"`
	RequiresDuplicateDetection          bool         `xml:"RequiresDuplicateDetection"`
	RequiresSession                     bool         `xml:"RequiresSession"`
	DefaultMessageTimeToLive            string       `xml:"DefaultMessageTimeToLive"`
	DeadLetteringOnMessageExpiration    bool         `xml:"DeadLetteringOnMessageExpiration"`
	DuplicateDetectionHistoryTimeWindow string       `xml:"DuplicateDetectionHistoryTimeWindow"`
	MaxDeliveryCount                    int32        `xml:"MaxDeliveryCount"`
	EnableBatchedOperations             bool         `xml:"EnableBatchedOperations"`
	SizeInBytes                         int64        `xml:"SizeInBytes"`
	MessageCount                        int64        `xml:"MessageCount"`
	IsAnonymousAccessible               bool         `xml:"IsAnonymousAccessible"`
	AuthorizationRules                  authRulesOut `xml:"AuthorizationRules"`
	Status                              string       `xml:"Status"`
	ForwardTo                           string       `xml:"ForwardTo,omitempty"`
	CreatedAt                           string       `xml:"CreatedAt"`
	UpdatedAt                           string       `xml:"UpdatedAt"`
	AccessedAt                          string       `xml:"AccessedAt"`
	SupportOrdering                     bool         `xml:"SupportOrdering"`
	CountDetails                        countDetails `xml:"CountDetails"`
	AutoDeleteOnIdle                    string       `xml:"AutoDeleteOnIdle"`
	EnablePartitioning                  bool         `xml:"EnablePartitioning"`
	EntityAvailabilityStatus            string       `xml:"EntityAvailabilityStatus"`
	ForwardDeadLetteredMessagesTo       string       `xml:"ForwardDeadLetteredMessagesTo,omitempty"`
	EnableExpress                       bool         `xml:"EnableExpress"`
	UserMetadata                        string       `xml:"UserMetadata,omitempty"`
	MaxMessageSizeInKilobytes           int64        `xml:"MaxMessageSizeInKilobytes"`
}

type topicDescOut struct {
	XMLName                             xml.Name     `xml:"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect TopicDescription"`
	XMLNSI                              string       `xml:"xmlns:i,attr"`
	DefaultMessageTimeToLive            string       `xml:"DefaultMessageTimeToLive"`
	MaxSizeInMegabytes                  int64        `xml:"MaxSizeInMegabytes"`
	RequiresDuplicateDetection          bool         `xml:"RequiresDuplicateDetection"`
	DuplicateDetectionHistoryTimeWindow string       `xml:"DuplicateDetectionHistoryTimeWindow"`
	EnableBatchedOperations             bool         `xml:"EnableBatchedOperations"`
	SizeInBytes                         int64        `xml:"SizeInBytes"`
	FilteringMessagesBeforePublishing   bool         `xml:"FilteringMessagesBeforePublishing"`
	IsAnonymousAccessible               bool         `xml:"IsAnonymousAccessible"`
	AuthorizationRules                  authRulesOut `xml:"AuthorizationRules"`
	Status                              string       `xml:"Status"`
	CreatedAt                           string       `xml:"CreatedAt"`
	UpdatedAt                           string       `xml:"UpdatedAt"`
	AccessedAt                          string       `xml:"AccessedAt"`
	SupportOrdering                     bool         `xml:"SupportOrdering"`
	CountDetails                        countDetails `xml:"CountDetails"`
	SubscriptionCount                   int64        `xml:"SubscriptionCount"`
	AutoDeleteOnIdle                    string       `xml:"AutoDeleteOnIdle"`
	EnablePartitioning                  bool         `xml:"EnablePartitioning"`
	EntityAvailabilityStatus            string       `xml:"EntityAvailabilityStatus"`
	EnableSubscriptionPartitioning      bool         `xml:"EnableSubscriptionPartitioning"`
	EnableExpress                       bool         `xml:"EnableExpress"`
	UserMetadata                        string       `xml:"UserMetadata,omitempty"`
	SQLFilterCount                      int64        `xml:"SqlFilterCount"`
	CorrelationFilterCount              int64        `xml:"CorrelationFilterCount"`
	MaxMessageSizeInKilobytes           int64        `xml:"MaxMessageSizeInKilobytes"`
}

type subscriptionDescOut struct {
	XMLName                                   xml.Name     `xml:"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect SubscriptionDescription"`
	XMLNSI                                    string       `xml:"xmlns:i,attr"`
	LockDuration                              string       `xml:"LockDuration"`
	RequiresSession                           bool         `xml:"RequiresSession"`
	DefaultMessageTimeToLive                  string       `xml:"DefaultMessageTimeToLive"`
	DeadLetteringOnMessageExpiration          bool         `xml:"DeadLetteringOnMessageExpiration"`
	DeadLetteringOnFilterEvaluationExceptions bool         `xml:"DeadLetteringOnFilterEvaluationExceptions"`
	MessageCount                              int64        `xml:"MessageCount"`
	MaxDeliveryCount                          int32        `xml:"MaxDeliveryCount"`
	EnableBatchedOperations                   bool         `xml:"EnableBatchedOperations"`
	Status                                    string       `xml:"Status"`
	ForwardTo                                 string       `xml:"ForwardTo,omitempty"`
	CreatedAt                                 string       `xml:"CreatedAt"`
	UpdatedAt                                 string       `xml:"UpdatedAt"`
	AccessedAt                                string       `xml:"AccessedAt"`
	CountDetails                              countDetails `xml:"CountDetails"`
	UserMetadata                              string       `xml:"UserMetadata,omitempty"`
	ForwardDeadLetteredMessagesTo             string       `xml:"ForwardDeadLetteredMessagesTo,omitempty"`
	AutoDeleteOnIdle                          string       `xml:"AutoDeleteOnIdle"`
	EntityAvailabilityStatus                  string       `xml:"EntityAvailabilityStatus"`
}

type ruleDescOut struct {
	XMLName   xml.Name  `xml:"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect RuleDescription"`
	XMLNSI    string    `xml:"xmlns:i,attr"`
	Filter    filterOut `xml:"Filter"`
	Action    actionOut `xml:"Action"`
	CreatedAt string    `xml:"CreatedAt"`
	Name      string    `xml:"Name"`
}

type filterOut struct {
	Type               string     `xml:"i:type,attr"`
	CorrelationID      *string    `xml:"CorrelationId,omitempty"`
	MessageID          *string    `xml:"MessageId,omitempty"`
	To                 *string    `xml:"To,omitempty"`
	ReplyTo            *string    `xml:"ReplyTo,omitempty"`
	Label              *string    `xml:"Label,omitempty"`
	SessionID          *string    `xml:"SessionId,omitempty"`
	ReplyToSessionID   *string    `xml:"ReplyToSessionId,omitempty"`
	ContentType        *string    `xml:"ContentType,omitempty"`
	Properties         *kvListOut `xml:"Properties,omitempty"`
	SQLExpression      *string    `xml:"SqlExpression,omitempty"`
	CompatibilityLevel *int       `xml:"CompatibilityLevel,omitempty"`
	Parameters         *kvListOut `xml:"Parameters,omitempty"`
}

type actionOut struct {
	Type               string     `xml:"i:type,attr"`
	SQLExpression      *string    `xml:"SqlExpression,omitempty"`
	CompatibilityLevel *int       `xml:"CompatibilityLevel,omitempty"`
	Parameters         *kvListOut `xml:"Parameters,omitempty"`
}

type kvListOut struct {
	Items []kvOut `xml:"KeyValueOfstringanyType"`
}

type kvOut struct {
	Key   string        `xml:"Key"`
	Value typedValueOut `xml:"Value"`
}

type typedValueOut struct {
	Type  string `xml:"i:type,attr,omitempty"`
	XMLNS string `xml:"xmlns:d6p1,attr,omitempty"`
	Nil   string `xml:"i:nil,attr,omitempty"`
	Text  string `xml:",chardata"`
}

// typedValueOf writes a stored property value with its XML schema type.
func typedValueOf(v any) typedValueOut {
	xsd := func(t, text string) typedValueOut {
		return typedValueOut{Type: "d6p1:" + t, XMLNS: nsXSD, Text: text}
	}
	ser := func(t, text string) typedValueOut {
		return typedValueOut{Type: "d6p1:" + t, XMLNS: nsSer, Text: text}
	}
	switch x := v.(type) {
	case nil:
		return typedValueOut{Nil: "true"}
	case string:
		return xsd("string", x)
	case bool:
		return xsd("boolean", strconv.FormatBool(x))
	case int8:
		return xsd("byte", strconv.FormatInt(int64(x), 10))
	case int16:
		return xsd("short", strconv.FormatInt(int64(x), 10))
	case int32:
		return xsd("int", strconv.FormatInt(int64(x), 10))
	case int64:
		return xsd("long", strconv.FormatInt(x, 10))
	case uint8:
		return xsd("unsignedByte", strconv.FormatUint(uint64(x), 10))
	case uint16:
		return xsd("unsignedShort", strconv.FormatUint(uint64(x), 10))
	case uint32:
		return xsd("unsignedInt", strconv.FormatUint(uint64(x), 10))
	case uint64:
		return xsd("unsignedLong", strconv.FormatUint(x, 10))
	case float32:
		return xsd("float", strconv.FormatFloat(float64(x), 'g', -1, 32))
	case float64:
		return xsd("double", strconv.FormatFloat(x, 'g', -1, 64))
	case time.Time:
		return xsd("dateTime", x.UTC().Format(time.RFC3339Nano))
	case time.Duration:
		return ser("duration", isoduration.Format(x))
	case uuid.UUID:
		return ser("guid", x.String())
	case []byte:
		return xsd("base64Binary", base64.StdEncoding.EncodeToString(x))
	}
	return xsd("string", fmt.Sprint(v))
}

type namespaceInfoOut struct {
	XMLName        xml.Name `xml:"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect NamespaceInfo"`
	XMLNSI         string   `xml:"xmlns:i,attr"`
	Alias          string   `xml:"Alias,omitempty"`
	CreatedTime    string   `xml:"CreatedTime"`
	MessagingSKU   string   `xml:"MessagingSKU"`
	MessagingUnits *int64   `xml:"MessagingUnits,omitempty"`
	ModifiedTime   string   `xml:"ModifiedTime"`
	Name           string   `xml:"Name"`
	NamespaceType  string   `xml:"NamespaceType"`
}
