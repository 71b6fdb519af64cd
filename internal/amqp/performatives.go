package amqp

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// performative is a frame body this package encodes.
type performative interface {
	encodeAMQP(e *encoder) error
}

// Open is the open performative: a peer's connection parameters. The
// handler sees the peer's Open through Conn.RemoteOpen. Absent fields hold
// the spec defaults (MaxFrameSize 4294967295, ChannelMax 65535).
type Open struct {
	ContainerID         string
	Hostname            string
	MaxFrameSize        uint32
	ChannelMax          uint16
	IdleTimeout         time.Duration // millisecond precision; 0: none
	OutgoingLocales     []Symbol
	IncomingLocales     []Symbol
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
	Properties          map[Symbol]any
}

func (o *Open) encodeAMQP(e *encoder) error {
	l := e.beginList(descOpen)
	if err := l.stringAlways(o.ContainerID); err != nil {
		return err
	}
	if err := l.string(o.Hostname); err != nil {
		return err
	}
	l.uint32(o.MaxFrameSize)
	l.ushort(o.ChannelMax)
	if o.IdleTimeout > 0 {
		l.uint32(uint32(min(o.IdleTimeout.Milliseconds(), math.MaxUint32)))
	} else {
		l.null()
	}
	for _, s := range [][]Symbol{o.OutgoingLocales, o.IncomingLocales, o.OfferedCapabilities, o.DesiredCapabilities} {
		if err := l.symbols(s); err != nil {
			return err
		}
	}
	if err := l.symbolMap(o.Properties); err != nil {
		return err
	}
	return l.end()
}

func decodeOpen(f fields) (*Open, error) {
	o := Open{MaxFrameSize: math.MaxUint32, ChannelMax: math.MaxUint16}
	var err error
	if f.at(0) == nil {
		return nil, errors.New("amqp: open without container-id")
	}
	if o.ContainerID, err = f.string(0, "open.container-id"); err != nil {
		return nil, err
	}
	if o.Hostname, err = f.string(1, "open.hostname"); err != nil {
		return nil, err
	}
	if v, ok, err := f.uint32(2, "open.max-frame-size"); err != nil {
		return nil, err
	} else if ok {
		o.MaxFrameSize = v
	}
	if v, ok, err := f.uint16(3, "open.channel-max"); err != nil {
		return nil, err
	} else if ok {
		o.ChannelMax = v
	}
	if o.IdleTimeout, err = f.millis(4, "open.idle-time-out"); err != nil {
		return nil, err
	}
	if o.OutgoingLocales, err = f.symbols(5, "open.outgoing-locales"); err != nil {
		return nil, err
	}
	if o.IncomingLocales, err = f.symbols(6, "open.incoming-locales"); err != nil {
		return nil, err
	}
	if o.OfferedCapabilities, err = f.symbols(7, "open.offered-capabilities"); err != nil {
		return nil, err
	}
	if o.DesiredCapabilities, err = f.symbols(8, "open.desired-capabilities"); err != nil {
		return nil, err
	}
	if o.Properties, err = f.symbolMap(9, "open.properties"); err != nil {
		return nil, err
	}
	return &o, nil
}

// begin is the begin performative.
type begin struct {
	RemoteChannel       *uint16
	NextOutgoingID      uint32
	IncomingWindow      uint32
	OutgoingWindow      uint32
	HandleMax           uint32
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
	Properties          map[Symbol]any
}

func (b *begin) encodeAMQP(e *encoder) error {
	l := e.beginList(descBegin)
	if b.RemoteChannel != nil {
		l.ushort(*b.RemoteChannel)
	} else {
		l.null()
	}
	l.uint32(b.NextOutgoingID)
	l.uint32(b.IncomingWindow)
	l.uint32(b.OutgoingWindow)
	l.uint32(b.HandleMax)
	if err := l.symbols(b.OfferedCapabilities); err != nil {
		return err
	}
	if err := l.symbols(b.DesiredCapabilities); err != nil {
		return err
	}
	if err := l.symbolMap(b.Properties); err != nil {
		return err
	}
	return l.end()
}

