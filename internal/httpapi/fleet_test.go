package httpapi_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/testcert"
)

// post sends one reading of device with its token and returns the answer.
func (a *api) post(device, token string, i int, health string) response {
	a.t.Helper()
	body := fmt.Sprintf(`{"deviceId":%q,"recordedAt":%q,"temperature":20}`, device, recent(i))
	if health != "" {
		body = fmt.Sprintf(`{"deviceId":%q,"recordedAt":%q,"temperature":20,"payload":{"device":%s}}`, device, recent(i), health)
	}
	r := a.do("POST", "/api/measurements", token, body)
	if r.Status != http.StatusCreated {
		a.t.Fatalf("post %s: %d %s", device, r.Status, r.Body)
	}
	return r
}

// desiredOf posts a reading and returns the desired state of the answer.
func (a *api) desiredOf(device, token string, i int) string {
	a.t.Helper()
	var got struct {
		Desired json.RawMessage `json:"desired"`
	}
	r := a.post(device, token, i, "")
	if err := json.Unmarshal(r.Body, &got); err != nil {
		a.t.Fatal(err)
	}
	return string(got.Desired)
}

func TestRemoteSettings(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("n1")
		other := a.device("n2")

		if r := a.do("GET", "/api/device/settings", tok, nil); r.Status != 200 || string(r.Body) != `{"rev":0,"settings":{}}`+"\n" {
			t.Fatalf("device settings before any: %d %s", r.Status, r.Body)
		}
		// Validated against config.py's ranges, every problem at once.
		r := a.do("PUT", "/api/settings", adminToken, `{"interval_s":5,"batch_size":2.5,"wifi":[],"log_level":"loud","led":"on"}`)
		msg := string(r.Body)
		if r.Status != 400 || !strings.Contains(msg, "interval_s must be between 10 and 86400") || !strings.Contains(msg, "batch_size must be a whole number") ||
			!strings.Contains(msg, "wifi cannot be set remotely") || !strings.Contains(msg, "log_level must be one of") || !strings.Contains(msg, "led must be true or false") {
			t.Fatalf("invalid settings: %d %s", r.Status, r.Body)
		}
		if r := a.do("PUT", "/api/settings", adminToken, `{"backoff_base_s":60,"backoff_cap_s":30}`); r.Status != 400 {
			t.Fatalf("base above cap: %d %s", r.Status, r.Body)
		}

		r = a.do("PUT", "/api/settings", adminToken, `{"interval_s":600,"led":false,"http_timeout_s":null}`)
		fleet := r.json(t)
		rev1 := fleet["rev"].(float64)
		if r.Status != 200 || rev1 < 1 || fleet["settings"].(map[string]any)["interval_s"] != 600.0 || len(fleet["settings"].(map[string]any)) != 2 {
			t.Fatalf("PUT /api/settings: %d %s", r.Status, r.Body)
		}
		if r := a.do("GET", "/api/settings", adminToken, nil); r.json(t)["rev"] != rev1 {
			t.Fatalf("GET /api/settings: %s", r.Body)
		}
		r = a.do("PUT", "/api/devices/n1/settings", adminToken, `{"interval_s":60,"update_deadline_cycles":5}`)
		own := r.json(t)
		rev2 := own["rev"].(float64)
		if r.Status != 200 || rev2 <= rev1 || own["effective"].(map[string]any)["rev"] != rev2 {
			t.Fatalf("PUT device settings: %d %s", r.Status, r.Body)
		}
		want := fmt.Sprintf(`{"rev":%d,"settings":{"interval_s":60,"led":false,"update_deadline_cycles":5}}`+"\n", int(rev2))
		if r := a.do("GET", "/api/device/settings", tok, nil); string(r.Body) != want {
			t.Fatalf("GET /api/device/settings = %s, want %s", r.Body, want)
		}
		if r := a.do("GET", "/api/device/settings", other, nil); !strings.Contains(string(r.Body), `"settings":{"interval_s":600,"led":false}`) {
			t.Fatalf("another device gets the default: %s", r.Body)
		}
		if got := a.desiredOf("n1", tok, 1); got != fmt.Sprintf(`{"settingsRev":%d,"firmware":null}`, int(rev2)) {
			t.Fatalf("desired in the ingest answer = %s", got)
		}

		// The device reports what it applied; the admin sees both.
		a.post("n1", tok, 2, fmt.Sprintf(`{"settings_rev":%d,"firmware":"1.0.0"}`, int(rev1)))
		got := a.do("GET", "/api/devices/n1/settings", adminToken, nil).json(t)
		if got["appliedRev"] != rev1 || got["effective"].(map[string]any)["rev"] != rev2 || got["deviceId"] != "n1" {
			t.Fatalf("GET /api/devices/n1/settings: %v", got)
		}

		// A change of the default moves every device, also one with its own.
		rev3 := a.do("PUT", "/api/settings", adminToken, `{"interval_s":900}`).json(t)["rev"].(float64)
		for dev, tk := range map[string]string{"n1": tok, "n2": other} {
			if got := a.desiredOf(dev, tk, 3); got != fmt.Sprintf(`{"settingsRev":%d,"firmware":null}`, int(rev3)) {
				t.Errorf("%s after the default changed: desired = %s, want rev %d", dev, got, int(rev3))
			}
		}

		// Who may do what.
		if r := a.do("GET", "/api/device/settings", adminToken, nil); r.Status != 403 {
			t.Errorf("admin on the device endpoint: %d", r.Status)
		}
		if r := a.do("PUT", "/api/settings", tok, `{"interval_s":60}`); r.Status != 403 {
			t.Errorf("device setting the fleet default: %d", r.Status)
		}
		if r := a.do("PUT", "/api/devices/ghost/settings", adminToken, `{"interval_s":60}`); r.Status != 404 {
			t.Errorf("unknown device: %d %s", r.Status, r.Body)
		}
		// An admin's ingest answer is unchanged.
		r = a.do("POST", "/api/measurements", adminToken, fmt.Sprintf(`{"deviceId":"n1","recordedAt":%q}`, recent(50)))
		if string(r.Body) != `{"accepted":1,"duplicates":0,"rejected":[]}`+"\n" {
			t.Errorf("admin ingest answer = %s", r.Body)
		}
	})
}

