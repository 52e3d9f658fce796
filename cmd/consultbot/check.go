package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/consultbot/consultbot/flows"
)

// cmdCheck checks consultation files and reports every problem as
// file:line:col: message. Folders stand for the *.yaml and *.yml files in
// them; with no arguments, the flows folder is checked.
func cmdCheck(ctx context.Context, args []string, getenv func(string) string, std streams) error {
	fs := newFlagSet("check", "check [FILE|FOLDER...]\n\nChecks consultation files and reports every problem with its file, line and column.\nWith no arguments, checks the flows folder. Exits 1 when a file has a problem.", std.err)
	def := getenv("CONSULTBOT_FLOWS")
	if def == "" {
		def = "examples"
	}
	dir := fs.String("flows", def, "folder checked when no file is given (env CONSULTBOT_FLOWS)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) == 0 {
		pos = []string{*dir}
	}

	var paths []string
	problems := 0
	for _, arg := range pos {
		info, err := os.Stat(arg)
		if err != nil || !info.IsDir() {
			paths = append(paths, arg) // ParseFiles reports a file it cannot read
			continue
		}
		files, err := flows.DirFiles(arg)
		if err != nil {
			fmt.Fprintf(std.err, "%s: cannot read the folder: %v\n", arg, errors.Unwrap(err))
			problems++
			continue
		}
		if len(files) == 0 {
			fmt.Fprintf(std.err, "%s: no consultation files (*.yaml or *.yml) in this folder\n", arg)
			problems++
		}
		paths = append(paths, files...)
	}

	cs, err := flows.ParseFiles(paths...)
	var errs flows.Errors
	if err != nil && !errors.As(err, &errs) {
		return err
	}
	bad := map[string]bool{}
	for _, e := range errs {
		fmt.Fprintln(std.err, e)
		bad[e.File] = true
	}
	if err == nil {
		for _, c := range cs {
			fmt.Fprintf(std.out, "%s: ok (%s, %d question%s)\n", c.File, c.ID, len(c.Questions), plural(len(c.Questions)))
		}
	}
	switch {
	case len(errs) == 0 && problems == 0:
		fmt.Fprintf(std.out, "%d file%s checked: all valid\n", len(paths), plural(len(paths)))
		return nil
	case len(errs) == 0:
		fmt.Fprintf(std.err, "%d file%s checked: all valid, but %s\n", len(paths), plural(len(paths)), strings.TrimSpace(pluralCount(problems, "folder was", "folders were")+" empty or unreadable"))
	default:
		fmt.Fprintf(std.err, "%d file%s checked: %d with problems (%s)\n", len(paths), plural(len(paths)), len(bad), pluralCount(len(errs), "error", "errors"))
	}
	return errReported
}

// plural returns "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// pluralCount writes "1 error" or "3 errors".
func pluralCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
