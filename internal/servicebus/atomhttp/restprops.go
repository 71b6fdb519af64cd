package atomhttp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/isoduration"
	"github.com/keyward/keyward/internal/servicebus"
)

// ContentTypeBatch is the content type of a REST batch send.
const ContentTypeBatch = "application/vnd.microsoft.servicebus.json"

// maxTTLSeconds is .NET's TimeSpan.MaxValue in seconds, Service Bus's
// "never expires".
const maxTTLSeconds = 922337203685.4775807

// BrokerProperties is the JSON of the BrokerProperties header (and of a
// batch item's BrokerProperties): the message's system properties. Times are
// RFC 1123 ("Mon, 02 Jan 2006 15:04:05 GMT"); TimeToLive is in seconds.
type BrokerProperties struct {
	ContentType             string  `json:"ContentType,omitempty"`
	CorrelationID           string  `json:"CorrelationId,omitempty"`
	DeadLetterSource        string  `json:"DeadLetterSource,omitempty"`
	DeliveryCount           int32   `json:"DeliveryCount,omitempty"`
	EnqueuedSequenceNumber  int64   `json:"EnqueuedSequenceNumber,omitempty"`
	EnqueuedTimeUtc         string  `json:"EnqueuedTimeUtc,omitempty"`
	ExpiresAtUtc            string  `json:"ExpiresAtUtc,omitempty"`
	Label                   string  `json:"Label,omitempty"`
	LockToken               string  `json:"LockToken,omitempty"`
	LockedUntilUtc          string  `json:"LockedUntilUtc,omitempty"`
	MessageID               string  `json:"MessageId,omitempty"`
	PartitionKey            string  `json:"PartitionKey,omitempty"`
	ReplyTo                 string  `json:"ReplyTo,omitempty"`
	ReplyToSessionID        string  `json:"ReplyToSessionId,omitempty"`
	ScheduledEnqueueTimeUtc string  `json:"ScheduledEnqueueTimeUtc,omitempty"`
	SequenceNumber          int64   `json:"SequenceNumber,omitempty"`
	SessionID               string  `json:"SessionId,omitempty"`
	State                   string  `json:"State,omitempty"`
	TimeToLive              float64 `json:"TimeToLive,omitempty"`
	To                      string  `json:"To,omitempty"`
}

func fmtHTTPTime(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

func parseHTTPTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := http.ParseTime(s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 1123 or RFC 3339 time", clip(s))
	}
	return t.UTC(), nil
}

// applyBrokerProperties sets the message's system properties from a
// BrokerProperties JSON object. Unknown properties are ignored, as Service
// Bus does; read-only ones (SequenceNumber, …) too.
func applyBrokerProperties(m *servicebus.Message, raw []byte) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil {
		return errorf(http.StatusBadRequest, codeBadRequest, "BrokerProperties is not a JSON object: %s.", clip(err.Error()))
	}
	str := func(name string, dst *string) error {
		if v, ok := lookup(in, name); ok {
			var s *string
			if err := json.Unmarshal(v, &s); err != nil {
				return errorf(http.StatusBadRequest, codeBadRequest, "BrokerProperties.%s must be a string.", name)
			}
			if s != nil {
				*dst = *s
			}
		}
		return nil
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"MessageId", &m.MessageID}, {"CorrelationId", &m.CorrelationID}, {"SessionId", &m.SessionID},
		{"Label", &m.Subject}, {"To", &m.To}, {"ReplyTo", &m.ReplyTo}, {"ReplyToSessionId", &m.ReplyToSessionID},
		{"PartitionKey", &m.PartitionKey}, {"ContentType", &m.ContentType},
	} {
		if err := str(f.name, f.dst); err != nil {
			return err
		}
	}
	if _, ok := lookup(in, "Label"); !ok {
		if err := str("Subject", &m.Subject); err != nil {
			return err
		}
	}
	if v, ok := lookup(in, "TimeToLive"); ok && string(v) != "null" {
		var secs float64
		var s string
		if err := json.Unmarshal(v, &secs); err != nil {
			if json.Unmarshal(v, &s) != nil {
				return errorf(http.StatusBadRequest, codeBadRequest, "BrokerProperties.TimeToLive must be a number of seconds.")
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return errorf(http.StatusBadRequest, codeBadRequest, "BrokerProperties.TimeToLive must be a number of seconds.")
			}
			secs = f
		}
		if !(secs > 0) || math.IsInf(secs, 0) {
			return errorf(http.StatusBadRequest, codeBadRequest, "BrokerProperties.TimeToLive must be a positive number of seconds.")
		}
		if secs*1e9 < float64(math.MaxInt64) {
			m.TimeToLive = time.Duration(secs * 1e9)
		} // else: never expires, which is the entity's default at most
	}
	if v, ok := lookup(in, "ScheduledEnqueueTimeUtc"); ok && string(v) != "null" {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return errorf(http.StatusBadRequest, codeBadRequest, "BrokerProperties.ScheduledEnqueueTimeUtc must be a string.")
		}
		t, err := parseHTTPTime(s)
		if err != nil {
			return errorf(http.StatusBadRequest, codeBadRequest, "BrokerProperties.ScheduledEnqueueTimeUtc: %v.", err)
		}
		m.ScheduledEnqueueTime = t
	}
	return nil
}

