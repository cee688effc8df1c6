"""Sentence-BERT embeddings cached on disk: a re-run report, or one with an added checkpoint, encodes
only the texts no earlier report has encoded with the same encoder.

Where: one directory per user, `platformdirs.user_cache_dir("selfimp")/embeddings` (`--embedding-cache`
or `SELFIMP_EMBEDDING_CACHE` to move it), not the sweep: the same sample logs are reported from a
run dir, a sweep dir, plain log dirs or `--compare`, the M1 of `--method all` is every method's
M1, and inputs may be read-only or shared; entries are addressed by content, so sharing is safe.

Layout: `<root>/sbert-<namespace>/<sha256 of the file>.emb`. The namespace hashes the `EncoderKey`
(the model directory's files, its configuration included; backend + device; dtype), so embeddings
of different backends, devices or dtypes never share a directory. Each file, a *shard*, holds the
sha256 of each text and its float32 unit vector, written once (tmp + rename) and never changed, so
two reports running at once never see each other's partial files (at worst both encode a text).
Read: a shard whose content does not hash to its name (corrupt), or that was written for another
key (foreign), or that holds a non-finite vector, is deleted and its texts are encoded again.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from harness_ext import metrics
from harness_ext.io import atomic_write_bytes
from harness_ext.report import sbert_backends

MAGIC = b"selfimp-embeddings 1\n"
HASH_BYTES = 32  # sha256 of a text's UTF-8
MAX_SHARDS = 64  # more after a write: merged into one
CHUNK = 8192  # texts encoded and saved at a time


def default_cache_dir() -> str:
    """`SELFIMP_EMBEDDING_CACHE`, else the user cache directory (`~/.cache/selfimp/embeddings` on Linux)."""
    from platformdirs import user_cache_dir

    return os.environ.get("SELFIMP_EMBEDDING_CACHE") or str(Path(user_cache_dir("selfimp")) / "embeddings")


@dataclass(frozen=True)
class EncoderKey:
    """What an embedding depends on besides its text."""

    model: str  # sha256 of the model directory's files (a model that is not a directory: its name)
    backend: str  # backend and device (`sbert_backends.device_name`): "torch-cpu", "torch-cuda", "openvino-cpu"
    dtype: str

    @property
    def namespace(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:32]


def text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


@functools.lru_cache(maxsize=8)
def model_fingerprint(name: str) -> str:
    """sha256 over the relative paths and contents of a model directory's files; `name` if not a directory."""
    root = Path(name)
    if not root.is_dir():
        return name
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def encode_shard(key: EncoderKey, hashes: Sequence[bytes], vectors: np.ndarray) -> bytes:
    header = json.dumps({"key": asdict(key), "n": len(hashes), "dim": int(vectors.shape[1])}).encode()
    return MAGIC + header + b"\n" + b"".join(hashes) + np.ascontiguousarray(vectors, dtype="<f4").tobytes()


def decode_shard(data: bytes, name: str, key: EncoderKey) -> tuple[list[bytes], np.ndarray]:
    """The shard's (text hashes, vectors); ValueError saying why it cannot be trusted."""
    if hashlib.sha256(data).hexdigest() != name:
        raise ValueError("content does not match its checksum")
    n, dim, start = shard_header(data, key)
    body = memoryview(data)[start:]
    if len(body) != n * (HASH_BYTES + 4 * dim):
        raise ValueError("wrong size")
    vectors = np.frombuffer(body, dtype="<f4", offset=n * HASH_BYTES).reshape(n, dim)
    if not np.isfinite(vectors).all():
        raise ValueError("non-finite vector")
    return split_hashes(body[:n * HASH_BYTES]), vectors


def shard_header(data: bytes, key: EncoderKey) -> tuple[int, int, int]:
    """(texts, dimension, offset of the hash list) from a shard's first bytes; ValueError if not ours."""
    end = data.find(b"\n", len(MAGIC))
    if not data.startswith(MAGIC) or end < 0:
        raise ValueError("not an embedding shard")
    try:
        meta = json.loads(data[len(MAGIC):end])
        n, dim = int(meta["n"]), int(meta["dim"])
    except (ValueError, KeyError, TypeError):
        raise ValueError("unreadable header") from None
    if meta.get("key") != asdict(key):
        raise ValueError("written for another encoder")
    if n < 0 or dim <= 0:
        raise ValueError("wrong size")
    return n, dim, end + 1


def split_hashes(data: bytes | memoryview) -> list[bytes]:
    return [bytes(data[i:i + HASH_BYTES]) for i in range(0, len(data) - len(data) % HASH_BYTES, HASH_BYTES)]