func decodeBegin(f fields) (*begin, error) {
	b := begin{HandleMax: math.MaxUint32}
	if v, ok, err := f.uint16(0, "begin.remote-channel"); err != nil {
		return nil, err
	} else if ok {
		b.RemoteChannel = &v
	}
	var ok1, ok2, ok3 bool
	var err error
	if b.NextOutgoingID, ok1, err = f.uint32(1, "begin.next-outgoing-id"); err != nil {
		return nil, err
	}
	if b.IncomingWindow, ok2, err = f.uint32(2, "begin.incoming-window"); err != nil {
		return nil, err
	}
	if b.OutgoingWindow, ok3, err = f.uint32(3, "begin.outgoing-window"); err != nil {
		return nil, err
	}
	if !ok1 || !ok2 || !ok3 {
		return nil, errors.New("amqp: begin without mandatory fields")
	}
	if v, ok, err := f.uint32(4, "begin.handle-max"); err != nil {
		return nil, err
	} else if ok {
		b.HandleMax = v
	}
	if b.OfferedCapabilities, err = f.symbols(5, "begin.offered-capabilities"); err != nil {
		return nil, err
	}
	if b.DesiredCapabilities, err = f.symbols(6, "begin.desired-capabilities"); err != nil {
		return nil, err
	}
	if b.Properties, err = f.symbolMap(7, "begin.properties"); err != nil {
		return nil, err
	}
	return &b, nil
}

// Attach is the attach performative. Handlers see the peer's Attach through
// IncomingLink.Attach and OutgoingLink.Attach. Absent fields hold the spec
// defaults (sender settle mode mixed, receiver settle mode first).
type Attach struct {
	Name                 string
	Handle               uint32
	Role                 Role // the peer's role
	SenderSettleMode     SenderSettleMode
	ReceiverSettleMode   ReceiverSettleMode
	Source               *Source
	Target               *Target
	IncompleteUnsettled  bool
	InitialDeliveryCount uint32 // 0 when absent (some clients omit it)
	MaxMessageSize       uint64 // 0: no limit
	OfferedCapabilities  []Symbol
	DesiredCapabilities  []Symbol
	Properties           map[Symbol]any
}

func (a *Attach) encodeAMQP(e *encoder) error {
	l := e.beginList(descAttach)
	if err := l.stringAlways(a.Name); err != nil {
		return err
	}
	l.uint32(a.Handle)
	l.boolAlways(bool(a.Role))
	l.ubyte(uint8(a.SenderSettleMode))
	l.ubyte(uint8(a.ReceiverSettleMode))
	if err := l.value(a.Source); err != nil {
		return err
	}
	if err := l.value(a.Target); err != nil {
		return err
	}
	l.null() // unsettled: link recovery is not supported
	l.bool(a.IncompleteUnsettled, false)
	if a.Role == RoleSender {
		l.uint32(a.InitialDeliveryCount)
	} else {
		l.null()
	}
	if a.MaxMessageSize != 0 {
		l.ulong(a.MaxMessageSize)
	} else {
		l.null()
	}
	if err := l.symbols(a.OfferedCapabilities); err != nil {
		return err
	}
	if err := l.symbols(a.DesiredCapabilities); err != nil {
		return err
	}
	if err := l.symbolMap(a.Properties); err != nil {
		return err
	}
	return l.end()
}

func decodeAttach(f fields) (*Attach, error) {
	a := Attach{SenderSettleMode: SenderSettleModeMixed}
	var err error
	if f.at(0) == nil || f.at(1) == nil || f.at(2) == nil {
		return nil, errors.New("amqp: attach without mandatory fields")
	}
	if a.Name, err = f.string(0, "attach.name"); err != nil {
		return nil, err
	}
	if a.Handle, _, err = f.uint32(1, "attach.handle"); err != nil {
		return nil, err
	}
	role, err := f.bool(2, "attach.role", false)
	if err != nil {
		return nil, err
	}
	a.Role = Role(role)
	if v, ok, err := f.uint8(3, "attach.snd-settle-mode"); err != nil {
		return nil, err
	} else if ok {
		if v > uint8(SenderSettleModeMixed) {
			return nil, fmt.Errorf("amqp: invalid snd-settle-mode %d", v)
		}
		a.SenderSettleMode = SenderSettleMode(v)
	}
	if v, ok, err := f.uint8(4, "attach.rcv-settle-mode"); err != nil {
		return nil, err
	} else if ok {
		if v > uint8(ReceiverSettleModeSecond) {
			return nil, fmt.Errorf("amqp: invalid rcv-settle-mode %d", v)
		}
		a.ReceiverSettleMode = ReceiverSettleMode(v)
	}
	switch v := f.at(5).(type) {
	case nil:
	case *Source:
		a.Source = v
	default:
		return nil, fieldErr("attach.source", v)
	}
	switch v := f.at(6).(type) {
	case nil:
	case *Target:
		a.Target = v
	default:
		return nil, fieldErr("attach.target", v)
	}
	// Field 7 (unsettled) is ignored: link recovery is not supported.
	if a.IncompleteUnsettled, err = f.bool(8, "attach.incomplete-unsettled", false); err != nil {
		return nil, err
	}
	if a.InitialDeliveryCount, _, err = f.uint32(9, "attach.initial-delivery-count"); err != nil {
		return nil, err
	}
	if a.MaxMessageSize, _, err = f.uint64(10, "attach.max-message-size"); err != nil {
		return nil, err
	}
	if a.OfferedCapabilities, err = f.symbols(11, "attach.offered-capabilities"); err != nil {
		return nil, err
	}
	if a.DesiredCapabilities, err = f.symbols(12, "attach.desired-capabilities"); err != nil {
		return nil, err
	}
	if a.Properties, err = f.symbolMap(13, "attach.properties"); err != nil {
		return nil, err
	}
	return &a, nil
}

