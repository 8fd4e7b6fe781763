"""One path layer for every file xlmr-jax reads or writes: local paths and `gs://` (or `s3://`) URLs.

Paths are `etils.epath.Path`, the type orbax already uses, on its fsspec backend (gcsfs for
`gs://`, s3fs for `s3://` when installed). Why this layer and not `tf.io.gfile`: TensorFlow's GCS
filesystem ignores `STORAGE_EMULATOR_HOST`, so tests against a local GCS API server and
production on real GCS would take different code paths; gcsfs and tensorstore (orbax's array
store) both honour one endpoint setting. The process therefore runs with:

- `EPATH_USE_TF=false`: epath takes fsspec, not TensorFlow's filesystem, for `gs://`;
- `GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`: gcsfs's plain JSON-API client (its experimental one
  first probes the bucket over gRPC, which a GCS API server without gRPC answers after 60 s);
- `TENSORSTORE_GCS_HTTP_URL` taken from `STORAGE_EMULATOR_HOST` when that is set.

Unset `STORAGE_EMULATOR_HOST`, and both clients talk to real GCS with Application Default
Credentials (a TPU VM's service account, or `gcloud auth application-default login`). Values a
user set explicitly are left alone.

Object stores have no rename and no append: whole-file writes are atomic there (an upload is
visible only once complete), appends are rewrites (`AppendFile`), and a directory is complete
when its marker file, written last, exists (`atomic_directory`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from typing import IO

from etils import epath

Path = epath.Path
PathLike = str | os.PathLike


def configure_environment(environ=os.environ) -> None:
    """Route gs:// through gcsfs/tensorstore, honouring STORAGE_EMULATOR_HOST (module docstring)."""
    environ.setdefault("EPATH_USE_TF", "false")
    environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    endpoint = environ.get("STORAGE_EMULATOR_HOST")
    if endpoint:
        if "://" not in endpoint:
            endpoint = f"http://{endpoint}"
        environ.setdefault("TENSORSTORE_GCS_HTTP_URL", endpoint)


class StorageError(OSError):
    """A read or write that failed on its store; the message names the path and what to do."""


# tensorstore (orbax's array store) retries a GCS request 32 times, up to 32 s apart: about 15
# minutes before a save to an unreachable server fails. These settings fail it after about
# 50 s, close to gcsfs's own six retries (about 30 s). Our choice; the training loop then stops
# with the previous checkpoint intact, and a relaunch resumes from it.
GCS_REQUEST_RETRIES = {"max_retries": 6, "initial_delay": "1s", "max_delay": "16s"}


def bound_orbax_retries() -> None:
    """Give orbax's tensorstore contexts GCS_REQUEST_RETRIES (orbax offers no option for it)."""
    from orbax.checkpoint._src.serialization import tensorstore_utils

    for context in (
        tensorstore_utils._BASE_TS_CONTEXT,
        tensorstore_utils._DEFAULT_OCDBT_TS_CONTEXT,
    ):
        context.setdefault("gcs_request_retries", GCS_REQUEST_RETRIES)


def is_remote(path: PathLike) -> bool:
    """Whether `path` is a URL (gs://, s3://, ...) rather than a local file name."""
    return "://" in os.fspath(path)


def as_path(path: PathLike, what: str = "path") -> Path:
    """`path` as an epath.Path: `~` expanded, local paths made absolute; empty is an error."""
    text = os.fspath(path).strip() if isinstance(path, str) else os.fspath(path)
    if not text:
        raise ValueError(f"{what} is empty; give a local path or a gs:// URL.")
    if is_remote(text):
        return epath.Path(text)
    return epath.Path(os.path.abspath(os.path.expanduser(text)))


def where(path: PathLike) -> str:
    """`path` for an error message; says so when a gs:// path's bucket itself does not exist."""
    text = os.fspath(path)
    if is_remote(text):
        bucket = epath.Path(text.split("://", 1)[0] + "://" + text.split("://", 1)[1].split("/")[0])
        if not bucket.exists():
            return f"{text} (the bucket {bucket} does not exist or is not readable)"
    return text


def fs_info(path: Path) -> dict:
    """Size and modification time (ns) of a file: the key caches use to notice a changed file."""
    if not is_remote(path):
        st = os.stat(path)
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    stat = path.stat()
    return {"size": int(stat.length), "mtime_ns": int(stat.mtime * 1e9)}


def read_bytes(path: PathLike) -> bytes:
    """A whole file; a missing one is a FileNotFoundError naming it (and a missing bucket)."""
    path = as_path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{where(path)}: no such file") from None


def write_bytes(path: PathLike, data: bytes) -> None:
    """Write a whole file atomically: local via a temporary sibling, remote as one upload."""
    with atomic_writer(path) as f:
        f.write(data)