// testKey is a fixed Ed25519 key, so that signatures are reproducible.
var testKey = ed25519.NewKeyFromSeed([]byte("thermowatt-test-key-32-bytes!!!!"))

type upload struct {
	Version   string       `json:"version"`
	Signature *string      `json:"signature,omitempty"`
	Files     []uploadFile `json:"files"`
}

type uploadFile struct {
	Path    string `json:"path"`
	Content []byte `json:"content"`
	SHA256  string `json:"sha256,omitempty"`
}

// publish signs and publishes a release of files (path -> content).
func (a *api) publish(version string, files map[string]string) response {
	a.t.Helper()
	u := upload{Version: version}
	var fs []thermowatt.FirmwareFile
	for p, c := range files {
		u.Files = append(u.Files, uploadFile{Path: p, Content: []byte(c)})
		sum := sha256.Sum256([]byte(c))
		fs = append(fs, thermowatt.FirmwareFile{Path: p, Size: int64(len(c)), SHA256: hex.EncodeToString(sum[:])})
	}
	sig := thermowatt.SignManifest(testKey, thermowatt.Manifest(version, fs))
	u.Signature = &sig
	return a.do("POST", "/api/firmware", adminToken, u)
}

func TestFirmwareReleases(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("n1")
		main := strings.Repeat("print('hello')\n", 100)
		caPEM := string(testcert.PEM(testcert.DER(t, testcert.Options{})))
		r := a.publish("1.4.0", map[string]string{"lib/main.py": main, "lib/app.py": "x = 1\n", "ca.pem": caPEM})
		if r.Status != http.StatusCreated {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
		if r := a.publish("1.4.0", map[string]string{"lib/main.py": "other"}); r.Status != http.StatusConflict {
			t.Fatalf("publish the same version again: %d %s", r.Status, r.Body)
		}
		a.publish("1.5.0", map[string]string{"lib/main.py": "v15"})

		// Admins list releases newest first, files sorted, no contents.
		list := a.do("GET", "/api/firmware", adminToken, nil)
		var rels struct {
			Items []struct {
				Version   string    `json:"version"`
				CreatedAt time.Time `json:"createdAt"`
				Files     []struct {
					Path   string `json:"path"`
					Size   int64  `json:"size"`
					SHA256 string `json:"sha256"`
				} `json:"files"`
			} `json:"items"`
		}
		if err := json.Unmarshal(list.Body, &rels); err != nil || len(rels.Items) != 2 || rels.Items[0].Version != "1.5.0" {
			t.Fatalf("GET /api/firmware: %v %s", err, list.Body)
		}
		paths := []string{}
		for _, f := range rels.Items[1].Files {
			paths = append(paths, f.Path)
		}
		if strings.Join(paths, ",") != "ca.pem,lib/app.py,lib/main.py" || rels.Items[1].Files[2].Size != int64(len(main)) || strings.Contains(string(list.Body), "hello") {
			t.Fatalf("release files: %s", list.Body)
		}

		// The device gets the manifest and verifies its signature: the
		// manifest it rebuilds from the answer is the one that was signed.
		m := a.do("GET", "/api/device/firmware/1.4.0", tok, nil)
		var man struct {
			Version   string                    `json:"version"`
			Files     []thermowatt.FirmwareFile `json:"files"`
			Signature string                    `json:"signature"`
		}
		if err := json.Unmarshal(m.Body, &man); err != nil || m.Status != 200 {
			t.Fatalf("device manifest: %d %s", m.Status, m.Body)
		}
		if !strings.HasPrefix(string(m.Body), fmt.Sprintf(`{"version":"1.4.0","files":[{"path":"ca.pem","size":%d,"sha256":"`, len(caPEM))) {
			t.Errorf("manifest answer = %s", m.Body)
		}
		pub := base64.StdEncoding.EncodeToString(testKey.Public().(ed25519.PublicKey))
		if err := thermowatt.VerifyManifest(pub, man.Signature, thermowatt.Manifest(man.Version, man.Files)); err != nil {
			t.Errorf("the signature of the served manifest: %v", err)
		}
		tampered := man.Files
		tampered[0].Size++
		if thermowatt.VerifyManifest(pub, man.Signature, thermowatt.Manifest(man.Version, tampered)) == nil {
			t.Error("a manifest changed after signing still verifies")
		}

		// Files, whole and resumed from an offset.
		f := a.do("GET", "/api/device/firmware/1.4.0/files/lib/main.py", tok, nil)
		sum := sha256.Sum256(f.Body)
		if f.Status != 200 || string(f.Body) != main || f.Header.Get("Content-Type") != "application/octet-stream" ||
			f.Header.Get("ETag") != `"`+hex.EncodeToString(sum[:])+`"` {
			t.Fatalf("file: %d %q %v", f.Status, f.Header.Get("Content-Type"), f.Header)
		}
		req, _ := http.NewRequest("GET", a.url+"/api/device/firmware/1.4.0/files/lib/main.py", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Range", "bytes=1000-")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusPartialContent || string(rest) != main[1000:] {
			t.Fatalf("Range bytes=1000-: %d, %d bytes, want 206 and %d", res.StatusCode, len(rest), len(main)-1000)
		}
		if r := a.do("GET", "/api/device/firmware/1.4.0/files/lib/app.py", tok, nil); string(r.Body) != "x = 1\n" {
			t.Errorf("file in a directory: %d %s", r.Status, r.Body)
		}
		for _, p := range []string{"/api/device/firmware/1.4.0/files/nope.py", "/api/device/firmware/9.9/files/lib/main.py",
			"/api/device/firmware/9.9"} {
			if r := a.do("GET", p, tok, nil); r.Status != 404 {
				t.Errorf("GET %s: %d, want 404", p, r.Status)
			}
		}
		reader := a.tokenOf("reader")
		if r := a.do("GET", "/api/device/firmware/1.4.0", reader, nil); r.Status != 403 {
			t.Errorf("reader fetching firmware: %d", r.Status)
		}
		if r := a.do("GET", "/api/firmware", tok, nil); r.Status != 403 {
			t.Errorf("device listing releases: %d", r.Status)
		}

		// Refused uploads.
		damaged := upload{Version: "2.0", Files: []uploadFile{{Path: "lib/main.py", Content: []byte("x"), SHA256: strings.Repeat("0", 64)}}}
		for name, body := range map[string]any{
			"damaged file":  damaged,
			"bad version":   upload{Version: "1 0", Files: []uploadFile{{Path: "a.py"}}},
			"escaping path": upload{Version: "2.0", Files: []uploadFile{{Path: "../boot.py"}}},
			"absolute path": upload{Version: "2.0", Files: []uploadFile{{Path: "/main.py"}}},
			"no files":      upload{Version: "2.0"},
			"bad signature": `{"version":"2.0","signature":"bm90IGEgc2lnbmF0dXJl","files":[{"path":"a.py","content":""}]}`,
			"file and dir":  upload{Version: "2.0", Files: []uploadFile{{Path: "lib"}, {Path: "lib/a.py"}}},
			"listed twice":  upload{Version: "2.0", Files: []uploadFile{{Path: "lib/a.py"}, {Path: "lib/a.py"}}},
			// What a device refuses to install (esp32/lib/fleet.py allowed_path).
			"main.py":         upload{Version: "2.0", Files: []uploadFile{{Path: "lib/a.py"}, {Path: "main.py"}}},
			"boot.py":         upload{Version: "2.0", Files: []uploadFile{{Path: "boot.py"}}},
			"config.json":     upload{Version: "2.0", Files: []uploadFile{{Path: "config.json"}}},
			"lib/ota_boot.py": upload{Version: "2.0", Files: []uploadFile{{Path: "lib/ota_boot.py"}}},
			"nested module":   upload{Version: "2.0", Files: []uploadFile{{Path: "lib/x/a.py"}}},
			"ota_boot.mpy":    upload{Version: "2.0", Files: []uploadFile{{Path: "lib/ota_boot.mpy"}}},
			"OTA_BOOT.py":     upload{Version: "2.0", Files: []uploadFile{{Path: "lib/OTA_BOOT.py"}}},
			"version .":       upload{Version: ".", Files: []uploadFile{{Path: "lib/a.py"}}},
			"version ..":      upload{Version: "..", Files: []uploadFile{{Path: "lib/a.py"}}},
			"version ...":     upload{Version: "...", Files: []uploadFile{{Path: "lib/a.py"}}},
			"version 1..2":    upload{Version: "1..2", Files: []uploadFile{{Path: "lib/a.py"}}},
			"unknown fields":  `{"version":"2.0","files":[],"channel":"beta"}`,
		} {
			if r := a.do("POST", "/api/firmware", adminToken, body); r.Status != 400 {
				t.Errorf("%s: %d %s, want 400", name, r.Status, r.Body)
			}
		}
		if r := a.do("GET", "/api/device/firmware/2.0", tok, nil); r.Status != 404 {
			t.Errorf("a refused upload was stored: %d", r.Status)
		}
	})
}

