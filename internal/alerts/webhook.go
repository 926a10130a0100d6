package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/thermowatt/thermowatt"
)

// Webhook posts notifications as JSON with the message in both "text"
// (Slack incoming webhooks, Discord's .../slack endpoint, most chat tools)
// and "content" (Discord's own webhook format), each neutralised for its
// target (text.go): "text" with Slack's control characters escaped,
// "content" with allowed_mentions empty, so that Discord pings no one.
type Webhook struct {
	URL    string
	Client *http.Client
}

// sendTimeout bounds one delivery; the claim lease is longer than two of
// them, so a claim never runs out while its holder is still sending.
const sendTimeout = 10 * time.Second

// claimLease is how long a checker holds the alerts it is notifying.
const claimLease = time.Minute

// Send posts one message; any answer but 2xx is an error.
func (w *Webhook) Send(ctx context.Context, text string) error {
	body, _ := json.Marshal(map[string]any{
		"text":             slackText(text),
		"content":          cut(text, maxMessage),
		"allowed_mentions": map[string][]string{"parse": {}},
	})
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "thermowatt-alerts")
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(res.Body, 200))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s: %s", res.Status, bytes.TrimSpace(snippet))
	}
	return nil
}

// Backoff is the wait before delivery attempt n+1 after n failures:
// 30 s doubling up to 30 min, and then every 30 min for as long as it
// takes (the transition is never dropped).
func Backoff(failures int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < failures && d < 30*time.Minute; i++ {
		d *= 2
	}
	return min(d, 30*time.Minute)
}

// Deliver sends every pending transition it can claim. A failed send is
// recorded with the time of the next attempt and never blocks anything
// else: ingest does not wait for alerts at all.
func (c *Checker) Deliver(ctx context.Context, r *Report) error {
	for {
		now := c.now()
		claimed, err := c.Store.ClaimAlerts(ctx, now, claimLease, 20)
		if err != nil {
			return fmt.Errorf("alerts: claim notifications: %w", err)
		}
		if len(claimed) == 0 {
			return nil
		}
		for _, a := range claimed {
			if err := c.deliverOne(ctx, a, r); err != nil {
				return err
			}
		}
	}
}

// deliverOne sends the pending transitions of one claimed alert in order.
func (c *Checker) deliverOne(ctx context.Context, a thermowatt.Alert, r *Report) error {
	for {
		tr := a.Pending()
		if tr == "" {
			return nil
		}
		now := c.now()
		if c.Webhook != nil {
			if err := c.Webhook.Send(ctx, Text(a, tr)); err != nil {
				r.Failed++
				next := now.Add(Backoff(a.NotifyAttempts + 1))
				c.log().Warn("alert notification failed", "alert", a.ID, "device", a.DeviceID, "transition", tr,
					"attempt", a.NotifyAttempts+1, "next", next, "err", err)
				return c.Store.NotifyFailed(ctx, a.ID, a.Claim, err.Error(), next)
			}
			r.Notified++
		} else {
			r.Undeliver++
		}
		if err := c.Store.MarkNotified(ctx, a.ID, a.Claim, tr, now); err != nil {
			return err
		}
		if tr == thermowatt.TransitionOpened {
			a.OpenedNotifiedAt = &now
		} else {
			a.ResolvedNotifiedAt = &now
		}
	}
}
