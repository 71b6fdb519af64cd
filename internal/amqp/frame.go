package amqp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	frameTypeAMQP byte = 0
	frameTypeSASL byte = 1

	frameHeaderSize = 8
	// minMaxFrameSize is MIN-MAX-FRAME-SIZE: the largest frame either peer
	// may send before the open exchange, and the smallest max-frame-size a
	// peer may announce.
	minMaxFrameSize = 512
)

// Protocol headers.
var (
	headerAMQP = [8]byte{'A', 'M', 'Q', 'P', 0, 1, 0, 0}
	headerTLS  = [8]byte{'A', 'M', 'Q', 'P', 2, 1, 0, 0}
	headerSASL = [8]byte{'A', 'M', 'Q', 'P', 3, 1, 0, 0}
)

// emptyFrame is a frame without body, used as heartbeat.
var emptyFrame = []byte{0, 0, 0, 8, 2, frameTypeAMQP, 0, 0}

// frameHeader is the fixed part of a frame.
type frameHeader struct {
	size    uint32
	doff    uint8
	typ     byte
	channel uint16
}

// errFraming marks frame headers that cannot be parsed; the byte stream is
// unusable after one.
var errFraming = errors.New("amqp: framing error")

func parseFrameHeader(b []byte, maxSize uint32) (frameHeader, error) {
	h := frameHeader{
		size:    binary.BigEndian.Uint32(b[0:4]),
		doff:    b[4],
		typ:     b[5],
		channel: binary.BigEndian.Uint16(b[6:8]),
	}
	if h.size < frameHeaderSize {
		return h, fmt.Errorf("%w: frame size %d below header size", errFraming, h.size)
	}
	if h.size > maxSize {
		return h, fmt.Errorf("%w: frame size %d exceeds max-frame-size %d", errFraming, h.size, maxSize)
	}
	if h.doff < 2 || uint32(h.doff)*4 > h.size {
		return h, fmt.Errorf("%w: invalid data offset %d", errFraming, h.doff)
	}
	if h.typ != frameTypeAMQP && h.typ != frameTypeSASL {
		return h, fmt.Errorf("%w: unknown frame type %d", errFraming, h.typ)
	}
	return h, nil
}

// frameReader reads frames from a connection, reusing its body buffer.
type frameReader struct {
	r   *bufio.Reader
	buf []byte
}

// read returns the next frame's header and body (the bytes after the
// extended header). The body aliases the reader's buffer and is valid until
// the next call.
func (fr *frameReader) read(maxSize uint32) (frameHeader, []byte, error) {
	var hb [frameHeaderSize]byte
	if _, err := io.ReadFull(fr.r, hb[:]); err != nil {
		return frameHeader{}, nil, err
	}
	h, err := parseFrameHeader(hb[:], maxSize)
	if err != nil {
		return h, nil, err
	}
	n := int(h.size) - frameHeaderSize
	if cap(fr.buf) < n {
		fr.buf = make([]byte, n)
	}
	fr.buf = fr.buf[:n]
	if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	ext := int(h.doff)*4 - frameHeaderSize
	return h, fr.buf[ext:], nil
}

// parseFrameBody decodes a frame body into its performative and, for
// transfers, the payload (aliasing body). An empty body yields nil.
func parseFrameBody(typ byte, body []byte) (any, []byte, error) {
	if len(body) == 0 {
		return nil, nil, nil
	}
	d := decoder{b: body}
	v, err := d.readAny()
	if err != nil {
		return nil, nil, err
	}
	perf, err := decodePerformative(typ, v)
	if err != nil {
		return nil, nil, err
	}
	rest := body[d.i:]
	if _, ok := perf.(*transfer); ok {
		return perf, rest, nil
	}
	if len(rest) != 0 {
		return nil, nil, fmt.Errorf("amqp: %d unexpected bytes after performative", len(rest))
	}
	return perf, nil, nil
}

// parseFrame parses one complete frame held in b (header included).
func parseFrame(b []byte, maxSize uint32) (frameHeader, any, []byte, error) {
	if len(b) < frameHeaderSize {
		return frameHeader{}, nil, nil, errShort
	}
	h, err := parseFrameHeader(b, maxSize)
	if err != nil {
		return h, nil, nil, err
	}
	if int(h.size) != len(b) {
		return h, nil, nil, fmt.Errorf("amqp: frame size %d does not match %d bytes", h.size, len(b))
	}
	perf, payload, err := parseFrameBody(h.typ, b[int(h.doff)*4:])
	return h, perf, payload, err
}

// appendFrame appends a complete frame carrying perf (and payload) to buf.
func appendFrame(buf []byte, typ byte, channel uint16, perf performative, payload []byte) ([]byte, error) {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 2, typ, byte(channel>>8), byte(channel))
	e := encoder{buf: buf}
	if err := perf.encodeAMQP(&e); err != nil {
		return buf[:start], err
	}
	buf = append(e.buf, payload...)
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start))
	return buf, nil
}
