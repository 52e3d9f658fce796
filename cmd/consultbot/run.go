package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// errReported is returned by a command that has already told the user what
// went wrong: main exits 1 without printing it again.
var errReported = errors.New("reported")

// streams are a command's standard input, output and error.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// command is one subcommand of consultbot.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, std streams) error
}

func commands() []command {
	return []command{
		{"run", "run the bot (terminal, Telegram and/or Slack)", cmdRun},
		{"check", "check consultation files: consultbot check FILE...", cmdCheck},
		{"export", "export answers: consultbot export ID --format csv|json [--out FILE]", cmdExport},
		{"invite", "make invite codes: consultbot invite ID [--count N]", cmdInvite},
		{"forget", "delete a participant's data: consultbot forget PARTICIPANT", cmdForget},
	}
}

// run dispatches to a subcommand.
func run(ctx context.Context, args []string, getenv func(string) string, std streams) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(std.out)
		if len(args) == 0 {
			return errReported
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], getenv, std)
		}
	}
	usage(std.err)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("consultbot: consultations over Telegram, Slack and the terminal\n\nUsage: consultbot COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'consultbot COMMAND --help' for a command's flags.\n")
	io.WriteString(w, b.String())
}
