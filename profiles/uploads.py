"""The size limit on uploaded files (``UPLOAD_MAX_MB``) and on CSV files given to ``im_set --csv``.

An upload over the limit is refused before it is read: a request whose length already says so is
stopped when its file part begins (the form fields before it, the CSRF token among them, are still
read), and a file that turns out bigger than the limit is stopped as its bytes pass it. Nothing of it
reaches memory or a temporary file.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse

MB = 1024 * 1024
# Room in a multipart body beside the file: the part headers, the boundaries, the CSRF token.
MULTIPART_ALLOWANCE = 64 * 1024


def upload_limit() -> int:
    """The most bytes a file may have, read now (tests and deployments change the setting)."""
    return int(settings.UPLOAD_MAX_MB * MB)


def _limit_text() -> str:
    return f"{settings.UPLOAD_MAX_MB:g} MB"


def size_refusal(size: int) -> str:
    """The refusal of a file of ``size`` bytes: in MB, or in bytes when MB would hide the difference."""
    if round(size / MB, 1) <= settings.UPLOAD_MAX_MB:
        return f"The file is {size:,} bytes; the limit is {_limit_text()} ({upload_limit():,} bytes)."
    return f"The file is {size / MB:.1f} MB; the limit is {_limit_text()}."


def over_limit_refusal() -> str:
    """The refusal of a file stopped as its bytes passed the limit (its whole size is never known)."""
    return f"The file is larger than the limit of {_limit_text()} ({upload_limit():,} bytes)."


class UploadLimitHandler(FileUploadHandler):
    """First of a request's upload handlers: stops the upload of a file over the limit, so the
    handlers after it (memory, temporary file) never receive its bytes; ``refusal`` says why."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit = upload_limit()
        self.request_length = 0
        self.received = 0
        self.refusal = ""

    def handle_raw_input(self, input_data: Any, META: dict, content_length: int, boundary: Any,
                         encoding: str | None = None) -> None:
        self.request_length = content_length
        return None  # the parser goes on; the file parts are checked as they come

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0
        if self.request_length > self.limit + MULTIPART_ALLOWANCE:
            self.refusal = size_refusal(self.request_length)
            # The rest of the body is not read by Django (the server discards it).
            raise StopUpload(connection_reset=True)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.refusal = over_limit_refusal()
            # What is left is at most MULTIPART_ALLOWANCE: read and dropped, so the answer arrives cleanly.
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler makes the file


class UploadLimitMiddleware:
    """Puts an UploadLimitHandler before the default upload handlers of every multipart request,
    before anything (the CSRF check among them) reads the body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.content_type == "multipart/form-data":
            request.upload_handlers.insert(0, UploadLimitHandler(request))
        return self.get_response(request)


def upload_refusal(request: HttpRequest) -> str:
    """Why the request's upload is refused ("" when it is not): its declared length first, then what
    the UploadLimitHandler found while the body was read."""
    try:
        content_length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        content_length = 0
    if content_length > upload_limit() + MULTIPART_ALLOWANCE:
        return size_refusal(content_length)
    request.FILES  # noqa: B018 (reads the body through the handlers, if nothing did yet)
    return next((h.refusal for h in request.upload_handlers if isinstance(h, UploadLimitHandler) and h.refusal), "")


def file_refusal(path: Path) -> str:
    """Why a file named on the command line cannot be read as a CSV upload ("" when it can): it must
    be a regular file (not /dev/zero, a pipe or a folder) within the upload limit."""
    try:
        status = path.stat()
    except OSError as exc:
        return f"Cannot read {path}: {exc.strerror}."
    if not stat.S_ISREG(status.st_mode):
        return f"{path} is not a regular file."
    if status.st_size > upload_limit():
        return f"{path.name}: {size_refusal(status.st_size)}"
    return ""
