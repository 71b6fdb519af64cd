package amqp

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// MessageFormatBatch is the message-format of a batch transfer as sent by
// the Azure SDKs: the payload is a message whose data sections each hold a
// complete encoded message (see UnmarshalBatch).
const MessageFormatBatch uint32 = 0x80013700

// Message is an AMQP 1.0 annotated message. A nil pointer or map field is
// an absent section; a non-nil empty map is an empty section.
//
// The body is exactly one of: Data (one data section per element),
// Sequence (one amqp-sequence section per element) or Value (a single
// amqp-value section; a nil Value means no amqp-value section, so an
// amqp-value holding null is decoded as "no body").
type Message struct {
	Header                *Header
	DeliveryAnnotations   Annotations
	MessageAnnotations    Annotations
	Properties            *Properties
	ApplicationProperties map[string]any
	Data                  [][]byte
	Sequence              [][]any
	Value                 any
	Footer                Annotations

	// RawBare, when non-nil, is written by MarshalBinary verbatim in place
	// of the bare message (properties, application-properties and body
	// sections); Properties, ApplicationProperties, Data, Sequence and
	// Value must then be empty. It lets a broker forward exactly the bytes
	// it stored (see BareMessage) with fresh header and annotations.
	RawBare []byte

	bare []byte // the bare message as received, set by UnmarshalBinary
}

// Header is the header section. Durable, FirstAcquirer and DeliveryCount
// use their zero values as spec defaults; Priority is 4 when the field is
// absent on the wire. All five fields are always encoded.
type Header struct {
	Durable       bool
	Priority      uint8
	TTL           time.Duration // millisecond precision; 0: absent
	FirstAcquirer bool
	DeliveryCount uint32
}

// Properties is the properties section. A zero value (empty string, zero
// time, nil) is an absent field. MessageID and CorrelationID hold a
// string, uint64, UUID or []byte.
type Properties struct {
	MessageID          any
	UserID             []byte
	To                 string
	Subject            string
	ReplyTo            string
	CorrelationID      any
	ContentType        Symbol
	ContentEncoding    Symbol
	AbsoluteExpiryTime time.Time
	CreationTime       time.Time
	GroupID            string
	GroupSequence      uint32
	ReplyToGroupID     string
}

// BareMessage returns the encoded bare message (properties,
// application-properties and body sections, byte for byte) of a message
// decoded by UnmarshalBinary, or nil for a message that was not decoded.
func (m *Message) BareMessage() []byte { return m.bare }

// MarshalBinary encodes m.
func (m *Message) MarshalBinary() ([]byte, error) {
	return m.appendTo(nil)
}

func (m *Message) appendTo(buf []byte) ([]byte, error) {
	bodies := 0
	if len(m.Data) > 0 {
		bodies++
	}
	if len(m.Sequence) > 0 {
		bodies++
	}
	if m.Value != nil {
		bodies++
	}
	if bodies > 1 {
		return nil, errors.New("amqp: message has more than one kind of body")
	}
	if m.RawBare != nil && (bodies > 0 || m.Properties != nil || m.ApplicationProperties != nil) {
		return nil, errors.New("amqp: message has both RawBare and bare-message fields")
	}
	e := encoder{buf: buf}
	if h := m.Header; h != nil {
		l := e.beginList(descHeader)
		l.boolAlways(h.Durable)
		l.ubyte(h.Priority)
		if h.TTL > 0 {
			l.uint32(uint32(min(h.TTL.Milliseconds(), math.MaxUint32)))
		} else {
			l.null()
		}
		l.boolAlways(h.FirstAcquirer)
		l.uint32(h.DeliveryCount)
		if err := l.end(); err != nil {
			return nil, err
		}
	}
	if err := e.annotationSection(descDeliveryAnnotations, m.DeliveryAnnotations); err != nil {
		return nil, err
	}
	if err := e.annotationSection(descMessageAnnotations, m.MessageAnnotations); err != nil {
		return nil, err
	}
	if m.RawBare != nil {
		if err := checkBare(m.RawBare); err != nil {
			return nil, err
		}
		e.buf = append(e.buf, m.RawBare...)
	} else {
		if err := m.encodeBare(&e); err != nil {
			return nil, err
		}
	}
	if err := e.annotationSection(descFooter, m.Footer); err != nil {
		return nil, err
	}
	return e.buf, nil
}

func (e *encoder) section(desc uint64) {
	e.byte1(codeDescribed)
	e.writeUlong(desc)
}

func (e *encoder) annotationSection(desc uint64, a Annotations) error {
	if a == nil {
		return nil
	}
	e.section(desc)
	return e.writeAny(a)
}

func (m *Message) encodeBare(e *encoder) error {
	if p := m.Properties; p != nil {
		if err := p.encode(e); err != nil {
			return err
		}
	}
	if m.ApplicationProperties != nil {
		e.section(descApplicationProperties)
		if err := e.writeAny(m.ApplicationProperties); err != nil {
			return err
		}
	}
	for _, d := range m.Data {
		e.section(descData)
		e.writeBinary(d)
	}
	for _, s := range m.Sequence {
		e.section(descAMQPSequence)
		if s == nil {
			s = []any{}
		}
		if err := e.writeList(s); err != nil {
			return err
		}
	}
	if m.Value != nil {
		e.section(descAMQPValue)
		if err := e.writeAny(m.Value); err != nil {
			return err
		}
	}
	return nil
}

