package flows

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones load on a machine without a zoneinfo database
	"unicode/utf8"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// Limits of a consultation file.
const (
	MaxFileSize = 1 << 20 // bytes; a larger file is refused

	maxNesting        = 10     // levels of maps and lists; a consultation needs 7
	maxValues         = 100000 // values visited, aliases expanded
	maxFileErrors     = 200    // errors reported per file before giving up
	maxSuggestions    = 50     // "did you mean" among question ids, per file
	maxQuestions      = 1000
	maxIDLength       = 32
	maxTextChars      = 3500 // a text must fit in one chat message, hints added
	maxOptions        = 50
	maxOptionValueLen = 100
	maxOptionLabelLen = 200
	maxScaleSteps     = 11 // one button per step
	maxRemindRepeats  = 10
	textAnswerDefault = 2000 // characters of a text answer when max_length is not given
	textAnswerLimit   = 4000 // the largest max_length
)

// Field names of each part of a file, in the order they are documented.
func consultationFieldNames() []string {
	return []string{"id", "title", "language", "open", "anonymous", "timezone", "quiet_hours", "consent",
		"questions", "closing", "reminders", "schedules", "opens_at", "closes_at"}
}

func questionFieldNames() []string {
	return []string{"id", "type", "text", "optional", "when", "min", "max", "labels", "options", "max_length"}
}

func consentFieldNames() []string  { return []string{"version", "text"} }
func optionFieldNames() []string   { return []string{"value", "label"} }
func reminderFieldNames() []string { return []string{"after", "max", "cron", "before_close", "text"} }
func scheduleFieldNames() []string {
	return []string{"id", "to", "cron", "every", "starting", "until", "text"}
}

func questionTypes() []string {
	return []string{string(TypeText), string(TypeChoice), string(TypeMulti), string(TypeScale),
		string(TypeYesNo), string(TypeNumber), string(TypeDate)}
}

// textContext tells which placeholders a text may hold.
type textContext int

const (
	ctxTitle    textContext = iota // none
	ctxConsent                     // {{title}}, {{closes_at}}
	ctxLabel                       // {{title}}, {{closes_at}}
	ctxQuestion                    // and {{answers.x}} of an earlier question
	ctxClosing                     // and {{answers.x}} of any question
	ctxReminder                    // and {{answers.x}} of any question, unless anonymous
	ctxSchedule                    // {{title}}, {{closes_at}}
)

// textRef is a text of the file, kept to check its placeholders once every
// question is known.
type textRef struct {
	node     *yaml.Node
	ctx      textContext
	question int // ctxQuestion: the question's index
}

// questionNodes are the parts of a question's YAML that later checks point at.
type questionNodes struct {
	node *yaml.Node // the question's map
	id   *yaml.Node
	when *yaml.Node
	at   []comparisonAt // where each comparison of When is written
}

// pair is a field of a map: its key and its value.
type pair struct{ key, val *yaml.Node }

// parser reads one file. It collects every error instead of stopping at
// the first.
type parser struct {
	file        string
	src         []byte
	lineStarts  []int // byte offset of each line, computed when first needed
	errs        Errors
	budget      int  // values left to visit
	stopped     bool // too many values or errors: stop walking lists
	suggestions int  // "did you mean" searches among question ids so far

	c         *Consultation
	idNode    *yaml.Node
	questions []questionNodes // parallel to c.Questions
	texts     []textRef
	closesAt  *yaml.Node   // the closes_at value, when given
	before    []*yaml.Node // before_close values: they need closes_at
}

// Parse parses and checks one consultation file; file names it in errors.
// When the file is invalid the error is Errors, holding every problem
// found. Defaults: language "en", time zone UTC, quiet hours
// DefaultQuietHours, a reminder's max 1, a text question's max_length 2000.
func Parse(file string, data []byte) (*Consultation, error) {
	c, _, errs := parseData(file, data)
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// ParseFile reads and parses one consultation file. An error reading it is
// returned wrapped; an invalid file gives Errors.
func ParseFile(path string) (*Consultation, error) {
	data, err := readConsultationFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readConsultationFile reads a file, at most one byte over MaxFileSize so
// that Parse can refuse it.
func readConsultationFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("flows: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("flows: reading %s: %w", path, err)
	}
	return data, nil
}

// ParseFiles parses several consultation files, which must not share an
// id. It returns them sorted by id, or Errors holding every problem in
// every file (a file that cannot be read gives an error with Line 0).
func ParseFiles(paths ...string) ([]*Consultation, error) {
	var all Errors
	var cs []*Consultation
	seen := make(map[string]string, len(paths))
	for _, path := range paths {
		data, err := readConsultationFile(path)
		if err != nil {
			msg := err.Error()
			var pe *fs.PathError
			if errors.As(err, &pe) {
				msg = pe.Err.Error()
			}
			all = append(all, &FileError{File: path, Msg: "cannot read the file: " + msg})
			continue
		}
		c, idNode, errs := parseData(path, data)
		if len(errs) > 0 {
			all = append(all, errs...)
			continue
		}
		if prev, dup := seen[c.ID]; dup {
			all = append(all, &FileError{File: path, Line: idNode.Line, Column: idNode.Column,
				Msg: fmt.Sprintf("consultation id %q is also used by %s; each consultation needs its own id", c.ID, prev)})
			continue
		}
		seen[c.ID] = path
		cs = append(cs, c)
	}
	if len(all) > 0 {
		sortErrors(all)
		return nil, all
	}
	slices.SortFunc(cs, func(a, b *Consultation) int { return strings.Compare(a.ID, b.ID) })
	return cs, nil
}

// DirFiles lists the consultation files of a folder: every *.yaml and
// *.yml in it, sorted by name, leaving out hidden files (.name) and
// subfolders.
func DirFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("flows: %w", err)
	}
	var paths []string
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if e.IsDir() || strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		paths = append(paths, filepath.Join(dir, name))
	}
	return paths, nil
}

// LoadDir parses every consultation file in dir (see DirFiles), sorted by
// id. Two files with the same id are an error.
func LoadDir(dir string) ([]*Consultation, error) {
	paths, err := DirFiles(dir)
	if err != nil {
		return nil, err
	}
	return ParseFiles(paths...)
}

// parseData parses a file. It returns the consultation and the node of its
// id, or the errors found.
func parseData(file string, data []byte) (*Consultation, *yaml.Node, Errors) {
	p := &parser{file: file, src: data, budget: maxValues, c: &Consultation{}}
	if len(data) > MaxFileSize {
		p.errAt(1, 1, fmt.Sprintf("the file is too large (more than 1 MiB); a consultation file can be at most %d bytes, so split it into smaller consultations", MaxFileSize))
		return nil, nil, p.errs
	}
	root := p.decode()
	if root == nil {
		return nil, nil, p.errs
	}
	p.consultation(root)
	p.check()
	if len(p.errs) > 0 {
		sortErrors(p.errs)
		return nil, nil, p.errs
	}
	sum := sha256.Sum256(data)
	p.c.File = file
	p.c.Hash = hex.EncodeToString(sum[:])
	return p.c, p.idNode, nil
}

