package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/ota"
)

// keygen and sign work offline: the private key stays with whoever signs
// releases, never on the server. publish talks to a running server, as a
// release is uploaded once and then served to every device.

func init() {
	commands["firmware"] = command{summary: "firmware releases: firmware keygen --out FILE | firmware sign --key FILE --version V DIR | firmware publish --version V [--signature FILE] DIR", run: runFirmware,
		subs: []subcommand{
			{"keygen", "--out FILE", "write a new Ed25519 signing key to FILE; prints the public key for config.json's ota_public_key"},
			{"sign", "--key FILE --version V DIR", "print the base64 signature of the release DIR at version V (offline)"},
			{"publish", "--version V [--signature FILE] DIR", "upload every file under DIR as release V to the server at THERMOWATT_URL with the admin token in THERMOWATT_TOKEN (names starting with '.' and __pycache__ are skipped)"},
		}}
}

func runFirmware(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: thermowatt firmware keygen|sign|publish ...; `thermowatt firmware -h` shows them")
	}
	if isHelp(args[0]) {
		return groupHelp(e, "firmware")
	}
	switch args[0] {
	case "keygen":
		fs := subFlags(e, "firmware", "keygen")
		out := fs.String("out", "", "file to write the private key to (created; never overwritten)")
		if err := fs.Parse(args[1:]); err != nil {
			return flagError(err)
		}
		if *out == "" || fs.NArg() != 0 {
			return usagef("usage: thermowatt firmware keygen --out FILE")
		}
		priv, pub, err := ota.NewKey()
		if err != nil {
			return err
		}
		if err := writeNew(*out, priv); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "wrote the private key to %s: keep it off the server; put this public key in each device's config.json as \"ota_public_key\":\n", *out)
		fmt.Fprintln(e.stdout, pub)
		return nil
	case "sign":
		fs := subFlags(e, "firmware", "sign")
		keyFile := fs.String("key", "", "private key file (thermowatt firmware keygen)")
		version := fs.String("version", "", "the version the release is published as")
		if err := fs.Parse(args[1:]); err != nil {
			return flagError(err)
		}
		if *keyFile == "" || fs.NArg() != 1 || !thermowatt.ValidFirmwareVersion(*version) {
			return usagef("usage: thermowatt firmware sign --key FILE --version V DIR (V: %s)", thermowatt.FirmwareVersionRule)
		}
		raw, err := os.ReadFile(*keyFile)
		if err != nil {
			return err
		}
		key, err := ota.ParseKey(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", *keyFile, err)
		}
		files, err := ota.ReadDir(fs.Arg(0))
		if err != nil {
			return err
		}
		ca, err := ota.CheckCA(fs.Arg(0), files, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, thermowatt.SignManifest(key, thermowatt.Manifest(*version, files)))
		fmt.Fprintf(e.stderr, "signed %s: %d files; verify with public key %s\n", *version, len(files), ota.PublicKey(key))
		if ca != nil {
			fmt.Fprintln(e.stderr, ota.DescribeCA(ca))
		}
		return nil
	case "publish":
		fs := subFlags(e, "firmware", "publish")
		url := fs.String("url", e.getenv("THERMOWATT_URL"), "the server's base URL, e.g. https://thermowatt.onrender.com (default: THERMOWATT_URL)")
		token := fs.String("token", e.getenv("THERMOWATT_TOKEN"), "an admin token (default: THERMOWATT_TOKEN, which keeps it off the command line)")
		version := fs.String("version", "", "the version to publish the release as (never reused)")
		sigFile := fs.String("signature", "", "file holding the base64 signature (thermowatt firmware sign); without it the release is unsigned")
		if err := fs.Parse(args[1:]); err != nil {
			return flagError(err)
		}
		if *url == "" || *token == "" || fs.NArg() != 1 || !thermowatt.ValidFirmwareVersion(*version) {
			return usagef("usage: thermowatt firmware publish --version V [--signature FILE] DIR, with THERMOWATT_URL and THERMOWATT_TOKEN (an admin token) set (V: %s)", thermowatt.FirmwareVersionRule)
		}
		return publish(ctx, e, *url, *token, *version, *sigFile, fs.Arg(0))
	}
	return usagef("unknown firmware command %q; `thermowatt firmware -h` lists them", args[0])
}

// writeNew writes a secret file that must not already exist.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; it is never overwritten (it may hold a key or token in use)", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type publishFile struct {
	Path    string `json:"path"`
	Content []byte `json:"content"`
	SHA256  string `json:"sha256"`
}

func publish(ctx context.Context, e env, url, token, version, sigFile, dir string) error {
	files, err := ota.ReadDir(dir)
	if err != nil {
		return err
	}
	ca, err := ota.CheckCA(dir, files, time.Now())
	if err != nil {
		return err
	}
	var signature *string
	if sigFile != "" {
		raw, err := os.ReadFile(sigFile)
		if err != nil {
			return err
		}
		s := strings.TrimSpace(string(raw))
		if _, err := thermowatt.ParseSignature(s); err != nil {
			return fmt.Errorf("%s: %w", sigFile, err)
		}
		signature = &s
	}
	if err := checkFleetSignature(ctx, url, token, version, signature, files); err != nil {
		return err
	}
	body := struct {
		Version   string        `json:"version"`
		Signature *string       `json:"signature"`
		Files     []publishFile `json:"files"`
	}{Version: version, Signature: signature}
	for _, f := range files {
		body.Files = append(body.Files, publishFile{Path: f.Path, Content: f.Content, SHA256: f.SHA256})
	}
	buf, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(url, "/")+"/api/firmware", bytes.NewReader(buf))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("publishing to %s: %w", url, err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusCreated {
		var msg struct{ Error string }
		if json.Unmarshal(answer, &msg) == nil && msg.Error != "" {
			return fmt.Errorf("the server refused the release (%d): %s", res.StatusCode, msg.Error)
		}
		return fmt.Errorf("the server refused the release: %s %s", res.Status, bytes.TrimSpace(answer))
	}
	signed := "unsigned"
	if signature != nil {
		signed = "signed"
	}
	fmt.Fprintf(e.stderr, "published %s (%s): %d files, %d bytes\n", version, signed, len(files), len(buf))
	if ca != nil {
		fmt.Fprintln(e.stderr, ota.DescribeCA(ca))
	}
	for _, f := range files {
		fmt.Fprintf(e.stdout, "%s\t%d\t%s\n", f.SHA256, f.Size, f.Path)
	}
	return nil
}
