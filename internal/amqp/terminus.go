package amqp

import "fmt"

// DeliveryState is the state of a delivery as carried by transfer and
// disposition frames: *Received (non-terminal) or one of the outcomes
// *Accepted, *Rejected, *Released, *Modified. Only these pointer types
// implement it.
type DeliveryState interface {
	compositeEncoder
	deliveryState()
}

// Received is the non-terminal state recording how much of a delivery has
// been received.
type Received struct {
	SectionNumber uint32
	SectionOffset uint64
}

// Accepted is the outcome for a successfully processed delivery.
type Accepted struct{}

// Rejected is the outcome for a delivery the receiver found invalid.
type Rejected struct {
	// Error explains the rejection; nil means absent.
	Error *Error
}

// Released is the outcome for a delivery that was not (and will not be)
// processed; it may be redelivered to any receiver.
type Released struct{}

// Modified is the outcome for a delivery that was not processed but whose
// annotations should be updated before redelivery.
type Modified struct {
	// DeliveryFailed: count the transfer as an unsuccessful delivery.
	DeliveryFailed bool
	// UndeliverableHere: do not redeliver to this link's receiver.
	UndeliverableHere bool
	// MessageAnnotations are merged into the message's annotations.
	MessageAnnotations Annotations
}

func (*Received) deliveryState() {}
func (*Accepted) deliveryState() {}
func (*Rejected) deliveryState() {}
func (*Released) deliveryState() {}
func (*Modified) deliveryState() {}

func (s *Received) encodeAMQP(e *encoder) error {
	l := e.beginList(descReceived)
	l.uint32(s.SectionNumber)
	l.ulong(s.SectionOffset)
	return l.end()
}

func (*Accepted) encodeAMQP(e *encoder) error {
	return e.beginList(descAccepted).end()
}

func (s *Rejected) encodeAMQP(e *encoder) error {
	l := e.beginList(descRejected)
	if err := l.value(s.Error); err != nil {
		return err
	}
	return l.end()
}

func (*Released) encodeAMQP(e *encoder) error {
	return e.beginList(descReleased).end()
}

func (s *Modified) encodeAMQP(e *encoder) error {
	l := e.beginList(descModified)
	l.bool(s.DeliveryFailed, false)
	l.bool(s.UndeliverableHere, false)
	if s.MessageAnnotations == nil {
		l.null()
	} else {
		if err := l.e.writeAny(s.MessageAnnotations); err != nil {
			return err
		}
		l.mark()
	}
	return l.end()
}

// isNilState reports whether s is nil or a typed nil pointer.
func isNilState(s DeliveryState) bool {
	switch x := s.(type) {
	case nil:
		return true
	case *Received:
		return x == nil
	case *Accepted:
		return x == nil
	case *Rejected:
		return x == nil
	case *Released:
		return x == nil
	case *Modified:
		return x == nil
	}
	return false
}

// isTerminal reports whether s is an outcome (not nil, not Received).
func isTerminal(s DeliveryState) bool {
	if isNilState(s) {
		return false
	}
	_, received := s.(*Received)
	return !received
}

func decodeDeliveryState(code uint64, f fields) (DeliveryState, error) {
	switch code {
	case descReceived:
		n, ok, err := f.uint32(0, "received.section-number")
		if err != nil {
			return nil, err
		}
		off, ok2, err := f.uint64(1, "received.section-offset")
		if err != nil {
			return nil, err
		}
		if !ok || !ok2 {
			return nil, fmt.Errorf("amqp: received state without mandatory fields")
		}
		return &Received{SectionNumber: n, SectionOffset: off}, nil
	case descAccepted:
		return &Accepted{}, nil
	case descRejected:
		e, err := f.errorField(0, "rejected.error")
		if err != nil {
			return nil, err
		}
		return &Rejected{Error: e}, nil
	case descReleased:
		return &Released{}, nil
	case descModified:
		var m Modified
		var err error
		if m.DeliveryFailed, err = f.bool(0, "modified.delivery-failed", false); err != nil {
			return nil, err
		}
		if m.UndeliverableHere, err = f.bool(1, "modified.undeliverable-here", false); err != nil {
			return nil, err
		}
		if m.MessageAnnotations, err = toAnnotations(f.at(2), "modified.message-annotations"); err != nil {
			return nil, err
		}
		return &m, nil
	}
	return nil, fmt.Errorf("amqp: unknown delivery state %#x", code)
}

// TerminusDurability says what state of a terminus is retained durably.
type TerminusDurability uint32

// Terminus durability values.
const (
	DurabilityNone          TerminusDurability = 0
	DurabilityConfiguration TerminusDurability = 1
	DurabilityUnsettled     TerminusDurability = 2
)

// Terminus expiry policies (Source.ExpiryPolicy, Target.ExpiryPolicy).
const (
	ExpiryLinkDetach      Symbol = "link-detach"
	ExpirySessionEnd      Symbol = "session-end"
	ExpiryConnectionClose Symbol = "connection-close"
	ExpiryNever           Symbol = "never"
)

// Source is the source terminus of a link. Zero values mean "absent" (the
// spec default applies: durability none, expiry policy session-end,
// timeout 0).
type Source struct {
	Address               string
	Durable               TerminusDurability
	ExpiryPolicy          Symbol
	Timeout               uint32 // seconds
	Dynamic               bool
	DynamicNodeProperties map[Symbol]any
	DistributionMode      Symbol
	// Filter is the filter-set: filter name to filter, typically a
	// Described with a Symbol or uint64 descriptor (or nil).
	Filter         map[Symbol]any
	DefaultOutcome DeliveryState
	Outcomes       []Symbol
	Capabilities   []Symbol
}