// flow is the flow performative.
type flow struct {
	NextIncomingID *uint32
	IncomingWindow uint32
	NextOutgoingID uint32
	OutgoingWindow uint32
	Handle         *uint32
	DeliveryCount  *uint32
	LinkCredit     *uint32
	Available      *uint32
	Drain          bool
	Echo           bool
	Properties     map[Symbol]any
}

func (fl *flow) encodeAMQP(e *encoder) error {
	l := e.beginList(descFlow)
	l.optUint32(fl.NextIncomingID)
	l.uint32(fl.IncomingWindow)
	l.uint32(fl.NextOutgoingID)
	l.uint32(fl.OutgoingWindow)
	l.optUint32(fl.Handle)
	l.optUint32(fl.DeliveryCount)
	l.optUint32(fl.LinkCredit)
	l.optUint32(fl.Available)
	l.bool(fl.Drain, false)
	l.bool(fl.Echo, false)
	if err := l.symbolMap(fl.Properties); err != nil {
		return err
	}
	return l.end()
}

func decodeFlow(f fields) (*flow, error) {
	var fl flow
	opt := func(i int, name string) (*uint32, error) {
		v, ok, err := f.uint32(i, name)
		if err != nil || !ok {
			return nil, err
		}
		return &v, nil
	}
	var err error
	var ok1, ok2, ok3 bool
	if fl.NextIncomingID, err = opt(0, "flow.next-incoming-id"); err != nil {
		return nil, err
	}
	if fl.IncomingWindow, ok1, err = f.uint32(1, "flow.incoming-window"); err != nil {
		return nil, err
	}
	if fl.NextOutgoingID, ok2, err = f.uint32(2, "flow.next-outgoing-id"); err != nil {
		return nil, err
	}
	if fl.OutgoingWindow, ok3, err = f.uint32(3, "flow.outgoing-window"); err != nil {
		return nil, err
	}
	if !ok1 || !ok2 || !ok3 {
		return nil, errors.New("amqp: flow without mandatory fields")
	}
	if fl.Handle, err = opt(4, "flow.handle"); err != nil {
		return nil, err
	}
	if fl.DeliveryCount, err = opt(5, "flow.delivery-count"); err != nil {
		return nil, err
	}
	if fl.LinkCredit, err = opt(6, "flow.link-credit"); err != nil {
		return nil, err
	}
	if fl.Available, err = opt(7, "flow.available"); err != nil {
		return nil, err
	}
	if fl.Drain, err = f.bool(8, "flow.drain", false); err != nil {
		return nil, err
	}
	if fl.Echo, err = f.bool(9, "flow.echo", false); err != nil {
		return nil, err
	}
	if fl.Properties, err = f.symbolMap(10, "flow.properties"); err != nil {
		return nil, err
	}
	return &fl, nil
}

// transfer is the transfer performative plus the frame payload.
type transfer struct {
	Handle        uint32
	DeliveryID    *uint32
	DeliveryTag   []byte // nil: absent
	MessageFormat *uint32
	Settled       bool
	More          bool
	RcvSettleMode *ReceiverSettleMode
	State         DeliveryState
	Resume        bool
	Aborted       bool
	Batchable     bool
	Payload       []byte
}

func (t *transfer) encodeAMQP(e *encoder) error {
	l := e.beginList(descTransfer)
	l.uint32(t.Handle)
	l.optUint32(t.DeliveryID)
	l.binary(t.DeliveryTag, t.DeliveryTag != nil)
	l.optUint32(t.MessageFormat)
	l.bool(t.Settled, false)
	l.bool(t.More, false)
	if t.RcvSettleMode != nil {
		l.ubyte(uint8(*t.RcvSettleMode))
	} else {
		l.null()
	}
	if err := l.value(t.State); err != nil {
		return err
	}
	l.bool(t.Resume, false)
	l.bool(t.Aborted, false)
	l.bool(t.Batchable, false)
	return l.end()
}

