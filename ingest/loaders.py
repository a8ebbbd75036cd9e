"""Loaders: turn a file, a folder or fetched bytes into plain-text documents."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from bs4 import BeautifulSoup

from knowledge_base.text import clean_text

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
CONTENT_TYPES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "application/pdf": ".pdf",
}


class IngestError(ValueError):
    """A source that cannot be ingested; the message says which and why."""


@dataclass
class Document:
    """One vetted document: its text and where it came from."""

    text: str
    title: str
    url: str
    date: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def _decode(data: bytes, origin: str) -> str:
    for encoding in ("utf-8-sig", "cp1256", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise IngestError(f"{origin}: cannot decode the text")  # pragma: no cover - latin-1 never fails


def parse_html(data: bytes, origin: str) -> tuple[str, str]:
    """(title, text) of an HTML page, scripts, styles and navigation removed."""
    try:
        soup = BeautifulSoup(data, "html.parser")
    except Exception as exc:  # bs4 raises assorted errors on broken markup
        raise IngestError(f"{origin}: malformed HTML: {exc}") from exc
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer", "form", "svg"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    text = soup.get_text("\n", strip=True)
    return title, text


# pypdf inflates each stream whole, up to a per-stream limit (75 MB by default, its
# Configuration.zlib_maximum_output_length and kin), and extract_text keeps every page's text:
# tighter limits here keep a PDF bomb (a few KB that inflate to gigabytes) from exhausting memory.
PDF_MAX_STREAM_BYTES = 20_000_000
PDF_MAX_TEXT_CHARS = 10_000_000


def parse_pdf(data: bytes, origin: str) -> tuple[str, str]:
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError, PdfReadError

    limits = {
        "zlib_maximum_output_length": PDF_MAX_STREAM_BYTES,
        "lzw_maximum_output_length": PDF_MAX_STREAM_BYTES,
        "run_length_maximum_output_length": PDF_MAX_STREAM_BYTES,
        "brotli_maximum_output_length": PDF_MAX_STREAM_BYTES,
        "array_based_stream_maximum_output_length": PDF_MAX_STREAM_BYTES,
        "stream_decoding_work_maximum_length": 4 * PDF_MAX_STREAM_BYTES,
    }
    try:
        with apply_configuration(**limits):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise IngestError(f"{origin}: the PDF is encrypted")
            pages: list[str] = []
            size = 0
            for page in reader.pages:
                pages.append(page.extract_text() or "")
                size += len(pages[-1])
                if size > PDF_MAX_TEXT_CHARS:
                    raise IngestError(
                        f"{origin}: refused: the PDF holds more than {PDF_MAX_TEXT_CHARS} "
                        "characters of text"
                    )
            title = str((reader.metadata or {}).get("/Title") or "")
    except IngestError:
        raise
    except LimitReachedError as exc:
        raise IngestError(
            f"{origin}: refused: the PDF inflates past its size limits "
            f"({PDF_MAX_STREAM_BYTES} bytes per stream): {exc}"
        ) from exc
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise IngestError(f"{origin}: malformed PDF: {exc}") from exc
    return title, "\n\n".join(pages)


def load_bytes(data: bytes, suffix: str, origin: str, url: str) -> Document:
    """A document from raw bytes of a known type (`suffix` as in SUPPORTED_SUFFIXES)."""
    if suffix in HTML_SUFFIXES:
        title, text = parse_html(data, origin)
    elif suffix in PDF_SUFFIXES:
        title, text = parse_pdf(data, origin)
    elif suffix in TEXT_SUFFIXES:
        text = _decode(data, origin)
        title = next((line.lstrip("# ").strip() for line in text.splitlines() if line.strip()), "")
    else:
        raise IngestError(
            f"{origin}: unsupported type {suffix or '(none)'}; supported: "
            + ", ".join(sorted(SUPPORTED_SUFFIXES))
            + ", or a MedQuAD XML folder"
        )
    text = clean_text_keep_lines(text)
    if len(text) < 20:
        raise IngestError(f"{origin}: no readable text found")
    fallback_title = Path(origin).stem if "://" not in origin else url
    return Document(text=text, title=clean_text(title)[:300] or fallback_title, url=url)


def clean_text_keep_lines(text: str) -> str:
    lines = (clean_text(line) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def is_medquad_folder(path: Path) -> bool:
    return path.is_dir() and any(True for _ in path.rglob("*.xml"))


_MEDQUAD_LAYOUTS = {
    "Document": ("Focus", "QAPair", "Question", "Answer"),
    "DiseaseFile": ("Focus", "QAPair", "Question", "Answer"),
    "doc": ("doctitle-focus", "pair", "question", "answer"),
}


def load_medquad(folder: Path) -> list[Document]:
    """Every answered question of a MedQuAD folder; one document per answer, titled by its focus."""
    documents: list[Document] = []
    for xml_path in sorted(folder.rglob("*.xml")):
        try:
            root = ET.parse(xml_path).getroot()
        except ET.ParseError as exc:
            raise IngestError(f"{xml_path}: malformed XML: {exc}") from exc
        # Most files are <Document>/<QAPair>; a few CDC files use <DiseaseFile>, and a few NINDS
        # files an older lower-case layout, <doc>/<doctitle-focus>/<pair>.
        layout = _MEDQUAD_LAYOUTS.get(root.tag)
        if layout is None:
            raise IngestError(f"{xml_path}: not a MedQuAD document (root <{root.tag}>)")
        focus_tag, pair_tag, question_tag, answer_tag = layout
        url = root.get("url", "")
        focus = clean_text(root.findtext(focus_tag) or xml_path.stem)
        for pair in root.iter(pair_tag):
            answer = clean_text_keep_lines(pair.findtext(answer_tag) or "")
            question_node = pair.find(question_tag)
            question = clean_text(question_node.text or "") if question_node is not None else ""
            qid = question_node.get("qid", "") if question_node is not None else ""
            if len(answer) < 20:
                continue
            documents.append(
                Document(
                    text=answer, title=focus, url=url, extra={"question": question, "qid": qid}
                )
            )
    if not documents:
        raise IngestError(f"{folder}: no answered MedQuAD question found")
    return documents


def load_path(path: Path) -> list[Document]:
    """Documents from a file or a folder (a MedQuAD folder, or a folder of supported files)."""
    if not path.exists():
        raise IngestError(f"{path}: no such file or folder")
    if path.is_dir():
        if is_medquad_folder(path):
            return load_medquad(path)
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES)
        if not files:
            raise IngestError(f"{path}: the folder holds no supported file")
        return [doc for file in files for doc in load_path(file)]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read: {exc.strerror}") from exc
    return [load_bytes(data, path.suffix.lower(), str(path), path.resolve().as_uri())]