// Target is the target terminus of a link. Coordinator is set when the peer
// attached a transaction coordinator instead of a target (then only
// Capabilities is meaningful).
type Target struct {
	Address               string
	Durable               TerminusDurability
	ExpiryPolicy          Symbol
	Timeout               uint32 // seconds
	Dynamic               bool
	DynamicNodeProperties map[Symbol]any
	Capabilities          []Symbol
	Coordinator           bool
}

func (s *Source) encodeAMQP(e *encoder) error {
	l := e.beginList(descSource)
	if err := l.string(s.Address); err != nil {
		return err
	}
	if s.Durable != 0 {
		l.uint32(uint32(s.Durable))
	} else {
		l.null()
	}
	if err := l.symbol(s.ExpiryPolicy); err != nil {
		return err
	}
	if s.Timeout != 0 {
		l.uint32(s.Timeout)
	} else {
		l.null()
	}
	l.bool(s.Dynamic, false)
	if err := l.symbolMap(s.DynamicNodeProperties); err != nil {
		return err
	}
	if err := l.symbol(s.DistributionMode); err != nil {
		return err
	}
	if err := l.symbolMap(s.Filter); err != nil {
		return err
	}
	if err := l.value(s.DefaultOutcome); err != nil {
		return err
	}
	if err := l.symbols(s.Outcomes); err != nil {
		return err
	}
	if err := l.symbols(s.Capabilities); err != nil {
		return err
	}
	return l.end()
}

func (t *Target) encodeAMQP(e *encoder) error {
	if t.Coordinator {
		l := e.beginList(descCoordinator)
		if err := l.symbols(t.Capabilities); err != nil {
			return err
		}
		return l.end()
	}
	l := e.beginList(descTarget)
	if err := l.string(t.Address); err != nil {
		return err
	}
	if t.Durable != 0 {
		l.uint32(uint32(t.Durable))
	} else {
		l.null()
	}
	if err := l.symbol(t.ExpiryPolicy); err != nil {
		return err
	}
	if t.Timeout != 0 {
		l.uint32(t.Timeout)
	} else {
		l.null()
	}
	l.bool(t.Dynamic, false)
	if err := l.symbolMap(t.DynamicNodeProperties); err != nil {
		return err
	}
	if err := l.symbols(t.Capabilities); err != nil {
		return err
	}
	return l.end()
}

func decodeSource(f fields) (*Source, error) {
	var s Source
	var err error
	if s.Address, err = f.address(0, "source.address"); err != nil {
		return nil, err
	}
	d, _, err := f.uint32(1, "source.durable")
	if err != nil {
		return nil, err
	}
	s.Durable = TerminusDurability(d)
	if s.ExpiryPolicy, err = f.symbol(2, "source.expiry-policy"); err != nil {
		return nil, err
	}
	if s.Timeout, _, err = f.uint32(3, "source.timeout"); err != nil {
		return nil, err
	}
	if s.Dynamic, err = f.bool(4, "source.dynamic", false); err != nil {
		return nil, err
	}
	if s.DynamicNodeProperties, err = f.symbolMap(5, "source.dynamic-node-properties"); err != nil {
		return nil, err
	}
	if s.DistributionMode, err = f.symbol(6, "source.distribution-mode"); err != nil {
		return nil, err
	}
	if s.Filter, err = f.symbolMap(7, "source.filter"); err != nil {
		return nil, err
	}
	if s.DefaultOutcome, err = f.deliveryState(8, "source.default-outcome"); err != nil {
		return nil, err
	}
	if s.Outcomes, err = f.symbols(9, "source.outcomes"); err != nil {
		return nil, err
	}
	if s.Capabilities, err = f.symbols(10, "source.capabilities"); err != nil {
		return nil, err
	}
	return &s, nil
}

func decodeTarget(f fields, coordinator bool) (*Target, error) {
	var t Target
	var err error
	if coordinator {
		t.Coordinator = true
		if t.Capabilities, err = f.symbols(0, "coordinator.capabilities"); err != nil {
			return nil, err
		}
		return &t, nil
	}
	if t.Address, err = f.address(0, "target.address"); err != nil {
		return nil, err
	}
	d, _, err := f.uint32(1, "target.durable")
	if err != nil {
		return nil, err
	}
	t.Durable = TerminusDurability(d)
	if t.ExpiryPolicy, err = f.symbol(2, "target.expiry-policy"); err != nil {
		return nil, err
	}
	if t.Timeout, _, err = f.uint32(3, "target.timeout"); err != nil {
		return nil, err
	}
	if t.Dynamic, err = f.bool(4, "target.dynamic", false); err != nil {
		return nil, err
	}
	if t.DynamicNodeProperties, err = f.symbolMap(5, "target.dynamic-node-properties"); err != nil {
		return nil, err
	}
	if t.Capabilities, err = f.symbols(6, "target.capabilities"); err != nil {
		return nil, err
	}
	return &t, nil
}

// toAnnotations converts a decoded map to Annotations (symbol or string
// keys).
func toAnnotations(v any, name string) (Annotations, error) {
	m, err := toSymbolMap(v, name)
	if err != nil || m == nil {
		return nil, err
	}
	return Annotations(m), nil
}
