# config "ca_cert": httpclient POSTs over a TLS socket that verifies the
# server against the CA file (fake `socket` and `tls` modules record it).
import binascii
import json

import fw

URL = "https://thermowatt.test/api/measurements"
HEADERS = {"Authorization": "Bearer devtoken", "Content-Type": "application/json", "Connection": "close"}
# Stand-in for a root CA's DER bytes: an ASN.1 SEQUENCE, every byte value.
DER = b"\x30\x82\x01\x04" + bytes(range(256)) + b"\x00\xff\x30\x0d"


def _pem(der):
    b64 = binascii.b2a_base64(der).replace(b"\n", b"")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return (b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines)
            + b"\n-----END CERTIFICATE-----\n")


def _request(written):
    """(request line and Host, the other header lines as a set, body):
    MicroPython dicts do not keep insertion order."""
    head, _, body = written.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    return lines[:2], set(lines[2:]), body


class _Http:
    """An httpclient.Client for ca_cert `path`, and the module's CertError."""

    def __init__(self, path):
        import httpclient
        self.client = httpclient.Client(path)
        self.CertError = httpclient.CertError

    def post(self, *a):
        return self.client.post(*a)


def _setup(path="/ca.der", data=DER):
    fw.setup(rtc_set=True, config=False)  # a set clock: a failed check is the CA's
    with open(path, "wb") as f:
        f.write(data)
    import socket, tls
    socket.handler = lambda *a: (200, {}, "{}")  # the far end, when no canned answer is set
    return _Http(path), socket, tls


def test_der_ca_is_required_and_the_request_is_written_exactly():
    http, socket, tls = _setup()
    tls.response = (b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 17\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"error\":\"slow\"}\n")
    status, hdrs, text = http.post(URL, '[{"t":1}]', HEADERS, 10)
    assert status == 429
    assert hdrs["retry-after"] == "17" and hdrs["content-type"] == "application/json", hdrs
    assert text == '{"error":"slow"}\n', text
    ctx = tls.contexts[0]
    assert ctx.protocol == tls.PROTOCOL_TLS_CLIENT
    assert ctx.verify_mode == tls.CERT_REQUIRED
    assert ctx.cadata == DER
    assert ctx.server_hostname == "thermowatt.test"
    assert socket.lookups == [("thermowatt.test", 443)]
    raw = socket.sockets[0]
    assert raw.timeout == 10 and raw.addr == ("10.0.0.7", 443)
    assert _request(tls.wrapped[0].written) == (
        [b"POST /api/measurements HTTP/1.1", b"Host: thermowatt.test"],
        {b"Authorization: Bearer devtoken", b"Content-Type: application/json",
         b"Connection: close", b"Content-Length: 9"},
        b'[{"t":1}]'), tls.wrapped[0].written
    assert tls.wrapped[0].closed and raw.closed


def test_pem_ca_is_converted_to_the_same_der_bytes():
    http, socket, tls = _setup("/ca.pem", _pem(DER))
    assert http.post(URL, b"[]", HEADERS, 5)[0] == 200
    assert tls.contexts[0].cadata == DER
    assert tls.contexts[0].verify_mode == tls.CERT_REQUIRED


def test_ca_file_is_read_once_and_kept():
    http, socket, tls = _setup()
    http.post(URL, "[]", HEADERS, 5)
    import os
    os.remove("/ca.der")
    assert http.post(URL, "[]", HEADERS, 5)[0] == 200
    assert tls.contexts[1].cadata == DER
    assert all(s.closed for s in socket.sockets)


def test_port_host_header_and_connection_close_without_caller_headers():
    http, socket, tls = _setup()
    http.post("https://lab.example:8443/api/measurements", "x", {"Authorization": "Bearer t"}, 5)
    assert socket.lookups == [("lab.example", 8443)]
    assert tls.contexts[0].server_hostname == "lab.example"
    assert _request(tls.wrapped[0].written) == (
        [b"POST /api/measurements HTTP/1.1", b"Host: lab.example:8443"],
        {b"Authorization: Bearer t", b"Connection: close", b"Content-Length: 1"}, b"x")