// decode reads the YAML document and returns its root map, or nil after
// reporting why there is none.
func (p *parser) decode() *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(p.src))
	var doc yaml.Node
	err := decodeYAML(dec, &doc)
	if errors.Is(err, io.EOF) || err == nil && (len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" && doc.Content[0].Value == "") {
		p.errAt(1, 1, "the file is empty: a consultation needs at least id, title, consent and questions")
		return nil
	}
	if err != nil {
		p.yamlError(err)
		return nil
	}
	var extra yaml.Node
	switch err := decodeYAML(dec, &extra); {
	case err == nil && (len(extra.Content) == 0 || extra.Content[0].Tag == "!!null" && extra.Content[0].Value == ""):
		// An empty document after a trailing --- holds nothing.
	case err == nil:
		p.errAt(extra.Content[0].Line, extra.Content[0].Column, "a second document (after ---) starts here; a file holds one consultation, so put this one in a file of its own")
		return nil
	case !errors.Is(err, io.EOF):
		p.yamlError(err)
		return nil
	}
	if n := tooDeep(&doc); n != nil {
		p.errorf(n, "the file is nested too deeply (more than %d levels of lists and maps); a consultation needs at most 7", maxNesting)
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.AliasNode && root.Alias != nil {
		root = root.Alias
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "a consultation file is a map of fields (id: ..., title: ..., questions: ...), not %s", kindName(root))
		return nil
	}
	return root
}

// decodeYAML decodes one document. The YAML library is trusted not to
// panic, but a consultation file may come from anyone: a panic is turned
// into an error rather than bringing the service down.
func decodeYAML(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: the YAML reader failed: %v", r)
		}
	}()
	return dec.Decode(n)
}

// tooDeep returns the first node nested deeper than maxNesting, or nil.
func tooDeep(doc *yaml.Node) *yaml.Node {
	type item struct {
		n     *yaml.Node
		depth int
	}
	stack := []item{{doc, 0}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.depth > maxNesting {
			return it.n
		}
		for _, c := range it.n.Content {
			if c.Kind == yaml.MappingNode || c.Kind == yaml.SequenceNode {
				stack = append(stack, item{c, it.depth + 1})
			}
		}
	}
	return nil
}

// yamlError reports a syntax error from the YAML reader, in plainer words
// where it can, at the line it concerns.
func (p *parser) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, tail
			}
		}
	}
	// The reader counts lines from 0 in its parser's errors, from 1 in its
	// scanner's; it leaves the line out when the count is 0.
	parserError := strings.HasPrefix(msg, "did not find expected key") ||
		strings.HasPrefix(msg, "did not find expected node content") ||
		strings.HasPrefix(msg, "did not find expected '-' indicator") ||
		strings.HasPrefix(msg, "did not find expected ',' or") ||
		strings.HasPrefix(msg, "did not find expected <")
	if parserError {
		line++
	}
	line = max(1, min(line, p.lineCount()))
	col := 0
	switch {
	case strings.Contains(msg, "exceeded max depth"):
		msg = fmt.Sprintf("the file is nested too deeply (more than %d levels of lists and maps); a consultation needs at most 7", maxNesting)
	case strings.HasPrefix(msg, "unknown anchor "):
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		line, col = p.find(1, "*"+name)
		msg = fmt.Sprintf("*%s refers to an anchor &%s that is not defined before it", name, name)
	case strings.Contains(msg, "tab character") || strings.Contains(msg, "cannot start any token") && p.tabIndented(line) > 0:
		if l := p.tabIndented(line); l > 0 {
			line = l
			col = strings.IndexByte(p.line(l), '\t') + 1
		}
		msg = "YAML does not allow tabs for indentation; indent with spaces"
	case strings.HasPrefix(msg, "did not find expected ',' or"):
		if l, c := p.findQuestionMark(line); l > 0 {
			line, col = l, c
			msg = "text that ends in ? inside {...} or [...] must be in quotes, like {en: \"How clear is it?\"}"
		} else {
			msg = "this is not valid YAML: a {...} map or [...] list that starts here is not closed properly (text holding , : { } [ ] must be in quotes)"
		}
	case strings.Contains(msg, "mapping values are not allowed"):
		src := p.line(line)
		if i := strings.Index(src, ": "); i >= 0 {
			if j := strings.Index(src[i+2:], ": "); j >= 0 {
				col = utf8.RuneCountInString(src[:i+2+j]) + 1
			}
		}
		msg = "this is not valid YAML: a colon followed by a space can only follow a field name; put text that holds \": \" in quotes"
	case strings.Contains(msg, "did not find expected key"):
		msg = "this is not valid YAML: check the indentation of this line and the line before"
	case strings.Contains(msg, "did not find expected '-' indicator"):
		msg = "this is not valid YAML: the list that starts here has a line that is not an item; start each item with - at the same indentation"
	case strings.Contains(msg, "found unexpected end of stream"):
		msg = "this is not valid YAML: the file ends inside a quoted text that starts here; close the quote"
	default:
		msg = "this is not valid YAML: " + msg
	}
	if col < 1 {
		src := p.line(line)
		col = utf8.RuneCountInString(src[:len(src)-len(strings.TrimLeft(src, " \t"))]) + 1
	}
	p.errAt(line, col, msg)
}

// find returns the line and column of the first s at or after line from,
// or from itself and column 1 when there is none.
func (p *parser) find(from int, s string) (line, col int) {
	for l := max(from, 1); l <= p.lineCount(); l++ {
		if i := strings.Index(p.line(l), s); i >= 0 {
			return l, utf8.RuneCountInString(p.line(l)[:i]) + 1
		}
	}
	return max(from, 1), 1
}

// tabIndented returns the first line at or after from whose indentation
// holds a tab, or 0.
func (p *parser) tabIndented(from int) int {
	for l := max(from, 1); l <= p.lineCount(); l++ {
		src := p.line(l)
		if strings.ContainsRune(src[:len(src)-len(strings.TrimLeft(src, " \t"))], '\t') {
			return l
		}
	}
	return 0
}

// findQuestionMark returns where a plain text ending in ? closes a flow
// map or list ("?}", "?]" or "?,") at or after line from, or 0.
func (p *parser) findQuestionMark(from int) (line, col int) {
	for l := max(from, 1); l <= p.lineCount() && l < from+50; l++ {
		src := p.line(l)
		best := -1
		for _, s := range []string{"?}", "?]", "?,"} {
			if i := strings.Index(src, s); i >= 0 && (best < 0 || i < best) {
				best = i
			}
		}
		if best >= 0 {
			return l, utf8.RuneCountInString(src[:best]) + 1
		}
	}
	return 0, 0
}

// kindName describes a node's kind for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a map"
	}
	if n.Tag == "!!null" {
		return "empty"
	}
	return fmt.Sprintf("%q", n.Value)
}

