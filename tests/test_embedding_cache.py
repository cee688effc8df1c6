"""The on-disk Sentence-BERT embedding cache: re-runs encode only new texts, bad shards are recomputed,
two writers at once lose nothing, and a report's numbers are the same with and without it."""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil

import numpy as np
import pytest
from report_sweeps import build_sweep, gsm8k_sweep

from harness_ext import metrics
from harness_ext.data import load_rows
from harness_ext.report import embedding_cache, main, write_report
from harness_ext.report.analysis import Options
from harness_ext.report.embedding_cache import CachedEncoder, EmbeddingStore, EncoderKey, cached_encoder


@pytest.fixture(scope="module")
def texts(data_dir) -> list[str]:
    return [row["answer"] for row in load_rows("gsm8k", "test", data_dir)[:24]]


class Recording:
    """The real MiniLM, remembering every text it was asked to encode."""

    def __init__(self):
        self.model = metrics.load_sbert()
        self.seen: list[str] = []

    def encode(self, texts, **kwargs):
        self.seen += list(texts)
        return self.model.encode(list(texts), **kwargs)


KEY = EncoderKey("model-sha", "torch-cpu", "float32")


def test_second_encoder_reads_every_vector_and_encodes_only_new_texts(tmp_path, texts):
    first = Recording()
    vectors = CachedEncoder(lambda: first, EmbeddingStore(tmp_path, KEY)).encode(texts[:16] + texts[:4])
    assert first.seen == texts[:16]  # a repeated text is encoded once
    plain = metrics.load_sbert().encode(texts[:16], normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_array_equal(vectors[:16], plain)
    second = Recording()
    again = CachedEncoder(lambda: second, EmbeddingStore(tmp_path, KEY)).encode(texts)
    assert second.seen == texts[16:]
    np.testing.assert_array_equal(again[:16], plain)
    assert len(EmbeddingStore(tmp_path, KEY).shards()) == 2


def test_corrupt_and_foreign_shards_are_recomputed(tmp_path, texts):
    store = EmbeddingStore(tmp_path, KEY)
    expect = CachedEncoder(Recording, store).encode(texts[:6])
    (shard,) = store.shards()
    data = bytearray(shard.read_bytes())
    data[-3] ^= 0xFF  # one flipped byte in the last vector
    shard.write_bytes(bytes(data))
    other = EncoderKey("model-sha", "torch-cpu", "bfloat16")
    foreign = embedding_cache.encode_shard(other, [embedding_cache.text_hash(t) for t in texts[6:8]], np.ones((2, 384)))
    (store.dir / f"{hashlib.sha256(foreign).hexdigest()}.emb").write_bytes(foreign)

    recording, fresh = Recording(), EmbeddingStore(tmp_path, KEY)
    vectors = CachedEncoder(lambda: recording, fresh).encode(texts[:8])
    assert sorted(r.split(":")[1].strip() for r in fresh.rejected) == [
        "content does not match its checksum", "written for another encoder"]
    assert recording.seen == texts[:8]  # nothing trusted: all encoded again
    np.testing.assert_array_equal(vectors[:6], expect)
    assert len(fresh.shards()) == 1 and not EmbeddingStore(tmp_path, KEY).load().keys() ^ {
        embedding_cache.text_hash(t) for t in texts[:8]}


class Deterministic:
    """A cheap stand-in encoder for the concurrency test: a fixed unit vector per text."""

    def encode(self, texts, **kwargs):
        return np.stack([unit(t) for t in texts])


def unit(text: str) -> np.ndarray:
    v = np.random.default_rng(int.from_bytes(embedding_cache.text_hash(text)[:8], "little")).normal(size=8)
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_an_interrupted_encode_keeps_the_chunks_it_finished(tmp_path, monkeypatch):
    monkeypatch.setattr(embedding_cache, "CHUNK", 4)
    calls = []

    class Interrupted:
        def encode(self, texts, **kwargs):
            if calls:
                raise KeyboardInterrupt
            calls.append(texts)
            return Deterministic().encode(texts)

    with pytest.raises(KeyboardInterrupt):
        CachedEncoder(Interrupted, EmbeddingStore(tmp_path, KEY)).encode([f"t{i}" for i in range(10)])
    assert set(EmbeddingStore(tmp_path, KEY).load()) == {embedding_cache.text_hash(f"t{i}") for i in range(4)}


def test_lookup_reads_only_the_shards_holding_wanted_texts(tmp_path):
    store, h = EmbeddingStore(tmp_path, KEY), embedding_cache.text_hash
    store.add([h("a"), h("b")], np.stack([unit("a"), unit("b")]))
    other = store.add([h("c"), h("d")], np.stack([unit("c"), unit("d")]))
    data = bytearray(other.read_bytes())
    data[-1] ^= 0xFF  # its vectors are corrupt, its list of text hashes is intact
    other.write_bytes(bytes(data))
    fresh = EmbeddingStore(tmp_path, KEY)
    found = fresh.lookup([h("a"), h("b"), h("e")])
    assert set(found) == {h("a"), h("b")} and not fresh.rejected and other.exists()
    np.testing.assert_array_equal(found[h("b")], unit("b"))
    assert fresh.lookup([h("c")]) == {} and fresh.rejected and not other.exists()


def _writer(root: str, offset: int) -> None:
    embedding_cache.MAX_SHARDS = 4  # compactions race with the other writer's writes
    encoder = CachedEncoder(Deterministic, EmbeddingStore(root, KEY))
    for i in range(40):
        encoder.encode([f"text {j}" for j in range(offset + 3 * i, offset + 3 * i + 5)])


def test_two_writers_at_once_lose_nothing(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), offset)) for offset in (0, 60)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = EmbeddingStore(tmp_path, KEY)
    known = store.load()
    assert not store.rejected
    want = {f"text {j}" for j in range(0, 60 + 3 * 39 + 5)}
    assert set(known) == {embedding_cache.text_hash(t) for t in want}
    for t in want:
        np.testing.assert_array_equal(known[embedding_cache.text_hash(t)], unit(t))


