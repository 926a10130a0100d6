package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// maxReleaseBytes bounds a release upload (its files in base64, in JSON)
// whatever MAX_BODY_BYTES says; MAX_BODY_BYTES applies first when lower.
const maxReleaseBytes = 32 << 20

// fileJSON is a file as a release lists it.
type fileJSON struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// releaseJSON is a release as admins see it.
type releaseJSON struct {
	Version   string     `json:"version"`
	CreatedAt time.Time  `json:"createdAt"`
	Signature *string    `json:"signature"`
	Files     []fileJSON `json:"files"`
}

func toFilesJSON(fs []thermowatt.FirmwareFile) []fileJSON {
	out := make([]fileJSON, len(fs))
	for i, f := range fs {
		out[i] = fileJSON{Path: f.Path, Size: f.Size, SHA256: f.SHA256}
	}
	return out
}

func signatureOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toReleaseJSON(r thermowatt.Release) releaseJSON {
	return releaseJSON{Version: r.Version, CreatedAt: r.CreatedAt.UTC(), Signature: signatureOrNull(r.Signature), Files: toFilesJSON(r.Files)}
}

// releaseUpload is the body of POST /api/firmware: every file's content
// in base64 (encoding/json's []byte), and optionally the sha256 the
// publisher computed, checked so that a file damaged on the way is
// refused rather than sent to devices.
type releaseUpload struct {
	Version   string  `json:"version"`
	Signature *string `json:"signature"`
	Files     []struct {
		Path    string `json:"path"`
		Content []byte `json:"content"`
		SHA256  string `json:"sha256"`
	} `json:"files"`
}

// release checks an upload and makes the release it describes.
func (u releaseUpload) release(now time.Time) (thermowatt.Release, error) {
	if !thermowatt.ValidFirmwareVersion(u.Version) {
		return thermowatt.Release{}, fmt.Errorf("version %q must be %s", u.Version, thermowatt.FirmwareVersionRule)
	}
	if len(u.Files) == 0 {
		return thermowatt.Release{}, errors.New("a release needs at least one file")
	}
	r := thermowatt.Release{Version: u.Version, CreatedAt: now}
	if u.Signature != nil && *u.Signature != "" {
		if _, err := thermowatt.ParseSignature(*u.Signature); err != nil {
			return r, fmt.Errorf("signature: %w (thermowatt firmware sign prints one)", err)
		}
		r.Signature = strings.TrimSpace(*u.Signature)
	}
	for _, f := range u.Files {
		if !thermowatt.ValidFirmwarePath(f.Path) {
			return r, fmt.Errorf("file path %q must be %s", f.Path, thermowatt.FirmwarePathRule)
		}
		if !thermowatt.DeviceTakesPath(f.Path) {
			return r, fmt.Errorf("file %s: a release may hold only %s", f.Path, thermowatt.DeviceReleasePathRule)
		}
		sum := sha256.Sum256(f.Content)
		hexSum := hex.EncodeToString(sum[:])
		if f.SHA256 != "" && !strings.EqualFold(f.SHA256, hexSum) {
			return r, fmt.Errorf("file %s: sha256 %s given, but its content's is %s: the upload was damaged; publish again", f.Path, f.SHA256, hexSum)
		}
		content := f.Content
		if content == nil {
			content = []byte{}
		}
		if f.Path == thermowatt.ReleaseCAPath {
			// A CA a device cannot use strands it once the server's
			// certificate changes: refuse it before any device sees it.
			if _, err := thermowatt.CheckReleaseCA(content, now); err != nil {
				return r, fmt.Errorf("file %s: %w (it must be %s)", f.Path, err, thermowatt.ReleaseCARule)
			}
		}
		r.Files = append(r.Files, thermowatt.FirmwareFile{Path: f.Path, Size: int64(len(content)), SHA256: hexSum, Content: content})
	}
	slices.SortFunc(r.Files, func(a, b thermowatt.FirmwareFile) int { return strings.Compare(a.Path, b.Path) })
	for i := 1; i < len(r.Files); i++ {
		prev, cur := r.Files[i-1].Path, r.Files[i].Path
		if prev == cur {
			return r, fmt.Errorf("file %s is listed twice", cur)
		}
		if strings.HasPrefix(cur, prev+"/") {
			return r, fmt.Errorf("%s is a file, so it cannot also be the directory of %s", prev, cur)
		}
	}
	return r, nil
}

