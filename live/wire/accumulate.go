package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/tarsopt/tarsopt/internal/jsonscan"
)

// ErrIncomplete is returned by Accumulator.Message for a stream that has not reached message_stop.
var ErrIncomplete = errors.New("wire: stream incomplete: no message_stop")

// Accumulator rebuilds, from the events of a streamed Messages response, the Message JSON that the
// non-streaming API would have returned. Feed it every event with Add, in order; it copies what it
// keeps. The zero value is ready to use; it is not safe for concurrent use.
type Accumulator struct {
	started, stopped bool
	msg              []member // the message of message_start, then message_delta's delta merged in
	usage            []member // the usage of message_start, then message_delta's usage merged in
	blocks           []*accBlock
}

type accBlock struct {
	members   []member
	strs      map[string][]byte // text, thinking, signature: decoded text so far, once a delta came
	input     []byte            // input_json_delta's partial JSON, concatenated
	citations [][]byte          // citations_delta's citations
	stopped   bool
}

// Add takes the next event. Pings, comments and unknown event types are ignored. An error event
// returns an *APIError with its type and message; an event out of order or malformed returns an
// error too (the stream is then broken: Message says what was received).
func (a *Accumulator) Add(ev Event) error {
	if len(ev.Data) == 0 {
		return nil
	}
	var typ, index, message, block, delta, usage, errRaw []byte
	hasIndex := false
	s := scanner{b: ev.Data}
	if s.peek() != '{' {
		return fmt.Errorf("wire: event %s: data is not a JSON object", ev.Name)
	}
	s.i++
	var scratch []byte
	for first := true; ; first = false {
		key, more, err := s.objectNext(first, &scratch)
		if err != nil {
			return fmt.Errorf("wire: event %s: %w", ev.Name, err)
		}
		if !more {
			break
		}
		v, err := s.value()
		if err != nil {
			return fmt.Errorf("wire: event %s: %w", ev.Name, err)
		}
		switch string(key) {
		case "type":
			typ = v
		case "index":
			index, hasIndex = v, true
		case "message":
			message = v
		case "content_block":
			block = v
		case "delta":
			delta = v
		case "usage":
			usage = v
		case "error":
			errRaw = v
		}
	}
	name := ev.Name
	if name == "" {
		name = jsonString(typ)
	}
	switch name {
	case "ping", "":
		return nil
	case "error":
		return apiErrorFrom(0, errRaw)
	case "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop":
	default:
		return nil // a new event type: ignored, as the API's versioning policy asks
	}
	if name != "message_start" && !a.started {
		return fmt.Errorf("wire: %s before message_start", name)
	}
	var b *accBlock
	var bi int64
	if name == "content_block_delta" || name == "content_block_stop" {
		i, ok := jsonInt(index)
		if !hasIndex || !ok || i < 0 || i >= int64(len(a.blocks)) {
			return fmt.Errorf("wire: %s for content block %s, have %d blocks", name, bytes.TrimSpace(index), len(a.blocks))
		}
		b, bi = a.blocks[i], i
	}
	switch name {
	case "message_start":
		if a.started {
			return errors.New("wire: second message_start")
		}
		if !isObject(message) {
			return errors.New("wire: message_start without a message object")
		}
		a.started = true
		forMembers(message, func(key string, v []byte) {
			if key == "usage" {
				a.usage = mergeMembers(a.usage, v)
			}
			a.msg = append(a.msg, member{key: key, raw: bytes.Clone(v)})
		})
	case "content_block_start":
		i, ok := jsonInt(index)
		if !hasIndex || !ok || i != int64(len(a.blocks)) {
			return fmt.Errorf("wire: content_block_start for block %s, want %d", bytes.TrimSpace(index), len(a.blocks))
		}
		if !isObject(block) {
			return errors.New("wire: content_block_start without a content_block object")
		}
		a.blocks = append(a.blocks, &accBlock{members: mergeMembers(nil, block)})
	case "content_block_delta":
		if b.stopped {
			return errors.New("wire: content_block_delta after content_block_stop")
		}
		var dtyp, text, thinking, signature, partial, citation []byte
		forMembers(delta, func(key string, v []byte) {
			switch key {
			case "type":
				dtyp = v
			case "text":
				text = v
			case "thinking":
				thinking = v
			case "signature":
				signature = v
			case "partial_json":
				partial = v
			case "citation":
				citation = v
			}
		})
		switch jsonString(dtyp) {
		case "text_delta":
			b.appendStr("text", text)
		case "thinking_delta":
			b.appendStr("thinking", thinking)
		case "signature_delta":
			b.appendStr("signature", signature)
		case "input_json_delta":
			b.appendStr("", partial)
		case "citations_delta":
			if citation != nil {
				b.citations = append(b.citations, bytes.Clone(citation))
			}
		}
	case "content_block_stop":
		b.stopped = true
		if in := bytes.TrimSpace(b.input); len(in) > 0 && !validJSON(in) {
			return fmt.Errorf("wire: content block %d: the input_json_delta parts do not make valid JSON", bi)
		}
	case "message_delta":
		forMembers(delta, func(key string, v []byte) { a.msg = setMember(a.msg, key, bytes.Clone(v)) })
		if usage != nil {
			a.usage = mergeMembers(a.usage, usage)
		}
	case "message_stop":
		a.stopped = true
	}
	return nil
}

