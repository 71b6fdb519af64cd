package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/client"
	"github.com/keyward/keyward/internal/servicebus/namespaces"
)

// sbAPIVersion is the Microsoft.ServiceBus api-version the CLI speaks.
const sbAPIVersion = "2021-11-01"

// sbEntityFlags name the entity a message command acts on.
type sbEntityFlags struct {
	connFlags
	namespace     string
	resourceGroup string
	queue         string
	topic         string
	subscription  string
	deadLetter    bool
}

func (f *sbEntityFlags) register(cmd *cobra.Command, receive bool) {
	f.connFlags.register(cmd)
	cmd.Flags().StringVar(&f.namespace, "namespace", "", "Service Bus namespace name")
	cmd.Flags().StringVarP(&f.resourceGroup, "resource-group", "g", "", "resource group of the namespace (found by name when omitted)")
	cmd.Flags().StringVar(&f.queue, "queue", "", "queue name")
	cmd.Flags().StringVar(&f.topic, "topic", "", "topic name")
	if receive {
		cmd.Flags().StringVar(&f.subscription, "subscription", "", "subscription of --topic")
		cmd.Flags().BoolVar(&f.deadLetter, "dead-letter", false, "use the entity's dead-letter queue")
	}
	_ = cmd.MarkFlagRequired("namespace")
}

// path returns the REST entity path.
func (f *sbEntityFlags) path(receive bool) (string, error) {
	switch {
	case f.queue != "" && f.topic != "":
		return "", errors.New("give --queue or --topic, not both")
	case f.queue != "":
		if f.subscription != "" {
			return "", errors.New("--subscription goes with --topic")
		}
		p := f.queue
		if f.deadLetter {
			p += "/$DeadLetterQueue"
		}
		return p, nil
	case f.topic != "":
		if !receive {
			return f.topic, nil
		}
		if f.subscription == "" {
			return "", errors.New("messages are received from a subscription: give --subscription with --topic")
		}
		p := f.topic + "/subscriptions/" + f.subscription
		if f.deadLetter {
			p += "/$DeadLetterQueue"
		}
		return p, nil
	}
	return "", errors.New("give --queue, or --topic (with --subscription to receive)")
}

// sbREST is a REST messaging client for one namespace, authorized with its
// RootManageSharedAccessKey.
type sbREST struct {
	http    *http.Client
	base    string // https://<ns>.<suffix>:<port>
	keyName string
	key     string
}

// connect finds the namespace through the resource manager and fetches its
// root key (POST …/authorizationRules/RootManageSharedAccessKey/listKeys).
func (f *sbEntityFlags) connect(ctx context.Context) (*sbREST, error) {
	c, err := f.client()
	if err != nil {
		return nil, err
	}
	id, err := findNamespace(ctx, c, f.namespace, f.resourceGroup)
	if err != nil {
		return nil, err
	}
	var keys struct {
		KeyName    string `json:"keyName"`
		PrimaryKey string `json:"primaryKey"`
	}
	if err := armDo(ctx, c, "POST", id+"/authorizationRules/RootManageSharedAccessKey/listKeys", sbAPIVersion, nil, &keys); err != nil {
		return nil, fmt.Errorf("list the keys of namespace %s: %w", f.namespace, err)
	}
	if keys.PrimaryKey == "" {
		return nil, fmt.Errorf("namespace %s: no RootManageSharedAccessKey", f.namespace)
	}
	host := strings.ToLower(f.namespace) + "." + c.Conn.ServiceBusDNSSuffix
	if _, port, err := net.SplitHostPort(c.Conn.HTTPSAddr); err == nil && port != "" && port != "443" {
		host += ":" + port
	}
	name := keys.KeyName
	if name == "" {
		name = "RootManageSharedAccessKey"
	}
	return &sbREST{http: c.HTTP, base: "https://" + host, keyName: name, key: keys.PrimaryKey}, nil
}

