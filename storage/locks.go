package storage

import "sync"

// keyLocks is a mutex per key (a participant identity, a session id), made
// when first wanted and dropped when nobody holds or waits for it.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns its unlock.
func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// versionTable is the embedded store's compare-and-set: the data-directory
// lock makes this process the only writer, so the version of a session last
// written or read here is the stored one. A conditional write then goes by
// _id alone, which FerretDB's SQLite backend finds through the index, where
// {_id, version} would scan the whole table.
type versionTable struct {
	mu sync.Mutex
	m  map[string]int64
}

// observe records a version read from the store unless a newer fact (a
// write by this process) is already known.
func (v *versionTable) observe(id string, version int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.m[id]; !ok {
		v.m[id] = version
	}
}

func (v *versionTable) get(id string) (int64, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n, ok := v.m[id]
	return n, ok
}

func (v *versionTable) set(id string, version int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m[id] = version
}

func (v *versionTable) forget(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, id)
}

// peopleCache holds participant documents by identity for the embedded
// store, whose only writer is this process: each write here updates it, so a
// flow step need not read the participant again.
type peopleCache struct {
	mu sync.Mutex
	m  map[string]participantDoc
}

// maxCachedPeople bounds the cache; past it the cache starts afresh.
const maxCachedPeople = 100000

func (c *peopleCache) get(identity string) (participantDoc, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[identity]
	return p.clone(), ok
}

func (c *peopleCache) put(identity string, p participantDoc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedPeople {
		clear(c.m)
	}
	c.m[identity] = p.clone()
}

// drop forgets every identity of participant id.
func (c *peopleCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, p := range c.m {
		if p.ID == id {
			delete(c.m, k)
		}
	}
}
