package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
)

// api calls the benchmarked server as its admin does.
type api struct {
	url string
	c   *http.Client
}

func (a api) call(ctx context.Context, method, path string, in, out any) error {
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := a.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s %s: %s %v", method, path, resp.Status, e)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// devices registers ids and returns each one's device token, made a few
// at a time.
func (a api) devices(ctx context.Context, ids []string) ([]string, error) {
	tokens := make([]string, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var out struct{ Token string }
			errs[i] = a.call(ctx, http.MethodPost, "/api/devices", map[string]string{"id": id}, &out)
			tokens[i] = out.Token
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return tokens, nil
}

// readerToken issues a read-only token, as a dashboard would use.
func (a api) readerToken(ctx context.Context) (string, error) {
	var out struct{ Token string }
	err := a.call(ctx, http.MethodPost, "/api/tokens", map[string]string{"scope": "reader"}, &out)
	return out.Token, err
}
