package thermowatt

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FirmwareFile is one file of a firmware release: its path on the device's
// flash, relative to the root, and what the device checks it against.
type FirmwareFile struct {
	Path    string
	Size    int64
	SHA256  string // lower-case hex
	Content []byte // nil when listed rather than fetched
}

// Release is a published firmware version.
type Release struct {
	Version   string
	CreatedAt time.Time
	// Signature is the base64 Ed25519 signature of Manifest(), "" when
	// the release is unsigned (devices without ota_public_key accept it).
	Signature string
	Files     []FirmwareFile // sorted by path
}

// FirmwareVersionRule and FirmwarePathRule say what a release's version and
// file paths may be. They are narrow on purpose: the signed manifest must
// be the same bytes whether Go or MicroPython's json.dumps writes it, and
// those two escape different characters; and a path is written on the
// device's flash, where ".." or an absolute path would escape the root.
const (
	FirmwareVersionRule = `1-64 characters of A-Z, a-z, 0-9, '.', '_', '+' or '-', other than "." and without ".."`
	FirmwarePathRule    = `1-128 characters: '/'-separated names of A-Z, a-z, 0-9, '.', '_' or '-', none empty, "." or ".."`
)

// ValidFirmwareVersion reports whether v follows FirmwareVersionRule. A
// version is a segment of its URLs (/api/firmware/{version}/...), where
// "." and ".." name another resource (the router answers 307 to the
// cleaned path), and a device refuses any version holding ".."
// (esp32/lib/fleet.py, _safe): the id rule, and the device's.
func ValidFirmwareVersion(v string) bool {
	if len(v) < 1 || len(v) > 64 || v == "." || strings.Contains(v, "..") {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !nameByte(v[i]) && v[i] != '+' {
			return false
		}
	}
	return true
}

// ValidFirmwarePath reports whether p follows FirmwarePathRule.
func ValidFirmwarePath(p string) bool {
	if len(p) < 1 || len(p) > 128 {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			if !nameByte(seg[i]) {
				return false
			}
		}
	}
	return true
}

// DeviceReleasePathRule says which files a device installs from a release
// (esp32/lib/fleet.py, allowed_path): it refuses a release holding any
// other, so that no release can replace main.py, boot.py, config.json or
// lib/ota_boot.py, the code that puts a failed release's files back.
const DeviceReleasePathRule = `lib/NAME.py, lib/NAME.mpy (NAME, in any case and before its first '.', not ota_boot nor json, os, gc, sys, time or machine, which the rollback imports) or ca.pem: a device refuses a release holding anything else, such as main.py, boot.py or config.json`

// protectedModules are the modules of lib/ no release may hold, by name
// before its first '.', lower case: ota_boot, and the modules it and
// main.py's rollback path import (json and os, which MicroPython lets a
// file in lib/ extend or replace, gc, sys, time, machine). MicroPython
// imports ota_boot from lib/ota_boot.mpy as readily as from .py, and a
// release is written to flash by name, so lib/OTA_BOOT.py or
// lib/ota_boot.x.py must not pass either. esp32/lib/fleet.py's
// allowed_path holds the same list.
var protectedModules = []string{"ota_boot", "json", "os", "gc", "sys", "time", "machine"}

// DeviceTakesPath reports whether a device installs a release file at p
// (DeviceReleasePathRule); p must also follow FirmwarePathRule.
func DeviceTakesPath(p string) bool {
	if !ValidFirmwarePath(p) {
		return false
	}
	if p == "ca.pem" {
		return true
	}
	name, ok := strings.CutPrefix(p, "lib/")
	if !ok || strings.Contains(name, "/") || strings.Contains(name, "..") {
		return false
	}
	if stem, _, _ := strings.Cut(name, "."); slices.Contains(protectedModules, strings.ToLower(stem)) {
		return false
	}
	return strings.HasSuffix(name, ".py") || strings.HasSuffix(name, ".mpy")
}

func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// Manifest returns the bytes a release's signature covers:
// {"version":"V","files":[{"path":"P","size":S,"sha256":"H"},...]} with
// the files sorted by path, keys in that order and no spaces, which is what
// MicroPython's json.dumps(..., separators=(",", ":")) writes for the same
// objects. Version and paths must be valid (no character needs escaping).
func Manifest(version string, files []FirmwareFile) []byte {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b FirmwareFile) int { return strings.Compare(a.Path, b.Path) })
	var b bytes.Buffer
	b.WriteString(`{"version":"` + version + `","files":[`)
	for i, f := range sorted {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"path":"` + f.Path + `","size":` + strconv.FormatInt(f.Size, 10) + `,"sha256":"` + f.SHA256 + `"}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// Manifest returns the bytes r's signature covers.
func (r Release) Manifest() []byte { return Manifest(r.Version, r.Files) }

// SignManifest signs a manifest and returns the signature in base64.
func SignManifest(key ed25519.PrivateKey, manifest []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, manifest))
}

// VerifyManifest checks a base64 signature of manifest against a base64
// Ed25519 public key (config.json's ota_public_key), as a device does.
func VerifyManifest(publicKey, signature string, manifest []byte) error {
	pub, err := ParsePublicKey(publicKey)
	if err != nil {
		return err
	}
	sig, err := ParseSignature(signature)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, manifest, sig) {
		return errors.New("the signature does not match the manifest")
	}
	return nil
}

// ParsePublicKey decodes a base64 Ed25519 public key (32 bytes).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	pub, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("the public key is not 32 bytes in base64")
	}
	return ed25519.PublicKey(pub), nil
}

// ParseSignature decodes a base64 Ed25519 signature (64 bytes).
func ParseSignature(s string) ([]byte, error) {
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, errors.New("the signature is not 64 bytes in base64")
	}
	return sig, nil
}

// Rollout assigns a firmware version to some devices, or to all. A device's
// desired firmware is the version of the newest (highest ID) rollout that
// is not paused and targets it; rolling back is rolling out the previous
// version.
type Rollout struct {
	ID        int64
	Version   string
	All       bool
	Devices   []string // sorted; empty when All
	Paused    bool
	CreatedAt time.Time
}

// Desired is what a device should have, sent in every answer to its
// readings: the revision of the settings it should apply (0: none ever
// set) and the firmware version it should run ("": no rollout targets it).
type Desired struct {
	SettingsRev int64
	Firmware    string
}

// Update states a device reports in payload.device.update.state.
const (
	UpdateIdle        = "idle"
	UpdateDownloading = "downloading"
	UpdateInstalled   = "installed"
	UpdateRolledBack  = "rolled_back"
	UpdateRefused     = "refused"
)
