package config

import (
	"fmt"
	"strings"

	"github.com/thermowatt/thermowatt"
)

func init() {
	Options = append(Options, Option{Name: "OTA_PUBLIC_KEYS",
		Help: "the fleet's firmware-signing public keys (base64 Ed25519, as in config.json's ota_public_key), comma-separated; when set, a release is published only with a signature one of them verifies, so no device is sent a release it refuses",
		set: func(c *Config, v string) error {
			c.OTAPublicKeys = nil
			for k := range strings.SplitSeq(v, ",") {
				if k = strings.TrimSpace(k); k == "" {
					continue
				}
				if _, err := thermowatt.ParsePublicKey(k); err != nil {
					return fmt.Errorf("%q: %w", k, err)
				}
				c.OTAPublicKeys = append(c.OTAPublicKeys, k)
			}
			return nil
		}})
}