class EmbeddingStore:
    """The shards of one encoder key under `root`. `lookup` reads the hash lists of all shards once,
    then only the shards that hold a wanted text, so a cache shared by many sweeps costs a report
    little more than its own texts."""

    def __init__(self, root: str | os.PathLike, key: EncoderKey):
        self.key = key
        self.dir = Path(root) / f"sbert-{key.namespace}"
        self.rejected: list[str] = []  # "<file>: <why>" of each shard found untrustworthy and deleted
        self._index: dict[bytes, Path] | None = None  # text hash -> a shard that lists it

    def shards(self) -> list[Path]:
        return sorted(self.dir.glob("*.emb"))

    def lookup(self, wanted: Iterable[bytes]) -> dict[bytes, np.ndarray]:
        """The vectors of the `wanted` text hashes that trusted shards hold (copies)."""
        if self._index is None:
            self._index = {h: path for path in self.shards() for h in self._listed(path)}
        by_shard: dict[Path, list[bytes]] = {}
        for h in wanted:
            if h in self._index:
                by_shard.setdefault(self._index[h], []).append(h)
        found: dict[bytes, np.ndarray] = {}
        for path, hashes in by_shard.items():
            if (shard := self._read(path)) is not None:
                row = {h: i for i, h in enumerate(shard[0])}
                found.update((h, shard[1][row[h]].copy()) for h in hashes if h in row)
        return found

    def load(self) -> dict[bytes, np.ndarray]:
        """Text hash -> unit vector, from every trusted shard."""
        known: dict[bytes, np.ndarray] = {}
        for path in self.shards():
            if (shard := self._read(path)) is not None:
                known.update(zip(*shard))
        return known

    def add(self, hashes: Sequence[bytes], vectors: np.ndarray) -> Path:
        """Write one new shard (merging all shards into one when there are more than MAX_SHARDS)."""
        path = self._write(hashes, vectors)
        if len(shards := self.shards()) > MAX_SHARDS:
            known = self.load()
            merged = self._write(list(known), np.stack(list(known.values())))
            for old in shards:
                if old != merged:
                    old.unlink(missing_ok=True)
        return path

    def _listed(self, path: Path) -> list[bytes]:
        """The text hashes a shard lists (read without its vectors; `_read` verifies them)."""
        try:
            with path.open("rb") as f:
                head = f.read(1 << 16)
                n, _, start = shard_header(head, self.key)
                f.seek(start)
                return split_hashes(f.read(n * HASH_BYTES))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            self._reject(path, e)
            return []

    def _read(self, path: Path) -> tuple[list[bytes], np.ndarray] | None:
        try:
            return decode_shard(path.read_bytes(), path.stem, self.key)
        except FileNotFoundError:  # merged away by a concurrent report: its texts are encoded again
            return None
        except (OSError, ValueError) as e:
            self._reject(path, e)
            return None

    def _reject(self, path: Path, why: Exception) -> None:
        self.rejected.append(f"{path.name}: {why}")
        path.unlink(missing_ok=True)

    def _write(self, hashes: Sequence[bytes], vectors: np.ndarray) -> Path:
        data = encode_shard(self.key, hashes, vectors)
        return atomic_write_bytes(self.dir / f"{hashlib.sha256(data).hexdigest()}.emb", data)


@dataclass
class EncodeCounts:
    from_cache: int = 0  # distinct texts whose vectors a shard held
    encoded: int = 0  # distinct texts the model encoded (and the store saved)
    rejected: int = 0  # untrustworthy shards deleted (their texts encoded again)


class CachedEncoder:
    """`encode` of a SentenceTransformer (normalised float32 rows) through an `EmbeddingStore`; the
    model is loaded (`load()`) only when a text is missing from the store."""

    def __init__(self, load: Callable[[], Any], store: EmbeddingStore):
        self.load, self.store = load, store
        self.known: dict[bytes, np.ndarray] = {}  # this process's texts: read or encoded
        self.counts = EncodeCounts()

    def encode(self, texts: Sequence[str], batch_size: int = 32, **_: object) -> np.ndarray:
        hashes = [text_hash(t) for t in texts]
        unknown = [h for h in dict.fromkeys(hashes) if h not in self.known]
        self.known.update(self.store.lookup(unknown))
        missing = {h: t for h, t in zip(hashes, texts) if h not in self.known}
        self.counts.from_cache += len(unknown) - len(missing)
        self.counts.encoded += len(missing)
        self.counts.rejected = len(self.store.rejected)
        todo = list(missing.items())
        # A bar (on a terminal) when it takes several chunks: a paper-size cold report encodes for minutes.
        quiet = None if len(todo) > CHUNK else True  # None: tqdm shows the bar only on a terminal
        with tqdm(total=len(todo), unit="text", desc="Sentence-BERT", disable=quiet) as bar:
            for start in range(0, len(todo), CHUNK):  # saved chunk by chunk: an interrupted run keeps its work
                chunk = dict(todo[start:start + CHUNK])
                vectors = self.load().encode(list(chunk.values()), batch_size=batch_size,
                                             normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
                self.store.add(list(chunk), vectors)
                self.known.update(zip(chunk, vectors))
                bar.update(len(chunk))
        return np.stack([self.known[h] for h in hashes])


_ENCODERS: dict[tuple[str, str, str], CachedEncoder] = {}  # (root, backend, dtype) -> encoder, one per process


def cached_encoder(root: str, backend: str, dtype: str) -> CachedEncoder:
    """The default Sentence-BERT model on `backend` in `dtype` (`sbert_backends.load_encoder`) behind the
    cache at `root`."""
    if (root, backend, dtype) not in _ENCODERS:
        _ENCODERS[root, backend, dtype] = CachedEncoder(lambda: sbert_backends.load_encoder(backend, dtype),
                                                        EmbeddingStore(root, default_key(backend, dtype)))
    return _ENCODERS[root, backend, dtype]


def default_key(backend: str, dtype: str) -> EncoderKey:
    """The key of the default Sentence-BERT model on `backend` in `dtype`."""
    return EncoderKey(model_fingerprint(metrics.default_sbert_path()), sbert_backends.device_name(backend), dtype)


def encode_counts(root: str, backend: str, dtype: str) -> EncodeCounts | None:
    """What the encoder at (`root`, `backend`, `dtype`) did in this process; None if it was never needed."""
    return _ENCODERS[root, backend, dtype].counts if (root, backend, dtype) in _ENCODERS else None
