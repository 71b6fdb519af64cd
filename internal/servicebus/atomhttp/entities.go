package atomhttp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/servicebus"
)

// Content types of ATOM responses.
const (
	ctEntry = "application/atom+xml;type=entry;charset=utf-8"
	ctFeed  = "application/atom+xml;type=feed;charset=utf-8"
)

// defaultTop is the page size when a list request has no $top.
const defaultTop = 100

func (c *call) reqPath() string { return strings.Trim(c.r.URL.Path, "/") }

func (c *call) selfURL(path string) string {
	v := c.r.URL.Query().Get("api-version")
	if v == "" {
		v = "2021-05"
	}
	return c.absURL(path) + "?api-version=" + v
}

func (c *call) writeXML(status int, contentType string, v any) error {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", contentType)
	c.w.WriteHeader(status)
	_, _ = c.w.Write(buf.Bytes())
	return nil
}

func (c *call) entry(path, title string, created, updated string, content contentOut) entryOut {
	content.Type = "application/xml"
	return entryOut{
		ID: c.selfURL(path), Title: titleOut{Type: "text", Text: title},
		Published: created, Updated: updated, Author: &authorOut{Name: c.ns.Name},
		Link: linkOut{Rel: "self", Href: c.selfURL(path)}, Content: content,
	}
}

func (c *call) feed(title string, entries []entryOut) error {
	return c.writeXML(http.StatusOK, ctFeed, feedOut{
		Title: titleOut{Type: "text", Text: title}, ID: c.absURL(c.reqPath()) + "?" + c.r.URL.RawQuery,
		Updated: fmtTime(c.h.o.Now()), Link: linkOut{Rel: "self", Href: c.absURL(c.reqPath()) + "?" + c.r.URL.RawQuery},
		Entries: entries,
	})
}

// page reads $skip and $top. The admin client stops paging only on an
// empty page or one shorter than $top, so both are honoured exactly.
func (c *call) page(n int) (lo, hi int, err error) {
	q := c.r.URL.Query()
	skip, top := 0, defaultTop
	for _, p := range []struct {
		name string
		dst  *int
	}{{"$skip", &skip}, {"$top", &top}} {
		if s := q.Get(p.name); s != "" {
			v, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || v < 0 {
				return 0, 0, badValue(p.name, s, "use a non-negative integer")
			}
			*p.dst = v
		}
	}
	lo = min(skip, n)
	hi = min(lo+top, n)
	return lo, hi, nil
}

// readEntry reads and parses an Atom entry body.
func (c *call) readEntry() (*contentIn, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, c.h.o.MaxAtomBodyBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, errorf(http.StatusRequestEntityTooLarge, codeBadRequest, "The request body is larger than %d bytes.", c.h.o.MaxAtomBodyBytes)
		}
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "The request body could not be read.")
	}
	return parseEntry(body)
}

// parseEntry parses an Atom entry holding a description.
func parseEntry(body []byte) (*contentIn, error) {
	var e entryIn
	if err := xml.Unmarshal(body, &e); err != nil {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "The request body is not a valid Atom entry: %s.", clip(err.Error()))
	}
	if e.Content == nil || (e.Content.Queue == nil && e.Content.Topic == nil && e.Content.Subscription == nil && e.Content.Rule == nil) {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "The Atom entry has no QueueDescription, TopicDescription, SubscriptionDescription or RuleDescription in the namespace %s.", nsConnect)
	}
	return e.Content, nil
}

func isNotFound(err error) bool { return servicebus.CodeOf(err) == servicebus.CodeEntityNotFound }

func (c *call) notFound(path string) *apiError {
	return errorf(http.StatusNotFound, string(servicebus.CodeEntityNotFound), "The messaging entity 'sb://%s/%s' could not be found.", c.host, path)
}

func (c *call) replicate() {
	if err := c.h.o.Namespaces.ReplicateFrom(c.ctx, c.ns.Name); err != nil {
		c.h.o.Log.Warn("servicebus http: geo-replication of entity metadata failed", "namespace", c.ns.Name, "err", err)
	}
}

func (c *call) manage(scopes ...string) error {
	if len(scopes) == 0 {
		scopes = []string{c.ns.ID}
	}
	return c.authorize(RightManage, c.reqPath(), scopes)
}

// ---- namespace ----