def write_text(path: PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_writer(path: PathLike) -> Iterator[IO[bytes]]:
    """A binary file that appears at `path` only if the block finishes without an exception
    (the block writes to it but must not close it)."""
    path = as_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not is_remote(path):
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as f:
                yield f
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return
    f = path.open("wb")
    try:
        yield f
    except BaseException:
        f.discard() if hasattr(f, "discard") else None
        raise
    f.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AppendFile:
    """A file that grows by appends: local files are appended to; remote objects, which cannot
    be appended to, are rewritten whole from a local copy at each `flush` (as TensorFlow's GCS
    filesystem does for event files)."""

    def __init__(self, path: PathLike, keep: bytes | None = None):
        """Open for appending; `keep` replaces what the file holds now (None: keep it as is)."""
        self.path = as_path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._remote = is_remote(self.path)
        if keep is not None:
            write_bytes(self.path, keep)
        if self._remote:
            self._local = tempfile.TemporaryFile()
            if self.path.exists():
                self._local.write(self.path.read_bytes())
        else:
            self._local = open(self.path, "ab")  # noqa: SIM115
        self._dirty = False

    def write(self, data: bytes) -> None:
        self._local.write(data)
        self._dirty = True

    def flush(self) -> None:
        if not self._dirty:
            return
        self._local.flush()
        if self._remote:
            self._local.seek(0)
            with atomic_writer(self.path) as f:
                shutil.copyfileobj(self._local, f)
        self._dirty = False

    def close(self) -> None:
        self.flush()
        self._local.close()


@contextlib.contextmanager
def atomic_directory(target: PathLike, marker: str, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a directory whose files become `target`; the caller writes `marker` last.

    Local: a temporary sibling renamed into place (the old directory stays until the new one is
    complete). Remote (no rename): written in place; `marker` is removed first when
    overwriting, so a reader that requires it never sees a half-written directory as complete.
    A failed write leaves nothing behind either way.
    """
    target = as_path(target)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass --overwrite to replace it.")
    if target.exists() and not target.is_dir():  # checked before writing anything
        raise FileExistsError(f"{target} is a file, not a directory; remove it first.")
    if is_remote(target):
        if target.exists():
            (target / marker).unlink(missing_ok=True)
            target.rmtree()
        try:
            yield target
        except BaseException:
            if target.exists():
                target.rmtree()
            raise
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        if target.exists():
            old = tmp.with_name(tmp.name + "-old")
            os.rename(target, old)
            try:
                os.rename(tmp, target)
            except BaseException:
                os.rename(old, target)
                raise
            shutil.rmtree(old)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def files_under(root: PathLike) -> list[Path]:
    """Every file below `root` (recursively), in path order."""
    root = as_path(root)
    scheme = os.fspath(root).split("://", 1)[0] if is_remote(root) else None
    found = []
    for directory, _, names in root.walk():
        directory = os.fspath(directory)
        if scheme and "://" not in directory:  # fsspec names directories without the scheme
            directory = f"{scheme}://{directory}"
        found += [epath.Path(directory) / name for name in names]
    return sorted(found, key=os.fspath)


def create_exclusive(path: PathLike, data: bytes) -> bool:
    """Create a file holding `data` only if none exists (remote: GCS's ifGenerationMatch=0);
    False if it already existed."""
    path = as_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if is_remote(path):
            _filesystem(path).pipe_file(os.fspath(path), data, mode="create")
        else:
            with open(path, "xb") as f:
                f.write(data)
    except FileExistsError:
        return False
    return True


def move_tree(source: PathLike, target: PathLike) -> None:
    """Move a directory to `target` (whose parent may not exist yet); in a bucket, which has no
    folders to rename, every object is copied and then deleted."""
    source, target = as_path(source), as_path(target)
    if is_remote(source):
        _filesystem(source).mv(os.fspath(source), os.fspath(target), recursive=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)


def copy_file(source: PathLike, target: PathLike) -> None:
    """Copy one file between any two places (local or remote)."""
    with as_path(source).open("rb") as src, atomic_writer(target) as dst:
        shutil.copyfileobj(src, dst, 1 << 22)


def read_ranges(path: Path, starts: Sequence[int], ends: Sequence[int]) -> list[bytes]:
    """Byte ranges [start, end) of one file; remote ranges are fetched concurrently."""
    if not is_remote(path):
        out = []
        with open(path, "rb") as f:
            for start, end in zip(starts, ends):
                f.seek(start)
                out.append(f.read(end - start))
        return out
    fs = _filesystem(path)
    return fs.cat_ranges([os.fspath(path)] * len(starts), list(starts), list(ends))


def _filesystem(path: Path):
    """The fsspec filesystem epath itself uses for `path`: one listing cache per process."""
    from etils.epath import backend

    return backend.fsspec_backend.fs(path)


@contextlib.contextmanager
def local_file(path: PathLike) -> Iterator[str]:
    """A local file name with `path`'s bytes, for libraries that only open local files."""
    path = as_path(path)
    if not is_remote(path):
        yield os.fspath(path)
        return
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, path.name)
        with path.open("rb") as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
        yield local
