package atomhttp_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus/admin"

	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/atomhttp"
)

func brokerProps(t *testing.T, r resp) atomhttp.BrokerProperties {
	t.Helper()
	var bp atomhttp.BrokerProperties
	if err := json.Unmarshal([]byte(r.header.Get("BrokerProperties")), &bp); err != nil {
		t.Fatalf("BrokerProperties %q: %v", r.header.Get("BrokerProperties"), err)
	}
	return bp
}

func TestRESTSendPeekLockComplete(t *testing.T) {
	h := newHarness(t, servicebus.Standard)
	ac := h.adminSAS("RootManageSharedAccessKey", rootKey)
	if _, err := ac.CreateQueue(h.ctx, "q1", &admin.CreateQueueOptions{Properties: &admin.QueueProperties{MaxDeliveryCount: ptr[int32](2)}}); err != nil {
		t.Fatal(err)
	}
	sasQ := sas(h.base+"/q1", "RootManageSharedAccessKey", rootKey, time.Hour)

	// Send one message with broker and custom properties.
	h.do("POST", "/q1/messages", sasQ, map[string]string{
		"Content-Type":     "text/plain",
		"BrokerProperties": `{"MessageId":"m1","Label":"greeting","CorrelationId":"c1","TimeToLive":600,"SessionId":""}`,
		"Priority":         "High",
		"Count":            "42",
		"Ratio":            "0.5",
		"Flag":             "true",
		"Quoted":           `"007"`,
		"X-Ms-Client":      "ignored",
	}, "hello").want(t, http.StatusCreated, "")

	// Peek without locking (keyward extension).
	r := h.do("GET", "/q1/messages/head", sasQ, nil, "")
	r.want(t, http.StatusOK, "hello")
	if bp := brokerProps(t, r); bp.LockToken != "" || bp.SequenceNumber != 1 || bp.MessageID != "m1" {
		t.Fatalf("peek: %+v", bp)
	}

	// Peek-lock.
	r = h.do("POST", "/q1/messages/head?timeout=1", sasQ, nil, "")
	r.want(t, http.StatusCreated, "")
	if string(r.body) != "hello" || r.header.Get("Content-Type") != "text/plain" {
		t.Fatalf("body %q content-type %q", r.body, r.header.Get("Content-Type"))
	}
	bp := brokerProps(t, r)
	if bp.MessageID != "m1" || bp.Label != "greeting" || bp.CorrelationID != "c1" || bp.DeliveryCount != 1 || bp.SequenceNumber != 1 ||
		bp.LockToken == "" || bp.State != "Active" || bp.TimeToLive != 600 {
		t.Fatalf("broker properties %+v", bp)
	}
	if _, err := http.ParseTime(bp.LockedUntilUtc); err != nil {
		t.Fatalf("LockedUntilUtc %q", bp.LockedUntilUtc)
	}
	for k, want := range map[string]string{"Priority": `"High"`, "Count": "42", "Ratio": "0.5", "Flag": "true", "Quoted": `"007"`} {
		if got := r.header.Get(k); got != want {
			t.Fatalf("header %s = %q, want %q", k, got, want)
		}
	}
	if r.header.Get("X-Ms-Client") != "" {
		t.Fatal("an x-ms- header became a property")
	}
	loc := r.header.Get("Location")
	wantLoc := h.base + "/q1/messages/1/" + bp.LockToken
	if loc != wantLoc {
		t.Fatalf("Location %q, want %q", loc, wantLoc)
	}
	lockPath := strings.TrimPrefix(loc, h.base)
	// Renew, then complete; a second complete finds no lock.
	r = h.do("POST", lockPath, sasQ, nil, "")
	r.want(t, http.StatusOK, "")
	if rb := brokerProps(t, r); rb.LockToken != bp.LockToken || rb.LockedUntilUtc == "" {
		t.Fatalf("renew: %+v", rb)
	}
	h.do("DELETE", lockPath, sasQ, nil, "").want(t, http.StatusOK, "")
	h.do("DELETE", lockPath, sasQ, nil, "").want(t, http.StatusGone, "MessageLockLost")
	// Nothing left: 204 after the timeout.
	h.do("POST", "/q1/messages/head?timeout=0", sasQ, nil, "").want(t, http.StatusNoContent, "")

	// Abandon until dead-lettered (MaxDeliveryCount 2), then receive the
	// dead letter and delete it.
	h.do("POST", "/q1/messages", sasQ, map[string]string{"BrokerProperties": `{"MessageId":"dl"}`}, "poison").want(t, http.StatusCreated, "")
	for i := 1; i <= 2; i++ {
		r = h.do("POST", "/q1/messages/head?timeout=1", sasQ, nil, "")
		r.want(t, http.StatusCreated, "poison")
		if bp := brokerProps(t, r); bp.DeliveryCount != int32(i) {
			t.Fatalf("delivery %d: %+v", i, bp)
		}
		h.do("PUT", strings.TrimPrefix(r.header.Get("Location"), h.base), sasQ, nil, "").want(t, http.StatusOK, "")
	}
	h.do("POST", "/q1/messages/head?timeout=0", sasQ, nil, "").want(t, http.StatusNoContent, "")
	rt, err := ac.GetQueueRuntimeProperties(h.ctx, "q1", nil)
	if err != nil || rt.DeadLetterMessageCount != 1 || rt.ActiveMessageCount != 0 {
		t.Fatalf("runtime: %v %+v", err, rt)
	}
	r = h.do("DELETE", "/q1/$DeadLetterQueue/messages/head?timeout=1", sasQ, nil, "")
	r.want(t, http.StatusOK, "poison")
	if r.header.Get("DeadLetterReason") != `"MaxDeliveryCountExceeded"` || brokerProps(t, r).MessageID != "dl" {
		t.Fatalf("dead letter headers %v", r.header)
	}

	// Batch send, then receive-and-delete each.
	batch := `[{"Body":"one","BrokerProperties":{"MessageId":"b1"},"UserProperties":{"n":1,"s":"x","f":1.5,"b":true,"z":null}},
	           {"Body":"two","BrokerProperties":{"Label":"L2","ScheduledEnqueueTimeUtc":"Sun, 06 Nov 1994 08:49:37 GMT"}}]`
	h.do("POST", "/q1/messages", sasQ, map[string]string{"Content-Type": atomhttp.ContentTypeBatch}, batch).want(t, http.StatusCreated, "")
	r = h.do("DELETE", "/q1/messages/head?timeout=1", sasQ, nil, "")
	r.want(t, http.StatusOK, "one")
	if r.header.Get("n") != "1" || r.header.Get("s") != `"x"` || r.header.Get("f") != "1.5" || r.header.Get("b") != "true" || r.header.Get("z") != "null" {
		t.Fatalf("batch properties: %v", r.header)
	}
	r = h.do("DELETE", "/q1/messages/head?timeout=1", sasQ, nil, "")
	r.want(t, http.StatusOK, "two")
	if bp := brokerProps(t, r); bp.Label != "L2" || bp.LockToken != "" {
		t.Fatalf("second: %+v", bp)
	}
	h.do("DELETE", "/q1/messages/head?timeout=0", sasQ, nil, "").want(t, http.StatusNoContent, "")
}