func decodeTransfer(f fields) (*transfer, error) {
	var t transfer
	var ok bool
	var err error
	if t.Handle, ok, err = f.uint32(0, "transfer.handle"); err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("amqp: transfer without handle")
	}
	if v, ok, err := f.uint32(1, "transfer.delivery-id"); err != nil {
		return nil, err
	} else if ok {
		t.DeliveryID = &v
	}
	if t.DeliveryTag, _, err = f.binary(2, "transfer.delivery-tag"); err != nil {
		return nil, err
	}
	if v, ok, err := f.uint32(3, "transfer.message-format"); err != nil {
		return nil, err
	} else if ok {
		t.MessageFormat = &v
	}
	if t.Settled, err = f.bool(4, "transfer.settled", false); err != nil {
		return nil, err
	}
	if t.More, err = f.bool(5, "transfer.more", false); err != nil {
		return nil, err
	}
	if v, ok, err := f.uint8(6, "transfer.rcv-settle-mode"); err != nil {
		return nil, err
	} else if ok {
		m := ReceiverSettleMode(v)
		t.RcvSettleMode = &m
	}
	if t.State, err = f.deliveryState(7, "transfer.state"); err != nil {
		return nil, err
	}
	if t.Resume, err = f.bool(8, "transfer.resume", false); err != nil {
		return nil, err
	}
	if t.Aborted, err = f.bool(9, "transfer.aborted", false); err != nil {
		return nil, err
	}
	if t.Batchable, err = f.bool(10, "transfer.batchable", false); err != nil {
		return nil, err
	}
	return &t, nil
}

// disposition is the disposition performative.
type disposition struct {
	Role      Role
	First     uint32
	Last      *uint32
	Settled   bool
	State     DeliveryState
	Batchable bool
}

func (d *disposition) encodeAMQP(e *encoder) error {
	l := e.beginList(descDisposition)
	l.boolAlways(bool(d.Role))
	l.uint32(d.First)
	l.optUint32(d.Last)
	l.bool(d.Settled, false)
	if err := l.value(d.State); err != nil {
		return err
	}
	l.bool(d.Batchable, false)
	return l.end()
}

func decodeDisposition(f fields) (*disposition, error) {
	var d disposition
	if f.at(0) == nil || f.at(1) == nil {
		return nil, errors.New("amqp: disposition without mandatory fields")
	}
	role, err := f.bool(0, "disposition.role", false)
	if err != nil {
		return nil, err
	}
	d.Role = Role(role)
	if d.First, _, err = f.uint32(1, "disposition.first"); err != nil {
		return nil, err
	}
	if v, ok, err := f.uint32(2, "disposition.last"); err != nil {
		return nil, err
	} else if ok {
		d.Last = &v
	}
	if d.Settled, err = f.bool(3, "disposition.settled", false); err != nil {
		return nil, err
	}
	if d.State, err = f.deliveryState(4, "disposition.state"); err != nil {
		return nil, err
	}
	if d.Batchable, err = f.bool(5, "disposition.batchable", false); err != nil {
		return nil, err
	}
	return &d, nil
}

// detach is the detach performative.
type detach struct {
	Handle uint32
	Closed bool
	Error  *Error
}

func (d *detach) encodeAMQP(e *encoder) error {
	l := e.beginList(descDetach)
	l.uint32(d.Handle)
	l.bool(d.Closed, false)
	if err := l.value(d.Error); err != nil {
		return err
	}
	return l.end()
}

func decodeDetach(f fields) (*detach, error) {
	var d detach
	var ok bool
	var err error
	if d.Handle, ok, err = f.uint32(0, "detach.handle"); err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("amqp: detach without handle")
	}
	if d.Closed, err = f.bool(1, "detach.closed", false); err != nil {
		return nil, err
	}
	if d.Error, err = f.errorField(2, "detach.error"); err != nil {
		return nil, err
	}
	return &d, nil
}

// end is the end performative.
type end struct{ Error *Error }

func (x *end) encodeAMQP(e *encoder) error {
	l := e.beginList(descEnd)
	if err := l.value(x.Error); err != nil {
		return err
	}
	return l.end()
}

// closeFrame is the close performative.
type closeFrame struct{ Error *Error }

func (x *closeFrame) encodeAMQP(e *encoder) error {
	l := e.beginList(descClose)
	if err := l.value(x.Error); err != nil {
		return err
	}
	return l.end()
}

// SASL frames.

type saslMechanisms struct{ Mechanisms []Symbol }