def test_report_with_cache_same_numbers_and_rerun_or_added_checkpoint_encodes_only_new(tmp_path, data_dir):
    pool = [row["answer"] for row in load_rows("gsm8k", "train", data_dir)[:125]]
    sweep = gsm8k_sweep(tmp_path, pool)
    plain = write_report([str(sweep)], tmp_path / "plain", opts=Options(sbert=True, embedding_cache=None))
    cache = str(tmp_path / "cache")
    small = tmp_path / "small"  # the sweep before its last checkpoint (dpo_2) was added
    shutil.copytree(sweep, small)
    meta = json.loads((small / "sweep.json").read_text())
    meta["checkpoints"] = meta["checkpoints"][:-1]
    (small / "sweep.json").write_text(json.dumps(meta))
    shutil.rmtree(small / "dpo_2")
    opts = Options(sbert=True, embedding_cache=cache)
    write_report([str(small)], tmp_path / "a", opts=opts)
    assert len(cached_encoder(cache, "torch", "float32").known) == 100  # pool[:100]

    embedding_cache._ENCODERS.clear()  # a new process: only the disk cache is shared
    recording = Recording()
    cached_encoder(cache, "torch", "float32").load = lambda: recording
    assert write_report([str(sweep)], tmp_path / "b", opts=opts)["datasets"] == plain["datasets"]
    assert sorted(recording.seen) == sorted(pool[100:])  # the added checkpoint's new texts, each once

    embedding_cache._ENCODERS.clear()
    cached_encoder(cache, "torch", "float32").load = lambda: pytest.fail("a warm re-run loaded the model")
    assert write_report([str(sweep)], tmp_path / "c", opts=opts)["datasets"] == plain["datasets"]


def test_cli_cache_dir_that_is_a_file_is_refused(tmp_path, capsys):
    sweep = build_sweep(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit) as e:
        main([str(sweep), "--out", str(tmp_path / "r"), "--embedding-cache", str(tmp_path / "file" / "c")])
    assert e.value.code == 2 and "--embedding-cache" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_cli_states_what_it_encoded_and_read(tmp_path, capsys):
    sweep = build_sweep(tmp_path)
    cache = str(tmp_path / "cache")
    assert main([str(sweep), "--out", str(tmp_path / "r1"), "--embedding-cache", cache]) == 0
    first = capsys.readouterr().out
    embedding_cache._ENCODERS.clear()
    assert main([str(sweep), "--out", str(tmp_path / "r2"), "--embedding-cache", cache]) == 0
    second = capsys.readouterr().out
    n = int(first.split("Sentence-BERT: ")[1].split()[0])
    assert n > 0 and f"Sentence-BERT: 0 texts encoded, {n} read from the cache in {cache}\n" in second
    shard = EmbeddingStore(cache, embedding_cache.default_key("torch", "float32")).shards()[0]
    shard.write_bytes(shard.read_bytes()[:-4])  # truncated
    embedding_cache._ENCODERS.clear()
    assert main([str(sweep), "--out", str(tmp_path / "r3"), "--embedding-cache", cache]) == 0
    line = capsys.readouterr().out.split("Sentence-BERT: ")[1]
    encoded, read = int(line.split()[0]), int(line.split(", ")[1].split()[0])
    assert encoded > 0 and encoded + read == n and line.endswith(" (1 corrupt or foreign cache files replaced)\n")


class Terminal:
    """stderr as a terminal: tqdm draws its bar only there."""

    def __init__(self):
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


def test_a_long_encode_shows_progress_on_a_terminal_and_a_short_one_does_not(tmp_path, texts, monkeypatch):
    monkeypatch.setattr(embedding_cache, "CHUNK", 4)  # 10 texts: 3 chunks
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    encoder = Recording()
    CachedEncoder(lambda: encoder, EmbeddingStore(tmp_path / "long", KEY)).encode(texts[:10])
    assert "Sentence-BERT" in terminal.text and "10/10" in terminal.text
    assert len(EmbeddingStore(tmp_path / "long", KEY).shards()) == 3  # saved chunk by chunk
    terminal.text = ""
    CachedEncoder(lambda: encoder, EmbeddingStore(tmp_path / "short", KEY)).encode(texts[:4])
    assert terminal.text == ""  # one chunk: no bar
