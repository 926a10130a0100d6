# Ed25519 signing (RFC 8032 5.1.6) for tests: the release signer's side,
# which the device never needs. Written apart from lib/ed25519.py so that a
# bug there cannot hide behind the same bug here.
import sha512

P = 2 ** 255 - 19
L = 2 ** 252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
BY = 4 * pow(5, P - 2, P) % P
BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202


def _add(p, q):
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, p):
    q = (0, 1, 1, 0)
    while s:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _encode(p):
    zi = pow(p[2], P - 2, P)
    x, y = p[0] * zi % P, p[1] * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _h(m):
    return int.from_bytes(sha512.digest(m), "little")


def public_key(secret):
    h = sha512.digest(secret)
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:], _encode(_mul(a, (BX, BY, 1, BX * BY % P)))


def sign(secret, msg):
    a, prefix, A = public_key(secret)
    B = (BX, BY, 1, BX * BY % P)
    r = _h(prefix + msg) % L
    R = _encode(_mul(r, B))
    k = _h(R + A + msg) % L
    return R + ((r + k * a) % L).to_bytes(32, "little")