// appendStr appends a delta's string to the block's key, starting from the value the block started
// with; key "" is the partial JSON of the input.
func (b *accBlock) appendStr(key string, raw []byte) {
	if key == "" {
		s := scanner{b: raw}
		if s.peek() == '"' {
			if v, _, err := s.str(); err == nil {
				b.input = appendUnescaped(b.input, v)
			}
		}
		return
	}
	if b.strs == nil {
		b.strs = map[string][]byte{}
	}
	cur, ok := b.strs[key]
	if !ok {
		for _, m := range b.members {
			if m.key == key {
				cur = []byte(jsonString(m.raw))
			}
		}
	}
	s := scanner{b: raw}
	if s.peek() == '"' {
		if v, _, err := s.str(); err == nil {
			cur = appendUnescaped(cur, v)
		}
	}
	b.strs[key] = cur
}

func isObject(raw []byte) bool {
	s := scanner{b: raw}
	return s.peek() == '{'
}

// mergeMembers returns ms with the members of the object raw set (copied): existing keys are
// overwritten in place, new ones appended.
func mergeMembers(ms []member, raw []byte) []member {
	forMembers(raw, func(key string, v []byte) { ms = setMember(ms, key, bytes.Clone(v)) })
	return ms
}

func setMember(ms []member, key string, v []byte) []member {
	for i := range ms {
		if ms[i].key == key {
			ms[i].raw = v
			return ms
		}
	}
	return append(ms, member{key: key, raw: v})
}

// Started reports whether message_start was seen.
func (a *Accumulator) Started() bool { return a.started }

// Complete reports whether message_stop was seen.
func (a *Accumulator) Complete() bool { return a.stopped }

// Usage returns the usage so far: message_start's, with message_delta's fields over it.
func (a *Accumulator) Usage() Usage {
	var u usageReader
	u.object(appendObject(nil, a.usage))
	return u.usage()
}

// StopReason returns the stop_reason so far ("" while null).
func (a *Accumulator) StopReason() string {
	for _, m := range a.msg {
		if m.key == "stop_reason" {
			return jsonString(m.raw)
		}
	}
	return ""
}

// Message returns the Message JSON the non-streaming API would have returned: message_start's
// message with the content blocks rebuilt from their deltas (text, thinking and signature deltas
// concatenated; input_json_delta parts concatenated into the tool_use input; citations appended)
// and message_delta's fields and usage merged in. Before message_stop it returns what it has with
// ErrIncomplete; before message_start, nil and an error. The slice is new, owned by the caller.
func (a *Accumulator) Message() ([]byte, error) {
	if !a.started {
		return nil, errors.New("wire: no message_start")
	}
	b := make([]byte, 0, 512)
	b = append(b, '{')
	hasContent := false
	for i, m := range a.msg {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonscan.AppendString(b, m.key)
		b = append(b, ':')
		switch m.key {
		case "content":
			b = a.appendContent(b)
			hasContent = true
		case "usage":
			b = appendObject(b, a.usage)
		default:
			b = append(b, m.raw...)
		}
	}
	if !hasContent {
		if len(a.msg) > 0 {
			b = append(b, ',')
		}
		b = append(b, `"content":`...)
		b = a.appendContent(b)
	}
	b = append(b, '}')
	if !a.stopped {
		return b, ErrIncomplete
	}
	return b, nil
}

func appendObject(b []byte, ms []member) []byte {
	b = append(b, '{')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonscan.AppendString(b, m.key)
		b = append(b, ':')
		b = append(b, m.raw...)
	}
	return append(b, '}')
}