// lookup finds a property case-insensitively.
func lookup(in map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if v, ok := in[name]; ok {
		return v, true
	}
	for k, v := range in {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// brokerPropertiesOf renders a received message's system properties.
func brokerPropertiesOf(m *servicebus.ReceivedMessage) BrokerProperties {
	bp := BrokerProperties{
		CorrelationID: m.CorrelationID, DeadLetterSource: m.DeadLetterSource, DeliveryCount: m.DeliveryCount,
		EnqueuedSequenceNumber: m.EnqueuedSequenceNumber, Label: m.Subject, MessageID: m.MessageID,
		PartitionKey: m.PartitionKey, ReplyTo: m.ReplyTo, ReplyToSessionID: m.ReplyToSessionID,
		SequenceNumber: m.SequenceNumber, SessionID: m.SessionID, To: m.To,
	}
	if !m.EnqueuedTime.IsZero() {
		bp.EnqueuedTimeUtc = fmtHTTPTime(m.EnqueuedTime)
	}
	if !m.ScheduledEnqueueTime.IsZero() {
		bp.ScheduledEnqueueTimeUtc = fmtHTTPTime(m.ScheduledEnqueueTime)
	}
	if m.LockToken != uuid.Nil {
		bp.LockToken = m.LockToken.String()
		bp.LockedUntilUtc = fmtHTTPTime(m.LockedUntil)
	}
	switch {
	case m.TimeToLive > 0:
		bp.TimeToLive = m.TimeToLive.Seconds()
	case !m.ExpiresAt.IsZero() && !m.EnqueuedTime.IsZero():
		bp.TimeToLive = m.ExpiresAt.Sub(m.EnqueuedTime).Seconds()
	default:
		bp.TimeToLive = maxTTLSeconds
	}
	if !m.ExpiresAt.IsZero() {
		bp.ExpiresAtUtc = fmtHTTPTime(m.ExpiresAt)
	}
	switch m.State {
	case servicebus.StateDeferred:
		bp.State = "Deferred"
	case servicebus.StateScheduled:
		bp.State = "Scheduled"
	default:
		bp.State = "Active"
	}
	return bp
}

// reservedHeaders are request headers that are never custom properties.
var reservedHeaders = map[string]bool{
	"Accept": true, "Accept-Charset": true, "Accept-Encoding": true, "Accept-Language": true,
	"Authorization": true, "Brokerproperties": true, "Cache-Control": true, "Connection": true,
	"Content-Encoding": true, "Content-Length": true, "Content-Type": true, "Content-Md5": true,
	"Cookie": true, "Date": true, "Expect": true, "Forwarded": true, "From": true, "Host": true,
	"If-Match": true, "If-Modified-Since": true, "If-None-Match": true, "If-Unmodified-Since": true,
	"Keep-Alive": true, "Location": true, "Max-Forwards": true, "Origin": true, "Pragma": true,
	"Proxy-Authorization": true, "Proxy-Connection": true, "Range": true, "Referer": true,
	"Request-Id": true, "Retry-After": true, "Servicebussupplementaryauthorization": true,
	"Servicebusdlqsupplementaryauthorization": true, "Te": true, "Traceparent": true, "Tracestate": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "User-Agent": true, "Via": true,
	"Warning": true,
}

func isReservedHeader(name string) bool {
	c := http.CanonicalHeaderKey(name)
	if reservedHeaders[c] {
		return true
	}
	for _, p := range []string{"X-Ms-", "X-Forwarded-", "Sec-", "Access-Control-"} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
}

// headerProperties reads the custom properties of a single-message send:
// every header that is not a standard or Service Bus header. A value in
// double quotes is a JSON string; true, false and numbers are booleans and
// numbers; anything else is a string. HTTP does not keep the case of
// header names: properties arrive in canonical form ("Color").
func headerProperties(h http.Header) map[string]any {
	var out map[string]any
	for name, vals := range h {
		if isReservedHeader(name) || len(vals) == 0 {
			continue
		}
		if out == nil {
			out = map[string]any{}
		}
		out[name] = propertyFromHeader(strings.Join(vals, ", "))
	}
	return out
}

// propertyFromHeader converts a custom property header value.
func propertyFromHeader(v string) any {
	s := strings.TrimSpace(v)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var out string
		if json.Unmarshal([]byte(s), &out) == nil {
			return out
		}
		return s
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "":
		return v
	}
	if c := s[0]; c == '-' || c == '+' || (c >= '0' && c <= '9') {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
	}
	return v
}

// propertyHeaderValue renders a property as a response header value:
// strings and other text in JSON double quotes, numbers and booleans bare.
func propertyHeaderValue(v any) string {
	q := func(s string) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		return strings.TrimSuffix(b.String(), "\n")
	}
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return q(x)
	case bool:
		return strconv.FormatBool(x)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return q(fmt.Sprint(x))
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		return q(fmtHTTPTime(x))
	case time.Duration:
		return q(isoduration.Format(x))
	case uuid.UUID:
		return q(x.String())
	case []byte:
		return q(base64.StdEncoding.EncodeToString(x))
	}
	return q(fmt.Sprint(v))
}

