"""Signing vectors from Wiro's signature authentication (docs/wiro-protocol.md, Auth)."""

import asyncio

import pytest

from bot.wiro.signing import NonceSource, sign_headers, wiro_signature

VECTORS = [
    ("k", "s", "1700000000", "fb4c6cb5a6860adb69a8e51cbfd9e86bd1cdd74860aa76aac96211d098e2051b"),
    ("k", "s", "1700000000000", "9709457a07c8ca2c573e70c168322feb7e3b88833536963d18c2a076f575eed9"),
    (
        "test-api-key",
        "test-secret",
        "1700000000000",
        "2d99fa1b6934f66a712785d1b402997e1b13d9d7cd5e0085211dac133ae4a8ef",
    ),
    (
        "api",
        "secret",
        "nonce-1",
        "d453af9a65c4ddd1ff17d5b03d3224b906899f3445dc4b4aadb5580260c60586",
    ),
]


@pytest.mark.parametrize(("key", "secret", "nonce", "expected"), VECTORS)
def test_signature_vectors(key, secret, nonce, expected):
    assert wiro_signature(key, secret, nonce) == expected


def test_swapped_arguments_anti_vector_differs():
    wrong = "d4bbad2bd8e06bd87c25a71578de65581707b86529f418977f745273cc3f43b6"
    # The anti-vector is what you get with key and message swapped: prove it, then that we differ.
    import hashlib
    import hmac

    assert hmac.new(b"s1700000000", b"k", hashlib.sha256).hexdigest() == wrong
    assert wiro_signature("k", "s", "1700000000") != wrong


def test_signature_is_lowercase_hex():
    sig = wiro_signature("K", "S", "1")
    assert sig == sig.lower() and len(sig) == 64
    int(sig, 16)


def test_sign_headers():
    headers = sign_headers("test-api-key", "test-secret", "1700000000000")
    assert headers == {
        "x-api-key": "test-api-key",
        "x-nonce": "1700000000000",
        "x-signature": "2d99fa1b6934f66a712785d1b402997e1b13d9d7cd5e0085211dac133ae4a8ef",
    }


def test_nonce_strictly_increasing_within_one_millisecond():
    source = NonceSource(clock=lambda: 1700000000.0)
    values = [int(source.next()) for _ in range(1000)]
    assert values[0] == 1700000000000
    assert values == sorted(set(values)) and len(values) == 1000


def test_nonce_never_moves_backwards_when_clock_does():
    times = iter([100.0, 50.0, 50.0, 200.0])
    source = NonceSource(clock=lambda: next(times))
    assert [source.next() for _ in range(4)] == ["100000", "100001", "100002", "200000"]


def test_nonce_tracks_wall_clock_in_milliseconds():
    import time

    value = int(NonceSource().next())
    assert abs(value - time.time() * 1000) < 5000


async def test_nonce_unique_across_concurrent_tasks():
    source = NonceSource()

    async def grab():
        await asyncio.sleep(0)
        return source.next()

    values = await asyncio.gather(*(grab() for _ in range(200)))
    assert len(set(values)) == 200
