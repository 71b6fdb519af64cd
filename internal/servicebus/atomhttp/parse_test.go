package atomhttp

import (
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/servicebus"
)

func TestParseRoute(t *testing.T) {
	for _, tc := range []struct {
		method, path, ct string
		want             route
		status           int
	}{
		{"GET", "/$namespaceinfo", "", route{kind: routeNamespaceInfo}, 0},
		{"PUT", "/$namespaceinfo", "", route{kind: routeNamespaceInfo}, 405},
		{"GET", "/$Resources/Queues", "", route{kind: routeListQueues}, 0},
		{"GET", "/$resources/topics", "", route{kind: routeListTopics}, 0},
		{"GET", "/$other", "", route{}, 404},
		{"GET", "/", "", route{}, 404},
		{"GET", "/a//b", "", route{}, 400},
		{"PUT", "/orders", "application/atom+xml", route{kind: routeEntity, entity: "orders"}, 0},
		{"GET", "/a/b/c", "", route{kind: routeEntity, entity: "a/b/c"}, 0},
		{"GET", "/t/Subscriptions", "", route{kind: routeListSubscriptions, topic: "t"}, 0},
		{"GET", "/t/subscriptions/s", "", route{kind: routeSubscription, topic: "t", sub: "s"}, 0},
		{"GET", "/t/Subscriptions/s/Rules/", "", route{kind: routeListRules, topic: "t", sub: "s"}, 0},
		{"DELETE", "/t/Subscriptions/s/Rules/r", "", route{kind: routeRule, topic: "t", sub: "s", rule: "r"}, 0},
		{"GET", "/t/Subscriptions/s/x/y", "", route{}, 404},
		{"POST", "/q/messages", "", route{kind: routeSend, entity: "q"}, 0},
		{"POST", "/t/subscriptions/s/messages/head", "", route{kind: routeHead, entity: "t/subscriptions/s"}, 0},
		{"DELETE", "/q/$DeadLetterQueue/messages/head", "", route{kind: routeHead, entity: "q/$DeadLetterQueue"}, 0},
		{"GET", "/q/messages/head", "", route{kind: routeHead, entity: "q"}, 0},
		{"PUT", "/q/messages/5/0b5e3c1a-1c8f-4c8e-9f55-4a7e2d0f9a11", "", route{kind: routeLocked, entity: "q", msgRef: "5", lock: "0b5e3c1a-1c8f-4c8e-9f55-4a7e2d0f9a11"}, 0},
		// An ATOM PUT of an entity whose name looks like a lock URI.
		{"PUT", "/q/messages/5/0b5e3c1a-1c8f-4c8e-9f55-4a7e2d0f9a11", "application/atom+xml;type=entry", route{kind: routeEntity, entity: "q/messages/5/0b5e3c1a-1c8f-4c8e-9f55-4a7e2d0f9a11"}, 0},
		{"DELETE", "/q/messages/5/not-a-lock", "", route{kind: routeEntity, entity: "q/messages/5/not-a-lock"}, 0},
	} {
		got, err := parseRoute(tc.method, tc.path, tc.ct)
		if tc.status != 0 {
			if err == nil || err.Status != tc.status {
				t.Errorf("%s %s: err %v, want %d", tc.method, tc.path, err, tc.status)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %s: %+v %v, want %+v", tc.method, tc.path, got, err, tc.want)
		}
	}
}

func TestTypedValues(t *testing.T) {
	when := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	u := uuid.MustParse("0b5e3c1a-1c8f-4c8e-9f55-4a7e2d0f9a11")
	for _, v := range []any{nil, "s", true, int8(-3), int16(-300), int32(7), int64(1 << 40), uint8(3), uint16(300), uint32(70000),
		uint64(1 << 63), float32(1.5), 2.25, when, 90 * time.Second, u, []byte{1, 2, 3}} {
		out := typedValueOf(v)
		b, err := xml.Marshal(struct {
			XMLName xml.Name      `xml:"R"`
			XMLNS   string        `xml:"xmlns:i,attr"`
			V       typedValueOut `xml:"Value"`
		}{XMLNS: nsXSI, V: out})
		if err != nil {
			t.Fatal(err)
		}
		var in struct {
			V typedValue `xml:"Value"`
		}
		if err := xml.Unmarshal(b, &in); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		got, err := in.V.value()
		if err != nil {
			t.Fatalf("%T %s: %v", v, b, err)
		}
		switch w := v.(type) {
		case []byte:
			if string(got.([]byte)) != string(w) {
				t.Errorf("%s: %v", b, got)
			}
		case time.Time:
			if !got.(time.Time).Equal(w) {
				t.Errorf("%s: %v", b, got)
			}
		default:
			if got != v {
				t.Errorf("%T %v: round trip gave %T %v (%s)", v, v, got, got, b)
			}
		}
	}
	// The Go SDK writes every integer as "int"; large ones stay int64.
	for _, tc := range []struct {
		typ, ns, text string
		want          any
		bad           bool
	}{
		{"l28:int", nsXSD, "5", int32(5), false},
		{"l28:int", nsXSD, "1099511627776", int64(1099511627776), false},
		{"int", "", "x", nil, true},
		{"x:string", "urn:other", "a", nil, true},
		{"d5p1:widget", nsXSD, "a", nil, true},
		{"boolean", "", "maybe", nil, true},
		{"dateTime", "", "2030-01-02T03:04:05Z", time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), false},
	} {
		got, err := typedValue{Type: tc.typ, TypeNS: tc.ns, Text: tc.text}.value()
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("%s %q: %v %v", tc.typ, tc.text, got, err)
		}
	}
}

