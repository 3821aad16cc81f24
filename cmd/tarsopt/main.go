// Command tarsopt checks what LLM cost strategies would really save: it reads the logs people
// already have, replays them through the strategies in a discrete-event simulator with the
// providers' billing rules, and reports cost, latency and quality with confidence intervals.
//
// Usage:
//
//	tarsopt gen --profile tars-baseline --days 30 --seed 1 -o base.parquet
//	tarsopt inspect [--json] FILE...
//	tarsopt convert IN -o OUT
//
// Run "tarsopt help COMMAND" for a command's flags and examples.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	if !errors.Is(err, errReported) {
		fmt.Fprintf(os.Stderr, "tarsopt: %v\n", err)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	os.Exit(1)
}
