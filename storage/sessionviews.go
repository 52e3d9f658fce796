package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/consultbot/consultbot/flows"
)

// SessionView is a session as reminders see it: where it stands and how to
// reach its participant.
type SessionView struct {
	Participant string // pseudonymous id
	Identity    string // their identity on the session's channel, e.g. "tg:123"
	Channel     string
	To          string // their address on that channel
	Session     string // session id
	Language    string
	Timezone    string // the participant's own time zone (IANA name), "" when unknown
	Status      flows.Status
	Started     time.Time
	Updated     time.Time
	Answers     map[string]flows.Answer // nil in an anonymous consultation
	Unreachable bool                    // they blocked the bot on that channel
}

// unfinished are the statuses of a session that has not ended.
func unfinished() bson.A {
	return bson.A{flows.StatusConsent, flows.StatusActive, flows.StatusPaused}
}

// Views returns the sessions of a consultation that have not ended.
func (s *Store) Views(ctx context.Context, consultation string) ([]SessionView, error) {
	cur, err := s.c(colSessions).Find(ctx, bson.D{
		{Key: "consultation", Value: consultation},
		{Key: "state.status", Value: bson.D{{Key: "$in", Value: unfinished()}}},
	})
	if err != nil {
		return nil, fmt.Errorf("storage: sessions of %s: %w", consultation, err)
	}
	var docs []sessionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("storage: sessions of %s: %w", consultation, err)
	}
	if len(docs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.Participant
	}
	cur, err = s.c(colParticipants).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, fmt.Errorf("storage: participants of %s: %w", consultation, err)
	}
	var people []participantDoc
	if err := cur.All(ctx, &people); err != nil {
		return nil, fmt.Errorf("storage: participants of %s: %w", consultation, err)
	}
	byID := map[string]participantDoc{}
	for _, p := range people {
		byID[p.ID] = p
	}
	var out []SessionView
	for _, d := range docs {
		if p, ok := byID[d.Participant]; ok {
			out = append(out, view(d, p))
		}
	}
	return out, nil
}

// View returns one participant's session in a consultation; ErrNotFound
// when there is no such session or participant.
func (s *Store) View(ctx context.Context, consultation, participant string) (SessionView, error) {
	p, err := s.findParticipant(ctx, participant)
	if err != nil {
		return SessionView{}, err
	}
	doc, ok, err := s.loadSession(ctx, sessionID(p.ID, consultation))
	if err != nil {
		return SessionView{}, err
	}
	if !ok {
		return SessionView{}, fmt.Errorf("storage: session of %s in %s: %w", participant, consultation, ErrNotFound)
	}
	return view(doc, p), nil
}

// channelPrefix is the identity prefix of each channel.
func channelPrefix(channel string) string {
	switch channel {
	case "telegram":
		return "tg:"
	case "":
		return ""
	}
	return channel + ":"
}

func view(d sessionDoc, p participantDoc) SessionView {
	v := SessionView{
		Participant: p.ID, Channel: d.State.Channel, Session: d.ID, Language: d.State.Language,
		Status: d.State.Status, Started: d.State.Started, Updated: d.State.Updated, Timezone: p.Timezone,
	}
	if v.Language == "" {
		v.Language = p.Language
	}
	if !d.Anonymous {
		v.Answers = d.State.Answers
	}
	prefix := channelPrefix(v.Channel)
	for _, id := range p.Identities {
		if strings.HasPrefix(id, prefix) {
			v.Identity = id
			break
		}
	}
	v.To = p.Addresses[v.Channel]
	v.Unreachable = v.Identity != "" && slices.Contains(p.Unreachable, v.Identity)
	return v
}

// CloseSessions ends the sessions of a consultation that closed at at: one
// not ended becomes closed. In an anonymous consultation every session
// still holding a response id (in progress, paused, stopped) then drops it
// with its answers, so nothing links them to the person any more. The
// runner does the same when a participant writes after the close; this is
// for those who never write again. Calling it again changes nothing; it
// returns how many sessions it changed.
func (s *Store) CloseSessions(ctx context.Context, consultation string, at time.Time) (int, error) {
	cur, err := s.c(colSessions).Find(ctx, bson.D{
		{Key: "consultation", Value: consultation},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "state.status", Value: bson.D{{Key: "$in", Value: unfinished()}}}},
			bson.D{{Key: "response", Value: bson.D{{Key: "$exists", Value: true}}}, {Key: "anonymous", Value: true}},
		}},
	})
	if err != nil {
		return 0, fmt.Errorf("storage: closing %s: %w", consultation, err)
	}
	var docs []sessionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, fmt.Errorf("storage: closing %s: %w", consultation, err)
	}
	n := 0
	for _, doc := range docs {
		changed, err := s.closeSession(ctx, doc, at)
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}

// closeSession closes (and, when anonymous, seals) one session, retrying
// from the fresh state on a conflict.
func (s *Store) closeSession(ctx context.Context, doc sessionDoc, at time.Time) (bool, error) {
	if s.embedded != nil {
		s.cas.observe(doc.ID, doc.Version)
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		open := !doc.State.Status.Ended()
		linked := doc.Anonymous && doc.Response != ""
		if !open && !linked {
			return false, nil
		}
		nd := doc
		nd.Version = doc.Version + 1
		if open {
			nd.State.Status, nd.State.Finished, nd.State.Confirm, nd.State.Selected = flows.StatusClosed, at, "", nil
		}
		if nd.Anonymous {
			nd.Response, nd.Recent = "", nil
			nd.State.Answers, nd.State.Asked, nd.State.Selected = nil, nil, nil
			nd.State.Started, nd.State.Updated, nd.State.Finished = day(nd.State.Started), day(nd.State.Updated), day(nd.State.Finished)
		}
		err := s.writeSession(ctx, nd, doc.Version, true)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, ErrConflict) {
			return false, err
		}
		var ok bool
		if doc, ok, err = s.loadSession(ctx, doc.ID); err != nil || !ok {
			return false, err
		}
	}
	return false, fmt.Errorf("storage: closing session %s: %w", doc.ID, ErrConflict)
}
