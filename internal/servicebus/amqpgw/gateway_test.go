package amqpgw

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/namespaces"
	"github.com/keyward/keyward/internal/store"
)

const (
	testNS     = "testns01"
	testSuffix = "servicebus.test"
	testHost   = testNS + "." + testSuffix
)

// fakeKeys is a KeySource whose namespaces can be revoked.
type fakeKeys struct {
	mu      sync.Mutex
	key     *seal.DataKey
	revoked bool
}

func (k *fakeKeys) DataKey(context.Context, string) (*seal.DataKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.revoked {
		return nil, fmt.Errorf("test: %w", servicebus.ErrRevoked)
	}
	return k.key, nil
}

// fakeDir is a Directory with one namespace. Its SAS tokens are
// "test;<rights>;<unix ms expiry>;<resource>".
type fakeDir struct {
	mu sync.Mutex
	ns namespaces.Namespace
}

func (d *fakeDir) Get(name string) (namespaces.Namespace, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !strings.EqualFold(name, d.ns.Name) {
		return namespaces.Namespace{}, false
	}
	return d.ns, true
}

func (d *fakeDir) Names() []string { return []string{d.ns.Name} }

func (d *fakeDir) VerifySAS(_ context.Context, ns, token string) (namespaces.Grant, error) {
	parts := strings.Split(token, ";")
	if len(parts) != 4 || parts[0] != "test" {
		return namespaces.Grant{}, namespaces.ErrSAS
	}
	ms, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return namespaces.Grant{}, namespaces.ErrSAS
	}
	exp := time.UnixMilli(ms)
	if !time.Now().Before(exp) {
		return namespaces.Grant{}, errors.New("the SAS token has expired")
	}
	return namespaces.Grant{KeyName: "k", Rights: strings.Split(parts[1], ","), Resource: parts[3], Expires: exp}, nil
}

// fakeAuthz allows data actions listed per principal.
type fakeAuthz map[string][]string

func (a fakeAuthz) AllowedData(principal, _, action string) bool {
	for _, x := range a[principal] {
		if x == action {
			return true
		}
	}
	return false
}

type gwEnv struct {
	addr string
	keys *fakeKeys
	dir  *fakeDir
	b    *servicebus.Broker
	ns   *servicebus.Namespace
}

