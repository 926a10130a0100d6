package server

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/connlimit"
	"github.com/thermowatt/thermowatt/internal/metrics"
)

// RefusalLogEvery bounds the log lines about refused connections: a flood
// is refused thousands of times a second, and is told in one line per
// interval with the counts.
const RefusalLogEvery = 10 * time.Second

// listen opens serve's port behind the connection caps (MAX_CONNS,
// MAX_CONNS_IP). Refusals are counted in the metrics and logged at a
// bounded rate; the returned function writes out what is still counted.
func listen(cfg config.Config, logger *slog.Logger, m *metrics.Metrics) (*connlimit.Listener, func(), error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, nil, fmt.Errorf("listening on port %d: %w (set PORT to another port)", cfg.Port, err)
	}
	// Behind a proxy every connection comes from the proxy: a cap on the
	// TCP peer would be a cap on all clients together. The proxy is then
	// the one that bounds each client's connections (it holds them), and
	// the total cap still bounds what the proxy opens to us.
	perAddress := cfg.Limits.MaxConnsPerAddress
	if cfg.Limits.TrustProxyHeaders {
		perAddress = 0
	}
	var cl *connlimit.Listener
	report := connlimit.NewReporter(logger, RefusalLogEvery, func() int { return cl.Open() })
	cl, err = connlimit.New(ln, connlimit.Config{
		Max:           cfg.Limits.MaxConns,
		MaxPerAddress: perAddress,
		OnRefuse: func(r connlimit.Reason) {
			m.CountRefusedConnection(string(r))
			report.Refused(r)
		},
	})
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	m.WatchConnections(cl.Open)
	perAddressShown := strconv.Itoa(perAddress)
	switch {
	case cfg.Limits.TrustProxyHeaders && cfg.Limits.MaxConnsPerAddress > 0:
		perAddressShown = "off (behind a proxy: TRUST_PROXY_HEADERS)"
	case perAddress == 0:
		perAddressShown = "off"
	}
	logger.Info("connection limits", "max_conns", cfg.Limits.MaxConns, "max_conns_ip", perAddressShown,
		"open_file_limit", connlimit.FileLimit(), "idle_timeout", cfg.Limits.IdleTimeout.String())
	return cl, report.Close, nil
}
