"""Index artifacts on disk: one versioned joblib file per build, published by a pointer.

Layout of the model directory::

    index-<version>.joblib   the envelope: format, versions, parameters and the fitted index
    CURRENT                  JSON pointer {"version", "file"} to the published artifact

Every file is written to a temporary name in the same folder and moved into place with
``os.replace``, so a reader sees the old artifact or the new one, never half of one. Only
files this module wrote are loaded: the pointer may only name an ``index-*.joblib`` file
in the model directory, and the envelope's format version must match.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import joblib
import sklearn

from service.recommender.index import RelatedIndex

FORMAT_VERSION = 1
POINTER_NAME = "CURRENT"
_ARTIFACT_NAME = re.compile(r"^index-[0-9A-Za-z-]+\.joblib$")

log = logging.getLogger(__name__)


class ArtifactError(RuntimeError):
    """An artifact is missing, foreign or unreadable."""


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


def _atomic_write(path: Path, write: Any) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_artifact(
    model_dir: Path, index: RelatedIndex, *, version: str, built_at: datetime, fingerprint: str
) -> IndexArtifact:
    """Write ``index`` as a new artifact (not yet published)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    file = f"index-{version}.joblib"
    envelope = {
        "format": FORMAT_VERSION,
        "sklearn_version": sklearn.__version__,
        "version": version,
        "built_at": built_at.isoformat(),
        "articles": index.size,
        "fingerprint": fingerprint,
        "params": index.get_params(),
        "index": index,
    }
    # Uncompressed, so that numpy arrays can be memory-mapped and shared between workers.
    _atomic_write(model_dir / file, lambda path: joblib.dump(envelope, path))
    return IndexArtifact(version, built_at, fingerprint, index, file)


def publish(model_dir: Path, artifact: IndexArtifact) -> None:
    """Make ``artifact`` the one every worker serves, by replacing the pointer."""
    pointer = json.dumps({"version": artifact.version, "file": artifact.file})

    def write(path: str) -> None:
        Path(path).write_text(pointer, encoding="utf-8")

    _atomic_write(model_dir / POINTER_NAME, write)


def read_pointer(model_dir: Path) -> dict[str, str] | None:
    """The published pointer, or ``None`` before the first build."""
    try:
        pointer = json.loads((model_dir / POINTER_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ArtifactError(f"unreadable index pointer: {error}") from error
    if not isinstance(pointer, dict) or not _ARTIFACT_NAME.match(str(pointer.get("file", ""))):
        raise ArtifactError("the index pointer does not name an index artifact")
    return {"version": str(pointer.get("version", "")), "file": str(pointer["file"])}


def load_artifact(model_dir: Path, pointer: dict[str, str], *, mmap: bool = True) -> IndexArtifact:
    """Load the artifact a pointer names; its arrays are memory-mapped unless ``mmap=False``."""
    path = model_dir / pointer["file"]
    try:
        envelope = joblib.load(path, mmap_mode="r" if mmap else None)
    except FileNotFoundError as error:
        raise ArtifactError(f"index artifact {pointer['file']} is missing") from error
    except Exception as error:  # a damaged pickle can fail with almost any exception
        raise ArtifactError(f"index artifact {pointer['file']} is unreadable: {error!r}") from error
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT_VERSION:
        raise ArtifactError(f"{pointer['file']} is not an index artifact of format {FORMAT_VERSION}")
    if envelope.get("sklearn_version") != sklearn.__version__:
        raise ArtifactError(
            f"{pointer['file']} was built with scikit-learn {envelope.get('sklearn_version')}, "
            f"this process runs {sklearn.__version__}: rebuild it with `flask reindex`"
        )
    index = envelope["index"]
    if not isinstance(index, RelatedIndex):
        raise ArtifactError(f"{pointer['file']} holds no RelatedIndex")
    index.plain_arrays()
    return IndexArtifact(
        version=envelope["version"],
        built_at=datetime.fromisoformat(envelope["built_at"]),
        fingerprint=envelope["fingerprint"],
        index=index,
        file=pointer["file"],
    )


def prune_artifacts(model_dir: Path, keep: int = 3) -> None:
    """Delete all but the newest ``keep`` artifacts; the published one is always kept.

    Workers that still map an older file keep reading it: on POSIX an unlinked file lives
    until its last mapping is closed.
    """
    try:
        current = (read_pointer(model_dir) or {}).get("file")
    except ArtifactError:
        current = None
    files = sorted(
        (path for path in model_dir.glob("index-*.joblib") if _ARTIFACT_NAME.match(path.name)),
        key=lambda path: path.name,
        reverse=True,
    )
    for path in files[keep:]:
        if path.name != current:
            path.unlink(missing_ok=True)
            log.info("removed old index artifact %s", path.name)
