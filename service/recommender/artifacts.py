"""Index artifacts on disk: one versioned joblib file per build, its manifest, and a pointer.

Layout of the model directory::

    index-<version>.joblib          the envelope: format, versions, parameters and the fitted index
    index-<version>.manifest.json   written beside it: file, size, SHA-256, format and versions
    CURRENT                         JSON pointer {"version", "file", "manifest", ...} to the published one
    .publish.lock                   locked by a publisher while it checks it may publish and switches

Every file is written to a temporary name in the same folder (``.<name>.<random>.tmp``, locked
while it is written) and moved into place with ``os.replace``, so a reader sees the old file or
the new one, never half of one. Temporary files whose writer is gone (a full disk, a crash,
``kill -9``) are removed before each save and when the app starts: a file is only removed
when no live writer holds its lock.

A pickle runs code when it is loaded, so only files this module wrote are loaded, and only
after checking, before ``joblib.load`` reads a byte: the pointer names plain file names of
the forms above, the file is a regular file inside the model directory (a symlink that leads
out of it is refused), its manifest's format and scikit-learn version are this process's,
and its size and SHA-256 are the ones the manifest recorded when the file was written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import sklearn

from service.recommender.index import RelatedIndex

# 2: each artifact has a manifest beside it (1: none; such artifacts are refused and rebuilt).
FORMAT_VERSION = 2
MANIFEST_FORMAT = 1
POINTER_NAME = "CURRENT"
# flock'ed by each publisher around its last checks and the switch of the pointer.
PUBLISH_LOCK_NAME = ".publish.lock"
_ARTIFACT_SUFFIX = ".joblib"
_MANIFEST_SUFFIX = ".manifest.json"
_ARTIFACT_NAME = re.compile(r"^index-[0-9A-Za-z-]+\.joblib$")
_MANIFEST_NAME = re.compile(r"^index-[0-9A-Za-z-]+\.manifest\.json$")
# What _locked_temporary names its files (tempfile.mkstemp: 8 of [a-z0-9_]); nothing else is
# ever removed as a temporary file.
_TEMPORARY_NAME = re.compile(
    r"^\.(?:CURRENT|index-[0-9A-Za-z-]+\.(?:joblib|manifest\.json))\.[a-z0-9_]{8}\.tmp$"
)
# On a file system without file locks, a temporary file this old is taken for abandoned.
STALE_TEMPORARY_SECONDS = 60.0
_MAX_SMALL_FILE = 64 * 1024  # a pointer or a manifest is a few hundred bytes

log = logging.getLogger(__name__)


class ArtifactError(RuntimeError):
    """An artifact is missing, foreign or unreadable."""


class ArtifactIntegrityError(ArtifactError):
    """An artifact has no valid manifest, or its size or SHA-256 differs from its manifest's."""


class ArtifactVersionError(ArtifactError):
    """An artifact was written in another format or by another scikit-learn version."""


@dataclass(frozen=True)
class IndexArtifact:
    """A built index with the metadata of its envelope."""

    version: str
    built_at: datetime
    fingerprint: str
    index: RelatedIndex
    file: str

    @property
    def articles(self) -> int:
        return self.index.size


def new_version(built_at: datetime) -> str:
    """A sortable, unique version name such as ``20261125T093000Z-3f9a1c``."""
    return f"{built_at.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def manifest_name(file: str) -> str:
    """The manifest written beside artifact ``file``: ``index-<v>.manifest.json``."""
    return file.removesuffix(_ARTIFACT_SUFFIX) + _MANIFEST_SUFFIX


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in chunks (an artifact can be hundreds of MB)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# -- writing -----------------------------------------------------------------------------------


def _same_file(fd: int, path: str | Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


@contextlib.contextmanager
def _locked_temporary(path: Path) -> Iterator[tuple[int, str]]:
    """A new temporary file beside ``path``, locked (flock) until the block ends, then removed
    unless it was moved into place. The lock tells :func:`remove_stale_temporaries` that its
    writer is alive; the kernel drops it when the writer dies, even by ``kill -9``."""
    while True:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a cleaner holds it and is removing it: take another name
            os.close(fd)
            continue
        except OSError:  # no locks on this file system: cleaners go by the file's age
            pass
        if _same_file(fd, temporary):
            break
        os.close(fd)  # a cleaner removed it before we locked it
    try:
        yield fd, temporary
    finally:
        with contextlib.suppress(FileNotFoundError):
            if _same_file(fd, temporary):
                os.unlink(temporary)
        os.close(fd)


def _fsync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Callable[[str], Any]) -> None:
    """``write(temporary_path)``, then move the result into place: all of it, or nothing."""
    with _locked_temporary(path) as (fd, temporary):
        write(temporary)
        os.fsync(fd)  # the data is on disk before the name says it is there
        os.replace(temporary, path)
    _fsync_directory(path.parent)


