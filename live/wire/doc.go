// Package wire reads and rewrites Anthropic Messages API requests, responses and server-sent event
// streams, for the live proxy.
//
// A request is parsed once (ParseRequest) into a Request whose main fields are Go values and whose
// other top-level keys are kept verbatim, in order; Marshal writes it back. The package's own JSON
// scanner validates what it reads and hashes values without decoding them into Go maps, so that
// parsing, fingerprinting, estimating and re-encoding a 20 KB request takes tens of microseconds.
//
// Token counts here are estimates, the same everywhere in the package: one token per four
// characters of the text a model reads (characters are UTF-8 bytes of the decoded text, the unit
// internal/fakeapi uses), rounded up per prompt part, plus a flat ImageTokens per image or document.
// See Request.Tokens for what text counts.
package wire
