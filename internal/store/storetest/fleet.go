package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// fleetTests check the fleet concerns (store.Settings, store.Firmware,
// store.Rollouts): remote settings and their revisions, firmware releases,
// and which version each device should run.
var fleetTests = []storeTest{
	{"SettingsRevisions", testSettingsRevisions},
	{"SettingsOfUnknownDevice", testSettingsOfUnknownDevice},
	{"ReleaseStorage", testReleaseStorage},
	{"RolloutSelection", testRolloutSelection},
	{"RolloutErrors", testRolloutErrors},
	{"CountRunningFirmware", testCountRunningFirmware},
	{"CountDeviceCAs", testCountDeviceCAs}, // devicecas.go
	{"UpdateAlert", testUpdateAlert},
}

func createDevice(t *testing.T, s store.Store, id string) thermowatt.Device {
	t.Helper()
	return must[thermowatt.Device](t, "CreateDevice(%q)", id)(s.CreateDevice(t.Context(), id, base))
}

func effective(t *testing.T, s store.Store, id string) thermowatt.EffectiveSettings {
	t.Helper()
	return must[thermowatt.EffectiveSettings](t, "EffectiveSettings(%q)", id)(s.EffectiveSettings(t.Context(), id))
}

func desired(t *testing.T, s store.Store, id string) thermowatt.Desired {
	t.Helper()
	return must[thermowatt.Desired](t, "Desired(%q)", id)(s.Desired(t.Context(), id))
}

// A device's effective revision changes when the fleet default or its own
// settings change, and never goes back; its settings are the default
// with its own on top.
func testSettingsRevisions(t *testing.T, s store.Store) {
	ctx := t.Context()
	createDevice(t, s, "a")
	createDevice(t, s, "b")
	if f, err := s.FleetSettings(ctx); err != nil || f.Rev != 0 || len(f.Values) != 0 || f.UpdatedAt != nil {
		t.Fatalf("FleetSettings before any = %+v, %v; want empty at rev 0", f, err)
	}
	if e := effective(t, s, "a"); e.Rev != 0 || len(e.Values) != 0 {
		t.Fatalf("EffectiveSettings before any = %+v, want empty at rev 0", e)
	}
	if d := desired(t, s, "a"); d != (thermowatt.Desired{}) {
		t.Fatalf("Desired before any = %+v, want zero", d)
	}

	r1, err := s.SetFleetSettings(ctx, thermowatt.Settings{"interval_s": 600.0, "led": true}, base)
	if err != nil || r1 <= 0 {
		t.Fatalf("SetFleetSettings = %d, %v", r1, err)
	}
	r2, err := s.SetDeviceSettings(ctx, "a", thermowatt.Settings{"interval_s": 60.0, "log_level": "DEBUG"}, base.Add(time.Second))
	if err != nil || r2 <= r1 {
		t.Fatalf("SetDeviceSettings = %d, %v; want a revision above %d", r2, err, r1)
	}
	ea, eb := effective(t, s, "a"), effective(t, s, "b")
	if want := (thermowatt.Settings{"interval_s": 60.0, "led": true, "log_level": "DEBUG"}); ea.Rev != r2 || !reflect.DeepEqual(ea.Values, want) {
		t.Errorf("a: effective = %+v, want %v at rev %d (its own on top of the default)", ea, want, r2)
	}
	if want := (thermowatt.Settings{"interval_s": 600.0, "led": true}); eb.Rev != r1 || !reflect.DeepEqual(eb.Values, want) {
		t.Errorf("b: effective = %+v, want the default %v at rev %d", eb, want, r1)
	}
	own, err := s.DeviceSettings(ctx, "a")
	if err != nil || own.Rev != r2 || own.UpdatedAt == nil || !own.UpdatedAt.Equal(store.UTC(base.Add(time.Second))) ||
		!reflect.DeepEqual(own.Values, thermowatt.Settings{"interval_s": 60.0, "log_level": "DEBUG"}) {
		t.Errorf("DeviceSettings(a) = %+v, %v", own, err)
	}
	if own, err := s.DeviceSettings(ctx, "b"); err != nil || own.Rev != 0 || len(own.Values) != 0 {
		t.Errorf("DeviceSettings(b) = %+v, %v; want none at rev 0", own, err)
	}

	// Changing the default moves every device's revision, also a's.
	r3, err := s.SetFleetSettings(ctx, thermowatt.Settings{"interval_s": 900.0}, base.Add(2*time.Second))
	if err != nil || r3 <= r2 {
		t.Fatalf("SetFleetSettings again = %d, %v; want above %d", r3, err, r2)
	}
	for _, id := range []string{"a", "b"} {
		if e := effective(t, s, id); e.Rev != r3 {
			t.Errorf("%s: effective rev = %d after the default changed, want %d", id, e.Rev, r3)
		}
		if d := desired(t, s, id); d.SettingsRev != r3 {
			t.Errorf("%s: Desired.SettingsRev = %d, want %d", id, d.SettingsRev, r3)
		}
		if d := getDevice(t, s, id); d.SettingsRev != r3 {
			t.Errorf("%s: GetDevice SettingsRev = %d, want %d", id, d.SettingsRev, r3)
		}
	}
	if e := effective(t, s, "a"); e.Values["led"] != nil || e.Values["interval_s"] != 60.0 {
		t.Errorf("a: effective = %v; the default was replaced (no led) and a's own interval still wins", e.Values)
	}
	// Clearing a device's own settings is a change too.
	r4, err := s.SetDeviceSettings(ctx, "a", thermowatt.Settings{}, base.Add(3*time.Second))
	if err != nil || r4 <= r3 {
		t.Fatalf("SetDeviceSettings(empty) = %d, %v", r4, err)
	}
	if e := effective(t, s, "a"); e.Rev != r4 || !reflect.DeepEqual(e.Values, thermowatt.Settings{"interval_s": 900.0}) {
		t.Errorf("a after clearing its own: %+v", e)
	}
	if d := createDevice(t, s, "c"); d.SettingsRev != r3 {
		t.Errorf("a new device's SettingsRev = %d, want the default's %d", d.SettingsRev, r3)
	}
	ds, err := s.ListDevices(ctx, store.DeviceQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		want := r3
		if d.ID == "a" {
			want = r4
		}
		if d.SettingsRev != want {
			t.Errorf("ListDevices: %s SettingsRev = %d, want %d", d.ID, d.SettingsRev, want)
		}
	}
}

func testSettingsOfUnknownDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.SetDeviceSettings(ctx, "ghost", thermowatt.Settings{"led": true}, base); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("SetDeviceSettings(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.DeviceSettings(ctx, "ghost"); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("DeviceSettings(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.EffectiveSettings(ctx, "ghost"); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("EffectiveSettings(unknown) = %v, want ErrNotFound", err)
	}
	if d := desired(t, s, "ghost"); d != (thermowatt.Desired{}) {
		t.Errorf("Desired(unknown) = %+v, want zero", d)
	}
}

func file(path, content string) thermowatt.FirmwareFile {
	sum := sha256.Sum256([]byte(content))
	return thermowatt.FirmwareFile{Path: path, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:]), Content: []byte(content)}
}

func release(t *testing.T, s store.Store, version string, at time.Time, files ...thermowatt.FirmwareFile) thermowatt.Release {
	t.Helper()
	r := thermowatt.Release{Version: version, CreatedAt: at, Files: files}
	if err := s.CreateRelease(t.Context(), r); err != nil {
		t.Fatalf("CreateRelease(%s): %v", version, err)
	}
	return r
}

func listed(fs []thermowatt.FirmwareFile) []thermowatt.FirmwareFile {
	out := make([]thermowatt.FirmwareFile, len(fs))
	for i, f := range fs {
		f.Content = nil
		out[i] = f
	}
	slices.SortFunc(out, func(a, b thermowatt.FirmwareFile) int {
		if a.Path < b.Path {
			return -1
		}
		return 1
	})
	return out
}

