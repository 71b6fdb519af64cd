package atomhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/servicebus"
)

// sendLimit returns the largest message the queue or topic accepts.
func (c *call) sendLimit(path string) (int64, error) {
	ep, err := servicebus.ParseEntityPath(path)
	if err != nil {
		return 0, err
	}
	if ep.Subscription != "" || ep.SubQueue != servicebus.SubQueueMain {
		return 0, errorf(http.StatusBadRequest, string(servicebus.CodeInvalidOperation), "Messages are sent to a queue or a topic, not to '%s'.", path)
	}
	var kb int64
	if q, err := c.nsb.GetQueue(c.ctx, ep.Entity); err == nil {
		kb = q.Properties.MaxMessageSizeInKilobytes
	} else if !isNotFound(err) {
		return 0, err
	} else if t, err := c.nsb.GetTopic(c.ctx, ep.Entity); err == nil {
		kb = t.Properties.MaxMessageSizeInKilobytes
	} else if isNotFound(err) {
		return 0, c.notFound(ep.Entity)
	} else {
		return 0, err
	}
	if kb <= 0 {
		kb = servicebus.StandardMaxMessageSizeKB
	}
	return kb * 1024, nil
}

func tooLarge(size string, limit int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, string(servicebus.CodeMessageSizeExceeded),
		"The received message (size: %s bytes) exceeds the limit (%d bytes) currently allowed on the entity.", size, limit)
}

