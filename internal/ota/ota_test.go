package ota_test

import (
	"bytes"
	"crypto/ed25519"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/ota"
)

var update = flag.Bool("update", false, "rewrite the test vector in testdata/ota")

// vector is testdata/ota: a release directory, its canonical manifest,
// the signature and the key pair (a test key, public on purpose). The
// firmware's tests use the same files, so both sides agree on the bytes
// that are signed and on how a signature is checked.
const vector = "../../testdata/ota"

const vectorVersion = "9.9.9-test"

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vector, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTestVector(t *testing.T) {
	files, err := ota.ReadDir(filepath.Join(vector, "release"))
	if err != nil {
		t.Fatal(err)
	}
	manifest := thermowatt.Manifest(vectorVersion, files)
	key, err := ota.ParseKey(read(t, "private.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		for name, b := range map[string][]byte{
			"manifest.json": manifest,
			"manifest.sig":  []byte(thermowatt.SignManifest(key, manifest)),
			"public.key":    []byte(ota.PublicKey(key)),
		} {
			if err := os.WriteFile(filepath.Join(vector, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := read(t, "manifest.json"); !bytes.Equal(got, manifest) {
		t.Fatalf("manifest.json =\n%s\nwant (from release/)\n%s", got, manifest)
	}
	want := `{"version":"9.9.9-test","files":[{"path":"ca.pem","size":`
	if !strings.HasPrefix(string(manifest), want) || strings.ContainsAny(string(manifest), " \n") {
		t.Fatalf("manifest is not canonical (sorted, no spaces): %s", manifest)
	}
	pub, sig := string(read(t, "public.key")), string(read(t, "manifest.sig"))
	if pub != ota.PublicKey(key) {
		t.Fatal("public.key is not private.pem's public key")
	}
	if err := thermowatt.VerifyManifest(pub, sig, manifest); err != nil {
		t.Fatalf("the vector's signature: %v", err)
	}
	// Ed25519 signatures are deterministic: signing again gives the file.
	if again := thermowatt.SignManifest(key, manifest); again != sig {
		t.Fatalf("signing again = %s, want %s", again, sig)
	}
	// One byte changed anywhere, and it fails.
	for _, i := range []int{0, len(manifest) / 2, len(manifest) - 1} {
		bad := bytes.Clone(manifest)
		bad[i] ^= 1
		if thermowatt.VerifyManifest(pub, sig, bad) == nil {
			t.Errorf("a manifest with byte %d changed verifies", i)
		}
	}
	_, other, _ := ed25519.GenerateKey(nil)
	if thermowatt.VerifyManifest(ota.PublicKey(other), sig, manifest) == nil {
		t.Error("another key verifies the signature")
	}
}

func TestKeyRoundTrip(t *testing.T) {
	priv, pub, err := ota.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ota.ParseKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	m := []byte(`{"version":"1","files":[]}`)
	if err := thermowatt.VerifyManifest(pub, thermowatt.SignManifest(key, m), m); err != nil {
		t.Fatal(err)
	}
	if _, err := ota.ParseKey([]byte("not a key")); err == nil {
		t.Error("ParseKey accepted garbage")
	}
}

func TestReadDirSkipsHiddenAndRefusesBadPaths(t *testing.T) {
	dir := t.TempDir()
	for p, c := range map[string]string{"ca.pem": "c", "lib/a.py": "a", ".git/config": "x", "lib/.swp": "x", "lib/__pycache__/a.mpy": "x"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644)
	}
	files, err := ota.ReadDir(dir)
	if err != nil || len(files) != 2 || files[0].Path != "ca.pem" || files[1].Path != "lib/a.py" || string(files[1].Content) != "a" {
		t.Fatalf("ReadDir = %+v, %v", files, err)
	}
	os.WriteFile(filepath.Join(dir, "lib", "bad name.py"), nil, 0o644)
	if _, err := ota.ReadDir(dir); err == nil || !strings.Contains(err.Error(), "bad name.py") {
		t.Errorf("a path with a space: %v", err)
	}
}

// A directory staged as the board's whole flash (docs/fleet.md before the
// fleet end-to-end test): every device would refuse the release, so it is
// refused here, before it is signed or published.
func TestReadDirRefusesWhatDevicesRefuse(t *testing.T) {
	for _, p := range []string{"main.py", "boot.py", "config.json", "lib/ota_boot.py", "lib/sub/a.py", "lib/a.txt"} {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
		os.WriteFile(filepath.Join(dir, "lib", "app.py"), []byte("x"), 0o644)
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644)
		if _, err := ota.ReadDir(dir); err == nil || !strings.Contains(err.Error(), p+": a release may hold only") {
			t.Errorf("%s: %v", p, err)
		}
	}
}