// errAt records an error at a line and column.
func (p *parser) errAt(line, col int, msg string) {
	if len(p.errs) >= maxFileErrors {
		return
	}
	if len(p.errs) == maxFileErrors-1 {
		msg = "too many errors; stopping here"
		p.stopped = true
	}
	// The YAML reader's positions are trusted, but an error must point
	// into the file whatever happens.
	last := p.lineCount()
	if len(p.src) > 0 && strings.ContainsRune("\n\r", rune(p.src[len(p.src)-1])) {
		last++ // the empty line after the last line break
	}
	line = max(1, min(line, last))
	col = max(col, 1)
	p.errs = append(p.errs, &FileError{File: p.file, Line: line, Column: col, Msg: msg})
}

// errorf records an error at a node.
func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errAt(n.Line, n.Column, fmt.Sprintf(format, args...))
}

// lineCount returns the number of lines of the file.
func (p *parser) lineCount() int {
	p.indexLines()
	return len(p.lineStarts)
}

// line returns line n of the file (from 1), without its line break.
func (p *parser) line(n int) string {
	p.indexLines()
	if n < 1 || n > len(p.lineStarts) {
		return ""
	}
	start, end := p.lineStarts[n-1], len(p.src)
	if n < len(p.lineStarts) {
		end = p.lineStarts[n]
	}
	s := string(p.src[start:end])
	for _, br := range []string{"\r\n", "\n", "\r", "\u0085", "\u2028", "\u2029"} {
		if t, ok := strings.CutSuffix(s, br); ok {
			return t
		}
	}
	return s
}

// indexLines finds where each line starts. Lines end as YAML ends them:
// at \n, \r\n, \r, NEL, LS or PS.
func (p *parser) indexLines() {
	if p.lineStarts != nil {
		return
	}
	p.lineStarts = []int{0}
	src := p.src
	for i := 0; i < len(src); i++ {
		next := -1
		switch {
		case src[i] == '\n':
			next = i + 1
		case src[i] == '\r':
			next = i + 1
			if next < len(src) && src[next] == '\n' {
				next++
			}
		case src[i] == 0xC2 && i+1 < len(src) && src[i+1] == 0x85:
			next = i + 2
		case src[i] == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xA8 || src[i+2] == 0xA9):
			next = i + 3
		}
		if next < 0 {
			continue
		}
		if next < len(src) {
			p.lineStarts = append(p.lineStarts, next)
		}
		i = next - 1
	}
}

// at returns the line and column of byte off of a scalar's value, when the
// value is written on one line or as a literal block (|); otherwise, the
// scalar's own position.
func (p *parser) at(n *yaml.Node, off int) (line, col int) {
	line, col = n.Line, n.Column
	v := n.Value
	if off <= 0 || off > len(v) {
		return line, col
	}
	switch {
	case n.Style&yaml.LiteralStyle != 0:
		ls := strings.LastIndexByte(v[:off], '\n') + 1
		le := strings.IndexByte(v[ls:], '\n')
		if le < 0 {
			le = len(v) - ls
		}
		l := n.Line + 1 + strings.Count(v[:off], "\n")
		src := p.line(l)
		indent := len(src) - le // the block's indentation, before the line's text
		if indent >= 0 && src[indent:] == v[ls:ls+le] {
			return l, utf8.RuneCountInString(src[:indent]) + 1 + utf8.RuneCountInString(v[ls:off])
		}
	case n.Style&yaml.FoldedStyle != 0 || strings.Contains(v[:off], "\n"):
	default:
		quoted := 0
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			quoted = 1
		}
		src := p.line(n.Line)
		b := runeOffset(src, n.Column-1+quoted)
		seg := v[:off]
		if b >= 0 && strings.HasPrefix(src[b:], seg) {
			return n.Line, n.Column + quoted + utf8.RuneCountInString(seg)
		}
	}
	return line, col
}

// runeOffset returns the byte offset of the rune at index r of s, or -1.
func runeOffset(s string, r int) int {
	if r < 0 {
		return -1
	}
	for i := range s {
		if r == 0 {
			return i
		}
		r--
	}
	if r == 0 {
		return len(s)
	}
	return -1
}

// deref follows an alias, and counts the value as visited.
func (p *parser) deref(n *yaml.Node) *yaml.Node {
	p.budget--
	if p.budget == 0 {
		p.errorf(n, "the file expands to more than %d values (anchors and aliases repeat too much); write it more simply", maxValues)
		p.stopped = true
	}
	for i := 0; i < 8 && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

// fieldSet is the fields of a map, by name, and the known names that
// unknown fields looked like (so "titel" does not also give "no title").
type fieldSet struct {
	m        map[string]pair
	misspelt map[string]bool
}

// get returns a field.
func (f fieldSet) get(name string) (pair, bool) {
	kv, ok := f.m[name]
	return kv, ok
}

// absent reports whether a field is missing and no unknown field looked
// like it.
func (f fieldSet) absent(name string) bool {
	_, ok := f.m[name]
	return !ok && !f.misspelt[name]
}

// fields returns the fields of a map, reporting fields that are not known,
// given twice or not plain names. where describes the map in messages.
func (p *parser) fields(n *yaml.Node, where string, known []string) fieldSet {
	f := fieldSet{m: make(map[string]pair, len(n.Content)/2)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := p.deref(n.Content[i])
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "a field name must be a plain word, like title, not %s", kindName(k))
			continue
		}
		name := k.Value
		if !slices.Contains(known, name) {
			switch s := suggest(name, known); {
			case n.Style&yaml.FlowStyle != 0 && strings.ContainsRune(name, ' ') && p.deref(n.Content[i+1]).Tag == "!!null":
				p.errorf(k, "%q is read as a field name because of the comma before it; inside {...}, put text that holds a comma in quotes, like label: \"Weekdays, in the daytime\"", name)
			case name == "<<":
				p.errorf(k, "merge keys (<<) are not supported in %s; write the fields out", where)
			case s != "":
				p.errorf(k, "unknown field %q in %s; did you mean %q?", name, where, s)
				if f.misspelt == nil {
					f.misspelt = map[string]bool{}
				}
				f.misspelt[s] = true
			default:
				p.errorf(k, "unknown field %q in %s; the fields here are %s", name, where, strings.Join(known, ", "))
			}
			continue
		}
		if prev, dup := f.m[name]; dup {
			p.errorf(k, "field %q is given twice in %s (first on line %d); keep one", name, where, prev.key.Line)
			continue
		}
		f.m[name] = pair{k, n.Content[i+1]}
	}
	return f
}

// scalar returns a field's value as a string, reporting a list, a map or
// an empty value.
func (p *parser) scalar(f pair, what string) (string, bool) {
	v := p.deref(f.val)
	switch {
	case v.Kind != yaml.ScalarNode:
		p.errorf(v, "%s must be a single value, not %s", what, kindName(v))
		return "", false
	case v.Tag == "!!null" || strings.TrimSpace(v.Value) == "":
		p.errorf(f.key, "%s is empty", what)
		return "", false
	}
	return strings.TrimSpace(v.Value), true
}

// boolean returns a field's value as true or false.
func (p *parser) boolean(f pair, what string) bool {
	s, ok := p.scalar(f, what)
	if !ok {
		return false
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true
	case "false", "no", "off":
		return false
	}
	p.errorf(p.deref(f.val), "%s must be true or false, not %q", what, s)
	return false
}