func (a *Accumulator) appendContent(b []byte) []byte {
	b = append(b, '[')
	for i, blk := range a.blocks {
		if i > 0 {
			b = append(b, ',')
		}
		b = blk.appendJSON(b)
	}
	return append(b, ']')
}

func (blk *accBlock) appendJSON(b []byte) []byte {
	ms := blk.members
	for _, key := range [...]string{"text", "thinking", "signature"} {
		if v, ok := blk.strs[key]; ok {
			ms = setMember(ms, key, jsonscan.AppendString(nil, string(v)))
		}
	}
	if in := bytes.TrimSpace(blk.input); len(in) > 0 {
		if validJSON(in) {
			ms = setMember(ms, "input", in)
		} else {
			ms = setMember(ms, "input", []byte("{}")) // a cut-off tool call
		}
	}
	if len(blk.citations) > 0 {
		c := []byte{'['}
		for _, m := range blk.members {
			if m.key == "citations" {
				s := scanner{b: m.raw}
				if s.peek() == '[' {
					s.i++
					for first := true; ; first = false {
						more, err := s.arrayNext(first)
						if err != nil || !more {
							break
						}
						v, err := s.value()
						if err != nil {
							break
						}
						if len(c) > 1 {
							c = append(c, ',')
						}
						c = append(c, v...)
					}
				}
			}
		}
		for _, v := range blk.citations {
			if len(c) > 1 {
				c = append(c, ',')
			}
			c = append(c, v...)
		}
		ms = setMember(ms, "citations", append(c, ']'))
	}
	return appendObject(b, ms)
}

// deltaChunk is the size, in bytes, of the text pieces WriteEvents sends per delta.
const deltaChunk = 128

// WriteEvents writes the server-sent events the API would stream for a complete Message JSON:
// message_start (the message with empty content, null stop_reason and stop_sequence, and usage
// with output_tokens at most 1, as the API sends it), then per content block content_block_start
// (with empty text, thinking or input), its deltas (text_delta and thinking_delta in pieces of up
// to 128 bytes, signature_delta, input_json_delta, citations_delta) and content_block_stop, a ping
// after the first content_block_start, message_delta with stop_reason, stop_sequence and
// output_tokens, and message_stop. Blocks of other types come whole in their content_block_start.
// It writes with one Write call.
func WriteEvents(w io.Writer, message []byte) error {
	s := scanner{b: message}
	if s.peek() != '{' {
		return errors.New("wire: message is not a JSON object")
	}
	if err := s.skip(); err != nil {
		return fmt.Errorf("wire: message: %w", err)
	}
	var msg []member
	forMembers(message, func(key string, v []byte) { msg = append(msg, member{key: key, raw: v}) })
	var content, usage, stopReason, stopSeq []byte
	for _, m := range msg {
		switch m.key {
		case "content":
			content = m.raw
		case "usage":
			usage = m.raw
		case "stop_reason":
			stopReason = m.raw
		case "stop_sequence":
			stopSeq = m.raw
		}
	}
	if content != nil && !bytes.HasPrefix(bytes.TrimSpace(content), []byte("[")) {
		return errors.New("wire: message content is not an array")
	}
	out, _ := jsonInt(memberOf(usage, "output_tokens"))

	var b []byte
	event := func(name string, parts ...[]byte) {
		b = append(b, "event: "...)
		b = append(b, name...)
		b = append(b, "\ndata: "...)
		for _, p := range parts {
			b = append(b, p...)
		}
		b = append(b, "\n\n"...)
	}
	str := func(s string) []byte { return []byte(s) }

	// message_start
	start := make([]member, 0, len(msg))
	for _, m := range msg {
		switch m.key {
		case "content":
			m.raw = str("[]")
		case "stop_reason", "stop_sequence":
			m.raw = str("null")
		case "usage":
			var u []member
			forMembers(m.raw, func(key string, v []byte) { u = append(u, member{key: key, raw: v}) })
			u = setMember(u, "output_tokens", strconv.AppendInt(nil, min(out, 1), 10))
			m.raw = appendObject(nil, u)
		}
		start = append(start, m)
	}
	event("message_start", str(`{"type":"message_start","message":`), appendObject(nil, start), str("}"))

	// content blocks
	cs := scanner{b: content}
	if cs.peek() == '[' {
		cs.i++
		for i, first := 0, true; ; i, first = i+1, false {
			more, err := cs.arrayNext(first)
			if err != nil {
				return fmt.Errorf("wire: message content: %w", err)
			}
			if !more {
				break
			}
			blk, err := cs.value()
			if err != nil {
				return fmt.Errorf("wire: message content: %w", err)
			}
			idx := strconv.Itoa(i)
			writeBlock(event, idx, blk, i == 0)
			event("content_block_stop", str(`{"type":"content_block_stop","index":`+idx+`}`))
		}
	}
	if len(bytes.TrimSpace(content)) == 0 || bytes.Equal(bytes.TrimSpace(content), []byte("[]")) {
		event("ping", str(`{"type": "ping"}`))
	}

	// message_delta, message_stop
	if stopReason == nil {
		stopReason = str("null")
	}
	if stopSeq == nil {
		stopSeq = str("null")
	}
	event("message_delta", str(`{"type":"message_delta","delta":{"stop_reason":`), stopReason,
		str(`,"stop_sequence":`), stopSeq, str(`},"usage":{"output_tokens":`), strconv.AppendInt(nil, out, 10), str("}}"))
	event("message_stop", str(`{"type":"message_stop"}`))
	_, err := w.Write(b)
	return err
}

