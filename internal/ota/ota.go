// Package ota is the publisher's side of over-the-air updates: reading a
// release from a directory, and the Ed25519 key that signs it. The server
// never needs the private key; devices verify with the public one
// (config.json's ota_public_key).
package ota

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
)

// ReadDir reads every file under dir as a release's files, with paths
// relative to dir ('/'-separated) and contents. Names starting with '.'
// (.git, editor files) are skipped, directories and files alike; so is
// __pycache__. Anything else that is not a regular file, or a path the
// device could not take (thermowatt.FirmwarePathRule) or would refuse
// (thermowatt.DeviceReleasePathRule), is an error.
func ReadDir(dir string) ([]thermowatt.FirmwareFile, error) {
	var files []thermowatt.FirmwareFile
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") || d.Name() == "__pycache__" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file (a link?): copy the file itself into the release", rel)
		}
		if !thermowatt.ValidFirmwarePath(rel) {
			return fmt.Errorf("%s: a release's paths must be %s", rel, thermowatt.FirmwarePathRule)
		}
		if !thermowatt.DeviceTakesPath(rel) {
			return fmt.Errorf("%s: a release may hold only %s; stage lib/ (without lib/ota_boot.py) and ca.pem, see docs/fleet.md", rel, thermowatt.DeviceReleasePathRule)
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(content)
		files = append(files, thermowatt.FirmwareFile{Path: rel, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:]), Content: content})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no files to release", dir)
	}
	slices.SortFunc(files, func(a, b thermowatt.FirmwareFile) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// NewKey makes a signing key and returns it as PEM (PKCS #8, which
// openssl reads too) with the public key in base64, as config.json's
// ota_public_key takes it.
func NewKey() (privatePEM []byte, publicB64 string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, "", err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), base64.StdEncoding.EncodeToString(pub), nil
}

// ParseKey reads a key written by NewKey.
func ParseKey(privatePEM []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(privatePEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM private key (thermowatt firmware keygen writes one)")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ed, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return ed, nil
}

// PublicKey returns key's public half in base64.
func PublicKey(key ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
}

// CheckCA checks a release's ca.pem, when it holds one, as the server
// does at publish (thermowatt.CheckReleaseCA), so that a CA no device
// could use is refused before it is signed or uploaded. It returns the
// certificate, nil when the release carries no CA.
func CheckCA(dir string, files []thermowatt.FirmwareFile, now time.Time) (*x509.Certificate, error) {
	for _, f := range files {
		if f.Path != thermowatt.ReleaseCAPath {
			continue
		}
		cert, err := thermowatt.CheckReleaseCA(f.Content, now)
		if err != nil {
			return nil, fmt.Errorf("%s: %w; a release's ca.pem must be %s", filepath.Join(dir, f.Path), err, thermowatt.ReleaseCARule)
		}
		return cert, nil
	}
	return nil, nil
}

// DescribeCA says which CA a release delivers and how devices will report
// it, for the person publishing it.
func DescribeCA(cert *x509.Certificate) string {
	return fmt.Sprintf("ca.pem: %q, valid until %s, sha256 %s: devices report it as ca.waiting (%s in `thermowatt device list`) once they install this release",
		cert.Subject.String(), cert.NotAfter.UTC().Format(time.RFC3339), thermowatt.CAFingerprint(cert.Raw), thermowatt.ShortCAFingerprint(thermowatt.CAFingerprint(cert.Raw)))
}
