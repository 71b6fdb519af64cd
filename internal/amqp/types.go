package amqp

import (
	"encoding/hex"
	"fmt"
)

// Symbol is an AMQP symbol: a 7-bit ASCII string from a constrained domain
// (encoded as sym8/sym32). Use it for annotation keys, link and connection
// properties, capabilities and error conditions. A Go string encodes as an
// AMQP string, never as a symbol.
type Symbol string

// UUID is an AMQP uuid: 16 bytes in RFC 4122 (network) order.
type UUID [16]byte

// String formats u in the canonical 8-4-4-4-12 hex form.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Char is an AMQP char: a single Unicode code point (UTF-32BE on the wire).
// Go's rune is an alias of int32 and therefore encodes as an AMQP int.
type Char rune

// Decimal32 is an AMQP decimal32, kept as its 4 opaque big-endian bytes.
type Decimal32 [4]byte

// Decimal64 is an AMQP decimal64, kept as its 8 opaque big-endian bytes.
type Decimal64 [8]byte

// Decimal128 is an AMQP decimal128, kept as its 16 opaque big-endian bytes.
type Decimal128 [16]byte

// BinaryKey is the map key the decoder produces for an AMQP binary used as a
// map key (Go slices cannot be map keys). It encodes back as AMQP binary.
// Everywhere else binary decodes as []byte.
type BinaryKey string

// Described is an AMQP described value. Descriptor is a Symbol or a uint64;
// Value is any encodable value. The decoder returns Described (not a pointer)
// for every described value that is not one of the types this package models
// (delivery states, error, source, target); the encoder accepts Described
// and *Described.
type Described struct {
	Descriptor any
	Value      any
}

// Array is an AMQP array whose element type has no dedicated Go slice type:
// arrays of ubyte, decimals, lists, maps, described values or nested arrays.
// All elements must encode with the same constructor. Arrays of the other
// primitive types use typed slices ([]int64, []string, []Symbol, []UUID,
// []time.Time, ...), and []any always encodes as an AMQP list.
type Array []any

// Role is the role of a link endpoint: false for sender, true for receiver
// (the AMQP boolean encoding).
type Role bool

// Link endpoint roles.
const (
	RoleSender   Role = false
	RoleReceiver Role = true
)

// String returns "sender" or "receiver".
func (r Role) String() string {
	if r == RoleReceiver {
		return "receiver"
	}
	return "sender"
}

// SenderSettleMode is the settlement policy of a link's sender.
type SenderSettleMode uint8

// Sender settle modes.
const (
	// SenderSettleModeUnsettled: the sender sends all deliveries unsettled.
	SenderSettleModeUnsettled SenderSettleMode = 0
	// SenderSettleModeSettled: the sender sends all deliveries settled.
	SenderSettleModeSettled SenderSettleMode = 1
	// SenderSettleModeMixed: the sender may send settled or unsettled
	// deliveries (the AMQP default).
	SenderSettleModeMixed SenderSettleMode = 2
)

// String returns the spec name of m.
func (m SenderSettleMode) String() string {
	switch m {
	case SenderSettleModeUnsettled:
		return "unsettled"
	case SenderSettleModeSettled:
		return "settled"
	case SenderSettleModeMixed:
		return "mixed"
	}
	return fmt.Sprintf("SenderSettleMode(%d)", uint8(m))
}

// ReceiverSettleMode is the settlement policy of a link's receiver.
type ReceiverSettleMode uint8

// Receiver settle modes.
const (
	// ReceiverSettleModeFirst: the receiver settles spontaneously (the AMQP
	// default).
	ReceiverSettleModeFirst ReceiverSettleMode = 0
	// ReceiverSettleModeSecond: the receiver settles only after the sender
	// has settled.
	ReceiverSettleModeSecond ReceiverSettleMode = 1
)

// String returns the spec name of m.
func (m ReceiverSettleMode) String() string {
	switch m {
	case ReceiverSettleModeFirst:
		return "first"
	case ReceiverSettleModeSecond:
		return "second"
	}
	return fmt.Sprintf("ReceiverSettleMode(%d)", uint8(m))
}

// Annotations are the contents of the delivery-annotations,
// message-annotations and footer sections: a map with symbol keys. The
// decoder also accepts string keys (some clients, go-amqp among them, send
// annotation keys as strings) and turns them into Symbols; the reserved
// ulong keys are rejected.
type Annotations map[Symbol]any

