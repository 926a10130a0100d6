package postgres

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Payload shapes: a dictionary of the payloads readings repeat
// (migration 00016). What stays of a firmware payload once its columns
// are folded out (store.FoldPayload) is the same for every reading of a
// device, and of every device of one build: the sensors' constants
// (`{"sensor": {"bmp280": {}, "ina219": {"shunt_ohms": 0.1, ...}}}`),
// 100 bytes of JSONB a row, the row's largest column. A row whose payload
// is in the dictionary keeps its number (payload_shape, 4 bytes) and a
// NULL payload.
//
// A payload becomes a shape the second time this process stores it (a
// batch tried again, as a device's first one is, counts twice), so
// payloads that never repeat (a device's report on itself, with its
// uptime) never fill the dictionary: they stay in their rows as before.
// Nor does one that carries a "device" member at all: ingest reads a
// device's health from the stored payload (ingest.go). A shape's body is
// the payload's JSONB text, and its number is keyed on that exact text,
// so a reading reads back what its own payload column would have given,
// number formatting included (JSONB equality would take 1.0 for 1).
//
// Shapes are never changed or deleted, so their numbers are cached here
// for good; the caches are bounded, and a payload past the bounds is
// stored whole, as before.
type payloadShapes struct {
	mu     sync.RWMutex
	ids    map[string]int32 // a payload as sent (folded) -> its shape
	bodies map[int32][]byte // a shape -> its body, the JSONB text
	// seen holds payloads stored once, not yet shapes; emptied when
	// full. next lists those stored a second time, to make shapes of.
	seen map[string]bool
	next []string
}

const (
	maxShapeBytes = 1024 // a longer payload is stored whole
	maxShapes     = 4096 // shapes this process assigns; the table may hold more
	maxSeen       = 4096
)

// shapeOf returns the shape of a folded payload, 0 when it has none
// (yet): the reading then keeps its payload.
func (p *payloadShapes) shapeOf(payload []byte) int32 {
	if len(payload) == 0 || len(payload) > maxShapeBytes {
		return 0
	}
	p.mu.RLock()
	id, ok := p.ids[string(payload)]
	full := len(p.ids) >= maxShapes
	p.mu.RUnlock()
	if ok || full || bytes.Contains(payload, []byte(`"device"`)) {
		return id
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := string(payload)
	switch {
	case p.seen == nil:
		p.seen = make(map[string]bool)
	case p.seen[key]:
		delete(p.seen, key)
		if len(p.next) < maxSeen { // learn runs after each stored batch; while none is, this waits
			p.next = append(p.next, key)
		}
		return 0
	case len(p.seen) >= maxSeen:
		clear(p.seen)
	}
	p.seen[key] = true
	return 0
}

// learn makes shapes of the payloads shapeOf found stored twice, for the
// readings that come after; InsertReadings calls it first. Its failure only means those stay whole: it
// is logged by no one and tried again with the next repeat.
func (p *payloadShapes) learn(ctx context.Context, db querier) {
	p.mu.Lock()
	next := p.next
	p.next = nil
	p.mu.Unlock()
	if len(next) == 0 {
		return
	}
	// Inserted in one statement and read back by text: several instances
	// making the same shape at once get the same number.
	rows, err := db.Query(ctx, `
		WITH given AS (SELECT DISTINCT p::jsonb::text AS body, p AS sent FROM unnest($1::text[]) AS u(p)),
		made AS (
			INSERT INTO payload_shapes (body) SELECT body FROM given ORDER BY body
			ON CONFLICT (body) DO NOTHING RETURNING shape, body)
		SELECT g.sent, coalesce(m.shape, s.shape), g.body
		FROM given g LEFT JOIN made m USING (body) LEFT JOIN payload_shapes s USING (body)
		-- one made by a transaction this statement's snapshot does not
		-- see: a later repeat learns it
		WHERE coalesce(m.shape, s.shape) IS NOT NULL`, next)
	if err != nil {
		return
	}
	learned := make(map[string]int32, len(next))
	bodies := make(map[int32][]byte, len(next))
	var (
		sent, body string
		id         int32
	)
	_, err = pgx.ForEachRow(rows, []any{&sent, &id, &body}, func() error {
		learned[sent], bodies[id] = id, []byte(body)
		return nil
	})
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ids == nil {
		p.ids, p.bodies = make(map[string]int32), make(map[int32][]byte)
	}
	for sent, id := range learned {
		if len(p.ids) < maxShapes {
			p.ids[sent], p.bodies[id] = id, bodies[id]
		}
	}
}

// body returns the bodies of shapes, reading those not cached yet (made
// by another instance) from db.
func (p *payloadShapes) body(ctx context.Context, db querier, shapes []int32) (map[int32][]byte, error) {
	out := make(map[int32][]byte, len(shapes))
	var missing []int32
	p.mu.RLock()
	for _, id := range shapes {
		if b, ok := p.bodies[id]; ok {
			out[id] = b
		} else {
			missing = append(missing, id)
		}
	}
	p.mu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT shape, body FROM payload_shapes WHERE shape = ANY($1::int4[])`, missing)
	if err != nil {
		return nil, err
	}
	var (
		id   int32
		body string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &body}, func() error {
		out[id] = []byte(body)
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bodies == nil {
		p.ids, p.bodies = make(map[string]int32), make(map[int32][]byte)
	}
	for _, id := range missing {
		b, ok := out[id]
		if !ok {
			return nil, fmt.Errorf("a reading names payload shape %d, which payload_shapes does not hold", id)
		}
		if len(p.bodies) < 2*maxShapes {
			p.bodies[id] = b
		}
	}
	return out, nil
}