// number returns a field's value as a number.
func (p *parser) number(f pair, what string) (float64, bool) {
	s, ok := p.scalar(f, what)
	if !ok {
		return 0, false
	}
	n, err := parseLiteralNumber(s)
	if err != nil {
		p.errorf(p.deref(f.val), "%s must be a number, not %q", what, s)
		return 0, false
	}
	return n, true
}

// whole returns a field's value as a whole number.
func (p *parser) whole(f pair, what string) (int, bool) {
	n, ok := p.number(f, what)
	if !ok {
		return 0, false
	}
	if n != math.Trunc(n) || math.Abs(n) > 1e9 {
		p.errorf(p.deref(f.val), "%s must be a whole number, not %s", what, strings.TrimSpace(p.deref(f.val).Value))
		return 0, false
	}
	return int(n), true
}

// duration returns a field's value as a positive duration.
func (p *parser) duration(f pair, what string) (time.Duration, bool) {
	s, ok := p.scalar(f, what)
	if !ok {
		return 0, false
	}
	d, err := ParseDuration(s)
	if err != nil {
		p.errorf(p.deref(f.val), "%s: %q is not a duration; write a number and a unit, like 90m, 48h, 2d or 1w", what, s)
		return 0, false
	}
	if d <= 0 {
		p.errorf(p.deref(f.val), "%s must be longer than zero, like 2d", what)
		return 0, false
	}
	return d, true
}

// timeValue returns a field's value as a time: RFC 3339
// (2026-12-20T17:00:00Z), a local date-time (2026-12-20T17:00) or a date
// (2026-12-20) in the consultation's time zone. A date stands for the start
// of the day, or with endOfDay for its last minute (23:59:59).
func (p *parser) timeValue(f pair, what string, endOfDay bool) (time.Time, bool) {
	s, ok := p.scalar(f, what)
	if !ok {
		return time.Time{}, false
	}
	loc := p.c.Location
	if loc == nil {
		loc = time.UTC
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		if endOfDay {
			t = time.Date(t.Year(), t.Month(), t.Day(), 23, 59, 59, 0, loc)
		}
		return t, true
	}
	p.errorf(p.deref(f.val), "%s: %q is not a date and time; write 2026-12-20T17:00 (in the consultation's time zone), 2026-12-20T17:00:00Z or 2026-12-20", what, s)
	return time.Time{}, false
}

// identifier returns a field's value as an id: letters, digits, - and _.
func (p *parser) identifier(f pair, what string) (string, bool) {
	s, ok := p.scalar(f, what)
	if !ok {
		return "", false
	}
	v := p.deref(f.val)
	for _, r := range s {
		if !isIDRune(r) {
			p.errorf(v, "%s %q may hold only letters, digits, - and _ (found %q)", what, s, r)
			return "", false
		}
	}
	if n := utf8.RuneCountInString(s); n > maxIDLength {
		p.errorf(v, "%s %q is %d characters long; keep it to %d or fewer", what, s, n, maxIDLength)
		return "", false
	}
	return s, true
}

// isIDRune reports whether r may appear in an id.
func isIDRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// isLanguageCode reports whether s looks like a language code: en, cy,
// pt-BR.
func isLanguageCode(s string) bool {
	base, rest, _ := strings.Cut(s, "-")
	if len(base) < 2 || len(base) > 3 {
		return false
	}
	for _, r := range base {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, "-")
		if len(part) < 2 || len(part) > 8 {
			return false
		}
		for _, r := range part {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

// text returns a text field: a string, or a map of language code to string.
func (p *parser) text(f pair, what string, ctx textContext, question int) (Text, bool) {
	v := p.deref(f.val)
	switch v.Kind {
	case yaml.ScalarNode:
		s, ok := p.textString(f.key, v, what, ctx, question)
		if !ok {
			return nil, false
		}
		return Plain(s), true
	case yaml.MappingNode:
		t := make(Text, len(v.Content)/2)
		ok := true
		for i := 0; i+1 < len(v.Content); i += 2 {
			k := p.deref(v.Content[i])
			lang := k.Value
			if k.Kind != yaml.ScalarNode || !isLanguageCode(lang) {
				p.errorf(k, "%s: %s is not a language code; use codes like en or cy", what, kindName(k))
				ok = false
				continue
			}
			if _, dup := t[lang]; dup {
				p.errorf(k, "%s: language %q is given twice", what, lang)
				ok = false
				continue
			}
			s, sok := p.textString(k, p.deref(v.Content[i+1]), what+" ("+lang+")", ctx, question)
			if !sok {
				ok = false
				continue
			}
			t[lang] = s
		}
		if !ok {
			return nil, false
		}
		if len(t) == 0 {
			p.errorf(f.key, "%s is empty", what)
			return nil, false
		}
		if _, has := t[p.c.Language]; !has {
			p.errorf(v, "%s has no %q version, the file's language; add %s: ... (or set language: to one of %s)", what, p.c.Language, p.c.Language, strings.Join(sortedKeys(t), ", "))
			return nil, false
		}
		return t, true
	}
	p.errorf(v, "%s must be text, or a map of language code to text ({en: ..., cy: ...}), not %s", what, kindName(v))
	return nil, false
}

// textString returns one string of a text, trimmed, and keeps it for the
// placeholder checks.
func (p *parser) textString(key, v *yaml.Node, what string, ctx textContext, question int) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		p.errorf(v, "%s must be text, not %s", what, kindName(v))
		return "", false
	}
	s := strings.TrimSpace(v.Value)
	if v.Tag == "!!null" || s == "" {
		p.errorf(key, "%s is empty", what)
		return "", false
	}
	if n := utf8.RuneCountInString(s); n > maxTextChars {
		p.errorf(v, "%s is %d characters long; keep it under %d so it fits in one chat message", what, n, maxTextChars)
		return "", false
	}
	if strings.Contains(s, "{{") {
		p.texts = append(p.texts, textRef{node: v, ctx: ctx, question: question})
	}
	return s, true
}

