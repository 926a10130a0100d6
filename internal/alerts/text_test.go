package alerts_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/store"
)

// What a device writes in its update report (or last error) reaches chat
// quoted, cut, and with each target's markup neutralised: no live
// mention, no disguised link. (Before: `@everyone <!channel>
// <https://evil.example/login|Click>` in update.reason arrived as a
// channel ping and a link labelled "Click".)
func TestDeviceTextIsNeutralisedInWebhooks(t *testing.T) {
	hostile := "@everyone <!channel> <@U024BE7LH> <!subteam^S0|@team> <https://evil.example/login|Click> [Click](https://evil.example) `x` **bold**\nsecond line"
	long := strings.Repeat("A", 10000)
	eachBackend(t, 1, func(t *testing.T, ss []store.Store) {
		s := ss[0]
		hook := newReceiver(t, 0)
		clk := newClock(t0)
		c := checker(s, clk, hook.url)
		report, _ := json.Marshal(map[string]any{"device": map[string]any{"firmware": "1.4.0",
			"update": map[string]any{"state": "rolled_back", "version": "<!here>@here", "reason": hostile}}})
		send(t, s, "node-1", t0, string(report))
		report, _ = json.Marshal(map[string]any{"device": map[string]any{"firmware": "1.4.0",
			"update": map[string]any{"state": "rolled_back", "version": "1.5.0", "reason": long}}})
		send(t, s, "node-2", t0, string(report))
		clk.Add(2 * time.Minute)
		if r := check(t, c); r.Notified != 2 {
			t.Fatalf("report = %+v, want two update alerts notified", r)
		}
		hook.mu.Lock()
		texts, contents := hook.texts, hook.contents
		hook.mu.Unlock()
		for i, text := range texts {
			for _, live := range []string{"<!", "<@", "<http", "|Click>", "@everyone", "@here", "@team", "\n"} {
				if strings.Contains(text, live) {
					t.Errorf("Slack text holds %q live: %s", live, text)
				}
			}
			content := contents[i]
			// The version given up, the one running, the reason: three spans.
			if strings.Contains(content, "\n") || strings.Count(content, "`") != 6 || len([]rune(content)) > 1900 {
				t.Errorf("Discord content not quoted in three code spans on one line: %s", content)
			}
			if strings.Contains(content, "node-2") && (strings.Contains(content, strings.Repeat("A", 200)) || !strings.Contains(content, "…")) {
				t.Errorf("a 10,000-character reason was not cut to %d: %d characters", 200, len(content))
			}
		}
		if len(texts) != 2 {
			t.Fatalf("webhook got %d messages", len(texts))
		}
	})
}
