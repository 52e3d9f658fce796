package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/storage"
)

// exportRequest is one export: what the command line asked for.
type exportRequest struct {
	Consultation string `json:"consultation"`
	Format       string `json:"format"` // csv or json
	BOM          bool   `json:"bom"`    // CSV: start with a UTF-8 byte order mark for Excel
}

func cmdExport(ctx context.Context, args []string, getenv func(string) string, std streams) error {
	fs := newFlagSet("export", "export CONSULTATION --format csv|json [--out FILE] [flags]", std.err)
	get := configFlags(fs, getenv)
	format := fs.String("format", "csv", "csv or json")
	out := fs.String("out", "", "write to this file instead of standard output")
	bom := fs.Bool("bom", false, "CSV: start with a UTF-8 byte order mark, for older Excel")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("export needs one consultation id")
	}
	if *format != "csv" && *format != "json" {
		return fmt.Errorf("--format %q: want csv or json", *format)
	}
	cfg, err := get()
	if err != nil {
		return err
	}
	req := exportRequest{Consultation: pos[0], Format: *format, BOM: *bom}

	w := std.out
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return err
		}
		w = f
	}
	err = withStore(ctx, cfg, std, func(a admin) error { return a.Export(ctx, req, w, std.err) })
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(*out)
		} else {
			fmt.Fprintf(std.err, "wrote %s\n", *out)
		}
	}
	return err
}

// flagError turns a flag parsing error into the command's error: --help is no
// error, and the flag package has already printed what was wrong.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return errReported
}

// exportRow is one response as exported.
type exportRow struct {
	Participant *string        `json:"participant"`
	Response    int            `json:"response"`
	Status      string         `json:"status"`
	Version     int            `json:"version"`
	Answers     map[string]any `json:"answers"`
}

type exportQuestion struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Text string `json:"text"`
}

type exportVersion struct {
	Version int       `json:"version"`
	Hash    string    `json:"hash"`
	Loaded  time.Time `json:"loaded"`
}

// writeExport writes the responses of c in the shapes DESIGN.md fixes.
// Progress goes to progress (every 1,000 responses) when there are many.
func writeExport(ctx context.Context, st *storage.Store, c *flows.Consultation, req exportRequest, w io.Writer, progress io.Writer) error {
	versions, err := st.Versions(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	number := make(map[string]int, len(versions))
	exported := make([]exportVersion, len(versions))
	for i, v := range versions {
		number[v.Hash] = i + 1
		exported[i] = exportVersion{Version: i + 1, Hash: v.Hash, Loaded: v.Loaded.UTC()}
	}
	responses, err := st.Responses(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	questions := make([]exportQuestion, len(c.Questions))
	for i, q := range c.Questions {
		questions[i] = exportQuestion{ID: q.ID, Type: string(q.Type), Text: q.Text.In(c.Language, c.Language)}
	}
	rows := make([]exportRow, 0, len(responses))
	for i, r := range responses {
		row := exportRow{Response: i + 1, Status: r.Status, Version: number[r.Version], Answers: make(map[string]any, len(r.Answers))}
		if r.Participant != "" && !c.Anonymous {
			p := r.Participant
			row.Participant = &p
		}
		for id, a := range r.Answers {
			if c.QuestionIndex(id) < 0 {
				continue // a question no longer in the file: its column is gone
			}
			row.Answers[id] = a.Value()
		}
		rows = append(rows, row)
	}

	switch req.Format {
	case "json":
		doc := struct {
			Consultation string           `json:"consultation"`
			Title        string           `json:"title"`
			Versions     []exportVersion  `json:"versions"`
			Questions    []exportQuestion `json:"questions"`
			Responses    []exportRow      `json:"responses"`
		}{c.ID, c.Title.In(c.Language, c.Language), exported, questions, rows}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	default:
		if req.BOM {
			if _, err := io.WriteString(w, "\uFEFF"); err != nil {
				return err
			}
		}
		cw := csv.NewWriter(w)
		header := []string{"participant", "response", "status", "version"}
		for _, q := range c.Questions {
			header = append(header, q.ID)
		}
		if err := cw.Write(header); err != nil {
			return err
		}
		record := make([]string, len(header))
		for i, row := range rows {
			record = record[:0]
			p := ""
			if row.Participant != nil {
				p = *row.Participant
			}
			record = append(record, p, strconv.Itoa(row.Response), row.Status, strconv.Itoa(row.Version))
			for _, q := range c.Questions {
				record = append(record, csvCell(q.Type, row.Answers[q.ID]))
			}
			if err := cw.Write(record); err != nil {
				return err
			}
			if progress != nil && len(rows) >= 5000 && (i+1)%1000 == 0 {
				fmt.Fprintf(progress, "export: %d of %d responses\n", i+1, len(rows))
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	return nil
}

// csvCell formats one answer for CSV. Free text that a spreadsheet would take
// for a formula (= + - @, or a leading tab or carriage return) is neutralised
// with a leading apostrophe.
func csvCell(t flows.QuestionType, v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case []string:
		return neutralise(strings.Join(v, "; "))
	case string:
		if t == flows.TypeText || t == flows.TypeChoice || t == flows.TypeMulti {
			return neutralise(v)
		}
		return v
	default:
		return fmt.Sprint(v)
	}
}

func neutralise(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