// send serves POST {entity}/messages: one message (body, BrokerProperties
// header, custom properties as headers) or a batch (Content-Type
// application/vnd.microsoft.servicebus.json).
func (c *call) send(path string) error {
	if err := c.authorize(RightSend, path, c.entityScopes(path)); err != nil {
		return err
	}
	limit, err := c.sendLimit(path)
	if err != nil {
		return err
	}
	ct := strings.TrimSpace(c.r.Header.Get("Content-Type"))
	batch := strings.HasPrefix(strings.ToLower(ct), ContentTypeBatch)
	readLimit := limit
	if batch {
		readLimit = 2*limit + 64<<10 // JSON escaping
	}
	if c.r.ContentLength > readLimit {
		return tooLarge(strconv.FormatInt(c.r.ContentLength, 10), limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, readLimit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return tooLarge("more than "+strconv.FormatInt(readLimit, 10), limit)
		}
		return errorf(http.StatusBadRequest, codeBadRequest, "The request body could not be read.")
	}
	var msgs []servicebus.Message
	if batch {
		if msgs, err = parseBatch(body); err != nil {
			return err
		}
	} else {
		m := servicebus.Message{Body: body, ContentType: ct}
		if err := applyBrokerProperties(&m, []byte(c.r.Header.Get("BrokerProperties"))); err != nil {
			return err
		}
		m.ApplicationProperties = headerProperties(c.r.Header)
		msgs = []servicebus.Message{m}
	}
	if err := c.nsb.Send(c.ctx, path, msgs); err != nil {
		if isNotFound(err) {
			return c.notFound(path)
		}
		return err
	}
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

// receiveWait reads the timeout query parameter (seconds).
func (c *call) receiveWait() (time.Duration, error) {
	s := c.r.URL.Query().Get("timeout")
	if s == "" {
		return c.h.o.MaxReceiveWait, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0, badValue("timeout", s, "use a number of seconds")
	}
	return min(time.Duration(n)*time.Second, c.h.o.MaxReceiveWait), nil
}

// requiresSession reports whether a receive path is session-enabled (its
// main queue; dead-letter queues never are).
func (c *call) requiresSession(path string) (bool, error) {
	ep, err := servicebus.ParseEntityPath(path)
	if err != nil {
		return false, err
	}
	if ep.SubQueue != servicebus.SubQueueMain {
		return false, nil
	}
	if ep.Subscription != "" {
		s, err := c.nsb.GetSubscription(c.ctx, ep.Entity, ep.Subscription)
		if err != nil {
			if isNotFound(err) {
				return false, c.notFound(path)
			}
			return false, err
		}
		return s.Properties.RequiresSession, nil
	}
	q, err := c.nsb.GetQueue(c.ctx, ep.Entity)
	if err == nil {
		return q.Properties.RequiresSession, nil
	}
	if !isNotFound(err) {
		return false, err
	}
	if _, terr := c.nsb.GetTopic(c.ctx, ep.Entity); terr == nil {
		return false, errorf(http.StatusBadRequest, string(servicebus.CodeInvalidOperation), "Messages are received from a queue or a subscription (%s/subscriptions/<name>), not from the topic '%s'.", ep.Entity, ep.Entity)
	}
	return false, c.notFound(path)
}

// head serves {entity}/messages/head: POST peek-lock, DELETE
// receive-and-delete, GET peek (a keyward extension: the message at or
// after sequence number ?from=, without locking it).
func (c *call) head(path string) error {
	if err := c.authorize(RightListen, path, c.entityScopes(path)); err != nil {
		return err
	}
	sessions, err := c.requiresSession(path)
	if err != nil {
		return err
	}
	if c.r.Method == http.MethodGet {
		from := int64(1)
		if s := c.r.URL.Query().Get("from"); s != "" {
			if from, err = strconv.ParseInt(strings.TrimSpace(s), 10, 64); err != nil || from < 0 {
				return badValue("from", s, "use a sequence number")
			}
		}
		msgs, err := c.nsb.Peek(c.ctx, path, from, 1)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			c.w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return c.writeMessage(http.StatusOK, path, msgs[0])
	}
	wait, err := c.receiveWait()
	if err != nil {
		return err
	}
	mode := servicebus.PeekLock
	if c.r.Method == http.MethodDelete {
		mode = servicebus.ReceiveAndDelete
	}
	var msgs []*servicebus.ReceivedMessage
	switch {
	case sessions && mode == servicebus.PeekLock:
		return errorf(http.StatusBadRequest, string(servicebus.CodeInvalidOperation), "'%s' requires sessions: peek-lock over HTTP cannot hold a session lock. Receive with receive-and-delete (DELETE …/messages/head) or over AMQP.", path)
	case sessions:
		msgs, err = c.receiveSession(path, wait)
	default:
		msgs, err = c.nsb.Receive(c.ctx, path, servicebus.ReceiveOptions{Mode: mode, MaxMessages: 1, MaxWait: wait})
	}
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	status := http.StatusOK
	if mode == servicebus.PeekLock {
		status = http.StatusCreated
	}
	return c.writeMessage(status, path, msgs[0])
}

// receiveSession receives and deletes one message of the next session that
// has one.
func (c *call) receiveSession(path string, wait time.Duration) ([]*servicebus.ReceivedMessage, error) {
	s, err := c.nsb.AcceptNextSession(c.ctx, path, servicebus.AcceptSessionOptions{MaxWait: wait})
	if servicebus.CodeOf(err) == servicebus.CodeTimeout {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Receive(c.ctx, servicebus.ReceiveOptions{Mode: servicebus.ReceiveAndDelete, MaxMessages: 1})
}

// writeMessage writes a received message: the body, BrokerProperties,
// Content-Type, custom properties and, for a locked message, its Location.
func (c *call) writeMessage(status int, path string, m *servicebus.ReceivedMessage) error {
	h := c.w.Header()
	bp, err := json.Marshal(brokerPropertiesOf(m))
	if err != nil {
		return err
	}
	setPropertyHeaders(h, m.ApplicationProperties)
	h.Set("BrokerProperties", string(bp))
	ct := m.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	if m.LockToken != uuid.Nil {
		h.Set("Location", c.absURL(path+"/messages/"+strconv.FormatInt(m.SequenceNumber, 10)+"/"+m.LockToken.String()))
	}
	h.Set("Content-Length", strconv.Itoa(len(m.Body)))
	c.w.WriteHeader(status)
	_, _ = c.w.Write(m.Body)
	return nil
}

// locked serves {entity}/messages/{messageId|sequenceNumber}/{lockToken}:
// PUT unlock (abandon), DELETE complete, POST renew the lock. The lock
// token identifies the message; the first segment is not checked.
func (c *call) locked(path, ref, lock string) error {
	if err := c.authorize(RightListen, path, c.entityScopes(path)); err != nil {
		return err
	}
	tok, err := uuid.Parse(lock)
	if err != nil {
		return badValue("lock token", lock, "it must be a GUID")
	}
	switch c.r.Method {
	case http.MethodPut:
		err = c.nsb.Abandon(c.ctx, path, tok, nil)
	case http.MethodDelete:
		err = c.nsb.Complete(c.ctx, path, tok)
	case http.MethodPost:
		var until []time.Time
		until, err = c.nsb.RenewLock(c.ctx, path, []uuid.UUID{tok})
		if err == nil && len(until) == 1 {
			bp, _ := json.Marshal(BrokerProperties{LockToken: tok.String(), LockedUntilUtc: fmtHTTPTime(until[0])})
			c.w.Header().Set("BrokerProperties", string(bp))
		}
	}
	if err != nil {
		if servicebus.CodeOf(err) == servicebus.CodeMessageLockLost {
			return errorf(http.StatusGone, string(servicebus.CodeMessageLockLost), "No message is locked with lock token %s in '%s': the lock expired, the message was already settled, or it belongs to another entity.", tok, path)
		}
		if isNotFound(err) {
			return c.notFound(path)
		}
		return fmt.Errorf("settle %s: %w", ref, err)
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}
