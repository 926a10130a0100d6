# Release signatures: lib/ed25519.py against RFC 8032's test vectors, and
# what it costs on the device.
import binascii
import gc

# RFC 8032, section 7.1: TEST 1, 2, 3 (public key, message, signature).
VECTORS = (
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
)
# TEST 1's secret key, to check the test signer against the RFC too.
SECRET1 = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"


def _b(h):
    return binascii.unhexlify(h)


def test_rfc8032_vectors_verify():
    import ed25519
    for pk, msg, sig in VECTORS:
        assert ed25519.verify(_b(pk), _b(msg), _b(sig)), pk


def test_a_changed_message_signature_or_key_is_refused():
    import ed25519
    for pk, msg, sig in VECTORS:
        bad = bytearray(_b(sig))
        bad[10] ^= 1
        assert not ed25519.verify(_b(pk), _b(msg), bytes(bad))
        bad = bytearray(_b(sig))
        bad[40] ^= 1  # S
        assert not ed25519.verify(_b(pk), _b(msg), bytes(bad))
        assert not ed25519.verify(_b(pk), _b(msg) + b"x", _b(sig))
    pk, msg, sig = VECTORS[1]
    assert not ed25519.verify(_b(VECTORS[2][0]), _b(msg), _b(sig))
    assert not ed25519.verify(_b(pk), _b(msg), _b(sig)[:63])
    # S >= L must be refused (signature malleability, RFC 8032 5.1.7).
    s = int.from_bytes(_b(sig)[32:], "little") + 2 ** 252 + 27742317777372353535851937790883648493
    assert not ed25519.verify(_b(pk), _b(msg), _b(sig)[:32] + s.to_bytes(32, "little"))


def test_sha512_matches_fips_180_examples():
    import sha512
    assert binascii.hexlify(sha512.digest(b"abc")).decode() == (
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
    assert binascii.hexlify(sha512.digest(b"")).decode().startswith("cf83e1357eefb8bdf1542850d66d8007")


def test_test_signer_reproduces_rfc_test_1():
    import ed25519sign
    assert ed25519sign.public_key(_b(SECRET1))[2] == _b(VECTORS[0][0])
    assert ed25519sign.sign(_b(SECRET1), b"") == _b(VECTORS[0][2])


def test_verification_time_and_heap():
    # Real time here (no simulated clock is installed in this test). The
    # heap figure counts every byte allocated during one verification,
    # garbage included (this VM collects only between runs): an upper bound
    # of what it needs at once.
    import time
    import ed25519
    import ed25519sign
    import sha512  # noqa: loaded before measuring, as on a device it is loaded with ed25519
    msg = b"m" * 400  # a release manifest's size
    pk = ed25519sign.public_key(_b(SECRET1))[2]
    sig = ed25519sign.sign(_b(SECRET1), msg)
    gc.collect()
    a0 = gc.mem_alloc()
    t0 = time.ticks_ms()
    ok = ed25519.verify(pk, msg, sig)
    ms = time.ticks_diff(time.ticks_ms(), t0)
    alloc = gc.mem_alloc() - a0
    assert ok
    print("REPORT ed25519 verify of a 400-byte message: %d ms, %d bytes allocated (garbage included)" % (ms, alloc))