func (c *call) namespaceInfo() error {
	if err := c.manage(); err != nil {
		return err
	}
	info := &namespaceInfoOut{
		XMLNSI: nsXSI, CreatedTime: fmtTime(c.ns.CreatedAt), MessagingSKU: c.ns.SKU.Tier,
		ModifiedTime: fmtTime(c.ns.UpdatedAt), Name: c.ns.Name, NamespaceType: "Messaging",
	}
	if info.MessagingSKU == "" {
		info.MessagingSKU = string(c.nsb.Options().Tier)
	}
	if c.ns.DR != nil {
		info.Alias = c.ns.DR.Alias
	}
	if strings.EqualFold(info.MessagingSKU, string(servicebus.Premium)) {
		u := int64(max(c.ns.SKU.Capacity, 1))
		info.MessagingUnits = &u
	}
	return c.writeXML(http.StatusOK, ctEntry, c.entry("$namespaceinfo", c.ns.Name, info.CreatedTime, info.ModifiedTime, contentOut{NamespaceInfo: info}))
}

// ---- queues and topics ----

func (c *call) listQueues() error {
	if err := c.manage(); err != nil {
		return err
	}
	qs, err := c.nsb.ListQueues(c.ctx)
	if err != nil {
		return err
	}
	lo, hi, err := c.page(len(qs))
	if err != nil {
		return err
	}
	entries := []entryOut{}
	for _, q := range qs[lo:hi] {
		entries = append(entries, c.queueEntry(q))
	}
	return c.feed("Queues", entries)
}

func (c *call) listTopics() error {
	if err := c.manage(); err != nil {
		return err
	}
	ts, err := c.nsb.ListTopics(c.ctx)
	if err != nil {
		return err
	}
	lo, hi, err := c.page(len(ts))
	if err != nil {
		return err
	}
	entries := []entryOut{}
	for _, t := range ts[lo:hi] {
		e, err := c.topicEntry(t)
		if err != nil {
			return err
		}
		entries = append(entries, e)
	}
	return c.feed("Topics", entries)
}

func (c *call) queueEntry(q servicebus.QueueInfo) entryOut {
	return c.entry(q.Name, q.Name, fmtTime(q.Runtime.CreatedAt), fmtTime(q.Runtime.UpdatedAt), contentOut{Queue: c.queueXML(q)})
}

func (c *call) topicEntry(t servicebus.TopicInfo) (entryOut, error) {
	sqlN, corrN, err := c.filterCounts(t.Name)
	if err != nil {
		return entryOut{}, err
	}
	return c.entry(t.Name, t.Name, fmtTime(t.Runtime.CreatedAt), fmtTime(t.Runtime.UpdatedAt), contentOut{Topic: c.topicXML(t, sqlN, corrN)}), nil
}

// filterCounts counts a topic's SQL filters and correlation filters (a
// correlation filter with an action counts as SQL, as the broker's quotas do).
func (c *call) filterCounts(topic string) (sqlN, corrN int64, err error) {
	subs, err := c.nsb.ListSubscriptions(c.ctx, topic)
	if err != nil {
		return 0, 0, err
	}
	for _, s := range subs {
		rules, err := c.nsb.ListRules(c.ctx, topic, s.Name)
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return 0, 0, err
		}
		for _, r := range rules {
			if r.Properties.Filter.Type == servicebus.FilterCorrelation && r.Properties.Action == nil {
				corrN++
			} else {
				sqlN++
			}
		}
	}
	return sqlN, corrN, nil
}

// entity serves GET, PUT and DELETE of a queue or topic.
func (c *call) entity(name string) error {
	if err := c.manage(c.entityScopes(name)...); err != nil {
		return err
	}
	switch c.r.Method {
	case http.MethodGet:
		q, err := c.nsb.GetQueue(c.ctx, name)
		if err == nil {
			return c.writeXML(http.StatusOK, ctEntry, c.queueEntry(q))
		}
		if !isNotFound(err) {
			return err
		}
		t, err := c.nsb.GetTopic(c.ctx, name)
		if err == nil {
			e, err := c.topicEntry(t)
			if err != nil {
				return err
			}
			return c.writeXML(http.StatusOK, ctEntry, e)
		}
		if isNotFound(err) {
			return c.notFound(name)
		}
		return err
	case http.MethodDelete:
		err := c.nsb.DeleteQueue(c.ctx, name)
		if isNotFound(err) {
			err = c.nsb.DeleteTopic(c.ctx, name)
		}
		if isNotFound(err) {
			return c.notFound(name)
		}
		if err != nil {
			return err
		}
		c.replicate()
		c.w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodPut:
		content, err := c.readEntry()
		if err != nil {
			return err
		}
		update := c.r.Header.Get("If-Match") != ""
		switch {
		case content.Queue != nil:
			return c.putQueue(name, content.Queue, update)
		case content.Topic != nil:
			return c.putTopic(name, content.Topic, update)
		}
		return errorf(http.StatusBadRequest, codeBadRequest, "A queue or topic is created with a QueueDescription or a TopicDescription.")
	}
	return errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "The method %s is not allowed on an entity: use GET, PUT or DELETE.", c.r.Method)
}