func TestRollouts(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		toks := map[string]string{}
		for _, id := range []string{"a", "b", "c"} {
			toks[id] = a.device(id)
		}
		a.publish("1.0", map[string]string{"lib/main.py": "1.0"})
		a.publish("1.1", map[string]string{"lib/main.py": "1.1"})
		n := 0
		want := func(when string, fw map[string]string) {
			t.Helper()
			for id, v := range fw {
				exp := `{"settingsRev":0,"firmware":null}`
				if v != "" {
					exp = `{"settingsRev":0,"firmware":"` + v + `"}`
				}
				n++
				if got := a.desiredOf(id, toks[id], n); got != exp {
					t.Errorf("%s: %s desired = %s, want %s", when, id, got, exp)
				}
			}
		}
		want("no rollout", map[string]string{"a": "", "b": "", "c": ""})

		r := a.do("POST", "/api/rollouts", adminToken, `{"version":"1.1","devices":["a"]}`)
		canary := r.json(t)
		if r.Status != 201 || canary["version"] != "1.1" || canary["paused"] != false || canary["all"] != false {
			t.Fatalf("canary: %d %s", r.Status, r.Body)
		}
		want("canary", map[string]string{"a": "1.1", "b": "", "c": ""})
		all := a.do("POST", "/api/rollouts", adminToken, `{"version":"1.1","all":true}`).json(t)
		want("all", map[string]string{"a": "1.1", "b": "1.1", "c": "1.1"})

		id := fmt.Sprint(int(all["id"].(float64)))
		if r := a.do("PATCH", "/api/rollouts/"+id, adminToken, `{"paused":true}`); r.Status != 200 || r.json(t)["paused"] != true {
			t.Fatalf("pause: %d %s", r.Status, r.Body)
		}
		want("all paused", map[string]string{"a": "1.1", "b": "", "c": ""})
		a.do("PATCH", "/api/rollouts/"+id, adminToken, `{"paused":false}`)
		// Rolling back one device is rolling out the previous version to it.
		a.do("POST", "/api/rollouts", adminToken, `{"version":"1.0","devices":["b"]}`)
		want("b rolled back", map[string]string{"a": "1.1", "b": "1.0", "c": "1.1"})

		list := a.do("GET", "/api/rollouts", adminToken, nil).json(t)["items"].([]any)
		if len(list) != 3 || list[0].(map[string]any)["version"] != "1.0" || list[2].(map[string]any)["devices"].([]any)[0] != "a" {
			t.Fatalf("GET /api/rollouts: %v", list)
		}
		for name, c := range map[string]struct {
			method, path, body string
			status             int
		}{
			"both devices and all":  {"POST", "/api/rollouts", `{"version":"1.1","all":true,"devices":["a"]}`, 400},
			"neither":               {"POST", "/api/rollouts", `{"version":"1.1"}`, 400},
			"version ..":            {"POST", "/api/rollouts", `{"version":"..","all":true}`, 400},
			"version .":             {"POST", "/api/rollouts", `{"version":".","all":true}`, 400},
			"unknown version":       {"POST", "/api/rollouts", `{"version":"3.0","all":true}`, 404},
			"unknown device":        {"POST", "/api/rollouts", `{"version":"1.1","devices":["a","ghost"]}`, 404},
			"unknown rollout":       {"PATCH", "/api/rollouts/999", `{"paused":true}`, 404},
			"not a rollout id":      {"PATCH", "/api/rollouts/x", `{"paused":true}`, 404},
			"nothing to change":     {"PATCH", "/api/rollouts/" + id, `{}`, 400},
			"device starts rollout": {"POST", "/api/rollouts", `{"version":"1.1","all":true}`, 403},
		} {
			tok := adminToken
			if name == "device starts rollout" {
				tok = toks["a"]
			}
			if r := a.do(c.method, c.path, tok, c.body); r.Status != c.status {
				t.Errorf("%s: %d %s, want %d", name, r.Status, r.Body, c.status)
			}
		}
	})
}

