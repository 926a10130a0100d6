package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/store"
)

// provisioning is what `device add --config-out` needs to write a
// config.json that a fresh board runs with as it is.
type provisioning struct {
	configOut, baseURL, otaKey string
	wifi                       repeated
	networks                   []wifiNetwork
}

func (p *provisioning) flags(fs *flag.FlagSet) {
	fs.StringVar(&p.configOut, "config-out", "", "write the device's config.json here (created, never overwritten; holds its token)")
	fs.Var(&p.wifi, "wifi", "a Wi-Fi network SSID:PASSWORD for --config-out, tried in the order given; repeat for several")
	fs.StringVar(&p.baseURL, "base-url", "", "the server's URL for --config-out (default: PUBLIC_URL or RENDER_EXTERNAL_URL)")
	fs.StringVar(&p.otaKey, "ota-public-key", "", "the base64 public key that signs releases (thermowatt firmware keygen), for --config-out")
}

// check validates the provisioning flags before anything is registered.
func (p *provisioning) check(e env) error {
	if p.configOut == "" {
		if len(p.wifi) > 0 || p.baseURL != "" || p.otaKey != "" {
			return usagef("--wifi, --base-url and --ota-public-key go with --config-out FILE")
		}
		return nil
	}
	if _, err := os.Stat(p.configOut); err == nil {
		return fmt.Errorf("%s already exists; it is never overwritten (it may hold a token in use)", p.configOut)
	}
	if len(p.wifi) == 0 {
		return usagef("--config-out needs at least one --wifi SSID:PASSWORD (the board has no other way online)")
	}
	for _, w := range p.wifi {
		n, err := parseWiFi(w)
		if err != nil {
			return usagef("%v", err)
		}
		p.networks = append(p.networks, n)
	}
	if p.baseURL == "" {
		p.baseURL = e.getenv("PUBLIC_URL")
	}
	if p.baseURL == "" {
		p.baseURL = e.getenv("RENDER_EXTERNAL_URL")
	}
	if p.baseURL == "" {
		return usagef("--config-out needs the server's URL: --base-url https://... or PUBLIC_URL")
	}
	if p.otaKey != "" {
		if _, err := thermowatt.ParsePublicKey(p.otaKey); err != nil {
			return usagef("--ota-public-key: %v (thermowatt firmware keygen prints one)", err)
		}
	}
	return nil
}

// write issues the device's token and writes its config.json with it; the
// token is not printed, since the file is where it is meant to go.
func (p *provisioning) write(ctx context.Context, e env, st store.Store, id string) error {
	secret, t, err := auth.New(thermowatt.ScopeDevice, id, time.Now())
	if err != nil {
		return err
	}
	if err := st.CreateToken(ctx, t); err != nil {
		return err
	}
	c := newDeviceConfig(id, secret, p.baseURL, p.networks)
	if p.otaKey != "" {
		c.OTAPublicKey = &p.otaKey
	}
	b, err := c.marshal()
	if err != nil {
		return err
	}
	if err := writeNew(p.configOut, b); err != nil {
		return fmt.Errorf("device %s is registered with token %s, but %w; revoke it (thermowatt token revoke %s) and issue another (thermowatt device token %s)",
			id, t.ID, err, t.ID, id)
	}
	fmt.Fprintf(e.stderr, "created device token %s for device %s; it is in %s (mode 0600), copy it to the board: mpremote cp %s :config.json\n",
		t.ID, id, p.configOut, p.configOut)
	if c.AllowHTTP {
		fmt.Fprintf(e.stderr, "warning: %s is http://, so allow_http is set: use https:// for a real deployment\n", c.BaseURL)
	}
	return nil
}

// parseInterspersed parses flags wherever they stand among the positional
// arguments (device add ID --config-out FILE), which the flag package
// alone stops at. After "--" everything is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = slices.Clone(rest[1:])
	}
}