// memberOf returns the value of key in the object raw, or nil.
func memberOf(raw []byte, key string) []byte {
	var out []byte
	forMembers(raw, func(k string, v []byte) {
		if k == key {
			out = v
		}
	})
	return out
}

// writeBlock writes one block's content_block_start and deltas, with a ping after the start when
// asked.
func writeBlock(event func(string, ...[]byte), idx string, blk []byte, ping bool) {
	var ms []member
	forMembers(blk, func(key string, v []byte) { ms = append(ms, member{key: key, raw: v}) })
	typ := jsonString(memberOf(blk, "type"))
	type delta struct {
		kind, key string
		value     []byte // raw JSON
	}
	var deltas []delta
	start := make([]member, 0, len(ms))
	for _, m := range ms {
		switch {
		case (typ == "text" && m.key == "text") || (typ == "thinking" && (m.key == "thinking" || m.key == "signature")):
			if isString(m.raw) {
				kind := map[string]string{"text": "text_delta", "thinking": "thinking_delta", "signature": "signature_delta"}[m.key]
				deltas = append(deltas, delta{kind, m.key, m.raw})
				m.raw = []byte(`""`)
			}
		case isToolUse([]byte(typ)) && m.key == "input":
			if compact := appendCompact(nil, m.raw); isObject(m.raw) && string(compact) != "{}" {
				deltas = append(deltas, delta{"input_json_delta", "partial_json", compact})
				m.raw = []byte("{}")
			}
		case typ == "text" && m.key == "citations":
			if s := (scanner{b: m.raw}); s.peek() == '[' {
				deltas = append(deltas, delta{"citations_delta", "citation", m.raw})
				m.raw = []byte("[]")
			}
		}
		start = append(start, m)
	}
	event("content_block_start", []byte(`{"type":"content_block_start","index":`+idx+`,"content_block":`), appendObject(nil, start), []byte("}"))
	if ping {
		event("ping", []byte(`{"type": "ping"}`))
	}
	head := []byte(`{"type":"content_block_delta","index":` + idx + `,"delta":{"type":`)
	for _, d := range deltas {
		switch d.kind {
		case "citations_delta":
			s := scanner{b: d.value}
			s.peek()
			s.i++
			for first := true; ; first = false {
				more, err := s.arrayNext(first)
				if err != nil || !more {
					break
				}
				v, err := s.value()
				if err != nil {
					break
				}
				event("content_block_delta", head, []byte(`"citations_delta","citation":`), v, []byte("}}"))
			}
		case "input_json_delta":
			for _, piece := range chunks(string(d.value)) {
				event("content_block_delta", head, []byte(`"input_json_delta","partial_json":`), jsonscan.AppendString(nil, piece), []byte("}}"))
			}
		default:
			text := jsonString(d.value)
			pieces := chunks(text)
			if d.kind == "signature_delta" {
				pieces = []string{text}
			}
			for _, piece := range pieces {
				if piece == "" {
					continue
				}
				event("content_block_delta", head, jsonscan.AppendString(nil, d.kind), []byte(`,`), jsonscan.AppendString(nil, d.key), []byte(`:`), jsonscan.AppendString(nil, piece), []byte("}}"))
			}
		}
	}
}

// chunks cuts s into pieces of about deltaChunk bytes, at UTF-8 character boundaries.
func chunks(s string) []string {
	var out []string
	for len(s) > 0 {
		n := min(deltaChunk, len(s))
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n++
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}
