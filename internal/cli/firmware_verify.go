package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
)

// checkFleetSignature verifies a release's signature against the fleet's
// public keys before anything is uploaded, when the server knows them
// (OTA_PUBLIC_KEYS, GET /api/firmware/keys): a release no key verifies
// would be refused by every device, which would only find out after
// downloading it. A server that knows no keys (or predates the endpoint)
// checks nothing here; the server checks again on upload either way.
func checkFleetSignature(ctx context.Context, url, token, version string, signature *string, files []thermowatt.FirmwareFile) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(url, "/")+"/api/firmware/keys", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("asking %s for the fleet's public keys: %w", url, err)
	}
	defer res.Body.Close()
	var ans struct{ Keys []string }
	if res.StatusCode == http.StatusNotFound {
		return nil // a server without the endpoint knows no keys
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&ans) != nil {
		return fmt.Errorf("asking %s for the fleet's public keys: %s (is the token an admin token?)", url, res.Status)
	}
	if len(ans.Keys) == 0 {
		return nil
	}
	if signature == nil {
		return fmt.Errorf("the fleet verifies releases (%d public keys on the server) and this one is unsigned: sign it with `thermowatt firmware sign --key FILE --version %s DIR > sig` and pass --signature sig; nothing was uploaded", len(ans.Keys), version)
	}
	manifest := thermowatt.Manifest(version, files)
	for _, k := range ans.Keys {
		if thermowatt.VerifyManifest(k, *signature, manifest) == nil {
			return nil
		}
	}
	return fmt.Errorf("the signature verifies with none of the fleet's %d public keys for version %s and these files: sign this directory as this version with the fleet's key (devices would refuse it); nothing was uploaded", len(ans.Keys), version)
}