// checkSigned refuses a release that no key of the fleet's (OTA_PUBLIC_KEYS)
// verifies: every device with one of them in config.json would refuse it,
// and only find out after downloading it. Without keys, nothing is known
// about what devices accept, and any release is taken.
func checkSigned(rel thermowatt.Release, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if rel.Signature == "" {
		return fmt.Errorf("release %s is unsigned, and this server's fleet verifies releases (OTA_PUBLIC_KEYS): sign it with thermowatt firmware sign", rel.Version)
	}
	for _, k := range keys {
		if thermowatt.VerifyManifest(k, rel.Signature, rel.Manifest()) == nil {
			return nil
		}
	}
	return fmt.Errorf("the signature of release %s verifies with none of the fleet's %d public keys (OTA_PUBLIC_KEYS): sign this directory with the fleet's key, as this version", rel.Version, len(keys))
}

// handleFirmwareKeys lists the fleet's public keys, which thermowatt
// firmware publish checks a signature against before uploading.
func handleFirmwareKeys(keys []string) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, map[string][]string{"keys": append([]string{}, keys...)})
		return nil
	})
}

// handlePostFirmware publishes a release.
func handlePostFirmware(st store.Firmware, keys []string, now func() time.Time) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var in releaseUpload
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxReleaseBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("release over %d bytes", tooBig.Limit))
			}
			return errorf(http.StatusBadRequest, "invalid JSON body: "+err.Error())
		}
		rel, err := in.release(now())
		if err == nil {
			err = checkSigned(rel, keys)
		}
		if err != nil {
			return errorf(http.StatusBadRequest, err.Error())
		}
		err = st.CreateRelease(r.Context(), rel)
		if errors.Is(err, thermowatt.ErrExists) {
			return errorf(http.StatusConflict, fmt.Sprintf("firmware %s is already published; a release never changes: publish it under a new version", rel.Version))
		}
		if err != nil {
			return storeError(err)
		}
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "firmware published",
			"version", rel.Version, "files", len(rel.Files), "signed", rel.Signature != "")
		writeJSON(w, http.StatusCreated, toReleaseJSON(rel))
		return nil
	})
}

func handleListFirmware(st store.Firmware) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		rs, err := st.ListReleases(r.Context())
		if err != nil {
			return storeError(err)
		}
		items := make([]releaseJSON, len(rs))
		for i, rel := range rs {
			items[i] = toReleaseJSON(rel)
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
		return nil
	})
}

// handleDeviceRelease answers a device with a release's manifest and
// signature: {"version","files","signature"}.
func handleDeviceRelease(st store.Firmware) http.Handler {
	type manifestJSON struct {
		Version   string     `json:"version"`
		Files     []fileJSON `json:"files"`
		Signature *string    `json:"signature"`
	}
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		v := r.PathValue("version")
		if !thermowatt.ValidFirmwareVersion(v) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no firmware %q", v))
		}
		rel, err := st.GetRelease(r.Context(), v)
		if errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no firmware %q", v))
		}
		if err != nil {
			return storeError(err)
		}
		writeJSON(w, http.StatusOK, manifestJSON{Version: rel.Version, Files: toFilesJSON(rel.Files), Signature: signatureOrNull(rel.Signature)})
		return nil
	})
}

// handleDeviceFirmwareFile sends one file of a release. Range requests
// are answered (206), so a download cut by a power failure resumes where
// it stopped; the ETag is the file's sha256, so If-Range never splices
// two different files. Downloads of one file at once share one copy of it
// (firmwarefiles.go), and ranges are vetted first (ranges.go).
func handleDeviceFirmwareFile(st store.Firmware) http.Handler {
	var files sharedFiles
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		v, path := r.PathValue("version"), r.PathValue("path")
		if !thermowatt.ValidFirmwareVersion(v) || !thermowatt.ValidFirmwarePath(path) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no file %q in firmware %q", path, v))
		}
		f, done, err := files.get(r.Context(), st, v, path)
		if errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no file %q in firmware %q", path, v))
		}
		if err != nil {
			return storeError(err)
		}
		defer done()
		etag := `"` + f.SHA256 + `"`
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("ETag", etag)
		if limitRanges(w, r, int64(len(f.Content)), etag) {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.Content))
		}
		return nil
	})
}