def test_body_to_eof_and_chunked_bodies_are_read():
    http, socket, tls = _setup()
    tls.response = b"HTTP/1.1 201 Created\r\nConnection: close\r\n\r\n{\"accepted\":1}"
    assert http.post(URL, "[]", HEADERS, 5) == (201, {"connection": "close"}, '{"accepted":1}')
    tls.response = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5\r\n{\"acc\r\n9;x=y\r\nepted\":2}\r\n0\r\n\r\n")
    assert http.post(URL, "[]", HEADERS, 5)[2] == '{"accepted":2}'


def test_verification_failure_is_a_certificate_oserror_and_closes_the_socket():
    http, socket, tls = _setup()
    tls.handshake_error = ValueError("The certificate is not correctly signed by the trusted CA")
    try:
        http.post(URL, "[]", HEADERS, 5)
        raise AssertionError("no error")
    except OSError as e:
        assert isinstance(e, http.CertError)
        assert "certificate" in str(e) and "ca_cert /ca.der" in str(e), str(e)
    assert socket.sockets[0].closed
    # Without error strings mbedtls raises OSError(-0x2700) instead.
    tls.handshake_error = OSError(-0x2700)
    try:
        http.post(URL, "[]", HEADERS, 5)
        raise AssertionError("no error")
    except http.CertError:
        pass
    assert socket.sockets[1].closed


def test_network_errors_are_plain_oserrors_and_close_the_socket():
    http, socket, tls = _setup()
    tls.response = OSError(110)  # the read timed out
    try:
        http.post(URL, "[]", HEADERS, 5)
        raise AssertionError("no error")
    except OSError as e:
        assert not isinstance(e, http.CertError) and e.args[0] == 110
    assert tls.wrapped[0].closed and socket.sockets[0].closed
    tls.response = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"acc"
    for resp in (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"acc", b"", b"garbage\r\n\r\n"):
        tls.response = resp
        try:
            http.post(URL, "[]", HEADERS, 5)
            raise AssertionError("no error for %r" % resp)
        except OSError as e:
            assert not isinstance(e, http.CertError)
    tls.handshake_error = OSError(104)  # reset during the handshake
    try:
        http.post(URL, "[]", HEADERS, 5)
        raise AssertionError("no error")
    except OSError as e:
        assert not isinstance(e, http.CertError)
    socket.connect_error = OSError(113)
    try:
        http.post(URL, "[]", HEADERS, 5)
        raise AssertionError("no error")
    except OSError as e:
        assert e.args[0] == 113
    assert all(s.closed for s in socket.sockets), [s.closed for s in socket.sockets]


def test_without_ca_cert_https_is_not_verified_and_http_is_plain():
    fw.setup(config=False)
    import httpclient, socket, tls
    socket.handler = lambda *a: (200, {"X-A": "1"}, "{}")
    c = httpclient.Client(None)
    status, hdrs, text = c.post(URL, "[]", HEADERS, 5)
    assert (status, hdrs["x-a"], text) == (200, "1", "{}"), (status, hdrs, text)
    assert tls.contexts[0].verify_mode == tls.CERT_NONE and tls.contexts[0].cadata is None
    assert tls.contexts[0].server_hostname == "thermowatt.test"
    assert c.post("http://lab.local:8080/api/measurements", "[]", HEADERS, 5)[0] == 200
    assert len(tls.contexts) == 1  # plain HTTP: no TLS
    assert [x["url"] for x in socket.calls] == [URL, "http://lab.local:8080/api/measurements"]
    assert socket.open_sockets() == []


def _uplink(**cfg):
    fw.setup(rtc_set=True, config=False)
    with open("/ca.der", "wb") as f:
        f.write(DER)
    fw.write_config(ca_cert="/ca.der", **cfg)
    import config, clock, status, flashqueue, deadletter, uplink, reading, tls
    c, problems = config.load("/config.json")
    assert not problems, problems
    clk = clock.Clock("/q/bootclock")
    q = flashqueue.FlashQueue("/q", c["queue_cap"])
    clk.boot = q.boot
    for i in range(3):
        q.append(reading.make(q.boot, i, clk.unix() + 300 * i, (20.0, 1000.0), (5.0, 100.0, 500.0)))
    up = uplink.Uplink(c, clk, status.Log(clk, "/log.txt"), rand=lambda: 0.5)
    return up, q, deadletter.DeadLetter("/deadletter.jsonl"), uplink, tls, c


