"""A file uploaded as the raw request body (with the CSRF header), kept in a temporary file so
that an import reads it in batches: refused as soon as it passes its size limit."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from aiohttp import web

from crm_core.errors import InvalidInput

# The body types an upload may declare: CSV, xlsx, or a browser that could not tell.
UPLOADS = (
    "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/octet-stream",
)


async def receive_upload(request: web.Request, limit: int) -> Path:
    """The body in a temporary file (the caller deletes it); InvalidInput when it is empty or
    over ``limit`` bytes."""
    handle = tempfile.NamedTemporaryFile(prefix="upload-", suffix=".upload", delete=False)
    path = Path(handle.name)
    size = 0
    try:
        with handle:
            async for chunk in request.content.iter_chunked(256 * 1024):
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(
                        f"the file is over {limit // (1024 * 1024)} MB; split it", field="file"
                    )
                await asyncio.to_thread(handle.write, chunk)
        if size == 0:
            raise InvalidInput("the file is empty", field="file")
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return path