// sortedKeys returns the languages of a text, sorted.
func sortedKeys(t Text) []string {
	ks := make([]string, 0, len(t))
	for k := range t {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// consultation reads the root map into p.c.
func (p *parser) consultation(root *yaml.Node) {
	c := p.c
	f := p.fields(root, "the consultation", consultationFieldNames())
	missing := func(field, example string) {
		p.errAt(root.Line, root.Column, fmt.Sprintf("the consultation has no %s; add one, like %s", field, example))
	}

	c.Language = "en"
	if kv, ok := f.get("language"); ok {
		if s, ok := p.scalar(kv, "language"); ok {
			if isLanguageCode(s) {
				c.Language = s
			} else {
				p.errorf(p.deref(kv.val), "language %q is not a language code; use a code like en or cy", s)
			}
		}
	}
	c.Location = time.UTC
	if kv, ok := f.get("timezone"); ok {
		if s, ok := p.scalar(kv, "timezone"); ok {
			if loc, err := loadTimezone(s); err != nil {
				p.errorf(p.deref(kv.val), "%s", err)
			} else {
				c.Timezone, c.Location = s, loc
			}
		}
	}

	if kv, ok := f.get("id"); ok {
		p.idNode = p.deref(kv.val)
		c.ID, _ = p.identifier(kv, "consultation id")
	} else if f.absent("id") {
		missing("id", "id: draft-questions")
	}
	if kv, ok := f.get("title"); ok {
		c.Title, _ = p.text(kv, "title", ctxTitle, -1)
	} else if f.absent("title") {
		missing("title", "title: Feedback on our draft interview questions")
	}
	if kv, ok := f.get("open"); ok {
		c.Open = p.boolean(kv, "open")
	}
	if kv, ok := f.get("anonymous"); ok {
		c.Anonymous = p.boolean(kv, "anonymous")
	}
	c.QuietHours = DefaultQuietHours
	if kv, ok := f.get("quiet_hours"); ok {
		if s, ok := p.scalar(kv, "quiet_hours"); ok {
			if q, err := ParseQuietHours(s); err != nil {
				p.errorf(p.deref(kv.val), "%s", err)
			} else {
				c.QuietHours = q
			}
		}
	}
	if kv, ok := f.get("consent"); ok {
		p.consent(kv)
	} else if f.absent("consent") {
		missing("consent", "consent: {version: 1, text: ...}")
	}
	if kv, ok := f.get("opens_at"); ok {
		c.OpensAt, _ = p.timeValue(kv, "opens_at", false)
	}
	if kv, ok := f.get("closes_at"); ok {
		p.closesAt = p.deref(kv.val)
		c.ClosesAt, _ = p.timeValue(kv, "closes_at", true)
	}
	if kv, ok := f.get("questions"); ok {
		p.questionList(kv)
	} else if f.absent("questions") {
		missing("questions", "questions: [{id: q1, type: text, text: ...}]")
	}
	if kv, ok := f.get("closing"); ok {
		c.Closing, _ = p.text(kv, "closing", ctxClosing, -1)
	}
	if kv, ok := f.get("reminders"); ok {
		p.list(kv, "reminders", func(n *yaml.Node) { p.reminder(n) })
	}
	if kv, ok := f.get("schedules"); ok {
		ids := map[string]int{}
		p.list(kv, "schedules", func(n *yaml.Node) { p.schedule(n, ids) })
	}
}

// loadTimezone loads an IANA time zone, suggesting a name when the case
// is wrong.
func loadTimezone(name string) (*time.Location, error) {
	if name == "Local" {
		return nil, fmt.Errorf("timezone Local depends on the machine; use an IANA name such as \"Europe/London\"")
	}
	loc, err := time.LoadLocation(name)
	if err == nil {
		return loc, nil
	}
	for _, guess := range []string{titleZone(name), strings.ToUpper(name), suggest(name, commonTimezones())} {
		if guess == "" || guess == name {
			continue
		}
		if _, err := time.LoadLocation(guess); err == nil {
			return nil, fmt.Errorf("unknown time zone %q; did you mean %q?", name, guess)
		}
	}
	return nil, fmt.Errorf("unknown time zone %q; use an IANA name such as \"Europe/London\" or \"America/New_York\"", name)
}

// commonTimezones lists time zones that "did you mean" may suggest.
func commonTimezones() []string {
	return []string{
		"UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Brussels",
		"Europe/Amsterdam", "Europe/Berlin", "Europe/Madrid", "Europe/Rome", "Europe/Vienna", "Europe/Zurich",
		"Europe/Stockholm", "Europe/Oslo", "Europe/Copenhagen", "Europe/Helsinki", "Europe/Warsaw",
		"Europe/Prague", "Europe/Budapest", "Europe/Athens", "Europe/Bucharest", "Europe/Istanbul",
		"Europe/Kyiv", "Europe/Moscow", "Africa/Lagos", "Africa/Nairobi", "Africa/Johannesburg",
		"Africa/Cairo", "Asia/Dubai", "Asia/Karachi", "Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok",
		"Asia/Jakarta", "Asia/Singapore", "Asia/Hong_Kong", "Asia/Shanghai", "Asia/Manila", "Asia/Seoul",
		"Asia/Tokyo", "Australia/Perth", "Australia/Adelaide", "Australia/Brisbane", "Australia/Sydney",
		"Australia/Melbourne", "Pacific/Auckland", "America/St_Johns", "America/Halifax",
		"America/New_York", "America/Toronto", "America/Chicago", "America/Mexico_City",
		"America/Denver", "America/Phoenix", "America/Los_Angeles", "America/Vancouver",
		"America/Anchorage", "Pacific/Honolulu", "America/Bogota", "America/Lima", "America/Santiago",
		"America/Sao_Paulo", "America/Argentina/Buenos_Aires",
	}
}

// titleZone capitalises each word of a zone name: europe/london gives
// Europe/London.
func titleZone(s string) string {
	b := []byte(strings.ToLower(s))
	up := true
	for i, c := range b {
		if up && c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		up = c == '/' || c == '_' || c == '-'
	}
	return string(b)
}

// list calls each for every item of a list field.
func (p *parser) list(f pair, what string, each func(*yaml.Node)) {
	v := p.deref(f.val)
	if v.Kind != yaml.SequenceNode {
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			p.errorf(f.key, "%s is empty", what)
			return
		}
		p.errorf(v, "%s must be a list (items starting with -), not %s", what, kindName(v))
		return
	}
	for _, item := range v.Content {
		if p.stopped {
			return
		}
		each(p.deref(item))
	}
}

// consent reads the consent map.
func (p *parser) consent(f pair) {
	v := p.deref(f.val)
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "consent must be a map with a version and a text, like consent: {version: 1, text: ...}")
		return
	}
	cf := p.fields(v, "consent", consentFieldNames())
	if kv, ok := cf.get("version"); ok {
		if n, ok := p.whole(kv, "consent version"); ok {
			if n < 1 {
				p.errorf(p.deref(kv.val), "consent version must be 1 or more; raise it when the text changes in a way people should agree to again")
			} else {
				p.c.Consent.Version = n
			}
		}
	} else if cf.absent("version") {
		p.errorf(v, "consent has no version; add version: 1")
	}
	if kv, ok := cf.get("text"); ok {
		p.c.Consent.Text, _ = p.text(kv, "consent text", ctxConsent, -1)
	} else if cf.absent("text") {
		p.errorf(v, "consent has no text; say what the consultation is for, how long it takes and that people can pause, stop or withdraw")
	}
}

// questionList reads the questions.
func (p *parser) questionList(f pair) {
	v := p.deref(f.val)
	if v.Kind != yaml.SequenceNode {
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			p.errorf(f.key, "questions is empty; a consultation needs at least one question")
			return
		}
		p.errorf(v, "questions must be a list (each question starting with -), not %s", kindName(v))
		return
	}
	if len(v.Content) == 0 {
		p.errorf(v, "questions is empty; a consultation needs at least one question")
		return
	}
	if len(v.Content) > maxQuestions {
		p.errorf(v, "there are %d questions; a consultation can have at most %d", len(v.Content), maxQuestions)
		return
	}
	p.c.Questions = make([]Question, 0, len(v.Content))
	p.questions = make([]questionNodes, 0, len(v.Content))
	for _, item := range v.Content {
		if p.stopped {
			return
		}
		p.question(p.deref(item))
	}
}