def test_uplink_sends_over_the_verified_socket():
    up, q, dead, uplink, tls, c = _uplink()
    tls.response = (b"HTTP/1.1 200 OK\r\nContent-Length: 44\r\n\r\n"
                    b'{"accepted":3,"duplicates":0,"rejected":[]}\n')
    assert up.send_next(q, dead, {}) == uplink.SENT
    assert q.depth == 0
    w = tls.wrapped[0].written
    body = json.loads(w[w.find(b"\r\n\r\n") + 4:])
    assert len(body) == 3 and body[0]["deviceId"] == "esp32-test"
    assert tls.contexts[0].verify_mode == tls.CERT_REQUIRED


def test_uplink_holds_the_queue_on_a_certificate_failure():
    up, q, dead, uplink, tls, c = _uplink()
    tls.handshake_error = ValueError("The certificate is not correctly signed by the trusted CA")
    assert up.send_next(q, dead, {}) == uplink.HELD
    assert q.depth == 3 and not fw.exists("/deadletter.jsonl")
    assert "certificate" in up.last_error and "ca_cert" in up.last_error, up.last_error
    assert up.last_delay_s == c["backoff_cap_s"] and up.net_failures == 0
    assert any("ERROR TLS:" in l for l in fw.lines("/log.txt"))


def test_the_app_hands_ca_cert_to_httpclient():
    fw.setup(rtc_set=True, config=False)
    with open("/ca.der", "wb") as f:
        f.write(DER)
    fw.write_config(ca_cert="/ca.der")
    import app
    a = app.build()
    assert a.uplink.http.ca_path == "/ca.der"
    assert a.cfg["ca_cert"] == "/ca.der"


def test_a_certificate_check_before_the_clock_is_set_is_retried_not_held_and_goes_when_ntp_answers():
    # After a power cut without NTP an ESP32 reads 2000: every certificate
    # is "not yet valid". That is not a wrong CA: no 600 s hold.
    up, q, dead, uplink, tls, c = _uplink()
    import sim
    sim.SIM.rtc_off_ms = sim.SIM.epoch_off * 1000 - sim.SIM.true_ms  # the RTC lost its time
    tls.handshake_error = ValueError("MBEDTLS_ERR_X509_CERT_VERIFY_FAILED\nThe certificate validity starts in the future")
    assert up.send_next(q, dead, {}) == uplink.RETRY
    assert "clock is not set" in up.last_error, up.last_error
    assert up.last_delay_s < c["backoff_cap_s"] and q.depth == 3
    assert all("\n" not in l for l in fw.lines("/log.txt"))
    sim.SIM.ntp_set()
    tls.handshake_error = None
    tls.response = (b"HTTP/1.1 200 OK\r\nContent-Length: 44\r\n\r\n"
                    b'{"accepted":3,"duplicates":0,"rejected":[]}\n')
    up.clock_set()  # what the app does when NTP answers
    assert up.due(up.clock.uptime_ms())
    assert up.send_next(q, dead, {}) == uplink.SENT


def test_a_truncated_or_doubled_ca_file_is_refused_at_read():
    import tlshttp
    for data, why in ((DER[:-7], "truncated DER"), (DER + DER, "two DER"), (_pem(DER) + _pem(DER), "two PEM"),
                      (_pem(DER[:-7]), "truncated PEM")):
        with open("/ca.bad", "wb") as f:
            f.write(data)
        try:
            tlshttp.read_ca("/ca.bad")
        except ValueError:
            continue
        raise AssertionError("read_ca accepted a %s file" % why)
    with open("/ca.good", "wb") as f:
        f.write(_pem(DER))
    assert tlshttp.read_ca("/ca.good") == DER


def test_the_health_report_names_the_active_and_the_waiting_ca():
    import binascii
    import hashlib
    up, q, dead, uplink, tls, c = _uplink()
    fp = lambda der: binascii.hexlify(hashlib.sha256(der).digest()).decode()
    assert up.http.ca_fingerprints() == {"active": fp(DER), "waiting": None}
    other = b"\x30\x03new"
    with open("/ca.next.pem", "wb") as f:
        f.write(_pem(other))
    up.http._fps = None  # as after the reboot that installs a release
    assert up.http.ca_fingerprints() == {"active": fp(DER), "waiting": fp(other)}
