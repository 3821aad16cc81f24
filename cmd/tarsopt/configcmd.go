package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/tarsopt/tarsopt/config"
)

// setFlags collects repeated --set PATH=VALUE flags.
type setFlags []string

func (s *setFlags) String() string     { return fmt.Sprint([]string(*s)) }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

// loadConfig reads the configuration file (the built-in default when path is "") and applies the
// --set assignments.
func loadConfig(path string, sets setFlags) (*config.Config, error) {
	if path != "" {
		return config.Load(path, sets...)
	}
	c := config.Default()
	if err := c.Set(sets...); err != nil {
		return nil, err
	}
	return c, nil
}

func init() {
	register(&command{
		name:    "config",
		summary: "print the default performance configuration, or check one",
		usage: `Usage: tarsopt config default
       tarsopt config check FILE [--set PATH=VALUE]...
       tarsopt config show [FILE] [--set PATH=VALUE]...

default prints the built-in configuration: the seed plan's strategies, settings, success criteria,
rollback triggers and phases (see docs/config.md). check validates a configuration file and exits
non-zero with the JSON path, line and column of the first problem. show prints the configuration a
replay would use: FILE (or the default) with the --set overrides applied.

A configuration file is laid over the default: keys it leaves out keep their default values;
settings objects merge key by key, while lists and name-keyed tables it gives (bands, ttl_s,
upstream.models, success_criteria) replace the default's. Unknown keys are errors.

Examples:
  tarsopt config default > performance-config.json
  tarsopt config check performance-config.json
  tarsopt config show --set strategies.router.bands[1].max=40`,
		setup: func(fs *flag.FlagSet) func([]string, io.Writer, io.Writer) error {
			var sets setFlags
			fs.Var(&sets, "set", "override a setting: PATH=VALUE, such as strategies.router.enabled=false (repeatable)")
			return func(args []string, stdout, stderr io.Writer) error {
				if len(args) == 0 {
					return usagef("config: say default, check FILE or show [FILE]")
				}
				switch args[0] {
				case "default":
					if len(args) != 1 || len(sets) > 0 {
						return usagef("config default takes no arguments")
					}
					b, err := config.Default().JSON()
					if err != nil {
						return err
					}
					_, err = stdout.Write(b)
					return err
				case "check":
					if len(args) != 2 {
						return usagef("config check: name one file")
					}
					c, err := loadConfig(args[1], sets)
					if err != nil {
						return err
					}
					fmt.Fprintf(stdout, "%s: ok (%s; enabled: %v)\n", args[1], c.Name, c.Enabled())
					return nil
				case "show":
					if len(args) > 2 {
						return usagef("config show: at most one file")
					}
					path := ""
					if len(args) == 2 {
						path = args[1]
					}
					c, err := loadConfig(path, sets)
					if err != nil {
						return err
					}
					b, err := c.JSON()
					if err != nil {
						return err
					}
					_, err = stdout.Write(b)
					return err
				}
				return usagef("config: unknown subcommand %q (default, check or show)", args[0])
			}
		},
	})
}
