package storage

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/flows/flowstest"
)

// keyPaths lists the field paths of a document: "state.answers.q00.number",
// with "[]" for array elements.
func keyPaths(t *testing.T, raw bson.Raw) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(prefix string, v bson.RawValue)
	walk = func(prefix string, v bson.RawValue) {
		switch v.Type {
		case bson.TypeEmbeddedDocument:
			elems, err := v.Document().Elements()
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range elems {
				walk(prefix+"."+e.Key(), e.Value())
			}
		case bson.TypeArray:
			vals, err := v.Array().Values()
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range vals {
				walk(prefix+"[]", e)
			}
		default:
			seen[fmt.Sprintf("%s:%s", prefix, v.Type)] = true
		}
	}
	walk("", bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: raw})
	paths := make([]string, 0, len(seen))
	for p := range seen {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// shapes returns the union of the key paths of a collection's documents.
func shapes(t *testing.T, s *Store, collection string) []string {
	t.Helper()
	ctx := context.Background()
	cur, err := s.c(collection).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	var all []string
	for cur.Next(ctx) {
		all = append(all, keyPaths(t, cur.Current)...)
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// TestExportFixtureMatchesRunner checks that the benchmark's fixture holds
// the documents the runner writes: the same fields of the same types in
// every collection Responses and the export read, and the same responses.
func TestExportFixtureMatchesRunner(t *testing.T) {
	ctx := context.Background()
	c := exportConsultation(t)
	const people = 3

	viaRunner := openShared(t, Config{})
	h := newHarness(t, viaRunner, []*flows.Consultation{c})
	for n := range people {
		for _, in := range flowstest.Inputs(c, n) {
			h.send(fmt.Sprintf("console:export-%d", n), in)
		}
	}

	viaFixture := openShared(t, Config{})
	makeExportFixture(t, c, people, func(int) time.Time { return t0 }, 0).insert(t, viaFixture)

	for _, col := range []string{colIdentities, colParticipants, colSessions, colResponses, colAnswers} {
		got, want := shapes(t, viaFixture, col), shapes(t, viaRunner, col)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got fields\n%s\nwant (as the runner writes them)\n%s", col, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	got, err := viaFixture.Responses(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, err := viaRunner.Responses(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != people || len(want) != people {
		t.Fatalf("got %d responses from the fixture and %d from the runner, want %d", len(got), len(want), people)
	}
	// Both sort by start time, all equal here, then by key (random): match
	// them by their answers instead.
	sortResponses := func(rs []Response) {
		slices.SortFunc(rs, func(a, b Response) int { return strings.Compare(a.Answers["q01"].Text, b.Answers["q01"].Text) })
	}
	sortResponses(got)
	sortResponses(want)
	for i := range got {
		g, w := got[i], want[i]
		if g.Status != w.Status || g.Version != w.Version || !g.Started.Equal(w.Started) || !reflect.DeepEqual(g.Answers, w.Answers) {
			t.Errorf("response %d: got %+v, want %+v", i, g, w)
		}
		if len(g.Answers) != exportQuestions {
			t.Errorf("response %d: got %d answers, want %d", i, len(g.Answers), exportQuestions)
		}
	}
}