// The device list shows what each device runs, its settings revisions and
// its last update.
func TestFleetView(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("n1")
		a.device("n2")
		rev := a.do("PUT", "/api/settings", adminToken, `{"interval_s":600}`).json(t)["rev"].(float64)
		a.post("n1", tok, 1, `{"firmware":"1.4.0","settings_rev":0,"update":{"state":"rolled_back","version":"1.5.0","reason":"no batch delivered in 3 cycles"}}`)
		var list struct {
			Items []struct {
				ID          string          `json:"id"`
				Firmware    *string         `json:"firmware"`
				SettingsRev map[string]any  `json:"settingsRev"`
				Update      json.RawMessage `json:"update"`
			} `json:"items"`
		}
		r := a.do("GET", "/api/devices", adminToken, nil)
		if err := json.Unmarshal(r.Body, &list); err != nil || len(list.Items) != 2 {
			t.Fatalf("GET /api/devices: %v %s", err, r.Body)
		}
		n1, n2 := list.Items[0], list.Items[1]
		if n1.Firmware == nil || *n1.Firmware != "1.4.0" || n1.SettingsRev["applied"] != 0.0 || n1.SettingsRev["desired"] != rev ||
			!strings.Contains(string(n1.Update), `"state":"rolled_back"`) {
			t.Errorf("n1 = %+v %s", n1, n1.Update)
		}
		if n2.Firmware != nil || n2.SettingsRev["applied"] != nil || n2.SettingsRev["desired"] != rev || string(n2.Update) != "null" {
			t.Errorf("n2 (never reported) = %+v %s", n2, n2.Update)
		}
	})
}
