"""The ingest manifest: which file, at which content hash, gave which points of an index version.

The manifest is stored in the metadata of the index version it describes, so the two cannot
drift apart: an unpublished version has no say, and publishing a version publishes its manifest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

MANIFEST_KEY = "manifest"


@dataclass(frozen=True)
class FileEntry:
    """What one source file contributed to an index version."""

    content_hash: str
    point_ids: tuple[str, ...]
    error: str | None = None


@dataclass
class Manifest:
    """The files of an index version and the settings (signature) it was built with."""

    signature: str
    files: dict[str, FileEntry] = field(default_factory=dict)

    @property
    def errors(self) -> list[tuple[str, str]]:
        """Files that could not be read when this version was built, with the reason."""
        return [(path, e.error) for path, e in sorted(self.files.items()) if e.error]

    @property
    def chunk_count(self) -> int:
        """Number of points in the version."""
        return sum(len(entry.point_ids) for entry in self.files.values())

    def to_metadata(self) -> dict[str, Any]:
        """The manifest as collection metadata (plain JSON)."""
        return {
            MANIFEST_KEY: {
                "signature": self.signature,
                "files": {
                    path: {
                        "hash": entry.content_hash,
                        "points": list(entry.point_ids),
                        "error": entry.error,
                    }
                    for path, entry in sorted(self.files.items())
                },
            }
        }

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> Manifest | None:
        """Read the manifest back from collection metadata; None when there is none."""
        raw = metadata.get(MANIFEST_KEY)
        if not isinstance(raw, dict) or "signature" not in raw:
            return None
        files = {
            path: FileEntry(
                content_hash=item["hash"], point_ids=tuple(item["points"]), error=item.get("error")
            )
            for path, item in raw.get("files", {}).items()
        }
        return cls(signature=str(raw["signature"]), files=files)


def file_hash(data: bytes) -> str:
    """Content hash of a source file."""
    return hashlib.sha256(data).hexdigest()


def ingest_signature(**params: object) -> str:
    """A short hash of everything that changes the chunks or vectors of an unchanged file."""
    text = "|".join(f"{key}={params[key]}" for key in sorted(params))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ManifestDiff:
    """How the files on disk differ from the last published manifest."""

    unchanged: list[str]
    changed: list[str]
    added: list[str]
    deleted: list[str]

    @property
    def is_empty(self) -> bool:
        """True when nothing needs re-indexing."""
        return not (self.changed or self.added or self.deleted)


def diff_manifest(previous: Manifest | None, current_hashes: dict[str, str]) -> ManifestDiff:
    """Compare file hashes on disk with the manifest of the serving version."""
    old = previous.files if previous else {}
    unchanged = [p for p, h in current_hashes.items() if p in old and old[p].content_hash == h]
    changed = [p for p, h in current_hashes.items() if p in old and old[p].content_hash != h]
    added = [p for p in current_hashes if p not in old]
    deleted = [p for p in old if p not in current_hashes]
    return ManifestDiff(
        unchanged=sorted(unchanged),
        changed=sorted(changed),
        added=sorted(added),
        deleted=sorted(deleted),
    )
