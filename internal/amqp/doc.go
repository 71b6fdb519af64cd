// Package amqp is an AMQP 1.0 server stack written from the OASIS AMQP 1.0
// specification: the type system codec, message sections, frames and
// performatives, SASL (ANONYMOUS, PLAIN, MSSBCBS), and a
// connection/session/link engine. It knows nothing of Service Bus; a
// dialect (claims-based security, $management, entity addresses) is built
// on top of its handler API.
//
// # Codec
//
// Marshal and Unmarshal convert between Go values and single AMQP values.
// Go types map to exact AMQP types: int8..int64 to byte..long, uint8..uint64
// to ubyte..ulong, Symbol to symbol (string is always an AMQP string),
// UUID to uuid, time.Time to a millisecond timestamp (decoded as UTC),
// Described to a described value. []any is an AMQP list, while typed slices
// ([]int64, []string, []Symbol, []UUID, []time.Time, ...) and Array are AMQP
// arrays; peers such as the Azure SDK for Go depend on that distinction.
// Decoding is strict (exact sizes, valid UTF-8, ASCII symbols, no
// duplicate or unhashable map keys), bounded by the input size and a
// nesting limit, and never panics.
//
// Message is the annotated message with all sections. UnmarshalBinary
// keeps the encoded bare message (BareMessage) so a broker can store
// exactly what it received and later send it again with fresh header and
// annotations through Message.RawBare. UnmarshalBatch splits the
// MessageFormatBatch payloads the Azure SDKs send.
//
// # Server
//
// NewServer takes a Config whose Open callback is asked about every
// connection after SASL and the peer's open frame. It returns a
// ConnHandler whose AttachIncoming and AttachOutgoing callbacks accept or
// refuse links:
//
//   - On an IncomingLink the peer sends. IncomingOptions.OnDelivery
//     receives each complete Delivery (reassembled from its frames, bounded
//     by the max-message-size); the handler settles it with Accept, Reject,
//     Release, Modify or Settle, immediately or later from any goroutine.
//     An unsettled delivery holds one unit of link credit until it is
//     settled; the engine tops credit up automatically.
//   - On an OutgoingLink the peer receives. The handler sends with Send or
//     SendPayload (waiting for credit) or TrySendPayload (never waiting) from
//     any goroutine; the engine splits deliveries into frames.
//     OutgoingOptions.OnDisposition reports the peer's outcomes (answer
//     unsettled ones with OutgoingLink.Settle, as receiver settle mode
//     second requires) and OnDrain lets the handler send what is available
//     when the peer drains.
//
// Each link's callbacks run one at a time, in order, on a goroutine of
// that link, so a slow callback delays only its own link. Callbacks receive
// a context that is cancelled when the link ends; they must return once it
// is done, because the connection waits for them before it reports
// ConnHandler.Closed.
//
// Per connection there is one reader goroutine (which also runs the
// protocol state machine under the connection's mutex) and one writer
// goroutine (which owns the socket's write side, merges consecutive
// dispositions into ranges, respects the peer's session windows and sends
// heartbeats at half the peer's idle timeout).
package amqp
