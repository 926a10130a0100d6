# Ed25519 signature verification (RFC 8032, section 5.1.7), for firmware
# releases signed off the device. MicroPython has no Ed25519, and the ESP32
# port's hashlib has no SHA-512: both are written here in plain Python on
# MicroPython's big integers. Only verification: the device never signs.
#
# Points are kept in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z,
# x*y = T/Z (RFC 8032 5.1.4), so no modular inverse is needed until the end.
# The check [S]B == R + [k]A is done as [S]B + [k](-A) == R in one pass over
# the scalar bits (Shamir's trick): about 253 doublings and 190 additions.
# Loaded only while a release is being checked (fleet.py drops it afterwards).

_P = 2 ** 255 - 19
_L = 2 ** 252 + 27742317777372353535851937790883648493
_D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
_SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960


def _sha512():
    try:
        import hashlib
        return hashlib.sha512()
    except (ImportError, AttributeError):
        import sha512
        return sha512.SHA512()


def _add(P, Q):
    p = _P
    a = (P[1] - P[0]) * (Q[1] - Q[0]) % p
    b = (P[1] + P[0]) * (Q[1] + Q[0]) % p
    c = 2 * P[3] * Q[3] * _D % p
    d = 2 * P[2] * Q[2] % p
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _double(P):
    p = _P
    a = P[0] * P[0] % p
    b = P[1] * P[1] % p
    c = 2 * P[2] * P[2] % p
    h = a + b
    e = h - (P[0] + P[1]) * (P[0] + P[1]) % p
    g = a - b
    f = c + g
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _equal(P, Q):
    p = _P
    return (P[0] * Q[2] - Q[0] * P[2]) % p == 0 and (P[1] * Q[2] - Q[1] * P[2]) % p == 0


def _decode(s):
    """The point encoded in 32 bytes, or None when it is not on the curve."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    p = _P
    if y >= p:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, p - 2, p) % p
    if x2 == 0:
        if sign:
            return None
        x = 0
    else:
        x = pow(x2, (p + 3) // 8, p)
        if (x * x - x2) % p:
            x = x * _SQRT_M1 % p
        if (x * x - x2) % p:
            return None
        if (x & 1) != sign:
            x = p - x
    return (x, y, 1, x * y % p)


def verify(public_key, message, signature):
    """True when signature (64 bytes) is public_key's (32 bytes) Ed25519
    signature of message: bytes, or a function that hands the message's
    pieces in order to the function it is given. False for any malformed
    input."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    A = _decode(public_key)
    R = _decode(signature[:32])
    if A is None or R is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    h = _sha512()
    h.update(signature[:32])
    h.update(public_key)
    if callable(message):
        message(h.update)  # the message's pieces, in order: never held whole
    else:
        h.update(message)
    k = int.from_bytes(h.digest(), "little") % _L
    # The pure-Python SHA-512 (~6 KB of code) is done with: drop it before
    # the point arithmetic, which needs the heap it held.
    del h
    import sys
    sys.modules.pop("sha512", None)
    p = _P
    B = (_BX, _BY, 1, _BX * _BY % p)
    nA = ((p - A[0]) % p, A[1], A[2], (p - A[3]) % p)
    both = _add(B, nA)
    Q = (0, 1, 1, 0)
    for i in range(252, -1, -1):  # s, k < L < 2^253 (MicroPython's int has no bit_length)
        Q = _double(Q)
        bs = (s >> i) & 1
        bk = (k >> i) & 1
        if bs and bk:
            Q = _add(Q, both)
        elif bs:
            Q = _add(Q, B)
        elif bk:
            Q = _add(Q, nA)
    return _equal(Q, R)