// question reads one question and appends it, even when invalid, so that
// questions keep their positions.
func (p *parser) question(n *yaml.Node) {
	i := len(p.c.Questions)
	p.c.Questions = append(p.c.Questions, Question{})
	p.questions = append(p.questions, questionNodes{node: n})
	q, qn := &p.c.Questions[i], &p.questions[i]
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "question %d must be a map with id, type and text, not %s", i+1, kindName(n))
		return
	}
	where := fmt.Sprintf("question %d", i+1)
	for j := 0; j+1 < len(n.Content); j += 2 {
		if k, v := p.deref(n.Content[j]), p.deref(n.Content[j+1]); k.Value == "id" && v.Kind == yaml.ScalarNode && v.Value != "" {
			where = fmt.Sprintf("question %q", v.Value)
			break
		}
	}
	f := p.fields(n, where, questionFieldNames())

	if kv, ok := f.get("id"); ok {
		qn.id = p.deref(kv.val)
		if id, ok := p.identifier(kv, "question id"); ok {
			if id == "answers" {
				p.errorf(qn.id, "question id \"answers\" is reserved (it would clash with {{answers.x}}); choose another")
			} else {
				q.ID = id
			}
		}
	} else if f.absent("id") {
		p.errorf(n, "%s has no id; add one, like id: q%d", where, i+1)
	}

	typeOK := false
	if kv, ok := f.get("type"); ok {
		if s, ok := p.scalar(kv, where+": type"); ok {
			if slices.Contains(questionTypes(), s) {
				q.Type, typeOK = QuestionType(s), true
			} else if g := suggest(s, questionTypes()); g != "" {
				p.errorf(p.deref(kv.val), "unknown question type %q; did you mean %q?", s, g)
			} else {
				p.errorf(p.deref(kv.val), "unknown question type %q; use %s", s, joinOr(questionTypes()))
			}
		}
	} else if f.absent("type") {
		p.errorf(n, "%s has no type; add one: type: %s", where, joinOr(questionTypes()))
	}

	if kv, ok := f.get("text"); ok {
		q.Text, _ = p.text(kv, where+": text", ctxQuestion, i)
	} else if f.absent("text") {
		p.errorf(n, "%s has no text; add the question as people will read it, like text: How clear is it?", where)
	}
	if kv, ok := f.get("optional"); ok {
		q.Optional = p.boolean(kv, where+": optional")
	}
	if kv, ok := f.get("when"); ok {
		p.when(kv, q, qn, where)
	}

	// Fields that belong to some types only.
	only := func(field string, types ...QuestionType) (pair, bool) {
		kv, ok := f.get(field)
		if !ok || !typeOK {
			return kv, false
		}
		if !slices.Contains(types, q.Type) {
			names := make([]string, len(types))
			for j, t := range types {
				names[j] = string(t)
			}
			p.errorf(kv.key, "%s is a %s question; %s is only for %s questions", where, q.Type, field, joinOr(names))
			return kv, false
		}
		return kv, true
	}
	minKV, hasMin := only("min", TypeScale, TypeNumber, TypeMulti)
	if hasMin {
		if x, ok := p.number(minKV, where+": min"); ok {
			q.Min = &x
		}
	}
	maxKV, hasMax := only("max", TypeScale, TypeNumber, TypeMulti)
	if hasMax {
		if x, ok := p.number(maxKV, where+": max"); ok {
			q.Max = &x
		}
	}
	optionsKV, hasOptions := only("options", TypeChoice, TypeMulti)
	if hasOptions {
		p.options(optionsKV, q, where)
	}
	labelsKV, hasLabels := only("labels", TypeScale)
	if kv, ok := only("max_length", TypeText); ok {
		if m, ok := p.whole(kv, where+": max_length"); ok {
			if m < 1 || m > textAnswerLimit {
				p.errorf(p.deref(kv.val), "%s: max_length must be between 1 and %d", where, textAnswerLimit)
			} else {
				q.MaxLength = m
			}
		}
	}
	if !typeOK {
		return
	}

	switch q.Type {
	case TypeText:
		if q.MaxLength == 0 {
			q.MaxLength = textAnswerDefault
		}
	case TypeScale:
		p.scale(n, q, where, minKV, maxKV, f)
		if hasLabels && q.Min != nil && q.Max != nil {
			p.scaleLabels(labelsKV, q, where)
		}
	case TypeNumber:
		if q.Min != nil && q.Max != nil && *q.Min >= *q.Max {
			p.errorf(p.deref(maxKV.val), "%s: max (%s) must be greater than min (%s)", where, fmtNum(*q.Max), fmtNum(*q.Min))
		}
	case TypeChoice, TypeMulti:
		if f.absent("options") {
			p.errorf(n, "%s is a %s question without options; add options, like options: [Yes, Not sure, No]", where, q.Type)
		}
		if q.Type == TypeMulti {
			p.picks(q, where, minKV, maxKV)
		}
	}
}

// joinOr writes "a", "a or b", "a, b or c".
func joinOr(ss []string) string {
	if len(ss) <= 1 {
		return strings.Join(ss, "")
	}
	return strings.Join(ss[:len(ss)-1], ", ") + " or " + ss[len(ss)-1]
}