func TestRESTErrorsAndAuthorization(t *testing.T) {
	h := newHarness(t, servicebus.Standard)
	ac := h.adminSAS("RootManageSharedAccessKey", rootKey)
	if _, err := ac.CreateQueue(h.ctx, "q1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateTopic(h.ctx, "t1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateSubscription(h.ctx, "t1", "s1", nil); err != nil {
		t.Fatal(err)
	}
	root := h.rootSAS()
	// Wrong key, missing header, missing right.
	h.do("POST", "/q1/messages", sas(h.base, "RootManageSharedAccessKey", listenKey, time.Hour), nil, "x").want(t, http.StatusUnauthorized, "InvalidSignature")
	h.do("POST", "/q1/messages", "", nil, "x").want(t, http.StatusUnauthorized, "MissingToken")
	h.do("POST", "/q1/messages", sas(h.base, "listen", listenKey, time.Hour), nil, "x").want(t, http.StatusUnauthorized, "Send")
	h.do("POST", "/q1/messages/head", sas(h.base, "send", listenKey+"s", time.Hour), nil, "").want(t, http.StatusUnauthorized, "Listen")
	h.do("POST", "/q1/messages", sas(h.base, "RootManageSharedAccessKey", rootKey, -time.Minute), nil, "x").want(t, http.StatusUnauthorized, "expired")
	// A token scoped to another entity.
	h.do("POST", "/q1/messages", sas(h.base+"/t1", "RootManageSharedAccessKey", rootKey, time.Hour), nil, "x").want(t, http.StatusUnauthorized, "")
	// Entra ID: bearer token with the Data Sender role on the queue.
	h.authz.grant("snd", nsID+"/queues/q1", atomhttpSend)
	h.do("POST", "/q1/messages", "Bearer jwt.snd.sig", nil, "x").want(t, http.StatusCreated, "")
	h.do("POST", "/q1/messages/head", "Bearer jwt.snd.sig", nil, "").want(t, http.StatusUnauthorized, "Listen")
	h.do("POST", "/q1/messages", "Bearer not-a-token", nil, "x").want(t, http.StatusUnauthorized, "InvalidToken")
	h.do("POST", "/q1/messages", "Basic abc", nil, "x").want(t, http.StatusUnauthorized, "scheme")

	// Unknown entity: 404; sending to a subscription or receiving from a topic: 400.
	h.do("POST", "/nosuch/messages", root, nil, "x").want(t, http.StatusNotFound, "MessagingEntityNotFound")
	h.do("POST", "/nosuch/messages/head", root, nil, "").want(t, http.StatusNotFound, "")
	h.do("POST", "/t1/subscriptions/s1/messages", root, nil, "x").want(t, http.StatusBadRequest, "")
	h.do("POST", "/t1/messages/head?timeout=0", root, nil, "").want(t, http.StatusBadRequest, "subscription")
	// Topic fan-out over REST.
	h.do("POST", "/t1/messages", root, nil, "fan").want(t, http.StatusCreated, "")
	h.do("DELETE", "/t1/subscriptions/s1/messages/head?timeout=1", root, nil, "").want(t, http.StatusOK, "fan")

	// Over the size limit (256 KB in Standard): 413 with the limit.
	big := strings.Repeat("x", 256*1024+1)
	h.do("POST", "/q1/messages", root, nil, big).want(t, http.StatusRequestEntityTooLarge, "262144")
	// Body within the limit but properties push it over: the broker's 413.
	h.do("POST", "/q1/messages", root, map[string]string{"Pad": strings.Repeat("p", 1000)}, big[:256*1024-10]).want(t, http.StatusRequestEntityTooLarge, "MessageSizeExceeded")
	// Bad input: 400.
	h.do("POST", "/q1/messages", root, map[string]string{"BrokerProperties": "{not json"}, "x").want(t, http.StatusBadRequest, "BrokerProperties")
	h.do("POST", "/q1/messages", root, map[string]string{"BrokerProperties": `{"TimeToLive":-1}`}, "x").want(t, http.StatusBadRequest, "TimeToLive")
	h.do("POST", "/q1/messages", root, map[string]string{"Content-Type": atomhttp.ContentTypeBatch}, `{"Body":"x"}`).want(t, http.StatusBadRequest, "JSON array")
	h.do("POST", "/q1/messages/head?timeout=soon", root, nil, "").want(t, http.StatusBadRequest, "timeout")
	h.do("DELETE", "/q1/messages/1/"+strings.Repeat("0", 8)+"-0000-0000-0000-000000000000", root, nil, "").want(t, http.StatusGone, "MessageLockLost")

	// A receive waiting for a message gets one sent meanwhile.
	// (First drain the message the Entra ID sender sent above.)
	h.do("DELETE", "/q1/messages/head?timeout=0", root, nil, "").want(t, http.StatusOK, "x")
	done := make(chan resp, 1)
	go func() { done <- h.do("DELETE", "/q1/messages/head?timeout=5", root, nil, "") }()
	time.Sleep(100 * time.Millisecond)
	h.do("POST", "/q1/messages", root, nil, "late").want(t, http.StatusCreated, "")
	select {
	case r := <-done:
		r.want(t, http.StatusOK, "late")
	case <-time.After(5 * time.Second):
		t.Fatal("waiting receive did not get the message")
	}

	// Revocation ends a waiting receive at once with 403.
	go func() { done <- h.do("POST", "/q1/messages/head?timeout=5", root, nil, "") }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	h.keys.mu.Lock()
	h.keys.revoked[testNS] = true
	h.keys.mu.Unlock()
	_ = h.broker.NamespaceStatusChanged(h.ctx, testNS)
	select {
	case r := <-done:
		r.want(t, http.StatusForbidden, "CustomerManagedKeyRevoked")
		if time.Since(start) > 2*time.Second {
			t.Fatalf("revocation took %v", time.Since(start))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("receive hangs after revocation")
	}
	h.do("POST", "/q1/messages", root, nil, "x").want(t, http.StatusForbidden, "revoked")
}

func TestRESTSessions(t *testing.T) {
	h := newHarness(t, servicebus.Standard)
	ac := h.adminSAS("RootManageSharedAccessKey", rootKey)
	if _, err := ac.CreateQueue(h.ctx, "sq", &admin.CreateQueueOptions{Properties: &admin.QueueProperties{RequiresSession: ptr(true)}}); err != nil {
		t.Fatal(err)
	}
	root := h.rootSAS()
	for i := range 3 {
		h.do("POST", "/sq/messages", root, map[string]string{"BrokerProperties": `{"SessionId":"s` + strconv.Itoa(i%2) + `"}`}, "m"+strconv.Itoa(i)).want(t, http.StatusCreated, "")
	}
	h.do("POST", "/sq/messages/head?timeout=0", root, nil, "").want(t, http.StatusBadRequest, "requires sessions")
	got := map[string]bool{}
	for range 3 {
		r := h.do("DELETE", "/sq/messages/head?timeout=1", root, nil, "")
		r.want(t, http.StatusOK, "")
		got[string(r.body)+"/"+brokerProps(t, r).SessionID] = true
	}
	if !got["m0/s0"] || !got["m1/s1"] || !got["m2/s0"] {
		t.Fatalf("session messages %v", got)
	}
	h.do("DELETE", "/sq/messages/head?timeout=0", root, nil, "").want(t, http.StatusNoContent, "")
}
