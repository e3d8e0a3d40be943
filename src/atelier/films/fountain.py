"""A Fountain 1.1 parser (https://fountain.io/syntax), written here.

One pass over the lines after two document-wide steps: the boneyard (`/* … */`) is removed
and every note (`[[ … ]]`, which may span lines) is replaced by a one-line marker, so the line
rules never see a note's line breaks. Then each line is classified by Fountain's rules, most
of which depend on the blank lines around it:

- title page: `Key: value` lines at the very start (values may continue on indented lines),
  ending at the first blank line;
- scene heading: `INT`, `EXT`, `EST`, `INT./EXT`, `INT/EXT`, `I/E` then `.` or a space, alone
  between blank lines; forced with a leading `.`; a scene number `#1A#` at its end;
- transition: an upper-case line ending in `TO:` alone between blank lines; forced with `>`;
- centred text: `>text<`; page break: `===`; section: `#`…; synopsis: `=`; lyrics: `~`;
- character: an upper-case line (extensions in parentheses, which may be lower case) after a
  blank line and directly followed by text; forced with `@`; `^` at its end pairs it with the
  previous speech as dual dialogue. Its block runs to the next blank line: parentheticals,
  speech, lyrics; a line of exactly two spaces keeps the block going;
- action: everything else, a paragraph per run of lines; forced with `!`.

Emphasis (`*italic*`, `**bold**`, `***both***`, `_underline_`, `\\*` escapes) is removed
from `text` and kept in `raw`. Line endings may be LF, CRLF or CR, with or without a BOM.
"""

from __future__ import annotations

import re

from atelier.films.screenplay import Element, Line, Screenplay

_BONEYARD = re.compile(r"/\*.*?\*/", re.S)
_NOTE = re.compile(r"\[\[(.*?)\]\]", re.S)
_MARKER = re.compile(r"\x01(\d+)\x02")
_SCENE = re.compile(r"^(?:int\.?/ext|int|ext|est|i/e)[. ]", re.I)
_SCENE_NUMBER = re.compile(r"\s*#([\w.\-]+)#\s*$")
_PAGE_BREAK = re.compile(r"^={3,}\s*$")
_TITLE_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9 _-]{0,30}):(.*)$")
_CHARACTER = re.compile(r"^(?P<name>[^()^]*?)\s*(?:\((?P<ext>[^()]*)\))?\s*(?P<dual>\^)?\s*$")
_BOLD_ITALIC = re.compile(r"\*\*\*(?=\S)(.+?)(?<=\S)\*\*\*")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"\*(?=\S)(.+?)(?<=\S)\*")
_UNDERLINE = re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)")
# A title page starts with one of the keys the syntax names (a first line such as "Steel
# enters the code: 9765" is action); later keys may be anything.
_TITLE_KEYS = frozenset(
    (
        "title",
        "credit",
        "author",
        "authors",
        "source",
        "draft date",
        "date",
        "contact",
        "copyright",
        "notes",
        "revision",
        "format",
    )
)


def plain(text: str) -> str:
    """`text` without emphasis markers (escaped `\\*` and `\\_` stay as characters)."""
    if "*" not in text and "_" not in text:
        return text
    if "\\" in text:
        text = text.replace("\\*", "\x03").replace("\\_", "\x04")
    if "***" in text:
        text = _BOLD_ITALIC.sub(r"\1", text)
    if "**" in text:
        text = _BOLD.sub(r"\1", text)
    if "*" in text:
        text = _ITALIC.sub(r"\1", text)
    if "_" in text:
        text = _UNDERLINE.sub(r"\1", text)
    if "\x03" in text or "\x04" in text:
        text = text.replace("\x03", "*").replace("\x04", "_")
    return text


def _lines(source: str, notes: list[str]) -> list[str]:
    text = source.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if "/*" in text:
        text = _BONEYARD.sub("", text)
    if "[[" in text:

        def marker(found: re.Match[str]) -> str:
            notes.append(" ".join(found[1].split()))
            return f"\x01{len(notes) - 1}\x02"

        text = _NOTE.sub(marker, text)
    return text.split("\n")


def _title_page(lines: list[str]) -> tuple[dict[str, list[str]], int]:
    """The title page's fields and the index of the first body line (0: none)."""
    first = _TITLE_KEY.match(lines[0]) if lines else None
    if first is None or first[1].strip().lower() not in _TITLE_KEYS:
        return {}, 0
    fields: dict[str, list[str]] = {}
    key: str | None = None
    index = 0
    for index, line in enumerate(lines):
        if not line.strip():
            return fields, index + 1
        found = _TITLE_KEY.match(line)
        if found and not line[:1].isspace():
            key = found[1].strip().lower()
            fields[key] = [plain(found[2].strip())] if found[2].strip() else []
        elif key is not None and line[:1].isspace():
            fields[key].append(plain(line.strip()))
        else:
            return {}, 0  # not a title page after all: the body starts at the top
    return fields, index + 1


def _take_notes(line: str, notes: list[str], into: list[str]) -> str:
    if "\x01" not in line:
        return line
    into.extend(notes[int(n)] for n in _MARKER.findall(line))
    return _MARKER.sub("", line)


def _character(text: str, *, forced: bool) -> tuple[str, str | None, bool] | None:
    """(name, extension, dual) of a character line, or None when it is not one (a name in
    upper case with a letter in it, unless forced with `@`)."""
    found = _CHARACTER.match(text)
    if found is None:
        return None
    name = found["name"]
    if not name or not any(c.isalpha() for c in name):
        return None
    if not forced and name != name.upper():
        return None
    return name, found["ext"], found["dual"] is not None


