"""Sentence-BERT embeddings cached on disk: a re-run report, or one with an added checkpoint, encodes
only the texts no earlier report has encoded with the same encoder.

Where: one directory per user, `platformdirs.user_cache_dir("selfimp")/embeddings` (`--embedding-cache`
or `SELFIMP_EMBEDDING_CACHE` to move it), not the sweep: the same sample logs are reported from a
run dir, a sweep dir, plain log dirs or `--compare`, the M1 of `--method all` is every method's
M1, and inputs may be read-only or shared; entries are addressed by content, so sharing is safe.

Layout: `<root>/sbert-<namespace>/<sha256 of the file>.emb`. The namespace hashes the `EncoderKey`
(the model directory's files, its configuration included; backend + device; dtype). Each file, a *shard*, holds the sha256
of each text and its float32 unit vector, written once (tmp + rename) and never changed, so two
reports running at once never see each other's partial files (at worst both encode a text).
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
from typing import Any, Callable, Sequence

import numpy as np

from harness_ext import metrics
from harness_ext.io import atomic_write_bytes

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
    backend: str  # e.g. "torch-cpu", "torch-cuda"
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
    if not data.startswith(MAGIC):
        raise ValueError("not an embedding shard")
    end = data.find(b"\n", len(MAGIC))
    try:
        meta = json.loads(data[len(MAGIC):end])
        n, dim = int(meta["n"]), int(meta["dim"])
    except (ValueError, KeyError, TypeError):
        raise ValueError("unreadable header") from None
    if meta.get("key") != asdict(key):
        raise ValueError("written for another encoder")
    body = memoryview(data)[end + 1:]
    if n < 0 or dim <= 0 or len(body) != n * (HASH_BYTES + 4 * dim):
        raise ValueError("wrong size")
    hashes = [bytes(body[i:i + HASH_BYTES]) for i in range(0, n * HASH_BYTES, HASH_BYTES)]
    vectors = np.frombuffer(body, dtype="<f4", offset=n * HASH_BYTES).reshape(n, dim)
    if not np.isfinite(vectors).all():
        raise ValueError("non-finite vector")
    return hashes, vectors


class EmbeddingStore:
    """The shards of one encoder key under `root`."""

    def __init__(self, root: str | os.PathLike, key: EncoderKey):
        self.key = key
        self.dir = Path(root) / f"sbert-{key.namespace}"
        self.rejected: list[str] = []  # "<file>: <why>" of each shard found untrustworthy and deleted

    def shards(self) -> list[Path]:
        return sorted(self.dir.glob("*.emb"))

    def load(self) -> dict[bytes, np.ndarray]:
        """Text hash -> unit vector, from every trusted shard."""
        known: dict[bytes, np.ndarray] = {}
        for path in self.shards():
            try:
                hashes, vectors = decode_shard(path.read_bytes(), path.stem, self.key)
            except FileNotFoundError:  # merged away by a concurrent report: its entries are re-encoded
                continue
            except (OSError, ValueError) as e:
                self.rejected.append(f"{path.name}: {e}")
                path.unlink(missing_ok=True)
                continue
            known.update(zip(hashes, vectors))
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

    def _write(self, hashes: Sequence[bytes], vectors: np.ndarray) -> Path:
        data = encode_shard(self.key, hashes, vectors)
        return atomic_write_bytes(self.dir / f"{hashlib.sha256(data).hexdigest()}.emb", data)


@dataclass
class EncodeCounts:
    from_cache: int = 0  # distinct texts whose vectors a shard held
    encoded: int = 0  # distinct texts the model encoded (and the store saved)


class CachedEncoder:
    """`encode` of a SentenceTransformer (normalised float32 rows) through an `EmbeddingStore`; the
    model is loaded (`load()`) only when a text is missing from the store."""

    def __init__(self, load: Callable[[], Any], store: EmbeddingStore):
        self.load, self.store = load, store
        self.known = store.load()
        self.counts = EncodeCounts()
        self._counted: set[bytes] = set()

    def encode(self, texts: Sequence[str], batch_size: int = 32, **_: object) -> np.ndarray:
        hashes = [text_hash(t) for t in texts]
        missing = {h: t for h, t in zip(hashes, texts) if h not in self.known}
        fresh = set(hashes) - self._counted
        self.counts.from_cache += len(fresh) - len(missing)
        self.counts.encoded += len(missing)
        self._counted |= fresh
        todo = list(missing.items())
        for start in range(0, len(todo), CHUNK):  # saved chunk by chunk: an interrupted run keeps its work
            chunk = dict(todo[start:start + CHUNK])
            vectors = self.load().encode(list(chunk.values()), batch_size=batch_size,
                                         normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
            self.store.add(list(chunk), vectors)
            self.known.update(zip(chunk, vectors))
        return np.stack([self.known[h] for h in hashes])


_ENCODERS: dict[tuple[str, str], CachedEncoder] = {}  # (root, dtype) -> encoder, one per process


def cached_encoder(root: str, dtype: str) -> CachedEncoder:
    """The default Sentence-BERT model in `dtype` (see `metrics.load_sbert`) behind the cache at `root`."""
    if (root, dtype) not in _ENCODERS:
        _ENCODERS[root, dtype] = CachedEncoder(lambda: metrics.load_sbert(None, dtype),
                                               EmbeddingStore(root, default_key(dtype)))
    return _ENCODERS[root, dtype]


def default_key(dtype: str) -> EncoderKey:
    """The key of the default Sentence-BERT model (`metrics.load_sbert`) in `dtype`."""
    return EncoderKey(model_fingerprint(metrics.default_sbert_path()), f"torch-{metrics.sbert_device()}", dtype)


def encode_counts(root: str, dtype: str) -> EncodeCounts | None:
    """What the encoder at (`root`, `dtype`) did in this process; None if it was never needed."""
    return _ENCODERS[root, dtype].counts if (root, dtype) in _ENCODERS else None