func TestParseEntryNamespaces(t *testing.T) {
	good := `<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml">` +
		`<RuleDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:x="http://www.w3.org/2001/XMLSchema-instance">` +
		`<Filter x:type="SqlFilter"><SqlExpression>a = @p</SqlExpression><Parameters><KeyValueOfstringanyType><Key>@p</Key>` +
		`<Value x:type="q:long" xmlns:q="http://www.w3.org/2001/XMLSchema">9</Value></KeyValueOfstringanyType></Parameters></Filter>` +
		`<Action x:type="SqlRuleAction"><SqlExpression>SET b = 1</SqlExpression></Action></RuleDescription></content></entry>`
	c, err := parseEntry([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ruleProps(c.Rule.Filter, c.Rule.Action)
	if err != nil || p.Filter.Type != servicebus.FilterSQL || p.Filter.Parameters["@p"] != int64(9) || p.Action.SQLExpression != "SET b = 1" {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{
		// Description in no namespace.
		`<entry xmlns="http://www.w3.org/2005/Atom"><content><QueueDescription/></content></entry>`,
		// Entry outside the Atom namespace.
		`<entry><content><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"/></content></entry>`,
		`not xml`,
		``,
	} {
		if _, err := parseEntry([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	// A type attribute outside the XML Schema instance namespace is no type.
	noType := strings.Replace(good, `xmlns:x="http://www.w3.org/2001/XMLSchema-instance"`, `xmlns:x="urn:other"`, 1)
	c, err = parseEntry([]byte(noType))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ruleProps(c.Rule.Filter, c.Rule.Action); err == nil {
		t.Fatal("a filter without xsi:type was accepted")
	}
}

func TestHeaderProperties(t *testing.T) {
	for in, want := range map[string]any{
		`High`: "High", `"High"`: "High", `42`: int64(42), `-7`: int64(-7), `0.5`: 0.5, `true`: true, `false`: false,
		`"007"`: "007", `12345,ABC`: "12345,ABC", `"a\"b"`: `a"b`, `1e3`: 1000.0, `Infinity`: "Infinity", `"unterminated`: `"unterminated`,
	} {
		if got := propertyFromHeader(in); got != want {
			t.Errorf("%q: %T %v, want %T %v", in, got, got, want, want)
		}
	}
	for v, want := range map[any]string{
		"High": `"High"`, "a<b": `"a<b"`, int64(3): "3", int32(-1): "-1", 0.25: "0.25", true: "true", nil: "null",
		time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC): `"Sun, 06 Nov 1994 08:49:37 GMT"`, "line\nbreak": `"line\nbreak"`,
	} {
		if got := propertyHeaderValue(v); got != want {
			t.Errorf("%v: %q, want %q", v, got, want)
		}
	}
	h := http.Header{}
	h.Set("Authorization", "x")
	h.Set("X-Ms-Foo", "x")
	h.Set("Color", "red")
	h.Set("Brokerproperties", "{}")
	got := headerProperties(h)
	if len(got) != 1 || got["Color"] != "red" {
		t.Fatalf("%v", got)
	}
	out := http.Header{}
	setPropertyHeaders(out, map[string]any{"ok": 1, "bad name": 2, "Content-Type": "x", "Location": "y"})
	if len(out) != 1 || out.Get("ok") != "1" {
		t.Fatalf("%v", out)
	}
}

func TestApplyBrokerProperties(t *testing.T) {
	var m servicebus.Message
	err := applyBrokerProperties(&m, []byte(`{"messageid":"m","Label":"l","TimeToLive":"1.5","ScheduledEnqueueTimeUtc":"Sun, 06 Nov 1994 08:49:37 GMT","SequenceNumber":5,"Unknown":{}}`))
	if err != nil || m.MessageID != "m" || m.Subject != "l" || m.TimeToLive != 1500*time.Millisecond || m.ScheduledEnqueueTime.Year() != 1994 {
		t.Fatalf("%+v %v", m, err)
	}
	for _, bad := range []string{`[]`, `{"MessageId":5}`, `{"TimeToLive":0}`, `{"TimeToLive":"x"}`, `{"ScheduledEnqueueTimeUtc":"yesterday"}`} {
		if err := applyBrokerProperties(&servicebus.Message{}, []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	// TimeSpan.MaxValue: never expires (the entity's default).
	m = servicebus.Message{}
	if err := applyBrokerProperties(&m, []byte(`{"TimeToLive":922337203685.4775807}`)); err != nil || m.TimeToLive != 0 {
		t.Fatalf("%v %v", m.TimeToLive, err)
	}
}

func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(`<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><LockDuration>PT1M</LockDuration><AuthorizationRules><AuthorizationRule><KeyName>k</KeyName><Rights><AccessRights>Listen</AccessRights></Rights></AuthorizationRule></AuthorizationRules></QueueDescription></content></entry>`))
	f.Add([]byte(`<entry xmlns="http://www.w3.org/2005/Atom"><content><RuleDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><Filter i:type="CorrelationFilter"><Properties><KeyValueOfstringanyType><Key>k</Key><Value i:type="d:int" xmlns:d="http://www.w3.org/2001/XMLSchema">1</Value></KeyValueOfstringanyType></Properties></Filter></RuleDescription></content></entry>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseEntry(b)
		if err != nil {
			return
		}
		if c.Rule != nil {
			_, _ = ruleProps(c.Rule.Filter, c.Rule.Action)
		}
		if c.Subscription != nil && c.Subscription.DefaultRuleDescription != nil {
			_, _ = ruleProps(c.Subscription.DefaultRuleDescription.Filter, c.Subscription.DefaultRuleDescription.Action)
		}
	})
}

func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/q/messages/head", "/t/Subscriptions/s/Rules/r", "/$Resources/Queues", "/q/messages/1/0b5e3c1a-1c8f-4c8e-9f55-4a7e2d0f9a11"} {
		f.Add("POST", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		r, err := parseRoute(method, path, "")
		if err == nil && r.kind == routeNone {
			t.Fatalf("%s %s: no route and no error", method, path)
		}
	})
}

func FuzzBrokerProperties(f *testing.F) {
	f.Add([]byte(`{"MessageId":"m","TimeToLive":90,"ScheduledEnqueueTimeUtc":"Sun, 06 Nov 1994 08:49:37 GMT"}`))
	f.Add([]byte(`[{"Body":"x","UserProperties":{"a":1}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m servicebus.Message
		if err := applyBrokerProperties(&m, b); err == nil && m.TimeToLive < 0 {
			t.Fatalf("negative TTL from %s", b)
		}
		_, _ = parseBatch(b)
		_ = propertyFromHeader(string(b))
	})
}
