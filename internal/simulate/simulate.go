// Package simulate runs simulated ESP32 nodes that speak exactly the
// firmware's protocol (esp32/lib/uplink.py, reading.py): the same JSON
// readings with device health in payload.device, a bounded queue, batches,
// the same answer classification and backoff, Wi-Fi outages followed by
// backlog flushes, and readings taken after a reboot before NTP set the
// clock, which wait for the clock and are then sent with their real time.
// It serves demos (serve --demo), the dashboard's demo mode, and
// benchmarks as a load generator (call Run in-process).
package simulate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/thermowatt/thermowatt/internal/apiclient"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// Options of a simulation. Zero values take the defaults shown.
type Options struct {
	URL string // base URL of the service
	// Token writes for every device (an admin token); Tokens, when it has
	// an entry for a device, is used instead (device tokens).
	Token  string
	Tokens map[string]string
	HTTP   *http.Client

	Devices  int           // 3
	Prefix   string        // "sim-": devices are sim-01, sim-02, ...
	Interval time.Duration // 5 s between measurements
	// History is how much past each device has queued at start, as if it
	// had been offline: flushed at once in batches (a burst of load, and
	// a demo with curves from the first second). At most QueueCap.
	History  time.Duration
	Duration time.Duration // 0: until ctx ends
	// Measurements stops each device after this many live measurements
	// (0: no limit); with Drain, Run returns once all queues are empty.
	Measurements int
	BatchSize    int // 25, the firmware's batch_size
	QueueCap     int // 2000, the firmware's queue_cap: the oldest reading is dropped beyond

	OfflineChance float64 // per interval, chance Wi-Fi is lost (0.01); negative: never
	RebootChance  float64 // per interval, chance of a reboot (0.003); negative: never
	// Backoff after a failed send; the firmware uses 5 s doubling to 10 min.
	Backoff apiclient.Backoff
	Seed    uint64 // 0: random

	// Log receives one line per event (outage, flush, reboot, error).
	Log io.Writer
	// Events receives only the lines about the devices themselves (Wi-Fi
	// lost and back, reboots): what someone watching their charts needs,
	// without the retries of the protocol underneath.
	Events io.Writer
	// Start is the wall clock of the first measurement (default now);
	// recordedAt values are Start + n*Interval, exact.
	Start time.Time
	// KeepLatencies records every request's latency in Stats.Latencies.
	KeepLatencies bool
}

// Stats is what a simulation did.
type Stats struct {
	Devices      int
	Measured     int // readings measured (history included)
	Sent         int // readings in requests answered 2xx (resends included)
	Accepted     int
	Duplicates   int
	Rejected     int // readings refused in a 2xx answer or dead-lettered with their batch
	Requests     int
	Failures     int // requests that failed transiently (408/429/5xx/network)
	Held         int // requests refused for the token or device (401/403/404)
	Dropped      int // readings dropped from a full queue
	DeadLettered int // readings the devices gave up on: refused, or never dated
	Outages      int
	Reboots      int
	ClockLess    int // readings taken before the clock was set
	Queued       int // readings still queued at the end
	Elapsed      time.Duration
	LatencyTotal time.Duration
	LatencyMax   time.Duration
	Latencies    []time.Duration `json:"-"`
}

// String is one line for people.
func (s Stats) String() string {
	mean := time.Duration(0)
	if s.Requests > 0 {
		mean = s.LatencyTotal / time.Duration(s.Requests)
	}
	return fmt.Sprintf("%d devices: measured %d, sent %d in %d requests (accepted %d, duplicates %d, rejected %d), %d transient failures, %d outages, %d reboots, %d clock-less, %d queued; latency mean %s max %s",
		s.Devices, s.Measured, s.Sent, s.Requests, s.Accepted, s.Duplicates, s.Rejected, s.Failures, s.Outages, s.Reboots, s.ClockLess, s.Queued,
		mean.Round(time.Microsecond), s.LatencyMax.Round(time.Microsecond))
}

// DeviceIDs are the ids Run uses for n devices with a prefix.
func DeviceIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%02d", prefix, i+1)
	}
	return ids
}