// A release keeps every file byte for byte, lists them sorted by path
// without their contents, and a version is published once.
func testReleaseStorage(t *testing.T, s store.Store) {
	ctx := t.Context()
	if rs, err := s.ListReleases(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("ListReleases on an empty store = %v, %v", rs, err)
	}
	binary := string([]byte{0, 1, 2, 0xff, 0xfe, '\n'})
	v1 := release(t, s, "1.0.0", base, file("main.py", "print(1)\n"), file("lib/app.py", "x = 1\n"))
	v2 := release(t, s, "1.1.0", base.Add(time.Hour), file("main.py", "print(2)\n"), file("ca.pem", binary), file("empty.txt", ""))
	v2.Signature = ""
	err := s.CreateRelease(ctx, thermowatt.Release{Version: "1.0.0", CreatedAt: base.Add(2 * time.Hour), Files: []thermowatt.FirmwareFile{file("x.py", "")}})
	if !errors.Is(err, thermowatt.ErrExists) {
		t.Errorf("CreateRelease of a published version = %v, want ErrExists", err)
	}
	signed := thermowatt.Release{Version: "2.0.0-rc.1+b7", CreatedAt: base.Add(3 * time.Hour), Signature: "c2lnbmF0dXJl", Files: []thermowatt.FirmwareFile{file("a.py", "a")}}
	if err := s.CreateRelease(ctx, signed); err != nil {
		t.Fatal(err)
	}

	rs, err := s.ListReleases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, r := range rs {
		versions = append(versions, r.Version)
	}
	if want := []string{"2.0.0-rc.1+b7", "1.1.0", "1.0.0"}; !slices.Equal(versions, want) {
		t.Fatalf("ListReleases versions = %v, want %v (newest first)", versions, want)
	}
	if !reflect.DeepEqual(rs[1].Files, listed(v2.Files)) || !reflect.DeepEqual(rs[2].Files, listed(v1.Files)) {
		t.Errorf("ListReleases files =\n%+v\n%+v\nwant sorted by path, without contents", rs[1].Files, rs[2].Files)
	}
	if rs[0].Signature != "c2lnbmF0dXJl" || rs[1].Signature != "" {
		t.Errorf("signatures = %q, %q; want the signed one's kept and \"\" for unsigned", rs[0].Signature, rs[1].Signature)
	}
	if !rs[2].CreatedAt.Equal(base.Truncate(time.Microsecond)) || rs[2].CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v in UTC", rs[2].CreatedAt, base)
	}

	got, err := s.GetRelease(ctx, "1.1.0")
	if err != nil || got.Version != "1.1.0" || !reflect.DeepEqual(got.Files, listed(v2.Files)) {
		t.Errorf("GetRelease(1.1.0) = %+v, %v", got, err)
	}
	if _, err := s.GetRelease(ctx, "9.9.9"); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("GetRelease(unknown) = %v, want ErrNotFound", err)
	}
	for _, want := range v2.Files {
		f, err := s.FirmwareFile(ctx, "1.1.0", want.Path)
		if err != nil || string(f.Content) != string(want.Content) || f.Size != want.Size || f.SHA256 != want.SHA256 {
			t.Errorf("FirmwareFile(1.1.0, %s) = %q (%d, %s), %v; want %q", want.Path, f.Content, f.Size, f.SHA256, err, want.Content)
		}
	}
	if _, err := s.FirmwareFile(ctx, "1.1.0", "lib/app.py"); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("FirmwareFile of a path only another release has = %v, want ErrNotFound", err)
	}
	if _, err := s.FirmwareFile(ctx, "9.9.9", "main.py"); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("FirmwareFile of an unknown release = %v, want ErrNotFound", err)
	}
}

func rollout(t *testing.T, s store.Store, r thermowatt.Rollout) thermowatt.Rollout {
	t.Helper()
	return must[thermowatt.Rollout](t, "CreateRollout(%+v)", r)(s.CreateRollout(t.Context(), r, base))
}

func pause(t *testing.T, s store.Store, id int64, paused bool) {
	t.Helper()
	r, err := s.SetRolloutPaused(t.Context(), id, paused)
	if err != nil || r.Paused != paused || r.ID != id {
		t.Fatalf("SetRolloutPaused(%d, %v) = %+v, %v", id, paused, r, err)
	}
}

func wantFirmware(t *testing.T, s store.Store, when string, want map[string]string) {
	t.Helper()
	for id, v := range want {
		if got := desired(t, s, id).Firmware; got != v {
			t.Errorf("%s: desired firmware of %s = %q, want %q", when, id, got, v)
		}
	}
}