// kindConflict reports that name is taken by an entity of the other kind.
func (c *call) kindConflict(name, kind string) error {
	return errorf(http.StatusConflict, string(servicebus.CodeEntityAlreadyExists), "The name '%s' is already used by a %s.", name, kind)
}

func (c *call) putQueue(name string, d *queueDescIn, update bool) error {
	var old *servicebus.QueueProperties
	if update {
		q, err := c.nsb.GetQueue(c.ctx, name)
		if isNotFound(err) {
			if _, terr := c.nsb.GetTopic(c.ctx, name); terr == nil {
				return c.kindConflict(name, "topic")
			}
			return c.notFound(name)
		}
		if err != nil {
			return err
		}
		old = &q.Properties
	}
	p, err := c.queueProps(d, old)
	if err != nil {
		return err
	}
	if err := c.authorizeForward("ServiceBusSupplementaryAuthorization", p.ForwardTo); err != nil {
		return err
	}
	if err := c.authorizeForward("ServiceBusDlqSupplementaryAuthorization", p.ForwardDeadLetteredMessagesTo); err != nil {
		return err
	}
	var q servicebus.QueueInfo
	status := http.StatusCreated
	if update {
		q, err = c.nsb.UpdateQueue(c.ctx, name, p)
		status = http.StatusOK
	} else {
		q, err = c.nsb.CreateQueue(c.ctx, name, p)
	}
	if err != nil {
		return err
	}
	c.replicate()
	return c.writeXML(status, ctEntry, c.queueEntry(q))
}

func (c *call) putTopic(name string, d *topicDescIn, update bool) error {
	var old *servicebus.TopicProperties
	if update {
		t, err := c.nsb.GetTopic(c.ctx, name)
		if isNotFound(err) {
			if _, qerr := c.nsb.GetQueue(c.ctx, name); qerr == nil {
				return c.kindConflict(name, "queue")
			}
			return c.notFound(name)
		}
		if err != nil {
			return err
		}
		old = &t.Properties
	}
	p, err := c.topicProps(d, old)
	if err != nil {
		return err
	}
	var t servicebus.TopicInfo
	status := http.StatusCreated
	if update {
		t, err = c.nsb.UpdateTopic(c.ctx, name, p)
		status = http.StatusOK
	} else {
		t, err = c.nsb.CreateTopic(c.ctx, name, p)
	}
	if err != nil {
		return err
	}
	c.replicate()
	e, err := c.topicEntry(t)
	if err != nil {
		return err
	}
	return c.writeXML(status, ctEntry, e)
}

// ---- subscriptions ----

func (c *call) subScope(topic, sub string) string {
	return c.ns.ID + "/topics/" + topic + "/subscriptions/" + sub
}

func (c *call) listSubscriptions(topic string) error {
	if err := c.manage(c.ns.ID + "/topics/" + topic); err != nil {
		return err
	}
	subs, err := c.nsb.ListSubscriptions(c.ctx, topic)
	if isNotFound(err) {
		return c.notFound(topic)
	}
	if err != nil {
		return err
	}
	lo, hi, err := c.page(len(subs))
	if err != nil {
		return err
	}
	entries := []entryOut{}
	for _, s := range subs[lo:hi] {
		entries = append(entries, c.subscriptionEntry(s))
	}
	return c.feed("Subscriptions", entries)
}

func (c *call) subscriptionEntry(s servicebus.SubscriptionInfo) entryOut {
	path := s.Topic + "/Subscriptions/" + s.Name
	return c.entry(path, s.Name, fmtTime(s.Runtime.CreatedAt), fmtTime(s.Runtime.UpdatedAt), contentOut{Subscription: c.subscriptionXML(s)})
}