func (s *saslMechanisms) encodeAMQP(e *encoder) error {
	l := e.beginList(descSASLMechanisms)
	mechs := s.Mechanisms
	if mechs == nil {
		mechs = []Symbol{}
	}
	if err := l.symbols(mechs); err != nil {
		return err
	}
	return l.end()
}

type saslInit struct {
	Mechanism       Symbol
	InitialResponse []byte // nil: absent
	Hostname        string
}

func (s *saslInit) encodeAMQP(e *encoder) error {
	l := e.beginList(descSASLInit)
	if err := l.symbol(s.Mechanism); err != nil {
		return err
	}
	l.binary(s.InitialResponse, s.InitialResponse != nil)
	if err := l.string(s.Hostname); err != nil {
		return err
	}
	return l.end()
}

type saslChallenge struct{ Challenge []byte }

func (s *saslChallenge) encodeAMQP(e *encoder) error {
	l := e.beginList(descSASLChallenge)
	l.binary(s.Challenge, true)
	return l.end()
}

type saslResponse struct{ Response []byte }

func (s *saslResponse) encodeAMQP(e *encoder) error {
	l := e.beginList(descSASLResponse)
	l.binary(s.Response, s.Response != nil)
	return l.end()
}

// SASL outcome codes used by the server (sys, sys-perm and sys-temp are
// 2 to 4).
const (
	saslCodeOK   uint8 = 0
	saslCodeAuth uint8 = 1
)

type saslOutcome struct {
	Code           uint8
	AdditionalData []byte
}

func (s *saslOutcome) encodeAMQP(e *encoder) error {
	l := e.beginList(descSASLOutcome)
	l.ubyte(s.Code)
	l.binary(s.AdditionalData, s.AdditionalData != nil)
	return l.end()
}

// decodePerformative converts a decoded frame body into its performative
// type. frameType 0 accepts AMQP performatives, 1 SASL frames.
func decodePerformative(frameType byte, v any) (any, error) {
	dv, ok := v.(Described)
	if !ok {
		return nil, fmt.Errorf("amqp: frame body is %T, not a performative", v)
	}
	code, ok := descriptorCode(dv.Descriptor)
	if !ok {
		return nil, fmt.Errorf("amqp: unknown performative descriptor %v", dv.Descriptor)
	}
	f, err := compositeFields(dv, "performative")
	if err != nil {
		return nil, err
	}
	if frameType == frameTypeSASL {
		switch code {
		case descSASLMechanisms:
			m, err := f.symbols(0, "sasl-mechanisms.sasl-server-mechanisms")
			return &saslMechanisms{Mechanisms: m}, err
		case descSASLInit:
			var s saslInit
			if f.at(0) == nil {
				return nil, errors.New("amqp: sasl-init without mechanism")
			}
			if s.Mechanism, err = f.symbol(0, "sasl-init.mechanism"); err != nil {
				return nil, err
			}
			if s.InitialResponse, _, err = f.binary(1, "sasl-init.initial-response"); err != nil {
				return nil, err
			}
			if s.Hostname, err = f.string(2, "sasl-init.hostname"); err != nil {
				return nil, err
			}
			return &s, nil
		case descSASLChallenge:
			c, _, err := f.binary(0, "sasl-challenge.challenge")
			return &saslChallenge{Challenge: c}, err
		case descSASLResponse:
			r, _, err := f.binary(0, "sasl-response.response")
			if r == nil && err == nil {
				r = []byte{}
			}
			return &saslResponse{Response: r}, err
		case descSASLOutcome:
			c, _, err := f.uint8(0, "sasl-outcome.code")
			if err != nil {
				return nil, err
			}
			d, _, err := f.binary(1, "sasl-outcome.additional-data")
			return &saslOutcome{Code: c, AdditionalData: d}, err
		}
		return nil, fmt.Errorf("amqp: unexpected SASL frame %#x", code)
	}
	switch code {
	case descOpen:
		return decodeOpen(f)
	case descBegin:
		return decodeBegin(f)
	case descAttach:
		return decodeAttach(f)
	case descFlow:
		return decodeFlow(f)
	case descTransfer:
		return decodeTransfer(f)
	case descDisposition:
		return decodeDisposition(f)
	case descDetach:
		return decodeDetach(f)
	case descEnd:
		e, err := f.errorField(0, "end.error")
		return &end{Error: e}, err
	case descClose:
		e, err := f.errorField(0, "close.error")
		return &closeFrame{Error: e}, err
	}
	return nil, fmt.Errorf("amqp: unexpected performative %#x", code)
}
