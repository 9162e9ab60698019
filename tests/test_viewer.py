"""The viewer's JSON API: planted matches come back, bad requests get 4xx JSON, no file escapes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnscope.errors import StoreError
from rnnscope.store import ActivationStore, StoreWriter
from rnnscope.viewer import create_app

PHRASE = ["kick", "the", "bucket"]
UNITS = [2, 9]


def viewer_store(path, n_sent: int = 30, hidden: int = 16, seed: int = 0) -> tuple[ActivationStore, list[int]]:
    """Sentences of filler words; every third holds "kick the bucket", where units 2 and 9 fire."""
    rng = np.random.default_rng(seed)
    filler = "we saw a cat on the mat and then left home".split()
    rows, starts = [], []
    for s in range(n_sent):
        words = list(rng.choice(filler, size=6))
        if s % 3 == 0:
            k = int(rng.integers(0, 5))
            words[k:k] = PHRASE
            starts.append(len(rows) + k)
        rows += [dict(sentence=s, position=p, token=w, word=w, word_index=p, is_word_end=True,
                      upos="NOUN" if w in ("cat", "mat", "bucket") else "X", depth=p % 3)
                 for p, w in enumerate(words)]
    tokens = pd.DataFrame(rows)
    states = rng.normal(0, 0.3, size=(len(tokens), hidden)).astype(np.float32)
    states[:, UNITS] = -2.0
    for r in starts:
        states[r:r + 3, UNITS] = 2.0
    store = ActivationStore.from_arrays(path, {"layer1.h": states, "layer1.c": states * 2}, tokens,
                                        meta={"vocab_kind": "word"}, chunk_rows=32)
    return store, starts


@pytest.fixture
def client_and_starts(tmp_path):
    _, starts = viewer_store(tmp_path / "store")
    app = create_app(tmp_path / "store")
    return app.test_client(), starts


def test_info_text_and_states(client_and_starts):
    client, starts = client_and_starts
    info = client.get("/api/info").get_json()
    assert info["default_key"] == "layer1.h" and info["hidden_size"] == 16
    assert set(UNITS) <= set(info["suggested_units"])          # the most variable units
    text = client.get("/api/text?start=5&count=4").get_json()
    assert text["rows"] == [5, 6, 7, 8] and len(text["token"]) == 4 and len(text["tag"]) == 4
    st = client.get(f"/api/states?units=2,3&start={starts[0]}&count=3").get_json()
    assert st["units"] == [2, 3] and st["values"][0] == [2.0, 2.0, 2.0]


def test_match_endpoint_finds_the_other_occurrences(client_and_starts):
    client, starts = client_and_starts
    a = starts[0]
    res = client.get(f"/api/match?row_start={a}&row_end={a + 3}&top=20").get_json()
    assert set(UNITS) <= set(res["selection"]["units"])
    assert res["selection"]["text"] == "kick the bucket"
    first = sorted(m["row_start"] for m in res["matches"][:len(starts) - 1])
    assert first == starts[1:]
    assert all(m["text"] == "kick the bucket" for m in res["matches"][:len(starts) - 1])
    found = client.get("/api/find?phrase=kick the bucket").get_json()
    assert [h["row_start"] for h in found["hits"]] == starts


def test_unit_card_lists_the_planted_contexts(client_and_starts):
    client, starts = client_and_starts
    card = client.get("/api/unit?unit=9").get_json()
    phrase_rows = {r + k for r in starts for k in range(3)}
    assert {c["row"] for c in card["top_contexts"]} <= phrase_rows
    assert card["tag"] == "upos" and sum(card["histogram"]["counts"]) > 0
    assert 0.0 < card["on_rate"] < 0.5


@pytest.mark.parametrize("url, status, words", [
    ("/api/match?row_start=0&row_end=3&threshold=1.5", 400, "threshold"),
    ("/api/match?row_start=0&row_end=3&threshold=0", 400, "threshold"),
    ("/api/match?row_start=3&row_end=3", 400, "greater"),
    ("/api/match?row_start=0&row_end=99999", 400, "out of range"),
    ("/api/match?row_start=x&row_end=2", 400, "integer"),
    ("/api/match?row_start=7&row_end=11", 400, "sentence boundary"),
    ("/api/match?row_end=2", 400, "missing"),
    ("/api/text?start=-1", 400, "out of range"),
    ("/api/text?count=100000", 400, "out of range"),
    ("/api/text?tag=nope", 400, "column"),
    ("/api/states?units=1,zz", 400, "integers"),
    ("/api/states?units=99", 400, "out of range"),
    ("/api/states?key=layer9.h", 400, "no key"),
    ("/api/unit?unit=16", 400, "out of range"),
    ("/api/find?phrase=", 400, "phrase"),
    ("/api/match?row_start=0&row_end=3&scale=log", 400, "scale"),
    ("/api/match?row_start=0&row_end=3&units=2,99", 400, "out of range"),
    ("/api/cells?spans=0-3", 400, "units"),
    ("/api/cells?units=2", 400, "spans"),
    ("/api/cells?units=2&spans=3", 400, "12-15"),
    ("/api/cells?units=2&spans=3-1", 400, "out of range"),
    ("/api/cells?units=2&spans=0-99999", 400, "out of range"),
    ("/api/cells?units=2&spans=7-11", 400, "sentence boundary"),
    ("/api/cells?units=2&spans=0-3&tags=upos,nope", 400, "column"),
    ("/api/cells?units=2&spans=0-3&scale=log", 400, "scale"),
    ("/api/cells?units=2&spans=0-3&context=11", 400, "out of range"),
    ("/api/cells?units=16&spans=0-3", 400, "out of range"),
    ("/api/nothing", 404, "no API endpoint"),
    ("/static/app.py", 404, "no static file"),
    ("/static/..%2Fapp.py", 404, ""),
    ("/static/../../store.py", 404, ""),
    ("/etc/passwd", 404, ""),
])
def test_bad_requests_get_4xx_json(client_and_starts, url, status, words):
    client, _ = client_and_starts
    r = client.get(url)
    assert r.status_code == status
    assert r.is_json and words in r.get_json()["error"]


def test_static_page_and_script_are_local(client_and_starts):
    client, _ = client_and_starts
    page = client.get("/").get_data(as_text=True)
    script = client.get("/static/viewer.js").get_data(as_text=True)
    assert "/static/viewer.js" in page and "function runMatch" in script
    assert "http://" not in page and "https://" not in page      # nothing fetched from the network
    assert "https://" not in script
    import re

    files = re.findall(r'(?:src|href)="/static/([^"]+)"', page)
    assert {"util.js", "plot.js", "matches.js", "card.js", "viewer.js", "viewer.css"} <= set(files)
    for name in files:                                           # every file the page loads is served
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and "https://" not in r.get_data(as_text=True), name


def test_info_describes_scales_tracks_and_tag_values(client_and_starts):
    client, _ = client_and_starts
    info = client.get("/api/info").get_json()
    assert info["scales"] == {"layer1.h": "raw", "layer1.c": "tanh"}
    assert info["tracks"] == ["upos", "depth"]
    assert info["tag_values"]["upos"] == ["X", "NOUN"]           # most frequent first
    assert sorted(info["tag_values"]["depth"]) == [0, 1, 2]
    assert info["limits"] == {"window": 2000, "units": 64, "span": 50}


def test_cells_give_aligned_rows_of_the_mean_and_tags(client_and_starts):
    client, starts = client_and_starts
    a, b = starts[0], starts[1]
    res = client.get(f"/api/cells?units=2,9&spans={a}-{a + 3},{b}-{b + 3}&context=2").get_json()
    assert res["units"] == [2, 9] and res["scale"] == "raw" and res["tags"] == ["upos", "depth"]
    for span, start in zip(res["spans"], (a, b)):
        k = span["lead"]
        assert span["first"] == start - k and 0 <= k <= 2         # context clipped at the sentence start
        assert span["token"][k:k + 3] == PHRASE
        assert span["value"][k:k + 3] == [2.0, 2.0, 2.0]         # mean of the two planted units
        assert all(v == -2.0 for v in span["value"][:k] + span["value"][k + 3:])
        assert span["tags"]["upos"][k + 2] == "NOUN" and len(span["tags"]["depth"]) == len(span["token"])
    c = client.get(f"/api/cells?key=layer1.c&units=2&spans={a}-{a + 1}&context=0&tags=").get_json()
    assert c["scale"] == "tanh" and c["tags"] == [] and c["spans"][0]["tags"] == {}
    assert c["spans"][0]["value"] == [round(float(np.tanh(4.0)), 4)]   # c = 2 h = 4 there


def test_match_on_a_pool_of_units_and_on_the_tanh_scale(client_and_starts):
    client, starts = client_and_starts
    a = starts[0]
    full = client.get(f"/api/match?row_start={a}&row_end={a + 3}").get_json()
    assert full["pool"] is None and full["scale"] == "raw"
    pool = client.get(f"/api/match?row_start={a}&row_end={a + 3}&units=9,4,9").get_json()
    assert pool["pool"] == [9, 4] and pool["selection"]["units"] == [9]   # only the pool's units
    top = pool["matches"][:len(starts) - 1]
    assert sorted(m["row_start"] for m in top) == starts[1:]
    assert all(m["shared_units"] == [9] and m["extra"] == 0 for m in top)
    tanh = client.get(f"/api/match?key=layer1.c&row_start={a}&row_end={a + 3}&scale=tanh&threshold=0.9").get_json()
    assert tanh["scale"] == "tanh" and set(UNITS) <= set(tanh["selection"]["units"])


def test_store_being_written_is_refused(tmp_path):
    writer = StoreWriter.create(tmp_path / "half", n_rows=10, keys=["layer1.h"], hidden_size=4)
    writer.write("layer1.h", 0, np.zeros((5, 4), np.float32))
    with pytest.raises(StoreError, match="incomplete"):
        create_app(tmp_path / "half")
    viewer_store(tmp_path / "done")
    client = create_app(tmp_path / "done").test_client()
    (tmp_path / "done" / "COMPLETE").unlink()                   # being rewritten under our feet
    r = client.get("/api/info")
    assert r.status_code == 409 and "being written" in r.get_json()["error"]


def test_a_store_rewritten_under_the_viewer_is_refused_with_409(tmp_path):
    """Rewritten (new token table and arrays): the old viewer refuses every API route with
    409 instead of mixing the old token table with new arrays."""
    viewer_store(tmp_path / "s", n_sent=30)
    client = create_app(tmp_path / "s").test_client()
    assert client.get("/api/info").status_code == 200
    viewer_store(tmp_path / "s-new", n_sent=12, seed=1)
    import shutil

    shutil.rmtree(tmp_path / "s")
    shutil.copytree(tmp_path / "s-new", tmp_path / "s")
    for url in ("/api/info", "/api/text?start=0&count=5", "/api/match?row_start=0&row_end=2"):
        r = client.get(url)
        assert r.status_code == 409 and "rewritten" in r.get_json()["error"], url
    assert create_app(tmp_path / "s").test_client().get("/api/info").get_json()["rows"] < 100


def test_serve_bounds_threads_and_idle_connections(tmp_path):
    """`rnnscope serve` hands the app to waitress with bounded threads and an idle timeout."""
    from unittest import mock

    from click.testing import CliRunner

    from rnnscope.cli import main

    viewer_store(tmp_path / "store")
    with mock.patch("waitress.serve") as serve:
        out = CliRunner().invoke(main, ["serve", str(tmp_path / "store"), "--port", "5123",
                                        "--threads", "3", "--idle-timeout", "7"])
    assert out.exit_code == 0, out.output
    kwargs = serve.call_args.kwargs
    assert kwargs["host"] == "127.0.0.1" and kwargs["port"] == 5123
    assert kwargs["threads"] == 3 and kwargs["channel_timeout"] == 7
    bad = CliRunner().invoke(main, ["serve", str(tmp_path / "store"), "--threads", "0"])
    assert bad.exit_code == 2 and bad.output.startswith("error:")


def test_non_finite_states_become_null(tmp_path):
    store, starts = viewer_store(tmp_path / "s")
    values = store.get("layer1.h")
    values[3, 2] = np.nan
    ActivationStore.from_arrays(tmp_path / "nan", {"layer1.h": values}, store.tokens,
                                meta={"vocab_kind": "word"})
    client = create_app(tmp_path / "nan").test_client()
    r = client.get("/api/states?units=2&start=0&count=5")
    assert b"NaN" not in r.data and r.get_json()["values"][0][3] is None


def test_rnnscope_serve_answers_on_a_free_port(tmp_path):
    """The real CLI in a subprocess: binds 127.0.0.1, serves the API, stops on terminate."""
    import json
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    viewer_store(tmp_path / "store")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from rnnscope.cli import main; main()", "serve",
                             str(tmp_path / "store"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        info = None
        deadline = time.monotonic() + 180   # generous: importing the CLI is slow on a busy machine
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=2) as r:
                    info = json.loads(r.read())
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.25)
        assert info is not None, proc.stdout.read().decode() if proc.poll() is not None else "no answer"
        assert info["rows"] == len(ActivationStore.open(tmp_path / "store").tokens)
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/match?row_start=0&row_end=1&threshold=2")
            raise AssertionError("expected HTTP 400")
        except urllib.error.HTTPError as err:
            assert err.code == 400 and "threshold" in json.loads(err.read())["error"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
