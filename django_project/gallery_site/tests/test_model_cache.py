"""The site's one model cache: each key loaded once, failures retried, least recent dropped."""

from __future__ import annotations

import threading
import time

import pytest

from gallery_site.model_cache import LoadOnce


def test_a_key_is_loaded_once_even_by_threads_asking_at_the_same_time():
    cache: LoadOnce[str, object] = LoadOnce()
    calls = []

    def load():
        calls.append(1)
        time.sleep(0.05)  # long enough for every thread to be waiting
        return object()

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("VAE", load))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and cache.loads["VAE"] == 1
    assert all(result is results[0] for result in results)


def test_a_failed_load_is_not_cached():
    cache: LoadOnce[str, int] = LoadOnce()

    def broken():
        raise ValueError("damaged file")

    with pytest.raises(ValueError, match="damaged"):
        cache.get("GAN", broken)
    assert "GAN" not in cache
    assert cache.get("GAN", lambda: 7) == 7  # fixed: used at once


def test_the_least_recently_used_key_is_dropped_past_the_size():
    cache: LoadOnce[str, str] = LoadOnce(max_size=2)
    cache.get("a", lambda: "A")
    cache.get("b", lambda: "B")
    cache.get("a", lambda: "never")  # a is now the most recent
    cache.get("c", lambda: "C")
    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.get("a", lambda: "never") == "A"


def test_discard_and_clear():
    cache: LoadOnce[tuple[int, str], str] = LoadOnce()
    cache.get((1, "x"), lambda: "one")
    cache.get((2, "y"), lambda: "two")
    cache.discard(lambda key: key[0] != 1)
    assert (1, "x") not in cache and (2, "y") in cache
    cache.clear()
    assert (2, "y") not in cache and not cache.loads
    with pytest.raises(ValueError, match="max_size"):
        LoadOnce(max_size=0)
