// Package connlimit bounds the connections a server holds open, in total
// and per client address, at the listener: a connection beyond a cap is
// refused as it is accepted, before net/http gives it a goroutine and
// buffers, so a flood of connections costs one accept and one close each
// and can never use up the process's file descriptors.
package connlimit

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Reason says which cap refused a connection.
type Reason string

const (
	// Total: the server already holds its maximum of connections.
	Total Reason = "total"
	// Address: the connection's address already holds its maximum.
	Address Reason = "address"
)

// Config sets the caps of a Listener.
type Config struct {
	// Max bounds the connections open at once; it must be at least 1.
	Max int
	// MaxPerAddress bounds the connections open at once from one TCP
	// peer address (IPv6 by /64); 0 turns this cap off.
	MaxPerAddress int
	// OnRefuse, when set, is told of every refused connection. It runs
	// in the accept loop, so it must return quickly.
	OnRefuse func(Reason)
}

// Listener wraps a net.Listener with the caps of Config. A connection
// counts from its accept until its first Close.
type Listener struct {
	net.Listener
	cfg Config

	mu     sync.Mutex
	open   int
	byAddr map[string]int // only addresses holding at least one connection
}

// New wraps inner. Max below 1 is an error: a server without any
// connection could not even be told to stop over HTTP.
func New(inner net.Listener, c Config) (*Listener, error) {
	if c.Max < 1 {
		return nil, errors.New("connlimit: Max must be at least 1")
	}
	if c.MaxPerAddress < 0 {
		c.MaxPerAddress = 0
	}
	return &Listener{Listener: inner, cfg: c, byAddr: map[string]int{}}, nil
}

// Accept returns the next connection within the caps. Connections beyond
// them are refused here (refuse.go) and never returned, so the server's
// accept loop does not see them; Accept returns only with a connection or
// with the inner listener's error (when it is closed).
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := ""
		if l.cfg.MaxPerAddress > 0 {
			key = addressKey(c.RemoteAddr())
		}
		if reason, ok := l.admit(key); !ok {
			refuse(c, reason)
			if l.cfg.OnRefuse != nil {
				l.cfg.OnRefuse(reason)
			}
			continue
		}
		return &conn{Conn: c, l: l, key: key}, nil
	}
}

// Open is the number of connections open now (for the metrics).
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// admit takes a slot for a connection from key ("" when the per-address
// cap is off), or says which cap is full. The total cap is checked first:
// when the server is full, that is what the refusal should say.
func (l *Listener) admit(key string) (Reason, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.cfg.Max {
		return Total, false
	}
	if key != "" {
		if l.byAddr[key] >= l.cfg.MaxPerAddress {
			return Address, false
		}
		l.byAddr[key]++
	}
	l.open++
	return "", true
}

func (l *Listener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if key != "" {
		// Deleted at zero, so that the map holds only addresses that hold
		// connections: at most Max entries, whatever the addresses seen.
		if n := l.byAddr[key] - 1; n > 0 {
			l.byAddr[key] = n
		} else {
			delete(l.byAddr, key)
		}
	}
}

// conn gives its slot back on its first Close; net/http may close a
// connection more than once.
type conn struct {
	net.Conn
	l    *Listener
	key  string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

// CloseWrite and ReadFrom pass through what *net.TCPConn offers, which
// net/http looks for: CloseWrite for a clean close after an error answer
// (so the client reads the answer rather than a reset), ReadFrom for
// sendfile when serving files.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
