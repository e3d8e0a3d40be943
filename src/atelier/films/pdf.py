"""PDF screenplays: each page's text as pypdf lays it out (spaces for indents, so a cue
stands where the page put it), for `films.layout` to classify by relative indents.

PDFs are hostile input: this runs in the media sandbox (a child process with memory and
time limits, `storage.sandbox`), and refuses encrypted files, files pypdf cannot read and
files of more pages than a feature has.
"""

from __future__ import annotations

import io

from atelier.storage.media import MediaRefused
from atelier.storage.sandbox import preload

preload(__name__)
MAX_PAGES = 400


def laid_out_text(data: bytes) -> tuple[str, str | None]:
    """(the pages' text, laid out; the document's title, if its metadata has one)."""
    import pypdf
    from pypdf.errors import PyPdfError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise MediaRefused("the PDF is encrypted; send it without a password")
        if len(reader.pages) > MAX_PAGES:
            raise MediaRefused(f"the PDF has more than {MAX_PAGES} pages")
        pages = [page.extract_text(extraction_mode="layout") for page in reader.pages]
        title = reader.metadata.title if reader.metadata else None
    except MediaRefused:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise MediaRefused(f"the PDF cannot be read ({type(exc).__name__})") from None
    return "\n\n".join(pages), (str(title).strip() or None) if title else None
