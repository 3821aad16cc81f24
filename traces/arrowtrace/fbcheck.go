package arrowtrace

import (
	"errors"
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"
)

// arrow-go trusts the vector lengths in an IPC message's flatbuffer header and allocates by them
// (a schema's field count, say) before reading the vectors, so a corrupt length can make it
// allocate terabytes, which no recover catches. checkMessage walks the parts of the header that
// arrow-go allocates from and checks them against the buffer first.

// Limits on a message header.
const (
	maxSchemaItems = 1 << 20 // fields and metadata entries in a schema, all nesting levels together
	maxFieldDepth  = 64      // nesting of a field's children
)

// vtable offsets of the Arrow flatbuffer tables (Message.fbs, Schema.fbs): 4 + 2×field index.
const (
	msgHeaderType   = 6
	msgHeader       = 8
	msgMetadata     = 12
	schemaFields    = 6
	schemaMetadata  = 8
	fieldChildren   = 14
	fieldMetadata   = 16
	batchNodes      = 6
	batchBuffers    = 8
	batchVariadic   = 12
	dictBatchData   = 6
	headerSchema    = 1
	headerDictBatch = 2
	headerRecBatch  = 3
)

type fbChecker struct {
	buf   []byte
	items int
}

// checkMessage checks the header of an IPC message. It may panic on a malformed buffer; callers
// recover.
func checkMessage(buf []byte) error {
	if len(buf) < 8 {
		return errors.New("message header too short")
	}
	c := &fbChecker{buf: buf}
	msg := c.table(flatbuffers.GetUOffsetT(buf))
	if _, err := c.vector(msg, msgMetadata, 4); err != nil {
		return err
	}
	var ht byte
	if o := msg.Offset(msgHeaderType); o != 0 {
		ht = msg.GetByte(flatbuffers.UOffsetT(o) + msg.Pos)
	}
	o := msg.Offset(msgHeader)
	if o == 0 {
		return nil
	}
	h := c.table(msg.Indirect(flatbuffers.UOffsetT(o) + msg.Pos))
	switch ht {
	case headerSchema:
		return c.schema(h)
	case headerRecBatch:
		return c.batch(h)
	case headerDictBatch:
		if o := h.Offset(dictBatchData); o != 0 {
			return c.batch(c.table(h.Indirect(flatbuffers.UOffsetT(o) + h.Pos)))
		}
	}
	return nil
}

func (c *fbChecker) table(pos flatbuffers.UOffsetT) *flatbuffers.Table {
	if uint64(pos)+4 > uint64(len(c.buf)) {
		panic(fmt.Sprintf("table at %d outside the %d-byte header", pos, len(c.buf)))
	}
	return &flatbuffers.Table{Bytes: c.buf, Pos: pos}
}

// vector checks that the vector in slot of t, of elements of size bytes, lies in the buffer, and
// returns its length (0 when absent).
func (c *fbChecker) vector(t *flatbuffers.Table, slot flatbuffers.VOffsetT, size int) (int, error) {
	o := t.Offset(slot)
	if o == 0 {
		return 0, nil
	}
	off := flatbuffers.UOffsetT(o) // VectorLen and Vector add t.Pos
	n := t.VectorLen(off)
	start := t.Vector(off)
	if n < 0 || uint64(start)+uint64(n)*uint64(size) > uint64(len(c.buf)) {
		return 0, fmt.Errorf("vector of %d elements outside the %d-byte message header", n, len(c.buf))
	}
	return n, nil
}

func (c *fbChecker) count(n int) error {
	c.items += n
	if c.items > maxSchemaItems {
		return fmt.Errorf("schema has over %d fields and metadata entries", maxSchemaItems)
	}
	return nil
}

func (c *fbChecker) schema(s *flatbuffers.Table) error {
	n, err := c.vector(s, schemaMetadata, 4)
	if err != nil {
		return err
	}
	if err := c.count(n); err != nil {
		return err
	}
	return c.fields(s, schemaFields, 0)
}

// fields checks the vector of Field tables in slot of t and, recursively, their children.
func (c *fbChecker) fields(t *flatbuffers.Table, slot flatbuffers.VOffsetT, depth int) error {
	if depth > maxFieldDepth {
		return fmt.Errorf("fields nested over %d deep", maxFieldDepth)
	}
	n, err := c.vector(t, slot, 4)
	if err != nil || n == 0 {
		return err
	}
	if err := c.count(n); err != nil {
		return err
	}
	start := t.Vector(flatbuffers.UOffsetT(t.Offset(slot)))
	for i := range n {
		f := c.table(t.Indirect(start + flatbuffers.UOffsetT(i)*4))
		m, err := c.vector(f, fieldMetadata, 4)
		if err != nil {
			return err
		}
		if err := c.count(m); err != nil {
			return err
		}
		if err := c.fields(f, fieldChildren, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// batch checks a RecordBatch table: its node and buffer vectors, and that the variadic buffer
// counts (of string and binary views) add up to no more than the buffers.
func (c *fbChecker) batch(b *flatbuffers.Table) error {
	if _, err := c.vector(b, batchNodes, 16); err != nil {
		return err
	}
	nbuf, err := c.vector(b, batchBuffers, 16)
	if err != nil {
		return err
	}
	nv, err := c.vector(b, batchVariadic, 8)
	if err != nil || nv == 0 {
		return err
	}
	start := b.Vector(flatbuffers.UOffsetT(b.Offset(batchVariadic)))
	var total int64
	for i := range nv {
		v := b.GetInt64(start + flatbuffers.UOffsetT(i)*8)
		if v < 0 || v > int64(nbuf) {
			return fmt.Errorf("variadic buffer count %d, message has %d buffers", v, nbuf)
		}
		if total += v; total > int64(nbuf) {
			return fmt.Errorf("variadic buffer counts add up to over the %d buffers", nbuf)
		}
	}
	return nil
}