func startGateway(t *testing.T) *gwEnv {
	t.Helper()
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := seal.NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	keys := &fakeKeys{key: dk}
	b, err := servicebus.New(servicebus.Options{Store: st, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns, err := b.OpenNamespace(ctx, testNS, servicebus.NamespaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ns.CreateQueue(ctx, "q", servicebus.DefaultQueueProperties(servicebus.Standard)); err != nil {
		t.Fatal(err)
	}
	dir := &fakeDir{ns: namespaces.Namespace{Name: testNS, ID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/" + testNS, TenantID: "tenant-1",
		AuthRules: []namespaces.AuthRule{{Name: "root", Rights: []string{"Listen", "Send", "Manage"}, PrimaryKey: "key-1"}}}}
	gw, err := New(Config{Broker: b, Namespaces: dir, DNSSuffix: testSuffix,
		ValidateToken: func(raw string, audiences ...string) (*identity.Claims, error) {
			oid, ok := strings.CutPrefix(raw, "jwt-for-")
			if !ok {
				return nil, identity.ErrInvalidToken
			}
			return &identity.Claims{ObjectID: oid, TenantID: "tenant-1", ExpiresAt: time.Now().Add(time.Hour)}, nil
		},
		Authz: fakeAuthz{"sender-oid": {ActionSend}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gw.Serve(sctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = b.Close()
		_ = st.Close()
	})
	return &gwEnv{addr: ln.Addr().String(), keys: keys, dir: dir, b: b, ns: ns}
}

func (e *gwEnv) dial(t *testing.T, host string, sasl goamqp.SASLType) *goamqp.Session {
	t.Helper()
	ctx := testCtx(t)
	c, err := goamqp.Dial(ctx, "amqp://"+e.addr, &goamqp.ConnOptions{SASLType: sasl, HostName: host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s, err := c.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// putToken puts a token on $cbs and returns the status code.
func putToken(t *testing.T, s *goamqp.Session, typ, audience, token string) int32 {
	t.Helper()
	ctx := testCtx(t)
	replyTo := "cbs-reply-" + uuid.NewString()
	snd, err := s.NewSender(ctx, "$cbs", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close(ctx)
	rcv, err := s.NewReceiver(ctx, "$cbs", &goamqp.ReceiverOptions{TargetAddress: replyTo, Credit: 10,
		SettlementMode: goamqp.ReceiverSettleModeFirst.Ptr(), RequestedSenderSettleMode: goamqp.SenderSettleModeSettled.Ptr()})
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close(ctx)
	id := uuid.NewString()
	err = snd.Send(ctx, &goamqp.Message{Value: token, Properties: &goamqp.MessageProperties{MessageID: id, ReplyTo: &replyTo},
		ApplicationProperties: map[string]any{"operation": "put-token", "type": typ, "name": audience, "expiration": "0"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Properties.CorrelationID != id {
		t.Fatalf("correlation id %v", resp.Properties.CorrelationID)
	}
	return resp.ApplicationProperties["status-code"].(int32)
}

func sasToken(rights string, valid time.Duration, resource string) string {
	return fmt.Sprintf("test;%s;%d;%s", rights, time.Now().Add(valid).UnixMilli(), resource)
}

func condOf(err error) goamqp.ErrCond {
	var ae *goamqp.Error
	if errors.As(err, &ae) {
		return ae.Condition
	}
	return ""
}

// TestClaimsExpireAndRenew: a link whose claim expires is detached; a
// renewed claim keeps it. The connection opens by IP address and gets its
// namespace from the first put-token.
func TestClaimsExpireAndRenew(t *testing.T) {
	e := startGateway(t)
	ctx := testCtx(t)
	s := e.dial(t, "127.0.0.1", goamqp.SASLTypeAnonymous())
	aud := "amqp://" + testHost + "/q"
	const short = 1500 * time.Millisecond
	expiry := time.Now().Add(short)
	if st := putToken(t, s, tokenTypeSAS, aud, sasToken("Send", short, testHost+"/q")); st != 202 {
		t.Fatalf("put-token: %d", st)
	}
	expiring, err := s.NewSender(ctx, "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := expiring.Send(ctx, goamqp.NewMessage([]byte("1")), nil); err != nil {
		t.Fatal(err)
	}
	// Listen is not granted.
	if _, err := s.NewReceiver(ctx, "q", nil); condOf(err) != goamqp.ErrCondUnauthorizedAccess {
		t.Fatalf("receiver with a Send claim: %v", err)
	}
	time.Sleep(time.Until(expiry) + 300*time.Millisecond)
	if err := expiring.Send(ctx, goamqp.NewMessage([]byte("2")), nil); condOf(err) != goamqp.ErrCondUnauthorizedAccess {
		t.Fatalf("send after the claim expired: %v", err)
	}

	// Renewal: a second put-token for the audience before expiry.
	expiry = time.Now().Add(short)
	if st := putToken(t, s, tokenTypeSAS, aud, sasToken("Send", short, testHost+"/q")); st != 202 {
		t.Fatalf("put-token: %d", st)
	}
	renewed, err := s.NewSender(ctx, "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := putToken(t, s, tokenTypeSAS, aud, sasToken("Send", time.Hour, testHost+"/q")); st != 202 {
		t.Fatalf("renew: %d", st)
	}
	time.Sleep(time.Until(expiry) + 300*time.Millisecond)
	if err := renewed.Send(ctx, goamqp.NewMessage([]byte("3")), nil); err != nil {
		t.Fatalf("send after renewal: %v", err)
	}

	// Refused tokens.
	for _, tc := range []struct {
		typ, aud, token string
		want            int32
	}{
		{tokenTypeSAS, aud, "garbage", 401},
		{tokenTypeSAS, aud, sasToken("Send", time.Hour, testHost+"/other"), 401},
		{tokenTypeSAS, "amqp://other.servicebus.test/q", sasToken("Send", time.Hour, "other.servicebus.test/q"), 401},
		{tokenTypeSAS, "amqp://127.0.0.1/q", sasToken("Send", time.Hour, testHost+"/q"), 400},
		{"bogus", aud, "x", 400},
		{tokenTypeJWT, aud, "not-a-jwt", 401},
	} {
		if st := putToken(t, s, tc.typ, tc.aud, tc.token); st != tc.want {
			t.Errorf("%s %s %q: %d, want %d", tc.typ, tc.aud, tc.token, st, tc.want)
		}
	}
}

// TestEntraIDClaims: a jwt claim authorizes by the principal's data actions.
func TestEntraIDClaims(t *testing.T) {
	e := startGateway(t)
	ctx := testCtx(t)
	s := e.dial(t, testHost, goamqp.SASLTypeAnonymous())
	if st := putToken(t, s, tokenTypeJWT, "amqp://"+testHost+"/q", "jwt-for-sender-oid"); st != 202 {
		t.Fatalf("put-token: %d", st)
	}
	snd, err := s.NewSender(ctx, "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx, goamqp.NewMessage([]byte("x")), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewReceiver(ctx, "q", nil); condOf(err) != goamqp.ErrCondUnauthorizedAccess {
		t.Fatalf("receiver without the receive action: %v", err)
	}
}

// TestRevokedAndPlainKeyChanges: attaches to a revoked namespace are refused
// with a clear condition; a PLAIN connection whose key was regenerated
// cannot attach new links.
func TestRevokedAndPlainKeyChanges(t *testing.T) {
	e := startGateway(t)
	ctx := testCtx(t)
	s := e.dial(t, testHost, goamqp.SASLTypePlain("root", "key-1"))
	e.keys.mu.Lock()
	e.keys.revoked = true
	e.keys.mu.Unlock()
	_ = e.b.NamespaceStatusChanged(ctx, testNS) // reports the revocation
	_, err := s.NewSender(ctx, "q", nil)
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCond(CondEntityDisabled) || !strings.Contains(ae.Description, "Revoked") {
		t.Fatalf("attach while revoked: %v", err)
	}
	e.keys.mu.Lock()
	e.keys.revoked = false
	e.keys.mu.Unlock()
	if err := e.b.NamespaceStatusChanged(ctx, testNS); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewSender(ctx, "q", nil); err != nil {
		t.Fatalf("attach after restore: %v", err)
	}
	e.dir.mu.Lock()
	e.dir.ns.AuthRules = []namespaces.AuthRule{{Name: "root", Rights: []string{"Listen", "Send", "Manage"}, PrimaryKey: "key-2"}}
	e.dir.mu.Unlock()
	if _, err := s.NewSender(ctx, "q", nil); condOf(err) != goamqp.ErrCondUnauthorizedAccess {
		t.Fatalf("attach after the key changed: %v", err)
	}
	// An unknown namespace in the open frame is refused.
	// (go-amqp returns from Dial on the server's open; the close follows.)
	c, err := goamqp.Dial(ctx, "amqp://"+e.addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous(), HostName: "nope." + testSuffix})
	if err == nil {
		defer c.Close()
		_, err = c.NewSession(ctx, nil)
	}
	if condOf(err) != goamqp.ErrCondNotFound {
		t.Fatalf("connection to an unknown namespace: %v", err)
	}
}

// TestUAMQPDialect: the C and Python uamqp clients send put-token without a
// reply-to (the reply goes to the receiver link attached to $cbs, with the
// request's message-id as correlation-id) and send to entities in receiver
// settle mode second, waiting for a settled outcome.
func TestUAMQPDialect(t *testing.T) {
	e := startGateway(t)
	ctx := testCtx(t)
	s := e.dial(t, testHost, goamqp.SASLTypeAnonymous())
	snd, err := s.NewSender(ctx, "$cbs", nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := s.NewReceiver(ctx, "$cbs", &goamqp.ReceiverOptions{TargetAddress: "$cbs", Credit: 10})
	if err != nil {
		t.Fatal(err)
	}
	aud := "sb://" + testHost + "/q"
	err = snd.Send(ctx, &goamqp.Message{Value: sasToken("Send", time.Hour, testHost+"/q"), Properties: &goamqp.MessageProperties{MessageID: uint64(0)},
		ApplicationProperties: map[string]any{"operation": "put-token", "type": tokenTypeSAS, "name": aud}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Properties == nil || resp.Properties.CorrelationID != uint64(0) || resp.ApplicationProperties["status-code"] != int32(202) {
		t.Fatalf("put-token reply %+v %v", resp.Properties, resp.ApplicationProperties)
	}
	_ = rcv.AcceptMessage(ctx, resp)

	q, err := s.NewSender(ctx, "amqps://"+testHost+"/q", &goamqp.SenderOptions{
		SettlementMode: goamqp.SenderSettleModeUnsettled.Ptr(), RequestedReceiverSettleMode: goamqp.ReceiverSettleModeSecond.Ptr()})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Send(ctx, &goamqp.Message{Data: [][]byte{[]byte("from uamqp")}}, nil); err != nil {
		t.Fatal(err)
	}
	if qi, err := e.ns.GetQueue(ctx, "q"); err != nil || qi.Runtime.ActiveMessageCount != 1 {
		t.Fatalf("queue after the send: %+v %v", qi.Runtime, err)
	}
}