func (c *call) subscription(topic, sub string) error {
	if err := c.manage(c.subScope(topic, sub)); err != nil {
		return err
	}
	path := topic + "/Subscriptions/" + sub
	switch c.r.Method {
	case http.MethodGet:
		s, err := c.nsb.GetSubscription(c.ctx, topic, sub)
		if isNotFound(err) {
			return c.notFound(path)
		}
		if err != nil {
			return err
		}
		return c.writeXML(http.StatusOK, ctEntry, c.subscriptionEntry(s))
	case http.MethodDelete:
		err := c.nsb.DeleteSubscription(c.ctx, topic, sub)
		if isNotFound(err) {
			return c.notFound(path)
		}
		if err != nil {
			return err
		}
		c.replicate()
		c.w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodPut:
		content, err := c.readEntry()
		if err != nil {
			return err
		}
		d := content.Subscription
		if d == nil {
			return errorf(http.StatusBadRequest, codeBadRequest, "A subscription is created with a SubscriptionDescription.")
		}
		update := c.r.Header.Get("If-Match") != ""
		var old *servicebus.SubscriptionProperties
		if update {
			s, err := c.nsb.GetSubscription(c.ctx, topic, sub)
			if isNotFound(err) {
				return c.notFound(path)
			}
			if err != nil {
				return err
			}
			old = &s.Properties
		}
		p, err := c.subscriptionProps(d, old)
		if err != nil {
			return err
		}
		if err := c.authorizeForward("ServiceBusSupplementaryAuthorization", p.ForwardTo); err != nil {
			return err
		}
		if err := c.authorizeForward("ServiceBusDlqSupplementaryAuthorization", p.ForwardDeadLetteredMessagesTo); err != nil {
			return err
		}
		var s servicebus.SubscriptionInfo
		status := http.StatusCreated
		if update {
			s, err = c.nsb.UpdateSubscription(c.ctx, topic, sub, p)
			status = http.StatusOK
		} else {
			var rule *servicebus.Rule
			if dr := d.DefaultRuleDescription; dr != nil {
				rp, err := ruleProps(dr.Filter, dr.Action)
				if err != nil {
					return err
				}
				rule = &servicebus.Rule{Name: strings.TrimSpace(deref(dr.Name)), Properties: rp}
			}
			s, err = c.nsb.CreateSubscription(c.ctx, topic, sub, p, rule)
		}
		if isNotFound(err) && !update {
			if _, terr := c.nsb.GetTopic(c.ctx, topic); isNotFound(terr) {
				return c.notFound(topic)
			}
		}
		if err != nil {
			return err
		}
		c.replicate()
		return c.writeXML(status, ctEntry, c.subscriptionEntry(s))
	}
	return errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "The method %s is not allowed on a subscription: use GET, PUT or DELETE.", c.r.Method)
}

// ---- rules ----

func (c *call) listRules(topic, sub string) error {
	if err := c.manage(c.subScope(topic, sub)); err != nil {
		return err
	}
	rules, err := c.nsb.ListRules(c.ctx, topic, sub)
	if isNotFound(err) {
		return c.notFound(topic + "/Subscriptions/" + sub)
	}
	if err != nil {
		return err
	}
	lo, hi, err := c.page(len(rules))
	if err != nil {
		return err
	}
	entries := []entryOut{}
	for _, r := range rules[lo:hi] {
		entries = append(entries, c.ruleEntry(r))
	}
	return c.feed("Rules", entries)
}

func (c *call) ruleEntry(r servicebus.RuleInfo) entryOut {
	path := r.Topic + "/Subscriptions/" + r.Subscription + "/Rules/" + r.Name
	return c.entry(path, r.Name, fmtTime(r.CreatedAt), fmtTime(r.UpdatedAt), contentOut{Rule: ruleXML(r)})
}

func (c *call) rule(topic, sub, name string) error {
	if err := c.manage(c.subScope(topic, sub)); err != nil {
		return err
	}
	path := topic + "/Subscriptions/" + sub + "/Rules/" + name
	switch c.r.Method {
	case http.MethodGet:
		r, err := c.nsb.GetRule(c.ctx, topic, sub, name)
		if isNotFound(err) {
			return c.notFound(path)
		}
		if err != nil {
			return err
		}
		return c.writeXML(http.StatusOK, ctEntry, c.ruleEntry(r))
	case http.MethodDelete:
		err := c.nsb.DeleteRule(c.ctx, topic, sub, name)
		if isNotFound(err) {
			return c.notFound(path)
		}
		if err != nil {
			return err
		}
		c.replicate()
		c.w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodPut:
		content, err := c.readEntry()
		if err != nil {
			return err
		}
		d := content.Rule
		if d == nil {
			return errorf(http.StatusBadRequest, codeBadRequest, "A rule is created with a RuleDescription.")
		}
		p, err := ruleProps(d.Filter, d.Action)
		if err != nil {
			return err
		}
		var r servicebus.RuleInfo
		status := http.StatusCreated
		if c.r.Header.Get("If-Match") != "" {
			r, err = c.nsb.UpdateRule(c.ctx, topic, sub, name, p)
			status = http.StatusOK
		} else {
			r, err = c.nsb.CreateRule(c.ctx, topic, sub, name, p)
		}
		if isNotFound(err) {
			if _, serr := c.nsb.GetSubscription(c.ctx, topic, sub); isNotFound(serr) {
				return c.notFound(topic + "/Subscriptions/" + sub)
			}
			return c.notFound(path)
		}
		if err != nil {
			return err
		}
		c.replicate()
		return c.writeXML(status, ctEntry, c.ruleEntry(r))
	}
	return errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "The method %s is not allowed on a rule: use GET, PUT or DELETE.", c.r.Method)
}