class _Parser:
    def __init__(self, lines: list[str], notes: list[str]) -> None:
        self.lines = lines
        self.notes = notes
        self.out: list[Element] = []

    def parse(self, start: int) -> list[Element]:
        lines, count = self.lines, len(self.lines)
        index, blank_before = start, True
        while index < count:
            found_notes: list[str] = []
            line = _take_notes(lines[index], self.notes, found_notes)
            stripped = line.strip()
            if not stripped:
                if found_notes:
                    self.out += [Element("note", text=n, raw=n) for n in found_notes]
                else:
                    blank_before = True
                index += 1
                continue
            blank_after = index + 1 >= count or not lines[index + 1].strip()
            index = self._element(index, line, stripped, blank_before, blank_after, found_notes)
            blank_before = False
        return self.out

    def _element(
        self,
        index: int,
        line: str,
        stripped: str,
        blank_before: bool,
        blank_after: bool,
        found_notes: list[str],
    ) -> int:
        """Classify the line at `index` (and the lines that belong to it); the next index."""
        single = self._single(stripped, blank_before, blank_after)
        if single is not None:
            single.raw, single.notes = stripped, found_notes
            self.out.append(single)
            return index + 1
        first = stripped[0]
        if first == "@" or (blank_before and not blank_after and first not in "!"):
            forced = first == "@"
            named = _character(stripped[1:] if forced else stripped, forced=forced)
            if named is not None:
                return self._dialogue(index, named, forced, found_notes)
        return self._action(index, found_notes)

    @staticmethod
    def _single(stripped: str, blank_before: bool, blank_after: bool) -> Element | None:
        """The one-line elements: breaks, sections, synopses, lyrics, headings, transitions,
        centred text."""
        first = stripped[0]
        if first == "=":
            if _PAGE_BREAK.match(stripped):
                return Element("page_break")
            return Element("synopsis", text=plain(stripped[1:].strip()))
        if first == "#":
            depth = len(stripped) - len(stripped.lstrip("#"))
            return Element("section", text=plain(stripped[depth:].strip()), depth=depth)
        if first == "~":
            return Element("lyrics", text=plain(stripped[1:].strip()))
        if first == "." and len(stripped) > 1 and stripped[1] != ".":
            return _heading(stripped[1:], forced=True)
        if first == ">":
            if stripped.endswith("<"):
                return Element("action", text=plain(stripped[1:-1].strip()), centered=True)
            return Element("transition", text=plain(stripped[1:].strip()), forced=True)
        if blank_before and blank_after:
            if _SCENE.match(stripped):
                return _heading(stripped, forced=False)
            if stripped.endswith("TO:") and stripped == stripped.upper():
                return Element("transition", text=plain(stripped))
        return None

    def _dialogue(
        self,
        index: int,
        named: tuple[str, str | None, bool],
        forced: bool,
        found_notes: list[str],
    ) -> int:
        name, extension, dual = named
        speech = Element(
            "dialogue",
            raw=self.lines[index].strip(),
            forced=forced,
            character=plain(name.strip()),
            extension=extension.strip() if extension else None,
            dual=dual,
            notes=found_notes,
        )
        raw = [speech.raw]
        lines, spoken = self.lines, speech.lines
        count = len(lines)
        index += 1
        while index < count:
            source = lines[index]
            if source == "  ":  # two spaces: an intentionally empty line of the speech
                spoken.append(Line("speech", ""))
                index += 1
                continue
            if "\x01" in source:
                source = _take_notes(source, self.notes, speech.notes)
                if not source.strip() and lines[index].strip():  # a line holding only a note
                    index += 1
                    continue
            text = source.strip()
            if not text:
                break
            raw.append(text)
            styled = plain(text) if "*" in text or "_" in text else text
            if text[0] == "(" and text[-1] == ")":
                spoken.append(Line("parenthetical", styled))
            elif text[0] == "~":
                spoken.append(Line("lyric", styled[1:].strip()))
            elif spoken and spoken[-1].kind == "speech" and spoken[-1].text:
                spoken[-1].text += "\n" + styled
            else:
                spoken.append(Line("speech", styled))
            index += 1
        speech.raw = "\n".join(raw)
        speech.text = speech.speech
        if dual:  # paired with the speech right before it, unless that one is paired
            earlier = self.out[-1] if self.out else None
            if earlier is not None and earlier.type == "dialogue" and not earlier.dual:
                earlier.dual = True
            else:
                speech.dual = False
        self.out.append(speech)
        return index

    def _action(self, index: int, found_notes: list[str]) -> int:
        """A paragraph of action: this line and the lines after it up to a blank one."""
        raw: list[str] = []
        forced = False
        first = index
        while index < len(self.lines):
            source = self.lines[index]
            if index == first:  # its notes were taken already
                line = _MARKER.sub("", source).rstrip()
            else:
                line = _take_notes(source, self.notes, found_notes).rstrip()
            if not line.strip():
                if source.strip():  # a line holding only a note
                    index += 1
                    continue
                break
            if not raw and line.lstrip().startswith("!"):
                forced = True
                line = line.replace("!", "", 1)
            raw.append(line)
            index += 1
        text = "\n".join(raw)
        self.out.append(
            Element("action", text=plain(text), raw=text, forced=forced, notes=found_notes)
        )
        return index


def _heading(text: str, *, forced: bool) -> Element:
    number = None
    found = _SCENE_NUMBER.search(text)
    if found:
        number = found[1]
        text = text[: found.start()]
    return Element("scene_heading", text=plain(text.strip()), forced=forced, scene_number=number)


def parse(source: str) -> Screenplay:
    """The screenplay a Fountain document describes."""
    notes: list[str] = []
    lines = _lines(source, notes)
    title_page, start = _title_page(lines)
    elements = _Parser(lines, notes).parse(start)
    return Screenplay(title_page=title_page, elements=elements, source_format="fountain")