// validHeaderName reports whether name is an HTTP token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// setPropertyHeaders writes a received message's application properties
// as headers, in name order; names that are not HTTP tokens or that
// collide with the response's own headers are left out.
func setPropertyHeaders(h http.Header, props map[string]any) {
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !validHeaderName(k) || isReservedHeader(k) {
			continue
		}
		h.Set(k, propertyHeaderValue(props[k]))
	}
}

// batchItem is one message of a batch send.
type batchItem struct {
	Body             json.RawMessage `json:"Body"`
	BrokerProperties json.RawMessage `json:"BrokerProperties"`
	UserProperties   json.RawMessage `json:"UserProperties"`
}

// parseBatch reads a batch send body: a JSON array of {"Body": "…",
// "BrokerProperties": {…}, "UserProperties": {…}}.
func parseBatch(body []byte) ([]servicebus.Message, error) {
	var items []batchItem
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&items); err != nil {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "The batch is not a JSON array of messages: %s.", clip(err.Error()))
	}
	if len(items) == 0 {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "The batch holds no message.")
	}
	msgs := make([]servicebus.Message, len(items))
	for i, it := range items {
		m := &msgs[i]
		raw := bytes.TrimSpace(it.Body)
		if len(raw) > 0 && raw[0] == '"' {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, errorf(http.StatusBadRequest, codeBadRequest, "Message %d: Body is not a valid JSON string.", i)
			}
			m.Body = []byte(s)
		} else if len(raw) > 0 && string(raw) != "null" {
			m.Body = append([]byte(nil), raw...)
		}
		if err := applyBrokerProperties(m, it.BrokerProperties); err != nil {
			return nil, errorf(http.StatusBadRequest, codeBadRequest, "Message %d: %s", i, apiMessage(err))
		}
		props, err := userProperties(it.UserProperties)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, codeBadRequest, "Message %d: %s", i, err.Error())
		}
		m.ApplicationProperties = props
	}
	return msgs, nil
}

// userProperties converts a JSON object of custom properties: strings,
// booleans, null, integers (int64) and other numbers (float64).
func userProperties(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("UserProperties is not a JSON object.")
	}
	out := make(map[string]any, len(in))
	for k, v := range in {
		switch x := v.(type) {
		case nil, string, bool:
			out[k] = x
		case json.Number:
			if i, err := x.Int64(); err == nil {
				out[k] = i
			} else if f, err := x.Float64(); err == nil {
				out[k] = f
			} else {
				return nil, fmt.Errorf("UserProperties.%s is not a valid number.", clip(k))
			}
		default:
			return nil, fmt.Errorf("UserProperties.%s must be a string, number, boolean or null.", clip(k))
		}
	}
	return out, nil
}

// apiMessage returns an error's client-facing message.
func apiMessage(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}