// Type codes (constructors) of the AMQP 1.0 type system.
const (
	codeDescribed  = 0x00
	codeNull       = 0x40
	codeTrue       = 0x41
	codeFalse      = 0x42
	codeUint0      = 0x43
	codeUlong0     = 0x44
	codeList0      = 0x45
	codeBool       = 0x56
	codeUbyte      = 0x50
	codeByte       = 0x51
	codeSmallUint  = 0x52
	codeSmallUlong = 0x53
	codeSmallInt   = 0x54
	codeSmallLong  = 0x55
	codeUshort     = 0x60
	codeShort      = 0x61
	codeUint       = 0x70
	codeInt        = 0x71
	codeFloat      = 0x72
	codeChar       = 0x73
	codeDecimal32  = 0x74
	codeUlong      = 0x80
	codeLong       = 0x81
	codeDouble     = 0x82
	codeTimestamp  = 0x83
	codeDecimal64  = 0x84
	codeDecimal128 = 0x94
	codeUUID       = 0x98
	codeVbin8      = 0xa0
	codeStr8       = 0xa1
	codeSym8       = 0xa3
	codeVbin32     = 0xb0
	codeStr32      = 0xb1
	codeSym32      = 0xb3
	codeList8      = 0xc0
	codeMap8       = 0xc1
	codeList32     = 0xd0
	codeMap32      = 0xd1
	codeArray8     = 0xe0
	codeArray32    = 0xf0
)

// Descriptor codes of the composite types defined by AMQP 1.0.
const (
	descOpen        uint64 = 0x10
	descBegin       uint64 = 0x11
	descAttach      uint64 = 0x12
	descFlow        uint64 = 0x13
	descTransfer    uint64 = 0x14
	descDisposition uint64 = 0x15
	descDetach      uint64 = 0x16
	descEnd         uint64 = 0x17
	descClose       uint64 = 0x18
	descError       uint64 = 0x1d
	descReceived    uint64 = 0x23
	descAccepted    uint64 = 0x24
	descRejected    uint64 = 0x25
	descReleased    uint64 = 0x26
	descModified    uint64 = 0x27
	descSource      uint64 = 0x28
	descTarget      uint64 = 0x29
	descCoordinator uint64 = 0x30

	descSASLMechanisms uint64 = 0x40
	descSASLInit       uint64 = 0x41
	descSASLChallenge  uint64 = 0x42
	descSASLResponse   uint64 = 0x43
	descSASLOutcome    uint64 = 0x44

	descHeader                uint64 = 0x70
	descDeliveryAnnotations   uint64 = 0x71
	descMessageAnnotations    uint64 = 0x72
	descProperties            uint64 = 0x73
	descApplicationProperties uint64 = 0x74
	descData                  uint64 = 0x75
	descAMQPSequence          uint64 = 0x76
	descAMQPValue             uint64 = 0x77
	descFooter                uint64 = 0x78
)

// symbolicDescriptors maps the symbolic descriptor names of the spec to their
// numeric codes, so that peers using symbolic descriptors are understood.
var symbolicDescriptors = map[Symbol]uint64{
	"amqp:open:list":                  descOpen,
	"amqp:begin:list":                 descBegin,
	"amqp:attach:list":                descAttach,
	"amqp:flow:list":                  descFlow,
	"amqp:transfer:list":              descTransfer,
	"amqp:disposition:list":           descDisposition,
	"amqp:detach:list":                descDetach,
	"amqp:end:list":                   descEnd,
	"amqp:close:list":                 descClose,
	"amqp:error:list":                 descError,
	"amqp:received:list":              descReceived,
	"amqp:accepted:list":              descAccepted,
	"amqp:rejected:list":              descRejected,
	"amqp:released:list":              descReleased,
	"amqp:modified:list":              descModified,
	"amqp:source:list":                descSource,
	"amqp:target:list":                descTarget,
	"amqp:coordinator:list":           descCoordinator,
	"amqp:sasl-mechanisms:list":       descSASLMechanisms,
	"amqp:sasl-init:list":             descSASLInit,
	"amqp:sasl-challenge:list":        descSASLChallenge,
	"amqp:sasl-response:list":         descSASLResponse,
	"amqp:sasl-outcome:list":          descSASLOutcome,
	"amqp:header:list":                descHeader,
	"amqp:delivery-annotations:map":   descDeliveryAnnotations,
	"amqp:message-annotations:map":    descMessageAnnotations,
	"amqp:properties:list":            descProperties,
	"amqp:application-properties:map": descApplicationProperties,
	"amqp:data:binary":                descData,
	"amqp:amqp-sequence:list":         descAMQPSequence,
	"amqp:amqp-value:*":               descAMQPValue,
	"amqp:footer:map":                 descFooter,
}

// descriptorCode returns the numeric code of a descriptor that is either a
// uint64 or one of the spec's symbolic names.
func descriptorCode(d any) (uint64, bool) {
	switch d := d.(type) {
	case uint64:
		return d, true
	case Symbol:
		c, ok := symbolicDescriptors[d]
		return c, ok
	}
	return 0, false
}