// A device should run the version of the newest rollout that is not
// paused and targets it, by name or as part of all.
func testRolloutSelection(t *testing.T, s store.Store) {
	for _, id := range []string{"a", "b", "c"} {
		createDevice(t, s, id)
	}
	for _, v := range []string{"1.0", "1.1", "1.2", "0.9"} {
		release(t, s, v, base, file("main.py", v))
	}
	wantFirmware(t, s, "no rollout", map[string]string{"a": "", "b": "", "c": ""})

	canary := rollout(t, s, thermowatt.Rollout{Version: "1.0", Devices: []string{"a"}})
	wantFirmware(t, s, "canary on a", map[string]string{"a": "1.0", "b": "", "c": ""})

	list := rollout(t, s, thermowatt.Rollout{Version: "1.1", Devices: []string{"c", "b", "b"}})
	if !slices.Equal(list.Devices, []string{"b", "c"}) || list.All || list.ID <= canary.ID {
		t.Errorf("CreateRollout = %+v; want devices sorted without repeats, a newer id", list)
	}
	wantFirmware(t, s, "list b, c", map[string]string{"a": "1.0", "b": "1.1", "c": "1.1"})

	all := rollout(t, s, thermowatt.Rollout{Version: "1.2", All: true, Devices: []string{"ignored"}})
	if all.Devices != nil || !all.All {
		t.Errorf("CreateRollout(all) = %+v; want All and no device list", all)
	}
	wantFirmware(t, s, "all", map[string]string{"a": "1.2", "b": "1.2", "c": "1.2"})

	pause(t, s, all.ID, true)
	wantFirmware(t, s, "all paused", map[string]string{"a": "1.0", "b": "1.1", "c": "1.1"})

	// Rolling back is rolling out the previous version: the newest wins.
	back := rollout(t, s, thermowatt.Rollout{Version: "0.9", Devices: []string{"b"}})
	wantFirmware(t, s, "b rolled back", map[string]string{"a": "1.0", "b": "0.9", "c": "1.1"})
	pause(t, s, all.ID, false)
	wantFirmware(t, s, "all resumed", map[string]string{"a": "1.2", "b": "0.9", "c": "1.2"})
	createDevice(t, s, "d")
	wantFirmware(t, s, "a device registered later", map[string]string{"d": "1.2"})

	rs, err := s.ListRollouts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	if want := []int64{back.ID, all.ID, list.ID, canary.ID}; !slices.Equal(ids, want) {
		t.Fatalf("ListRollouts ids = %v, want %v (newest first)", ids, want)
	}
	if r := rs[2]; r.Version != "1.1" || !slices.Equal(r.Devices, []string{"b", "c"}) || r.Paused || r.All ||
		!r.CreatedAt.Equal(store.UTC(base)) {
		t.Errorf("ListRollouts[2] = %+v", r)
	}
	if r := rs[1]; !r.All || r.Devices != nil || r.Paused {
		t.Errorf("ListRollouts[1] = %+v, want all, resumed", r)
	}
}

func testRolloutErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	createDevice(t, s, "a")
	release(t, s, "1.0", base, file("main.py", "x"))
	if _, err := s.CreateRollout(ctx, thermowatt.Rollout{Version: "2.0", All: true}, base); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("CreateRollout(unknown version) = %v, want ErrNotFound", err)
	}
	if _, err := s.CreateRollout(ctx, thermowatt.Rollout{Version: "1.0", Devices: []string{"a", "ghost"}}, base); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("CreateRollout(unknown device) = %v, want ErrNotFound", err)
	}
	if rs, err := s.ListRollouts(ctx); err != nil || len(rs) != 0 {
		t.Errorf("after refused rollouts: ListRollouts = %+v, %v; want none stored", rs, err)
	}
	if _, err := s.SetRolloutPaused(ctx, 12345, true); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("SetRolloutPaused(unknown) = %v, want ErrNotFound", err)
	}
}

// Devices are counted by the firmware they report and their update state.
func testCountRunningFirmware(t *testing.T, s store.Store) {
	createDevice(t, s, "silent-one") // never reported
	insert(t, s, []thermowatt.Reading{
		withHealth(rd("a", 0, 20), `{"firmware":"1.0","update":{"state":"idle"}}`),
		withHealth(rd("b", 0, 20), `{"firmware":"1.0","update":{"state":"rolled_back","version":"1.1"}}`),
		withHealth(rd("c", 0, 20), `{"firmware":"1.1","update":{"state":"idle"}}`),
		withHealth(rd("d", 0, 20), `{"firmware":"1.0","update":{"state":"idle"}}`),
		withHealth(rd("e", 0, 20), `{"queue_depth":0}`),
	}, base)
	got, err := s.CountRunningFirmware(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []store.FirmwareCount{
		{Version: "", UpdateState: "", Devices: 2},
		{Version: "1.0", UpdateState: "idle", Devices: 2},
		{Version: "1.0", UpdateState: "rolled_back", Devices: 1},
		{Version: "1.1", UpdateState: "idle", Devices: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CountRunningFirmware = %+v\nwant %+v", got, want)
	}
}

// An update alert opens once and shows on the device.
func testUpdateAlert(t *testing.T, s store.Store) {
	createDevice(t, s, "a")
	a := thermowatt.NewAlert{DeviceID: "a", Kind: thermowatt.KindUpdate, Message: "rolled back", At: base}
	if !openAlert(t, s, a) || openAlert(t, s, a) {
		t.Fatal("an update alert must open exactly once")
	}
	if d := getDevice(t, s, "a"); !d.UpdateAlertOpen || d.Failing || d.SilentAlertOpen {
		t.Errorf("device with an open update alert: %+v", d)
	}
	if !resolveAlert(t, s, "a", thermowatt.KindUpdate, base.Add(time.Minute), false) {
		t.Fatal("ResolveAlert(update) did not resolve it")
	}
	if d := getDevice(t, s, "a"); d.UpdateAlertOpen {
		t.Errorf("UpdateAlertOpen after resolving = true")
	}
}
