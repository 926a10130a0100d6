package cli

import (
	"flag"
	"fmt"
	"os"
	"slices"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/wire"
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
	fs.StringVar(&p.baseURL, "base-url", "", "the server's URL the device uses, for --config-out (default: PUBLIC_URL, RENDER_EXTERNAL_URL, or the server this command talks to)")
	fs.StringVar(&p.otaKey, "ota-public-key", "", "the base64 public key that signs releases (thermowatt firmware keygen), for --config-out")
}

// check validates the provisioning flags before anything is registered.
func (p *provisioning) check(e env, server string) error {
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
		p.baseURL = server
	}
	if p.otaKey != "" {
		if _, err := thermowatt.ParsePublicKey(p.otaKey); err != nil {
			return usagef("--ota-public-key: %v (thermowatt firmware keygen prints one)", err)
		}
	}
	return nil
}

// write puts the device's token into its config.json; the token is not
// printed, since the file is where it is meant to go.
func (p *provisioning) write(e env, tok wire.IssuedToken) error {
	c := newDeviceConfig(tok.DeviceID, tok.Token, p.baseURL, p.networks)
	if p.otaKey != "" {
		c.OTAPublicKey = &p.otaKey
	}
	b, err := c.marshal()
	if err != nil {
		return err
	}
	if err := writeNew(p.configOut, b); err != nil {
		return fmt.Errorf("device %s has token %s, but %w; revoke it (thermowatt token revoke %s) and issue another (thermowatt device token %s)",
			tok.DeviceID, tok.ID, err, tok.ID, tok.DeviceID)
	}
	fmt.Fprintf(e.stderr, "created device token %s for device %s; it is in %s (mode 0600), copy it to the board: mpremote cp %s :config.json\n",
		tok.ID, tok.DeviceID, p.configOut, p.configOut)
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