func (o *Options) defaults() {
	if o.Devices <= 0 {
		o.Devices = 3
	}
	if o.Prefix == "" {
		o.Prefix = "sim-"
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 25
	}
	if o.QueueCap <= 0 {
		o.QueueCap = 2000
	}
	if o.OfflineChance == 0 {
		o.OfflineChance = 0.01
	}
	if o.RebootChance == 0 {
		o.RebootChance = 0.003
	}
	if o.Backoff.Base <= 0 {
		o.Backoff = apiclient.Backoff{Base: 5 * time.Second, Cap: 10 * time.Minute}
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	if o.Start.IsZero() {
		o.Start = time.Now().Truncate(time.Millisecond)
		if o.Interval%time.Second == 0 {
			o.Start = o.Start.Truncate(time.Second) // whole seconds, as the firmware writes
		}
	}
}

// runner holds what the devices share.
type runner struct {
	o     Options
	mu    sync.Mutex
	stats Stats
	logMu sync.Mutex
}

func (r *runner) add(f func(s *Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

func (r *runner) logf(format string, a ...any) {
	if r.o.Log == nil {
		return
	}
	r.logMu.Lock()
	fmt.Fprintf(r.o.Log, format+"\n", a...)
	r.logMu.Unlock()
}

// eventf is logf for what happens to a device itself, which Events gets too.
func (r *runner) eventf(format string, a ...any) {
	r.logf(format, a...)
	if r.o.Events == nil {
		return
	}
	r.logMu.Lock()
	fmt.Fprintf(r.o.Events, format+"\n", a...)
	r.logMu.Unlock()
}

// Run runs the devices until ctx ends, Duration passes, or (with
// Measurements) every device has measured that many times and emptied its
// queue. It returns the statistics; the error is non-nil only for bad
// options.
func Run(ctx context.Context, o Options) (Stats, error) {
	o.defaults()
	if o.URL == "" {
		return Stats{}, fmt.Errorf("simulate: no URL")
	}
	if o.Token == "" && len(o.Tokens) == 0 {
		return Stats{}, fmt.Errorf("simulate: no token")
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	if o.HTTP == nil {
		// One kept-alive connection per device: the default pool of two
		// would make a load test measure TCP set-up instead of the API.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = o.Devices
		o.HTTP = &http.Client{Transport: tr, Timeout: 30 * time.Second} // the firmware's http_timeout_s
		defer tr.CloseIdleConnections()
	}
	r := &runner{o: o}
	r.stats.Devices = o.Devices
	start := time.Now()
	var wg sync.WaitGroup
	for i, id := range DeviceIDs(o.Prefix, o.Devices) {
		tok := o.Tokens[id]
		if tok == "" {
			tok = o.Token
		}
		d := newDevice(r, id, &apiclient.Client{BaseURL: o.URL, Token: tok, HTTP: o.HTTP}, rand.New(rand.NewPCG(o.Seed, uint64(i+1))))
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.run(ctx)
		}()
	}
	wg.Wait()
	r.stats.Elapsed = time.Since(start)
	if o.KeepLatencies {
		sort.Slice(r.stats.Latencies, func(i, j int) bool { return r.stats.Latencies[i] < r.stats.Latencies[j] })
	}
	return r.stats, nil
}

// record is one queued reading, as the firmware keeps it on flash.
type record struct {
	taken  time.Time // the true instant (the simulator knows it)
	clock  bool      // the device's clock was set when it was taken
	boot   int
	sample sample
}

type device struct {
	r      *runner
	id     string
	client *apiclient.Client
	rng    *rand.Rand
	model  *model

	queue       []record
	boot        int
	bootAt      time.Time // when this boot started, for uptime
	clockSet    bool      // NTP has set the clock in this boot
	clockIn     int       // measurements until NTP answers after a reboot
	offlineFor  int       // measurements left offline
	batchSize   int
	failures    int
	nextTry     time.Time
	dropped     int
	deadLetters int
	lastError   string
	resetCause  string
	heap        int
}

func newDevice(r *runner, id string, c *apiclient.Client, rng *rand.Rand) *device {
	d := &device{r: r, id: id, client: c, rng: rng, boot: 1, clockSet: true, batchSize: r.o.BatchSize,
		resetCause: "pwron", heap: 70000 + rng.IntN(20000)}
	first := r.o.Start
	n := 0
	if r.o.History > 0 {
		n = min(int(r.o.History/r.o.Interval), r.o.QueueCap)
		first = r.o.Start.Add(-time.Duration(n) * r.o.Interval)
	}
	d.bootAt = first.Add(-time.Duration(rng.IntN(3600)) * time.Second)
	d.model = newModel(rng, first)
	for k := range n {
		d.measure(first.Add(time.Duration(k) * r.o.Interval))
	}
	return d
}

func (d *device) measure(at time.Time) {
	s := d.model.step(at)
	rec := record{taken: at, clock: d.clockSet, boot: d.boot, sample: s}
	if !d.clockSet {
		d.r.add(func(st *Stats) { st.ClockLess++ })
	}
	if len(d.queue) >= d.r.o.QueueCap {
		d.queue = d.queue[1:] // the flash queue drops the oldest
		d.dropped++
		d.r.add(func(st *Stats) { st.Dropped++ })
	}
	d.queue = append(d.queue, rec)
	d.r.add(func(st *Stats) { st.Measured++ })
}

func (d *device) run(ctx context.Context) {
	o := d.r.o
	// Devices do not measure in lockstep: each starts at its own phase,
	// yet keeps exact Start + n*Interval timestamps.
	phase := time.Duration(d.rng.Int64N(int64(o.Interval)))
	next := o.Start
	wait := time.Until(next) + phase
	measured := 0
	d.flush(ctx, time.Now()) // the history backlog, at once
	for {
		if o.Measurements > 0 && measured >= o.Measurements {
			// Deliver what is queued, then stop.
			for len(d.queue) > 0 && ctx.Err() == nil {
				if !d.clockSet {
					d.setClock()
				}
				d.offlineFor = 0
				if d.flush(ctx, time.Now()) == 0 {
					sleep(ctx, min(time.Until(d.nextTry), time.Second))
				}
			}
			d.finish()
			return
		}
		if !sleep(ctx, wait) {
			d.finish()
			return
		}
		d.events()
		d.measure(next)
		measured++
		next = next.Add(o.Interval)
		d.flush(ctx, time.Now())
		wait = time.Until(next) + phase
	}
}

func (d *device) finish() {
	n := len(d.queue)
	d.r.add(func(st *Stats) { st.Queued += n; st.DeadLettered += d.deadLetters })
}

// events rolls the dice for outages, reboots and NTP, once per interval.
func (d *device) events() {
	o := d.r.o
	if d.offlineFor > 0 {
		d.offlineFor--
		if d.offlineFor == 0 {
			d.r.eventf("%s: Wi-Fi back at %s, sending its %d queued readings", d.id, time.Now().Format(time.TimeOnly), len(d.queue))
		}
	} else if o.OfflineChance > 0 && d.rng.Float64() < o.OfflineChance {
		d.offlineFor = 3 + d.rng.IntN(40)
		d.r.add(func(st *Stats) { st.Outages++ })
		// Said in wall-clock terms, so that someone watching a chart knows
		// which device goes quiet, from when, and for how long.
		d.r.eventf("%s: offline at %s for %s (a simulated Wi-Fi outage of %d measurements): it queues its readings and sends them when back",
			d.id, time.Now().Format(time.TimeOnly), time.Duration(d.offlineFor)*o.Interval, d.offlineFor)
	}
	if !d.clockSet {
		d.clockIn--
		if d.clockIn <= 0 {
			d.setClock()
		}
	}
	if o.RebootChance > 0 && d.rng.Float64() < o.RebootChance {
		d.reboot()
	}
}

func (d *device) reboot() {
	// Readings of a boot that never got the time can never be dated: the
	// firmware dead-letters them rather than guess.
	if !d.clockSet {
		kept := d.queue[:0]
		for _, q := range d.queue {
			if q.boot == d.boot && !q.clock {
				d.deadLetters++
				continue
			}
			kept = append(kept, q)
		}
		d.queue = kept
	}
	d.boot++
	d.bootAt = time.Now()
	d.clockSet = false
	d.clockIn = 1 + d.rng.IntN(3)
	d.resetCause = []string{"wdt", "brownout", "hard"}[d.rng.IntN(3)]
	d.r.add(func(st *Stats) { st.Reboots++ })
	d.r.eventf("%s: reboot at %s (%s), boot %d: clock not set for the next %d measurements",
		d.id, time.Now().Format(time.TimeOnly), d.resetCause, d.boot, d.clockIn)
}

// setClock is NTP answering: readings taken earlier in this boot get
// their real time (the firmware persists the boot's uptime anchor).
func (d *device) setClock() {
	d.clockSet = true
	for i := range d.queue {
		if d.queue[i].boot == d.boot {
			d.queue[i].clock = true
		}
	}
}

// flush sends batches while there is something to send, the link is up and
// the server takes them. It returns how many batches were delivered.
func (d *device) flush(ctx context.Context, now time.Time) int {
	sent := 0
	for len(d.queue) > 0 && d.offlineFor == 0 && !now.Before(d.nextTry) && ctx.Err() == nil {
		n := 0
		for n < len(d.queue) && n < d.batchSize && d.queue[n].clock {
			n++
		}
		if n == 0 {
			return sent // the oldest reading waits for NTP
		}
		if !d.send(ctx, n) {
			return sent
		}
		sent++
		now = time.Now()
	}
	return sent
}

// send posts the oldest n readings once and acts on the answer as the
// firmware's uplink does. It reports whether the batch left the queue.
func (d *device) send(ctx context.Context, n int) bool {
	body := d.body(n)
	a := d.client.PostMeasurements(ctx, body)
	if ctx.Err() != nil {
		return false
	}
	d.r.add(func(st *Stats) {
		st.Requests++
		st.LatencyTotal += a.Elapsed
		st.LatencyMax = max(st.LatencyMax, a.Elapsed)
		if d.r.o.KeepLatencies {
			st.Latencies = append(st.Latencies, a.Elapsed)
		}
	})
	switch a.Kind {
	case apiclient.Sent:
		d.queue = d.queue[n:]
		d.failures, d.lastError = 0, ""
		rej := len(a.Result.Rejected)
		d.deadLetters += rej
		if rej > 0 {
			d.lastError = fmt.Sprintf("%d readings rejected", rej)
		}
		d.r.add(func(st *Stats) {
			st.Sent += n
			st.Accepted += a.Result.Accepted
			st.Duplicates += a.Result.Duplicates
			st.Rejected += rej
		})
		return true
	case apiclient.Dead:
		if a.Status == 413 && n > 1 {
			d.batchSize = max(1, n/2)
			d.r.logf("%s: HTTP 413 for %d readings: batch size now %d", d.id, n, d.batchSize)
			return false
		}
		d.queue = d.queue[n:]
		d.deadLetters += n
		d.lastError = fmt.Sprintf("HTTP %d: batch dead-lettered", a.Status)
		d.r.add(func(st *Stats) { st.Rejected += n })
		d.r.logf("%s: %s; %d readings dead-lettered", d.id, a, n)
		return true
	case apiclient.Held:
		d.failures++
		d.lastError = fmt.Sprintf("HTTP %d: check api_key, device_id and base_url in config.json", a.Status)
		d.nextTry = time.Now().Add(d.r.o.Backoff.Cap)
		d.r.add(func(st *Stats) { st.Held++ })
		d.r.logf("%s: %s; retry in %s", d.id, a, d.r.o.Backoff.Cap)
		return false
	}
	d.failures++
	d.lastError = a.String()
	wait := d.r.o.Backoff.Delay(d.failures, a.RetryAfter)
	d.nextTry = time.Now().Add(wait)
	d.r.add(func(st *Stats) { st.Failures++ })
	d.r.logf("%s: %s for %d readings; retry in %s", d.id, a, n, wait.Round(time.Millisecond))
	return false
}

// Firmware is what simulated devices report as their firmware.
const Firmware = "thermowatt-esp32 1.0.0 (simulated)"

func (d *device) body(n int) []byte {
	var lastErr *string
	if d.lastError != "" {
		e := d.lastError
		lastErr = &e
	}
	d.heap = min(max(d.heap+d.rng.IntN(2001)-1000, 60000), 110000)
	h := wire.Health{
		Firmware: Firmware, UptimeS: int64(time.Since(d.bootAt).Seconds()), FreeHeap: d.heap,
		RSSIdBm: -45 - d.rng.IntN(40), QueueDepth: len(d.queue), Dropped: d.dropped, DeadLettered: d.deadLetters,
		LastError: lastErr, ResetCause: d.resetCause, Boot: d.boot,
	}
	out := make([]wire.Reading, n)
	for i, q := range d.queue[:n] {
		s := q.sample
		bmp := map[string]any{"temperature_c": s.temperatureC, "pressure_hpa": s.pressureHPa}
		if s.bmpError != "" {
			bmp = map[string]any{"error": s.bmpError}
		}
		ina := map[string]any{"shunt_ohms": 0.1, "max_current_a": 3.2}
		if s.inaError != "" {
			ina["error"] = s.inaError
		}
		out[i] = wire.Reading{
			DeviceID: d.id, RecordedAt: q.taken.UTC().Format(time.RFC3339Nano),
			Temperature: s.temperatureC,
			Payload: wire.Payload{VoltageV: s.voltageV, CurrentMA: s.currentMA, PowerMW: s.powerMW,
				Sensor: &wire.Sensor{BMP280: bmp, INA219: ina}},
		}
	}
	out[n-1].Payload.Device = &h
	b, _ := json.Marshal(out)
	return b
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
