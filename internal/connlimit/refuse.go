package connlimit

import (
	"net"
	"strconv"
	"time"
)

// The answers to a refused connection: a complete HTTP/1.1 503 that
// closes the connection, so that a client sees why (curl prints it) and a
// device backs off as for any 503, honouring Retry-After. Prebuilt, so a
// refusal allocates nothing.
var answers = map[Reason][]byte{
	Total:   answer("the server holds as many connections as it may: retry later\n"),
	Address: answer("too many connections from this address: close idle ones, retry later\n"),
}

func answer(body string) []byte {
	return []byte("HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Retry-After: 5\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// refuseWriteTimeout bounds the write of the answer. A fresh connection's
// send buffer is empty, so a write this small goes straight into it and
// never waits; the deadline only guarantees that the accept loop cannot
// be held up whatever the peer does.
const refuseWriteTimeout = 50 * time.Millisecond

// refuse answers 503 without reading the request, and closes at once:
// the connection costs one write and one close, and its descriptor is
// free again before Accept looks at the next one. The answer is best
// effort: if the client had already sent its request, the kernel may
// reset the connection on close (unread data), and the client sees a
// reset instead, which it must treat as any network error (retry later).
func refuse(c net.Conn, r Reason) {
	_ = c.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
	_, _ = c.Write(answers[r])
	_ = c.Close()
}
