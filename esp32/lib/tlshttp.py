# Verifying the server over TLS (config "ca_cert"): CERT_REQUIRED against
# one pinned CA (DER; PEM is converted) and the host name (server_hostname:
# SNI and the name check). httpclient loads this module only when ca_cert is
# set; config.py uses read_ca() to check the file at start.


class NotVerified(Exception):
    """The handshake failed because the certificate did not verify."""


def read_ca(path):
    """DER bytes of the one CA certificate in file `path` (DER or PEM).
    Raises OSError when unreadable, ValueError when not a certificate."""
    with open(path, "rb") as f:
        data = f.read()
    begin = b"-----BEGIN CERTIFICATE-----"
    if data[:1] == b"\x30":  # DER: an ASN.1 SEQUENCE
        if not _whole_der(data):
            raise ValueError("%s is not one whole DER certificate (truncated, or followed by more)" % path)
        return data
    i = data.find(begin)
    if i < 0:
        raise ValueError("%s is neither a DER nor a PEM certificate" % path)
    j = data.find(b"-----END CERTIFICATE-----", i)
    if j < 0 or data.find(begin, j) >= 0:
        # mbedtls here takes one DER certificate: pin the root CA alone.
        raise ValueError("%s must hold exactly one PEM certificate" % path)
    import binascii
    try:
        der = binascii.a2b_base64(data[i + len(begin):j])
    except ValueError:
        der = b""
    if not _whole_der(der):
        raise ValueError("%s: the PEM certificate does not decode to one whole DER certificate" % path)
    return der


def _whole_der(der):
    """True when der is exactly one ASN.1 SEQUENCE (a certificate's outer
    shape) whose length is the file's: a truncated or padded file is not."""
    n = len(der)
    if n < 4 or der[0] != 0x30:
        return False
    k = der[1]
    if k < 0x80:
        hdr, length = 2, k
    else:
        k &= 0x7F
        if k < 1 or k > 3 or n < 2 + k:
            return False
        hdr, length = 2 + k, int.from_bytes(der[2:2 + k], "big")
    return hdr + length == n


def fingerprint(der):
    """SHA-256 of a certificate's DER, hex: how the server and the device
    list name a CA."""
    import binascii
    import hashlib
    return binascii.hexlify(hashlib.sha256(der).digest()).decode()


def _is_cert(e):
    # mbedtls errors arrive as OSError(code, "MBEDTLS_ERR_X509_...") or,
    # without error strings, OSError(9984) (X509_CERT_VERIFY_FAILED).
    code = e.args[0] if e.args else None
    return (isinstance(code, int) and abs(code) == 0x2700) or "X509" in str(e) or "CERT" in str(e)


def wrap_verified(ctx, sock, host, ca_der):
    """sock wrapped by ctx, requiring a certificate chain to ca_der that
    names host. Raises NotVerified when it does not verify, OSError when the
    handshake fails otherwise."""
    import tls
    ctx.verify_mode = tls.CERT_REQUIRED
    try:
        # tls takes cadata positionally (no keywords) and DER only.
        ctx.load_verify_locations(ca_der)
        return ctx.wrap_socket(sock, server_hostname=host)
    except ValueError as e:
        # mbedtls reports a failed verification as ValueError(reason).
        raise NotVerified(e)
    except OSError as e:
        if _is_cert(e):
            raise NotVerified(e)
        raise
