package amqpgw

import (
	"errors"
	"testing"

	"github.com/keyward/keyward/internal/amqp"
	"github.com/keyward/keyward/internal/servicebus"
)

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in       string
		kind     nodeKind
		path     string
		authPath string
		wantErr  bool
	}{
		{in: "orders", kind: nodeEntity, path: "orders", authPath: "orders"},
		{in: "/Orders", kind: nodeEntity, path: "Orders", authPath: "orders"},
		{in: "$cbs", kind: nodeCBS, path: "$cbs"},
		{in: "$CBS", kind: nodeCBS, path: "$cbs"},
		{in: "orders/$management", kind: nodeManagement, path: "orders", authPath: "orders/$management"},
		{in: "orders/$MANAGEMENT", kind: nodeManagement, path: "orders", authPath: "orders/$management"},
		{in: "t/subscriptions/s", kind: nodeEntity, path: "t/Subscriptions/s", authPath: "t/subscriptions/s"},
		{in: "t/Subscriptions/s/$management", kind: nodeManagement, path: "t/Subscriptions/s", authPath: "t/subscriptions/s/$management"},
		{in: "q/$deadletterqueue", kind: nodeEntity, path: "q/$DeadLetterQueue", authPath: "q/$deadletterqueue"},
		{in: "t/Subscriptions/s/$Transfer/$DeadLetterQueue", kind: nodeEntity, path: "t/Subscriptions/s/$Transfer/$DeadLetterQueue", authPath: "t/subscriptions/s/$transfer/$deadletterqueue"},
		{in: "q/$DeadLetterQueue/$management", kind: nodeManagement, path: "q/$DeadLetterQueue", authPath: "q/$deadletterqueue/$management"},
		{in: "amqps://ns.servicebus.example:5671/orders", kind: nodeEntity, path: "orders", authPath: "orders"},
		{in: "sb://ns.servicebus.example/orders/", kind: nodeEntity, path: "orders", authPath: "orders"},
		{in: "", wantErr: true},
		{in: "/", wantErr: true},
		{in: "amqps://host", wantErr: true},
		{in: "$management", wantErr: true},
		{in: "bad name!", wantErr: true},
	} {
		a, err := parseAddress(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%q: accepted as %+v", tc.in, a)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if a.kind != tc.kind || a.path != tc.path || (tc.kind != nodeCBS && a.authPath() != tc.authPath) {
			t.Errorf("%q: kind %d path %q auth %q", tc.in, a.kind, a.path, a.authPath())
		}
	}
}

func TestNamespaceFromHost(t *testing.T) {
	for _, tc := range []struct{ host, want string }{
		{"contoso.servicebus.keyward.localhost", "contoso"},
		{"Contoso.ServiceBus.Keyward.Localhost:5671", "contoso"},
		{"contoso.servicebus.keyward.localhost.", "contoso"},
		{"127.0.0.1", ""},
		{"127.0.0.1:5672", ""},
		{"[::1]:5672", ""},
		{"servicebus.keyward.localhost", ""},
		{"a.b.servicebus.keyward.localhost", ""},
		{"contoso.vault.keyward.localhost", ""},
		{"", ""},
	} {
		if got := namespaceFromHost(tc.host, "servicebus.keyward.localhost"); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.host, got, tc.want)
		}
	}
}

func TestSplitAudience(t *testing.T) {
	for _, tc := range []struct {
		aud, host, path string
		wantErr         bool
	}{
		{aud: "amqp://ns.servicebus.x/q", host: "ns.servicebus.x", path: "q"},
		{aud: "amqps://NS.servicebus.x:5671/Q/$management", host: "ns.servicebus.x", path: "q/$management"},
		{aud: "sb://ns.servicebus.x/", host: "ns.servicebus.x", path: ""},
		{aud: "sb://ns.servicebus.x", host: "ns.servicebus.x", path: ""},
		{aud: "sb://ns.servicebus.x/t/Subscriptions/s?x=1", host: "ns.servicebus.x", path: "t/subscriptions/s"},
		{aud: "ns.servicebus.x/q", wantErr: true},
		{aud: "amqp:///q", wantErr: true},
	} {
		h, p, err := splitAudience(tc.aud)
		if tc.wantErr != (err != nil) || h != tc.host || p != tc.path {
			t.Errorf("%q: %q %q %v", tc.aud, h, p, err)
		}
	}
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		claim, path string
		want        bool
	}{
		{"", "q", true},
		{"q", "q", true},
		{"q", "q/$management", true},
		{"q", "q/$deadletterqueue", true},
		{"q", "qq", false},
		{"q/$management", "q", false},
		{"t/subscriptions/s", "t/subscriptions/s2", false},
	} {
		if got := covers(tc.claim, tc.path); got != tc.want {
			t.Errorf("covers(%q, %q) = %v", tc.claim, tc.path, got)
		}
	}
}

func TestMapError(t *testing.T) {
	for _, tc := range []struct {
		err    error
		cond   amqp.Symbol
		status int32
	}{
		{&servicebus.Error{Code: servicebus.CodeEntityNotFound, Message: "x"}, amqp.CondNotFound, 404},
		{&servicebus.Error{Code: servicebus.CodeMessageLockLost}, CondMessageLockLost, 410},
		{&servicebus.Error{Code: servicebus.CodeSessionLockLost}, CondSessionLockLost, 410},
		{&servicebus.Error{Code: servicebus.CodeSessionCannotBeLocked}, CondSessionCannotBeLocked, 409},
		{&servicebus.Error{Code: servicebus.CodeMessageSizeExceeded}, amqp.CondMessageSizeExceeded, 413},
		{&servicebus.Error{Code: servicebus.CodeQuotaExceeded}, amqp.CondResourceLimitExceeded, 403},
		{&servicebus.Error{Code: servicebus.CodeTimeout}, CondTimeout, 408},
		{&servicebus.Error{Code: servicebus.CodeMessageNotFound}, CondMessageNotFound, 404},
		{&servicebus.Error{Code: servicebus.CodeBadRequest}, CondArgumentError, 400},
		{&servicebus.Error{Code: servicebus.CodeServiceUnavailable}, CondServerBusy, 503},
		{&servicebus.Error{Code: servicebus.CodeRevoked, Message: `namespace "ns1"`, Err: servicebus.ErrRevoked}, CondEntityDisabled, 403},
		{servicebus.ErrRevoked, CondEntityDisabled, 403},
		{errors.New("disk on fire"), amqp.CondInternalError, 500},
		{errUnauthorized("no"), amqp.CondUnauthorizedAccess, 401},
	} {
		e, st := mapError(tc.err)
		if e.Condition != tc.cond || st != tc.status {
			t.Errorf("%v: %s %d, want %s %d", tc.err, e.Condition, st, tc.cond, tc.status)
		}
	}
	e, _ := mapError(&servicebus.Error{Code: servicebus.CodeRevoked, Message: `namespace "ns1": read`, Err: servicebus.ErrRevoked})
	if want := revokedDescription("ns1"); e.Description != want {
		t.Errorf("revoked description %q", e.Description)
	}
	// Internal errors do not leak their text.
	if e, _ := mapError(errors.New("secret path /x")); e.Description != "internal error" {
		t.Errorf("internal description %q", e.Description)
	}
}
