package flows

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// FileError is one problem found in a consultation file, at a line and
// column (both counted from 1). Line is 0 for a problem with the file as a
// whole, such as a file that cannot be read.
type FileError struct {
	File   string
	Line   int
	Column int
	Msg    string
}

// Error returns "file:line:col: msg", or "file: msg" when Line is 0.
func (e *FileError) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Column) + ": " + e.Msg
}

// Errors is every problem found in one or more consultation files, sorted
// by file, line and column. Parse, ParseFile, ParseFiles and LoadDir return
// it as their error when a file is invalid; use errors.As to get it.
type Errors []*FileError

// Error returns one problem per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// sortErrors orders errors by file, line and column, keeping the order in
// which they were found for errors at the same place.
func sortErrors(es Errors) {
	slices.SortStableFunc(es, func(a, b *FileError) int {
		return cmp.Or(
			strings.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
		)
	})
}
