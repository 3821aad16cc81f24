// Package wire reads and rewrites Anthropic Messages API requests, responses and server-sent event
// streams, for the live proxy.
//
// A request is parsed once (ParseRequest) into a Request whose main fields are Go values and whose
// other top-level keys are kept verbatim, in order; Marshal writes it back. ParseRequest reads the
// body in one pass (fast.go) that validates it and computes, as it goes, what Tokens, Fingerprint
// and PrefixHashes need of each part of the prompt; they reuse it while the fields are unchanged.
// Strings are found from bitmaps of the body computed 64 bytes at a time (classify.go), and hashed
// as written when their escapes are canonical, without being decoded or copied.
//
// Token counts here are estimates, the same everywhere in the package: one token per four
// characters of the text a model reads (characters are UTF-8 bytes of the decoded text, the unit
// internal/fakeapi uses), rounded up per prompt part, plus a flat ImageTokens per image or document.
// See Request.Tokens for what text counts.
package wire