func validMessageID(v any) error {
	switch v.(type) {
	case nil, string, uint64, UUID, []byte:
		return nil
	}
	return fmt.Errorf("amqp: message-id of type %T (want string, uint64, UUID or []byte)", v)
}

func (p *Properties) encode(e *encoder) error {
	if err := validMessageID(p.MessageID); err != nil {
		return err
	}
	if err := validMessageID(p.CorrelationID); err != nil {
		return err
	}
	l := e.beginList(descProperties)
	if err := l.value(p.MessageID); err != nil {
		return err
	}
	l.binary(p.UserID, p.UserID != nil)
	for _, s := range []string{p.To, p.Subject, p.ReplyTo} {
		if err := l.string(s); err != nil {
			return err
		}
	}
	if err := l.value(p.CorrelationID); err != nil {
		return err
	}
	if err := l.symbol(p.ContentType); err != nil {
		return err
	}
	if err := l.symbol(p.ContentEncoding); err != nil {
		return err
	}
	for _, t := range []time.Time{p.AbsoluteExpiryTime, p.CreationTime} {
		if t.IsZero() {
			l.null()
		} else {
			l.e.writeTimestamp(t)
			l.mark()
		}
	}
	if err := l.string(p.GroupID); err != nil {
		return err
	}
	if p.GroupSequence != 0 {
		l.uint32(p.GroupSequence)
	} else {
		l.null()
	}
	if err := l.string(p.ReplyToGroupID); err != nil {
		return err
	}
	return l.end()
}

// checkBare verifies that raw is a sequence of bare-message sections in
// the right order (a cheap structural check; values are decoded fully).
func checkBare(raw []byte) error {
	var m Message
	d := decoder{b: raw}
	last := uint64(0)
	for d.remaining() > 0 {
		code, err := m.readSection(&d, &last)
		if err != nil {
			return fmt.Errorf("amqp: RawBare: %w", err)
		}
		if code < descProperties || code > descAMQPValue {
			return fmt.Errorf("amqp: RawBare holds section %#x, not part of a bare message", code)
		}
	}
	return nil
}

// UnmarshalBinary decodes an encoded message into m (which is reset first).
// Sections must appear in the order the spec defines, each at most once
// except data and amqp-sequence, and only one kind of body. The bare
// message bytes are kept (see BareMessage); m does not alias data.
func (m *Message) UnmarshalBinary(data []byte) error {
	*m = Message{}
	data = append([]byte(nil), data...)
	d := decoder{b: data}
	last := uint64(0)
	bareStart, bareEnd := -1, -1
	for d.remaining() > 0 {
		start := d.i
		code, err := m.readSection(&d, &last)
		if err != nil {
			return err
		}
		if code >= descProperties && code <= descAMQPValue {
			if bareStart < 0 {
				bareStart = start
			}
			bareEnd = d.i
		}
	}
	if bareStart >= 0 {
		m.bare = data[bareStart:bareEnd:bareEnd]
	}
	return nil
}

// readSection decodes one section into m, enforcing order: last is the
// code of the previous section.
func (m *Message) readSection(d *decoder, last *uint64) (uint64, error) {
	c, err := d.u8()
	if err != nil {
		return 0, err
	}
	if c != codeDescribed {
		return 0, fmt.Errorf("amqp: message section starts with %#02x, not a descriptor", c)
	}
	desc, err := d.readAny()
	if err != nil {
		return 0, err
	}
	code, ok := descriptorCode(desc)
	if !ok || code < descHeader || code > descFooter {
		return 0, fmt.Errorf("amqp: unknown message section %v", desc)
	}
	repeatable := code == descData || code == descAMQPSequence
	if *last != 0 && (code < *last || (code == *last && !repeatable)) {
		return 0, fmt.Errorf("amqp: message section %#x out of order", code)
	}
	if *last >= descData && *last <= descAMQPValue && code >= descData && code <= descAMQPValue && code != *last {
		return 0, errors.New("amqp: message mixes body section kinds")
	}
	*last = code
	v, err := d.readAny()
	if err != nil {
		return 0, err
	}
	switch code {
	case descHeader:
		f, err := sectionFields(v, "header")
		if err != nil {
			return 0, err
		}
		h, err := decodeHeader(f)
		if err != nil {
			return 0, err
		}
		m.Header = h
	case descDeliveryAnnotations, descMessageAnnotations, descFooter:
		a, err := toAnnotations(v, "annotations")
		if err != nil {
			return 0, err
		}
		if a == nil {
			a = Annotations{}
		}
		switch code {
		case descDeliveryAnnotations:
			m.DeliveryAnnotations = a
		case descMessageAnnotations:
			m.MessageAnnotations = a
		default:
			m.Footer = a
		}
	case descProperties:
		f, err := sectionFields(v, "properties")
		if err != nil {
			return 0, err
		}
		p, err := decodeProperties(f)
		if err != nil {
			return 0, err
		}
		m.Properties = p
	case descApplicationProperties:
		ap, err := toStringMap(v)
		if err != nil {
			return 0, err
		}
		m.ApplicationProperties = ap
	case descData:
		b, ok := v.([]byte)
		if !ok {
			return 0, fmt.Errorf("amqp: data section holds %T, not binary", v)
		}
		m.Data = append(m.Data, b)
	case descAMQPSequence:
		l, ok := v.([]any)
		if !ok {
			return 0, fmt.Errorf("amqp: amqp-sequence section holds %T, not a list", v)
		}
		m.Sequence = append(m.Sequence, l)
	case descAMQPValue:
		m.Value = v
	}
	return code, nil
}