// findNamespace returns a namespace's resource id.
func findNamespace(ctx context.Context, c *client.Client, name, group string) (string, error) {
	if group != "" {
		return subPath(c, "/resourceGroups/"+url.PathEscape(group)+"/providers/Microsoft.ServiceBus/namespaces/"+url.PathEscape(name)), nil
	}
	var out struct {
		Value []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"value"`
	}
	filter := url.QueryEscape("resourceType eq 'Microsoft.ServiceBus/namespaces'")
	if err := armDo(ctx, c, "GET", subPath(c, "/resources?$filter="+filter), armAPIVersion, nil, &out); err != nil {
		return "", fmt.Errorf("find namespace %s: %w", name, err)
	}
	for _, r := range out.Value {
		if strings.EqualFold(r.Name, name) {
			return r.ID, nil
		}
	}
	return "", fmt.Errorf("no Service Bus namespace named %s in subscription %s", name, c.Conn.SubscriptionID)
}

// token signs a namespace-wide shared access signature.
func (s *sbREST) token() string {
	return namespaces.SignSAS(s.base+"/", s.keyName, s.key, time.Now().Add(time.Hour))
}

func (s *sbREST) do(ctx context.Context, method, path string, hdr http.Header, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.base+"/"+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", s.token())
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 128<<20))
	if err != nil {
		return resp, nil, err
	}
	if resp.StatusCode >= 300 {
		return resp, data, sbError(resp.StatusCode, data)
	}
	return resp, data, nil
}

// sbError turns a Service Bus <Error><Code/><Detail/></Error> into an error.
func sbError(status int, body []byte) error {
	detail := strings.TrimSpace(string(body))
	if i := strings.Index(detail, "<Detail>"); i >= 0 {
		detail = detail[i+len("<Detail>"):]
		if j := strings.Index(detail, "</Detail>"); j >= 0 {
			detail = detail[:j]
		}
		detail = strings.NewReplacer("&#39;", "'", "&#34;", `"`, "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(detail)
		if k := strings.Index(detail, " TrackingId:"); k >= 0 {
			detail = detail[:k]
		}
	}
	if len(detail) > 500 {
		detail = detail[:500]
	}
	return &client.APIError{Status: status, Message: detail}
}

// cliMessage is how receive and peek print a message.
type cliMessage struct {
	Body             string          `json:"body,omitempty"`
	BodyBase64       string          `json:"bodyBase64,omitempty"`
	ContentType      string          `json:"contentType,omitempty"`
	BrokerProperties json.RawMessage `json:"brokerProperties,omitempty"`
	Properties       map[string]any  `json:"properties,omitempty"`
}

// responseHeaders that are not message properties.
func isTransportHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Content-Type", "Content-Length", "Date", "Brokerproperties", "Location", "Server", "Vary", "Connection",
		"Keep-Alive", "Transfer-Encoding", "Strict-Transport-Security", "Alt-Svc", "Retry-After":
		return true
	}
	return strings.HasPrefix(http.CanonicalHeaderKey(name), "X-Ms-")
}

func toCLIMessage(resp *http.Response, body []byte) cliMessage {
	m := cliMessage{ContentType: resp.Header.Get("Content-Type"), BrokerProperties: json.RawMessage(resp.Header.Get("BrokerProperties"))}
	if !json.Valid(m.BrokerProperties) {
		m.BrokerProperties = nil
	}
	if utf8.Valid(body) {
		m.Body = string(body)
	} else {
		m.BodyBase64 = base64.StdEncoding.EncodeToString(body)
	}
	for k, vs := range resp.Header {
		if isTransportHeader(k) || len(vs) == 0 {
			continue
		}
		if m.Properties == nil {
			m.Properties = map[string]any{}
		}
		var v any
		if err := json.Unmarshal([]byte(vs[0]), &v); err != nil {
			v = vs[0]
		}
		m.Properties[k] = v
	}
	return m
}

func newServiceBusMessageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "message",
		Short: "Send, receive and peek messages (REST messaging API, with the namespace's RootManageSharedAccessKey)",
	}

	var sf sbEntityFlags
	var body, contentType, messageID, sessionID, label, brokerProps string
	var props []string
	var ttl time.Duration
	send := &cobra.Command{
		Use:   "send",
		Short: "Send a message to a queue or topic",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := sf.path(false)
			if err != nil {
				return err
			}
			hdr := http.Header{}
			for _, p := range props {
				k, v, ok := strings.Cut(p, "=")
				if !ok || k == "" || !validToken(k) {
					return fmt.Errorf("--properties %q: use name=value (names are letters, digits and -_.)", p)
				}
				hdr.Set(k, v)
			}
			bp := map[string]any{}
			if brokerProps != "" {
				if err := json.Unmarshal([]byte(brokerProps), &bp); err != nil {
					return fmt.Errorf("--broker-properties: %w", err)
				}
			}
			for k, v := range map[string]string{"MessageId": messageID, "SessionId": sessionID, "Label": label} {
				if v != "" {
					bp[k] = v
				}
			}
			if ttl > 0 {
				bp["TimeToLive"] = ttl.Seconds()
			}
			if len(bp) > 0 {
				b, _ := json.Marshal(bp)
				hdr.Set("BrokerProperties", string(b))
			}
			if contentType != "" {
				hdr.Set("Content-Type", contentType)
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			s, err := sf.connect(ctx)
			if err != nil {
				return err
			}
			if _, _, err := s.do(ctx, "POST", path+"/messages", hdr, []byte(body)); err != nil {
				return fmt.Errorf("send to %s: %w", path, err)
			}
			return printJSON(cmd.OutOrStdout(), map[string]any{"sent": 1, "entity": path})
		},
	}
	sf.register(send, false)
	send.Flags().StringVar(&body, "body", "", "message body")
	send.Flags().StringArrayVar(&props, "properties", nil, "custom property name=value (repeatable); \"quoted\" values are strings, numbers and true/false are typed")
	send.Flags().StringVar(&contentType, "content-type", "text/plain", "content type of the body")
	send.Flags().StringVar(&messageID, "message-id", "", "message id")
	send.Flags().StringVar(&sessionID, "session-id", "", "session id")
	send.Flags().StringVar(&label, "label", "", "label (subject)")
	send.Flags().DurationVar(&ttl, "ttl", 0, "time to live (for example 10m)")
	send.Flags().StringVar(&brokerProps, "broker-properties", "", "BrokerProperties as JSON")

	var rf sbEntityFlags
	var rmax int
	var rwait int
	var lock bool
	receive := &cobra.Command{
		Use:   "receive",
		Short: "Receive messages from a queue or subscription (receive-and-delete, or peek-lock and complete with --peek-lock)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := rf.path(true)
			if err != nil {
				return err
			}
			if rmax < 1 {
				return errors.New("--max must be at least 1")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute+time.Duration(rwait)*time.Second)
			defer cancel()
			s, err := rf.connect(ctx)
			if err != nil {
				return err
			}
			out := []cliMessage{}
			for len(out) < rmax {
				wait := rwait
				if len(out) > 0 {
					wait = 0 // the first message waits; the rest are what is there
				}
				method := "DELETE"
				if lock {
					method = "POST"
				}
				resp, data, err := s.do(ctx, method, path+"/messages/head?timeout="+strconv.Itoa(wait), nil, nil)
				if err != nil {
					return fmt.Errorf("receive from %s: %w", path, err)
				}
				if resp.StatusCode == http.StatusNoContent {
					break
				}
				if lock {
					loc, err := url.Parse(resp.Header.Get("Location"))
					if err != nil || loc.Path == "" {
						return fmt.Errorf("receive from %s: the response has no lock location", path)
					}
					if _, _, err := s.do(ctx, "DELETE", strings.TrimPrefix(loc.EscapedPath(), "/"), nil, nil); err != nil {
						return fmt.Errorf("complete a message of %s: %w", path, err)
					}
				}
				out = append(out, toCLIMessage(resp, data))
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	rf.register(receive, true)
	receive.Flags().IntVar(&rmax, "max", 1, "most messages to receive")
	receive.Flags().IntVar(&rwait, "timeout", 5, "seconds to wait for the first message")
	receive.Flags().BoolVar(&lock, "peek-lock", false, "peek-lock each message and complete it (instead of receive-and-delete)")

	var pf sbEntityFlags
	var pmax int
	var from int64
	peek := &cobra.Command{
		Use:   "peek",
		Short: "Peek at messages without locking or removing them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := pf.path(true)
			if err != nil {
				return err
			}
			ctx, cancel := waitCtx(cmd.Context())
			defer cancel()
			s, err := pf.connect(ctx)
			if err != nil {
				return err
			}
			out := []cliMessage{}
			next := from
			for len(out) < pmax {
				resp, data, err := s.do(ctx, "GET", path+"/messages/head?from="+strconv.FormatInt(next, 10), nil, nil)
				if err != nil {
					return fmt.Errorf("peek at %s: %w", path, err)
				}
				if resp.StatusCode == http.StatusNoContent {
					break
				}
				m := toCLIMessage(resp, data)
				var bp struct{ SequenceNumber int64 }
				if json.Unmarshal(m.BrokerProperties, &bp) != nil || bp.SequenceNumber < next {
					return fmt.Errorf("peek at %s: the response has no sequence number", path)
				}
				next = bp.SequenceNumber + 1
				out = append(out, m)
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	pf.register(peek, true)
	peek.Flags().IntVar(&pmax, "max", 10, "most messages to show")
	peek.Flags().Int64Var(&from, "from", 1, "first sequence number")

	cmd.AddCommand(send, receive, peek)
	return cmd
}

// validToken reports whether s can be an HTTP header name.
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