// fmtNum writes a number without a needless fraction.
func fmtNum(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// when reads a question's condition.
func (p *parser) when(f pair, q *Question, qn *questionNodes, where string) {
	s, ok := p.scalar(f, where+": when")
	if !ok {
		return
	}
	v := p.deref(f.val)
	cond, at, err := parseCondition(v.Value)
	if err != nil {
		var ce *conditionError
		if errors.As(err, &ce) {
			line, col := p.at(v, ce.offset)
			p.errAt(line, col, fmt.Sprintf("%s: when: %s", where, ce.msg))
		}
		return
	}
	cond.Source = s
	q.When, qn.when, qn.at = &cond, v, at
}

// scale checks a scale's min and max: whole numbers, min below max, at most
// maxScaleSteps steps.
func (p *parser) scale(n *yaml.Node, q *Question, where string, minKV, maxKV pair, f fieldSet) {
	ok := true
	if q.Min != nil && *q.Min != math.Trunc(*q.Min) {
		p.errorf(p.deref(minKV.val), "%s: a scale's min must be a whole number, not %s", where, fmtNum(*q.Min))
		ok = false
	}
	if q.Max != nil && *q.Max != math.Trunc(*q.Max) {
		p.errorf(p.deref(maxKV.val), "%s: a scale's max must be a whole number, not %s", where, fmtNum(*q.Max))
		ok = false
	}
	switch noMin, noMax := f.absent("min"), f.absent("max"); {
	case noMin && noMax:
		p.errorf(n, "%s is a scale without min and max; add them, like min: 1 and max: 5", where)
	case noMin:
		p.errorf(n, "%s is a scale without min; add one, like min: 1", where)
	case noMax:
		p.errorf(n, "%s is a scale without max; add one, like max: 5", where)
	}
	if q.Min == nil || q.Max == nil {
		q.Min, q.Max = nil, nil
		return
	}
	lo, hi := *q.Min, *q.Max
	switch {
	case !ok:
	case lo >= hi:
		p.errorf(p.deref(maxKV.val), "%s: the scale's max (%s) must be greater than its min (%s), like min: 1 and max: 5", where, fmtNum(hi), fmtNum(lo))
		ok = false
	case hi-lo+1 > maxScaleSteps:
		p.errorf(p.deref(maxKV.val), "%s: a scale from %s to %s has %s steps; it can have at most %d (one button each)", where, fmtNum(lo), fmtNum(hi), fmtNum(hi-lo+1), maxScaleSteps)
		ok = false
	}
	if !ok {
		q.Min, q.Max = nil, nil
	}
}

// scaleLabels reads a scale's labels: whole numbers from min to max.
func (p *parser) scaleLabels(f pair, q *Question, where string) {
	v := p.deref(f.val)
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "%s: labels must be a map of scale point to text, like labels: {1: Very unclear, 5: Very clear}", where)
		return
	}
	q.Labels = make(map[int]Text, len(v.Content)/2)
	lo, hi := int(*q.Min), int(*q.Max)
	for i := 0; i+1 < len(v.Content); i += 2 {
		k := p.deref(v.Content[i])
		point, err := strconv.Atoi(strings.TrimSpace(k.Value))
		if k.Kind != yaml.ScalarNode || err != nil {
			p.errorf(k, "%s: label key %s is not a whole number; use points of the scale, from %d to %d", where, kindName(k), lo, hi)
			continue
		}
		if point < lo || point > hi {
			p.errorf(k, "%s: label %d is outside the scale, which goes from %d to %d", where, point, lo, hi)
			continue
		}
		if _, dup := q.Labels[point]; dup {
			p.errorf(k, "%s: label %d is given twice", where, point)
			continue
		}
		if t, ok := p.text(pair{k, v.Content[i+1]}, fmt.Sprintf("%s: label %d", where, point), ctxLabel, -1); ok {
			q.Labels[point] = t
		}
	}
}

// options reads the options of a choice or multi question.
func (p *parser) options(f pair, q *Question, where string) {
	v := p.deref(f.val)
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, "%s: options must be a list, like options: [Yes, Not sure, No]", where)
		return
	}
	switch {
	case len(v.Content) < 2:
		p.errorf(v, "%s has %d option%s; a %s question needs at least 2", where, len(v.Content), plural(len(v.Content)), q.Type)
		return
	case len(v.Content) > maxOptions:
		p.errorf(v, "%s has %d options; a question can have at most %d", where, len(v.Content), maxOptions)
		return
	}
	seen := make(map[string]*yaml.Node, len(v.Content))
	for _, item := range v.Content {
		if p.stopped {
			return
		}
		item = p.deref(item)
		var o Option
		var valNode *yaml.Node
		switch item.Kind {
		case yaml.ScalarNode:
			s, ok := p.textString(item, item, where+": option", ctxLabel, -1)
			if !ok {
				continue
			}
			o, valNode = Option{Value: s, Label: Plain(s)}, item
		case yaml.MappingNode:
			of := p.fields(item, "an option of "+where, optionFieldNames())
			kv, ok := of.get("value")
			if !ok {
				p.errorf(item, "%s: an option written as a map needs a value, like {value: peer, label: Peer mentor}", where)
				continue
			}
			s, ok := p.scalar(kv, where+": option value")
			if !ok {
				continue
			}
			o, valNode = Option{Value: s, Label: Plain(s)}, p.deref(kv.val)
			if lkv, ok := of.get("label"); ok {
				l, ok := p.text(lkv, where+": option label", ctxLabel, -1)
				if !ok {
					continue
				}
				o.Label = l
			}
		default:
			p.errorf(item, "%s: an option is text, or a map like {value: peer, label: Peer mentor}, not %s", where, kindName(item))
			continue
		}
		if n := utf8.RuneCountInString(o.Value); n > maxOptionValueLen {
			p.errorf(valNode, "%s: option value is %d characters long; keep it to %d or fewer (give a longer label with {value: ..., label: ...})", where, n, maxOptionValueLen)
			continue
		}
		long := false
		for _, l := range o.Label {
			if n := utf8.RuneCountInString(l); n > maxOptionLabelLen {
				p.errorf(valNode, "%s: option label is %d characters long; keep it to %d or fewer", where, n, maxOptionLabelLen)
				long = true
				break
			}
		}
		if long {
			continue
		}
		key := strings.ToLower(o.Value)
		if first, dup := seen[key]; dup {
			if firstValue := strings.TrimSpace(first.Value); firstValue != o.Value {
				p.errorf(valNode, "%s: option %q is the same as %q, ignoring case; option values must differ", where, o.Value, firstValue)
			} else {
				p.errorf(valNode, "%s: option %q is given twice (first on line %d); option values must differ", where, o.Value, first.Line)
			}
			continue
		}
		seen[key] = valNode
		q.Options = append(q.Options, o)
	}
}

// plural returns "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// picks checks a multi question's min and max number of picks.
func (p *parser) picks(q *Question, where string, minKV, maxKV pair) {
	n := float64(len(q.Options))
	if q.Min != nil {
		lo := *q.Min
		if lo != math.Trunc(lo) || lo < 0 || lo > n {
			p.errorf(p.deref(minKV.val), "%s: min is the fewest options to pick: a whole number from 0 to %d", where, len(q.Options))
			q.Min = nil
		}
	}
	if q.Max != nil {
		hi := *q.Max
		if hi != math.Trunc(hi) || hi < 1 || hi > n {
			p.errorf(p.deref(maxKV.val), "%s: max is the most options to pick: a whole number from 1 to %d", where, len(q.Options))
			q.Max = nil
		}
	}
	if q.Min != nil && q.Max != nil && *q.Min > *q.Max {
		p.errorf(p.deref(maxKV.val), "%s: max (%s) must not be less than min (%s)", where, fmtNum(*q.Max), fmtNum(*q.Min))
	}
}

