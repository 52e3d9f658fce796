// Package relay is the machinery the chat channels share, free of any
// platform: handing stored updates to the conversation, one participant's
// in order and different participants' side by side, with a give-up for an
// update that keeps failing (Processor); and delivering claimed messages
// one at a time per chat or channel, in the order they were queued, chats
// side by side (Lanes).
//
// A channel translates its platform's updates and messages; relay only
// orders and counts. It does not touch the store: the channel passes in what
// to do with each update and message.
package relay

import (
	"hash/fnv"
)

// Shard spreads keys over n shards (n > 0): a key always lands on the same
// one.
func Shard(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}
