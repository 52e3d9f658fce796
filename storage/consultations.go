package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/consultbot/consultbot/flows"
)

// Version is one loaded version of a consultation file.
type Version struct {
	Hash   string
	Loaded time.Time
}

// consultationDoc is one version of a consultation file: _id is id@hash.
type consultationDoc struct {
	ID           string     `bson:"_id"`
	Consultation string     `bson:"consultation"`
	Hash         string     `bson:"hash"`
	File         string     `bson:"file,omitempty"`
	Title        flows.Text `bson:"title,omitempty"`
	Anonymous    bool       `bson:"anonymous,omitempty"`
	Source       string     `bson:"source"`
	Loaded       time.Time  `bson:"loaded"`
}

// SaveConsultation records a version of a consultation with its file text.
// Saving the same version again changes nothing.
func (s *Store) SaveConsultation(ctx context.Context, c *flows.Consultation, source []byte) error {
	hash := c.Hash
	if hash == "" {
		sum := sha256.Sum256(source)
		hash = hex.EncodeToString(sum[:])
	}
	doc := consultationDoc{
		ID: c.ID + "@" + hash, Consultation: c.ID, Hash: hash, File: c.File, Title: c.Title,
		Anonymous: c.Anonymous, Source: string(source), Loaded: s.now().UTC(),
	}
	if _, err := s.c(colConsultations).InsertOne(ctx, doc); err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("storage: saving consultation %s: %w", c.ID, err)
	}
	return nil
}

// Versions lists the versions of a consultation, oldest first.
func (s *Store) Versions(ctx context.Context, consultation string) ([]Version, error) {
	cur, err := s.c(colConsultations).Find(ctx, bson.D{{Key: "consultation", Value: consultation}},
		options.Find().SetProjection(bson.D{{Key: "hash", Value: 1}, {Key: "loaded", Value: 1}}).
			SetSort(bson.D{{Key: "loaded", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("storage: versions of %s: %w", consultation, err)
	}
	var docs []consultationDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("storage: versions of %s: %w", consultation, err)
	}
	vs := make([]Version, len(docs))
	for i, d := range docs {
		vs[i] = Version{Hash: d.Hash, Loaded: d.Loaded}
	}
	return vs, nil
}

// Source returns the file text of one version of a consultation.
func (s *Store) Source(ctx context.Context, consultation, hash string) ([]byte, error) {
	var doc consultationDoc
	if err := s.c(colConsultations).FindOne(ctx, byID(consultation+"@"+hash)).Decode(&doc); err != nil {
		return nil, notFound(err, "consultation "+consultation+" version "+hash)
	}
	return []byte(doc.Source), nil
}

// inviteDoc is an invite code: _id is the code.
type inviteDoc struct {
	ID           string    `bson:"_id"`
	Consultation string    `bson:"consultation"`
	Created      time.Time `bson:"created"`
}

const (
	inviteAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	inviteLength   = 10
)

func newInviteCode() string {
	code := make([]byte, 0, inviteLength)
	buf := make([]byte, 2*inviteLength)
	for len(code) < inviteLength {
		rand.Read(buf)
		for _, b := range buf {
			// 252 = 7 × 36: drop the rest so every character is equally likely.
			if b < 252 && len(code) < inviteLength {
				code = append(code, inviteAlphabet[int(b)%len(inviteAlphabet)])
			}
		}
	}
	return string(code)
}

// CreateInvites makes n new invite codes to consultation: 10 characters
// [a-z0-9], each unique.
func (s *Store) CreateInvites(ctx context.Context, consultation string, n int, now time.Time) ([]string, error) {
	if n < 1 {
		return nil, fmt.Errorf("storage: invites: want at least 1 code, got %d", n)
	}
	codes := make([]string, 0, n)
	for attempt := 0; len(codes) < n; attempt++ {
		if attempt == 5 {
			return codes, fmt.Errorf("storage: invites: codes keep colliding")
		}
		docs := make([]inviteDoc, n-len(codes))
		for i := range docs {
			docs[i] = inviteDoc{ID: newInviteCode(), Consultation: consultation, Created: now.UTC()}
		}
		_, err := s.c(colInvites).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
		failed := map[int]bool{}
		if err != nil {
			var bwe mongo.BulkWriteException
			if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
				return codes, fmt.Errorf("storage: invites: %w", err)
			}
			for _, we := range bwe.WriteErrors {
				if !mongo.IsDuplicateKeyError(we) {
					return codes, fmt.Errorf("storage: invites: %w", err)
				}
				failed[we.Index] = true
			}
		}
		for i, d := range docs {
			if !failed[i] {
				codes = append(codes, d.ID)
			}
		}
	}
	return codes, nil
}

// Invite returns the consultation an invite code is for; ErrNotFound when
// the code is unknown.
func (s *Store) Invite(ctx context.Context, code string) (string, error) {
	code = strings.ToLower(strings.TrimSpace(code))
	var doc inviteDoc
	if err := s.c(colInvites).FindOne(ctx, byID(code)).Decode(&doc); err != nil {
		return "", notFound(err, "invite code "+code)
	}
	return doc.Consultation, nil
}