func sectionFields(v any, what string) (fields, error) {
	switch x := v.(type) {
	case []any:
		return fields(x), nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("amqp: %s section is %T, not a list", what, v)
}

func toStringMap(v any) (map[string]any, error) {
	switch m := v.(type) {
	case nil:
		return map[string]any{}, nil
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, val := range m {
			switch k := k.(type) {
			case string:
				out[k] = val
			case Symbol:
				out[string(k)] = val
			default:
				return nil, fmt.Errorf("amqp: application-properties key of type %T", k)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("amqp: application-properties section is %T, not a map", v)
}

func decodeHeader(f fields) (*Header, error) {
	h := Header{Priority: 4}
	var err error
	if h.Durable, err = f.bool(0, "header.durable", false); err != nil {
		return nil, err
	}
	if p, ok, err := f.uint8(1, "header.priority"); err != nil {
		return nil, err
	} else if ok {
		h.Priority = p
	}
	if h.TTL, err = f.millis(2, "header.ttl"); err != nil {
		return nil, err
	}
	if h.FirstAcquirer, err = f.bool(3, "header.first-acquirer", false); err != nil {
		return nil, err
	}
	if h.DeliveryCount, _, err = f.uint32(4, "header.delivery-count"); err != nil {
		return nil, err
	}
	return &h, nil
}

func (f fields) timestamp(i int, name string) (time.Time, error) {
	switch v := f.at(i).(type) {
	case nil:
		return time.Time{}, nil
	case time.Time:
		return v, nil
	default:
		return time.Time{}, fieldErr(name, v)
	}
}

func decodeProperties(f fields) (*Properties, error) {
	var p Properties
	var err error
	p.MessageID = f.at(0)
	if err = validMessageID(p.MessageID); err != nil {
		return nil, err
	}
	if p.UserID, _, err = f.binary(1, "properties.user-id"); err != nil {
		return nil, err
	}
	if p.To, err = f.address(2, "properties.to"); err != nil {
		return nil, err
	}
	if p.Subject, err = f.string(3, "properties.subject"); err != nil {
		return nil, err
	}
	if p.ReplyTo, err = f.address(4, "properties.reply-to"); err != nil {
		return nil, err
	}
	p.CorrelationID = f.at(5)
	if err = validMessageID(p.CorrelationID); err != nil {
		return nil, err
	}
	if p.ContentType, err = f.symbol(6, "properties.content-type"); err != nil {
		return nil, err
	}
	if p.ContentEncoding, err = f.symbol(7, "properties.content-encoding"); err != nil {
		return nil, err
	}
	if p.AbsoluteExpiryTime, err = f.timestamp(8, "properties.absolute-expiry-time"); err != nil {
		return nil, err
	}
	if p.CreationTime, err = f.timestamp(9, "properties.creation-time"); err != nil {
		return nil, err
	}
	if p.GroupID, err = f.string(10, "properties.group-id"); err != nil {
		return nil, err
	}
	if p.GroupSequence, _, err = f.uint32(11, "properties.group-sequence"); err != nil {
		return nil, err
	}
	if p.ReplyToGroupID, err = f.string(12, "properties.reply-to-group-id"); err != nil {
		return nil, err
	}
	return &p, nil
}

// UnmarshalBatch decodes the payload of a batch delivery (message-format
// MessageFormatBatch): the envelope message's data sections each hold one
// encoded message, returned in order. Each message keeps its bare bytes.
func UnmarshalBatch(payload []byte) ([]*Message, error) {
	var env Message
	if err := env.UnmarshalBinary(payload); err != nil {
		return nil, fmt.Errorf("amqp: batch envelope: %w", err)
	}
	out := make([]*Message, 0, len(env.Data))
	for i, d := range env.Data {
		m := new(Message)
		if err := m.UnmarshalBinary(d); err != nil {
			return nil, fmt.Errorf("amqp: batch message %d: %w", i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// MarshalBatch encodes msgs as the payload of a batch delivery (to be sent
// with message-format MessageFormatBatch).
func MarshalBatch(msgs []*Message) ([]byte, error) {
	env := Message{Data: make([][]byte, len(msgs))}
	for i, m := range msgs {
		b, err := m.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("amqp: batch message %d: %w", i, err)
		}
		env.Data[i] = b
	}
	return env.MarshalBinary()
}
