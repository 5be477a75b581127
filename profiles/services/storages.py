"""Files that several machines must reach go through Django's storage API (``STORAGES``), never a
local path: CSV uploads between preview and confirm (``csv_uploads``) and audit archives
(``audit_archives``). A folder by default; an operator points either at a shared folder or an
object store (any Django storage backend) so a second web server or worker reads what the first wrote.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage, Storage, storages

CSV_UPLOADS = "csv_uploads"
AUDIT_ARCHIVES = "audit_archives"
# Archives and uploads hold profile data: readable by the server's user only (as the folder default).
PRIVATE_FILE_MODE = 0o600
_CHUNK = 1 << 20


def csv_upload_storage() -> Storage:
    return storages[CSV_UPLOADS]


@dataclass(frozen=True)
class StoredFile:
    """A file in a storage, and what the audit trail records to find it again."""

    storage: Storage
    name: str
    # An absolute path for a file outside the storages (``audit_archive --to /path``), else ``name``.
    reference: str

    def __str__(self) -> str:
        """Where the file is, for an operator: its path when the storage is a folder."""
        if os.path.isabs(self.reference):
            return self.reference
        if isinstance(self.storage, FileSystemStorage):
            return self.storage.path(self.name)
        return f"{self.name} (audit archive storage)"  # an object store: no path on this machine

    def exists(self) -> bool:
        return self.storage.exists(self.name)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.storage.open(self.name, "rb") as stream:
            for block in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(block)
        return digest.hexdigest()


def archive_file(reference: str) -> StoredFile:
    """The archive a reference names: an absolute path is a file on this machine (what
    ``audit_archive --to`` always took, and what older anchors record); anything else is a name in
    the ``audit_archives`` storage. Raises SuspiciousFileOperation for a name that leaves the storage."""
    if os.path.isabs(reference):
        folder, name = os.path.split(reference)
        if not name:
            raise SuspiciousFileOperation(f"{reference!r} names a folder, not a file")
        local = FileSystemStorage(location=folder or os.sep, file_permissions_mode=PRIVATE_FILE_MODE)
        return StoredFile(storage=local, name=name, reference=reference)
    storage = storages[AUDIT_ARCHIVES]
    # The name as the storage will save it (no "..", no folder alone; characters it cannot hold
    # replaced), so what is checked, written and recorded is one name.
    name = storage.generate_filename(reference)
    return StoredFile(storage=storage, name=name, reference=name)


def archive_default_name(before: datetime) -> str:
    """The archive's name in the storage when the operator gives none."""
    return f"audit-before-{before:%Y%m%dT%H%M%S}.jsonl.gz"


def stale_files(storage: Storage, *, older_than: datetime, suffix: str) -> Iterator[str]:
    """Names of files at the storage's top level ending in ``suffix`` and last modified before
    ``older_than``; a file removed meanwhile (by another server's clean-up) is passed over."""
    try:
        _folders, files = storage.listdir("")
    except FileNotFoundError:  # a folder storage before its first file
        return
    for name in files:
        if not name.endswith(suffix):
            continue
        try:
            modified = storage.get_modified_time(name)
        except FileNotFoundError:
            continue
        if modified < older_than:
            yield name
