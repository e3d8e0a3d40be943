"""An uploaded screenplay file as a submission, for the API and the pages alike: text files
decoded, PDFs read in the media sandbox (`films.pdf`)."""

from __future__ import annotations

from dataclasses import dataclass

from atelier.core.errors import InvalidInput, PayloadTooLarge
from atelier.core.runtime import Runtime
from atelier.films import pdf, scripts
from atelier.storage.media import MediaRefused
from atelier.storage.sandbox import Budget, run_limited


@dataclass(frozen=True)
class Upload:
    text: str
    title: str | None  # a PDF's metadata title
    from_pdf: bool


async def read_upload(runtime: Runtime, data: bytes) -> Upload:
    if len(data) > scripts.MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"a screenplay file is at most {scripts.MAX_UPLOAD_BYTES // 2**20} MiB"
        )
    if not data.startswith(b"%PDF"):
        return Upload(scripts.decode(data), None, False)
    try:
        text, title = await run_limited(pdf.laid_out_text, data, budget=Budget.of(runtime.settings))
    except MediaRefused as exc:
        raise InvalidInput(exc.reason, slug="not-a-screenplay") from None
    return Upload(text, title, True)