def remove_stale_temporaries(model_dir: Path) -> list[str]:
    """Remove the temporary files of writers that are gone; the names removed.

    Only names of this module's own temporary pattern are considered, and only files no live
    writer holds locked (where the file system has no locks: files older than a minute).
    """
    try:
        entries = [entry for entry in os.scandir(model_dir) if _TEMPORARY_NAME.match(entry.name)]
    except FileNotFoundError:
        return []
    except OSError as error:
        log.warning("could not look for stale temporary files in %s: %s", model_dir, error)
        return []
    removed = []
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False) and _remove_if_abandoned(Path(entry.path)):
                removed.append(entry.name)
        except OSError as error:
            log.warning("could not remove stale temporary file %s: %s", entry.name, error)
    if removed:
        log.warning(
            "removed %d temporary file(s) left by an interrupted index build: %s",
            len(removed),
            ", ".join(sorted(removed)),
        )
    return removed


def _remove_if_abandoned(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its writer is alive
        except OSError:  # no locks on this file system
            if time.time() - os.fstat(fd).st_mtime < STALE_TEMPORARY_SECONDS:
                return False
        if not _same_file(fd, path):
            return False
        path.unlink()  # still holding the lock: a writer that locks it next sees it gone
        return True
    finally:
        os.close(fd)


def save_artifact(
    model_dir: Path, index: RelatedIndex, *, version: str, built_at: datetime, fingerprint: str
) -> IndexArtifact:
    """Write ``index`` as a new artifact and its manifest (not yet published).

    On any failure (a full disk, say) nothing of this artifact remains: no temporary file,
    no artifact without its manifest.
    """
    file = f"index-{version}{_ARTIFACT_SUFFIX}"
    if not _ARTIFACT_NAME.match(file):
        raise ValueError(f"not a valid index version: {version!r}")
    model_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(model_dir)
    # What the artifact's envelope and its manifest both say of the build.
    described = {
        "format": FORMAT_VERSION,
        "sklearn_version": sklearn.__version__,
        "version": version,
        "built_at": built_at.isoformat(),
        "articles": index.size,
        "fingerprint": fingerprint,
    }
    envelope = {**described, "params": index.get_params(), "index": index}
    written: dict[str, Any] = {}

    def write_artifact(temporary: str) -> None:
        # Uncompressed, so that numpy arrays can be memory-mapped and shared between workers.
        joblib.dump(envelope, temporary)
        # Hashed as read back (from the page cache): the manifest vouches for these bytes.
        written["sha256"] = sha256_of(Path(temporary))
        written["size"] = os.stat(temporary).st_size

    _atomic_write(model_dir / file, write_artifact)
    manifest = {
        "manifest_format": MANIFEST_FORMAT,
        "file": file,
        "size": written["size"],
        "sha256": written["sha256"],
        **described,
    }
    try:
        _atomic_write(model_dir / manifest_name(file), _text_writer(json.dumps(manifest, indent=2) + "\n"))
    except BaseException:
        (model_dir / file).unlink(missing_ok=True)  # never an artifact without its manifest
        raise
    return IndexArtifact(version, built_at, fingerprint, index, file)


def _text_writer(text: str) -> Callable[[str], None]:
    def write(path: str) -> None:
        Path(path).write_text(text, encoding="utf-8")

    return write


class StaleArtifact(ArtifactError):
    """An artifact was not published: the published one was built from a newer read of the store."""


@contextlib.contextmanager
def _publish_lock(model_dir: Path) -> Iterator[None]:
    """An exclusive lock of the pointer (``flock`` on ``.publish.lock``), so that the checks of
    one publisher and its switch of the pointer never interleave with another's."""
    fd = os.open(model_dir / PUBLISH_LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        with contextlib.suppress(OSError):  # a file system without locks: the checks still run
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def read_pointer_document(model_dir: Path) -> dict[str, Any]:
    """Everything the published pointer records (``{}`` when there is none or it is unreadable):
    besides what :func:`read_pointer` checks, ``built_at``, ``store_read_at``, ``published_at``."""
    try:
        document = _read_small_json(model_dir / POINTER_NAME)
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _moment(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def publish(
    model_dir: Path,
    artifact: IndexArtifact,
    *,
    fence: Callable[[], None] | None = None,
    store_read_at: datetime | None = None,
    published_at: datetime | None = None,
) -> dict[str, Any]:
    """Make ``artifact`` the one every worker serves, by replacing the pointer; returns what the
    replaced pointer recorded (:func:`read_pointer_document`).

    Under the model directory's publish lock, right before the switch: ``fence()`` (a build's
    lease, renewed in the database; it raises to refuse), then, given ``store_read_at`` (when
    the build read the store, by the database's clock), an artifact read before the published
    one's is refused with :class:`StaleArtifact`: a newer index is never replaced by an older
    one. Without them (a rollback by hand, tests) the pointer is replaced as asked. The pointer
    records both times, and ``published_at`` (the database's clock, from the caller).
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    with _publish_lock(model_dir):
        if fence is not None:
            fence()
        previous = read_pointer_document(model_dir)
        published_read_at = _moment(previous.get("store_read_at"))
        if store_read_at is not None and published_read_at is not None and store_read_at < published_read_at:
            raise StaleArtifact(
                f"index {artifact.version} read the store at {store_read_at.isoformat()}, before the "
                f"published index {previous.get('version')} did ({published_read_at.isoformat()}): "
                "not published"
            )
        pointer: dict[str, Any] = {
            "version": artifact.version,
            "file": artifact.file,
            "manifest": manifest_name(artifact.file),
            "built_at": artifact.built_at.isoformat(),
        }
        if store_read_at is not None:
            pointer["store_read_at"] = store_read_at.isoformat()
        if published_at is not None:
            pointer["published_at"] = published_at.isoformat()
        _atomic_write(model_dir / POINTER_NAME, _text_writer(json.dumps(pointer)))
    return previous


# -- reading -----------------------------------------------------------------------------------


def _read_small_json(path: Path) -> Any:
    with path.open("rb") as handle:
        return json.loads(handle.read(_MAX_SMALL_FILE + 1)[:_MAX_SMALL_FILE].decode("utf-8"))


def read_pointer(model_dir: Path) -> dict[str, str] | None:
    """The published pointer, or ``None`` before the first build."""
    try:
        pointer = _read_small_json(model_dir / POINTER_NAME)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ArtifactError(f"unreadable index pointer: {error}") from error
    if not isinstance(pointer, dict) or not _ARTIFACT_NAME.match(str(pointer.get("file", ""))):
        raise ArtifactError("the index pointer does not name an index artifact")
    file = str(pointer["file"])
    # A pointer written before manifests existed names none: its artifact's would be this one.
    if str(pointer.get("manifest", manifest_name(file))) != manifest_name(file):
        raise ArtifactError("the index pointer names a manifest that is not its artifact's")
    return {"version": str(pointer.get("version", "")), "file": file, "manifest": manifest_name(file)}


def _inside(model_dir: Path, name: str, pattern: re.Pattern[str]) -> Path:
    """``model_dir / name`` when ``name`` is a plain file name of ``pattern`` that resolves to a
    regular file inside the model directory; else :class:`ArtifactError`."""
    if not pattern.match(name) or os.path.basename(name) != name:
        raise ArtifactError(f"{name!r} is not the name of an index file")
    root = model_dir.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise ArtifactError(f"{name} leads out of the model directory (a symlink): refused")
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as error:
        raise ArtifactError(f"index file {name} is missing") from error
    except OSError as error:
        raise ArtifactError(f"index file {name} is unreadable: {error}") from error
    if not stat.S_ISREG(mode):
        raise ArtifactError(f"index file {name} is not a regular file")
    return path


def read_manifest(model_dir: Path, file: str) -> dict[str, Any]:
    """The manifest written beside artifact ``file``, checked for shape."""
    name = manifest_name(file)
    try:
        manifest = _read_small_json(_inside(model_dir, name, _MANIFEST_NAME))
    except ArtifactError as error:
        raise ArtifactIntegrityError(
            f"index artifact {file} has no usable manifest ({error}): not an artifact of format "
            f"{FORMAT_VERSION} written by this service; it was not loaded"
        ) from error
    except (OSError, ValueError) as error:
        raise ArtifactIntegrityError(f"manifest {name} is unreadable: {error}") from error
    if (
        not isinstance(manifest, dict)
        or manifest.get("manifest_format") != MANIFEST_FORMAT
        or manifest.get("file") != file
        or not isinstance(manifest.get("size"), int)
        or not re.fullmatch(r"[0-9a-f]{64}", str(manifest.get("sha256", "")))
    ):
        raise ArtifactIntegrityError(f"manifest {name} is not a manifest of {file}; it was not loaded")
    return manifest


def verify_artifact(model_dir: Path, file: str) -> tuple[Path, dict[str, Any], os.stat_result]:
    """Check artifact ``file`` against its manifest without unpickling anything.

    Returns its resolved path, its manifest and the ``stat`` of the file that was hashed.
    Raises :class:`ArtifactVersionError` or :class:`ArtifactIntegrityError` (subclasses of
    :class:`ArtifactError`) when it must not be loaded.
    """
    path = _inside(model_dir, file, _ARTIFACT_NAME)
    manifest = read_manifest(model_dir, file)
    if manifest.get("format") != FORMAT_VERSION:
        raise ArtifactVersionError(
            f"{file} is an index artifact of format {manifest.get('format')}, not {FORMAT_VERSION}: "
            "rebuild it with `flask reindex`"
        )
    if manifest.get("sklearn_version") != sklearn.__version__:
        raise ArtifactVersionError(
            f"{file} was built with scikit-learn {manifest.get('sklearn_version')}, "
            f"this process runs {sklearn.__version__}: rebuild it with `flask reindex`"
        )
    try:
        with path.open("rb") as handle:
            hashed = os.fstat(handle.fileno())
            if hashed.st_size != manifest["size"]:
                raise ArtifactIntegrityError(
                    f"index artifact {file} is {hashed.st_size} bytes, its manifest says "
                    f"{manifest['size']} (truncated or damaged); it was not loaded"
                )
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as error:
        raise ArtifactError(f"index artifact {file} is unreadable: {error}") from error
    if not hmac.compare_digest(digest, manifest["sha256"]):
        raise ArtifactIntegrityError(
            f"index artifact {file} fails its checksum (SHA-256 {digest[:16]}…, its manifest "
            f"says {manifest['sha256'][:16]}…): damaged or not written by this service; it was not loaded"
        )
    return path, manifest, hashed


def load_artifact(model_dir: Path, pointer: dict[str, str], *, mmap: bool = True) -> IndexArtifact:
    """Load the artifact a pointer names, once :func:`verify_artifact` vouched for it; its
    arrays are memory-mapped unless ``mmap=False``."""
    file = str(pointer.get("file", ""))
    path, manifest, hashed = verify_artifact(model_dir, file)
    try:
        envelope = joblib.load(path, mmap_mode="r" if mmap else None)
        loaded = os.stat(path)
    except Exception as error:  # a damaged pickle can fail with almost any exception
        raise ArtifactError(f"index artifact {file} is unreadable: {error!r}") from error
    if (loaded.st_dev, loaded.st_ino, loaded.st_size, loaded.st_mtime_ns) != (
        hashed.st_dev,
        hashed.st_ino,
        hashed.st_size,
        hashed.st_mtime_ns,
    ):
        raise ArtifactIntegrityError(f"index artifact {file} changed while it was loaded; it was not used")
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT_VERSION:
        raise ArtifactError(f"{file} is not an index artifact of format {FORMAT_VERSION}")
    if envelope.get("version") != manifest.get("version"):
        raise ArtifactIntegrityError(f"{file} holds version {envelope.get('version')}, not its manifest's")
    index = envelope.get("index")
    if not isinstance(index, RelatedIndex):
        raise ArtifactError(f"{file} holds no RelatedIndex")
    index.plain_arrays()
    return IndexArtifact(
        version=envelope["version"],
        built_at=datetime.fromisoformat(envelope["built_at"]),
        fingerprint=envelope["fingerprint"],
        index=index,
        file=file,
    )


def _built_at(model_dir: Path, file: str) -> datetime:
    """When artifact ``file`` was built, from its manifest, else when it was written (versions
    built within one second do not sort by name)."""
    try:
        built_at = datetime.fromisoformat(str(read_manifest(model_dir, file)["built_at"]))
    except (ArtifactError, KeyError, ValueError):
        try:
            return datetime.fromtimestamp((model_dir / file).stat().st_mtime, UTC)
        except OSError:
            return datetime.min.replace(tzinfo=UTC)
    return built_at if built_at.tzinfo else built_at.replace(tzinfo=UTC)


def prune_artifacts(model_dir: Path, keep: int = 3) -> list[str]:
    """Delete all but the ``keep`` last built artifacts, each with its manifest; the names removed.

    At least one is kept (the newest may be a build's that is about to be published), and the
    published artifact always stays, even behind ``keep`` newer ones (one more is kept then).
    Manifests whose artifact is gone are removed too. Workers that still map an older file
    keep reading it: on POSIX an unlinked file lives until its last mapping is closed.
    """
    try:
        current = (read_pointer(model_dir) or {}).get("file")
    except ArtifactError:
        current = None
    files = sorted(
        (path.name for path in model_dir.glob("index-*.joblib") if _ARTIFACT_NAME.match(path.name)),
        key=lambda name: (_built_at(model_dir, name), name),
        reverse=True,
    )
    removed = []
    for name in files[max(keep, 1) :]:
        if name != current:
            (model_dir / name).unlink(missing_ok=True)
            (model_dir / manifest_name(name)).unlink(missing_ok=True)
            removed.append(name)
            log.info("removed old index artifact %s", name)
    for path in model_dir.glob("index-*.manifest.json"):
        artifact = path.name.removesuffix(_MANIFEST_SUFFIX) + _ARTIFACT_SUFFIX
        if _MANIFEST_NAME.match(path.name) and not (model_dir / artifact).exists():
            path.unlink(missing_ok=True)
            log.info("removed the manifest of a missing artifact: %s", path.name)
    return removed
