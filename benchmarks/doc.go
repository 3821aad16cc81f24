// Package benchmarks holds tarsopt's cross-package benchmarks: codec speed on a million generated
// records, and the ratios the project's targets are stated in. Nothing imports it.
//
// Run them with make bench, or:
//
//	go test -run '^$' -bench . -benchtime 3x ./benchmarks
package benchmarks
