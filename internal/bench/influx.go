package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// influxDB is InfluxDB 1.x (Debian's `influxdb` package) run as a child
// process with its own data folder and private loopback ports, for the
// peer comparison (make bench-peers).
type influxDB struct {
	cmd    *exec.Cmd
	addr   string // host:port of its HTTP API
	exited chan error
	// client makes query's requests; nil: http.DefaultClient.
	client *http.Client
}

const influxDatabase = "thermowatt"

// The admin setUp creates, whom the bench's own queries run as.
const admin, adminPassword = "bench_admin", "bench-admin-password"

// influxMissing says what to install when influxd is not on the PATH.
const influxMissing = "influxd not found: install InfluxDB 1.x with `apt-get install influxdb` (Debian's package), or set BENCH_INFLUXD to its influxd"

// startInflux starts influxd with a configuration of its own under dir:
// auth on, the HTTP API and the RPC service on free loopback ports, every
// other setting at its default, among them wal-fsync-delay = 0 (the WAL
// is fsynced for every write before the 204). dataSettings are extra
// lines for the [data] section, empty for none.
func startInflux(ctx context.Context, binary, dir, logPath, dataSettings string) (*influxDB, error) {
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	rpcPort, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
%s
[http]
  bind-address = "127.0.0.1:%d"
  auth-enabled = true
[monitor]
  store-enabled = false
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), dataSettings, httpPort)
	confPath := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "-config", confPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	db := &influxDB{cmd: cmd, addr: fmt.Sprintf("127.0.0.1:%d", httpPort), exited: make(chan error, 1)}
	go func() { db.exited <- cmd.Wait(); logFile.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + db.addr + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return db, nil
			}
		}
		select {
		case err := <-db.exited:
			return nil, fmt.Errorf("influxd exited at start: %v (log: %s)", err, logPath)
		case <-ctx.Done():
			db.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			db.stop()
			return nil, fmt.Errorf("influxd did not answer /ping within 60 s (log: %s)", logPath)
		}
	}
}

// writeLines posts line protocol (precision s) into the benchmark's
// database as the admin, as the scale and disk runs load it.
func (db *influxDB) writeLines(ctx context.Context, lines []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		"http://"+db.addr+"/write?db="+influxDatabase+"&precision=s", bytes.NewReader(lines))
	if err != nil {
		return err
	}
	req.SetBasicAuth(admin, adminPassword)
	resp, err := db.client.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("write: %s %.300s", resp.Status, body)
	}
	return nil
}

func (db *influxDB) pid() int { return db.cmd.Process.Pid }

func (db *influxDB) stop() {
	_ = db.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-db.exited:
	case <-time.After(30 * time.Second):
		_ = db.cmd.Process.Kill()
		<-db.exited
	}
}

// query runs InfluxQL as user (empty: none, which InfluxDB allows only to
// create the first admin).
func (db *influxDB) query(ctx context.Context, user, password, q string) error {
	_, err := db.queryBody(ctx, user, password, q, nil)
	return err
}