// reminder reads one reminder.
func (p *parser) reminder(n *yaml.Node) {
	where := fmt.Sprintf("reminder %d", len(p.c.Reminders)+1)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a map, like {after: 2d} or {before_close: 24h}, not %s", where, kindName(n))
		return
	}
	f := p.fields(n, where, reminderFieldNames())
	var r Reminder
	var kinds []pair
	for _, k := range []string{"after", "cron", "before_close"} {
		if kv, ok := f.get(k); ok {
			kinds = append(kinds, kv)
		}
	}
	switch len(kinds) {
	case 0:
		p.errorf(n, "%s needs a rule: after (silence since the last answer), cron (a schedule) or before_close", where)
		p.c.Reminders = append(p.c.Reminders, r)
		return
	case 1:
	default:
		p.errorf(kinds[1].key, "%s has both %s and %s; a reminder follows one rule, so write two reminders", where, kinds[0].key.Value, kinds[1].key.Value)
		p.c.Reminders = append(p.c.Reminders, r)
		return
	}
	r.Kind = ReminderKind(kinds[0].key.Value)
	switch r.Kind {
	case RemindAfter:
		r.After, _ = p.duration(kinds[0], where+": after")
		r.Max = 1
		if kv, ok := f.get("max"); ok {
			if m, ok := p.whole(kv, where+": max"); ok {
				if m < 1 || m > maxRemindRepeats {
					p.errorf(p.deref(kv.val), "%s: max is how many times to remind: a whole number from 1 to %d", where, maxRemindRepeats)
				} else {
					r.Max = m
				}
			}
		}
	case RemindCron:
		if s, ok := p.scalar(kinds[0], where+": cron"); ok {
			if err := checkCron(s); err != nil {
				p.errorf(p.deref(kinds[0].val), "%s: %s", where, err)
			} else {
				r.Cron = s
			}
		}
		if f.absent("text") {
			p.errorf(n, "%s is on a schedule, so it needs a text, like text: The consultation closes on {{closes_at}}.", where)
		}
	case RemindBeforeClose:
		r.Before, _ = p.duration(kinds[0], where+": before_close")
		p.before = append(p.before, kinds[0].key)
	}
	if kv, ok := f.get("max"); ok && r.Kind != RemindAfter {
		p.errorf(kv.key, "%s: max goes with after (how many times to nudge); a %s reminder cannot have it", where, r.Kind)
	}
	if kv, ok := f.get("text"); ok {
		r.Text, _ = p.text(kv, where+": text", ctxReminder, -1)
	}
	p.c.Reminders = append(p.c.Reminders, r)
}

// checkCron checks a cron spec as the scheduler will read it: five fields
// or a descriptor such as @daily, with an optional CRON_TZ= prefix.
func checkCron(spec string) (err error) {
	hint := "write minute hour day-of-month month day-of-week, like \"0 10 * * MON\""
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		tz, rest, ok := strings.Cut(spec, " ")
		if !ok || strings.TrimSpace(rest) == "" {
			return fmt.Errorf("cron %q has a time zone but no schedule; %s", spec, hint)
		}
		_, name, _ := strings.Cut(tz, "=")
		if _, err := loadTimezone(name); err != nil {
			return fmt.Errorf("cron %q: %w", spec, err)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cron %q is not a valid schedule; %s", spec, hint)
		}
	}()
	if _, err := cron.ParseStandard(spec); err != nil {
		return fmt.Errorf("cron %q is not a valid schedule (%v); %s", spec, err, hint)
	}
	return nil
}

// schedule reads one scheduled announcement.
func (p *parser) schedule(n *yaml.Node, ids map[string]int) {
	where := fmt.Sprintf("schedule %d", len(p.c.Schedules)+1)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a map with id, to, cron or every, and text, not %s", where, kindName(n))
		return
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if k, v := p.deref(n.Content[j]), p.deref(n.Content[j+1]); k.Value == "id" && v.Kind == yaml.ScalarNode && v.Value != "" {
			where = fmt.Sprintf("schedule %q", v.Value)
			break
		}
	}
	f := p.fields(n, where, scheduleFieldNames())
	var s Schedule
	if kv, ok := f.get("id"); ok {
		if id, ok := p.identifier(kv, "schedule id"); ok {
			if line, dup := ids[id]; dup {
				p.errorf(p.deref(kv.val), "schedule id %q is used twice (first on line %d); each schedule needs its own id", id, line)
			} else {
				ids[id] = p.deref(kv.val).Line
				s.ID = id
			}
		}
	} else if f.absent("id") {
		p.errorf(n, "%s has no id; add one, like id: meeting-reminder", where)
	}
	if kv, ok := f.get("to"); ok {
		if to, ok := p.scalar(kv, where+": to"); ok {
			if validGroupAddress(to) {
				s.To = to
			} else {
				p.errorf(p.deref(kv.val), "%s: to %q is not a group address; write tg:<chat id>, like tg:-1001234567, or slack:<channel id>, like slack:C0123ABC", where, to)
			}
		}
	} else if f.absent("to") {
		p.errorf(n, "%s has no to; add the group it goes to, like to: tg:-1001234567 or to: slack:C0123ABC", where)
	}
	cronKV, hasCron := f.get("cron")
	everyKV, hasEvery := f.get("every")
	startKV, hasStart := f.get("starting")
	switch {
	case hasCron && hasEvery:
		p.errorf(everyKV.key, "%s has both cron and every; use one of them", where)
	case !hasCron && !hasEvery:
		p.errorf(n, "%s needs cron (like cron: \"0 18 * * TUE\") or every with starting (like every: 1w and starting: 2026-12-03T18:00)", where)
	case hasCron:
		if spec, ok := p.scalar(cronKV, where+": cron"); ok {
			if err := checkCron(spec); err != nil {
				p.errorf(p.deref(cronKV.val), "%s: %s", where, err)
			} else {
				s.Cron = spec
			}
		}
		if hasStart {
			p.errorf(startKV.key, "%s: starting goes with every; a cron schedule gives its own times", where)
		}
	case hasEvery:
		s.Every, _ = p.duration(everyKV, where+": every")
		if !hasStart {
			p.errorf(everyKV.key, "%s: every needs starting, the first time it is sent, like starting: 2026-12-03T18:00", where)
		}
	}
	if hasStart && hasEvery {
		s.Starting, _ = p.timeValue(startKV, where+": starting", false)
	}
	if kv, ok := f.get("until"); ok {
		if t, ok := p.timeValue(kv, where+": until", true); ok {
			if !s.Starting.IsZero() && !t.After(s.Starting) {
				p.errorf(p.deref(kv.val), "%s: until must be after starting", where)
			} else {
				s.Until = t
			}
		}
	}
	if kv, ok := f.get("text"); ok {
		s.Text, _ = p.text(kv, where+": text", ctxSchedule, -1)
	} else if f.absent("text") {
		p.errorf(n, "%s has no text; add the announcement, like text: Our meeting is on Tuesday at 6pm.", where)
	}
	p.c.Schedules = append(p.c.Schedules, s)
}

// validGroupAddress reports whether s addresses a group chat or channel:
// tg:<chat id>, tg:@<channel name> or slack:<channel id>.
func validGroupAddress(s string) bool {
	if id, ok := strings.CutPrefix(s, "tg:"); ok {
		if name, ok := strings.CutPrefix(id, "@"); ok {
			if len(name) < 4 || len(name) > 32 {
				return false
			}
			for _, r := range name {
				if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
					return false
				}
			}
			return true
		}
		id = strings.TrimPrefix(id, "-")
		_, err := strconv.ParseUint(id, 10, 63)
		return err == nil && allDigits(id)
	}
	if id, ok := strings.CutPrefix(s, "slack:"); ok {
		if len(id) < 2 || len(id) > 24 || id[0] < 'A' || id[0] > 'Z' {
			return false
		}
		for _, r := range id {
			if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
		return true
	}
	return false
}