// queryBody runs InfluxQL as query does, with the extra form values
// (db, epoch, ...), and returns the JSON answer.
func (db *influxDB) queryBody(ctx context.Context, user, password, q string, extra url.Values) ([]byte, error) {
	form := url.Values{"q": {q}}
	for k, v := range extra {
		form[k] = v
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+db.addr+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	client := db.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"error"`) {
		return nil, fmt.Errorf("influxdb %q: %s %.500s", q, resp.Status, body)
	}
	return body, nil
}

// setUp creates the admin, the database and one user per device with
// write access to it only: InfluxDB 1.x's counterpart of a device token.
// It returns each device's Authorization header value.
func (db *influxDB) setUp(ctx context.Context, devices []string) ([]string, error) {
	if err := db.query(ctx, "", "", fmt.Sprintf("CREATE USER %s WITH PASSWORD '%s' WITH ALL PRIVILEGES", admin, adminPassword)); err != nil {
		return nil, err
	}
	if err := db.query(ctx, admin, adminPassword, "CREATE DATABASE "+influxDatabase); err != nil {
		return nil, err
	}
	// Each user's password is hashed with bcrypt as it is created, which
	// took 14 of a 30-minute run's minutes for 208 users on a machine at
	// load 50: the users are created by several queries at once, 25 users
	// each, so that InfluxDB may hash on both cores.
	auths := make([]string, len(devices))
	const perQuery, queriesAtOnce = 25, 4
	sem := make(chan struct{}, queriesAtOnce)
	errs := make(chan error, (len(devices)+perQuery-1)/perQuery)
	var wg sync.WaitGroup
	for start := 0; start < len(devices); start += perQuery {
		var stmts []string
		for i := start; i < min(start+perQuery, len(devices)); i++ {
			d := devices[i]
			user, password := strings.ReplaceAll(d, "-", "_"), fmt.Sprintf("pw-%s-%d", d, i)
			stmts = append(stmts, fmt.Sprintf("CREATE USER %s WITH PASSWORD '%s'", user, password),
				fmt.Sprintf("GRANT WRITE ON %s TO %s", influxDatabase, user))
			auths[i] = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := db.query(ctx, admin, adminPassword, strings.Join(stmts, "; ")); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return auths, nil
}

// readingLine appends reading i of a device in line protocol, with the
// same values readingJSON sends thermowatt: the measured figures, the
// sensors' report and, on the first reading of a request, the device's
// report on itself. humidity is null in the JSON, so it is absent here.
func readingLine(b []byte, deviceID string, at time.Time, i int, withHealth bool) []byte {
	b = append(b, "readings,device_id="...)
	b = append(b, deviceID...)
	b = append(b, " temperature="...)
	b = strconv.AppendFloat(b, temperatureAt(i), 'f', 1, 64)
	b = append(b, ",voltage_v="...)
	b = strconv.AppendFloat(b, voltageAt(i), 'f', 2, 64)
	b = append(b, ",current_ma="...)
	b = strconv.AppendFloat(b, currentAt(i), 'f', 1, 64)
	b = append(b, ",power_mw="...)
	b = strconv.AppendFloat(b, powerAt(i), 'f', 1, 64)
	b = append(b, ",bmp280_temperature_c="...)
	b = strconv.AppendFloat(b, temperatureAt(i), 'f', 1, 64)
	b = append(b, ",pressure_hpa="...)
	b = strconv.AppendFloat(b, pressureAt(i), 'f', 1, 64)
	b = append(b, ",ina219_shunt_ohms=0.1,ina219_max_current_a=3.2"...)
	if withHealth {
		b = append(b, `,firmware="0.3.0",uptime_s=`...)
		b = strconv.AppendInt(b, int64(i*300), 10)
		b = append(b, `i,free_heap=98304i,rssi_dbm=-61i,queue_depth=0i,dropped=0i,dead_lettered=0i,reset_cause="power_on",boot=3i`...)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, at.UnixNano(), 10)
	return append(b, '\n')
}

// influxWrites makes a worker that writes `size` readings of one device
// per request to InfluxDB, each at a new time from base, one second apart.
func influxWrites(host, authorization, deviceID string, base time.Time, size int) request {
	buf := make([]byte, 0, 320*size)
	path := "/write?db=" + influxDatabase
	return func(n int) []byte {
		buf = buf[:0]
		for j := range size {
			i := n*size + j
			buf = readingLine(buf, deviceID, base.Add(time.Duration(i)*time.Second), i, j == 0)
		}
		req := make([]byte, 0, 256+len(buf))
		req = append(req, "POST "+path+" HTTP/1.1\r\nHost: "+host+"\r\nAuthorization: "+authorization+
			"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
		req = strconv.AppendInt(req, int64(len(buf)), 10)
		req = append(req, "\r\n\r\n"...)
		return append(req, buf...)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
