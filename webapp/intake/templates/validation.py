"""Validation: what can never be sent is refused, what WhatsApp may take for spam is warned about,
and a preview shows what a template lacks for some data without refusing it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webapp.core.errors import MessageTooLong, TemplateInvalid
from webapp.intake.templates.filters import FILTERS
from webapp.intake.templates.rendering import (
    PLACEHOLDER,
    Rendered,
    _compose,
    _Fill,
    _fill_extra,
    extract_variables,
)

# A module, not its names: media's own imports come back here (settings -> templates).
from workers.pipeline import attachments
from workers.queue.contracts import SENDABLE_MEDIA_TYPES, MediaType

# Something that looks like a placeholder but is not one ("{{ name }}", "{{a|b|c}}"): sent as is.
PLACEHOLDER_LIKE = re.compile(r"\{\{[^{}\n]{0,100}\}\}")
TYPES = ("text", "media", "button", "list")
MAX_LENGTH = 4096
MAX_BUTTONS = 3  # WhatsApp's limit for reply buttons
MAX_LIST_ROWS = 10  # WhatsApp's limit for all rows of a list message

# Spam patterns: accepted, but the operator is warned (WhatsApp's filters dislike them).
REPEATED_CHARACTER = re.compile(r"(.)\1{10,}", re.DOTALL)
URL = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)


@dataclass(frozen=True)
class Preview:
    rendered: Rendered
    variables: list[str]
    missing: list[str]
    unused: list[str]
    invalid: dict[str, str]
    warnings: list[dict[str, str]]


def preview(
    content: str, data: Mapping[str, Any], type_: str = "text", extra: Mapping | None = None
) -> Preview:
    """Render without refusing: missing or unformattable variables keep their placeholder and
    are listed, as are the variables ``data`` gives that the template does not use."""
    fill = _Fill(data)
    rendered = _compose(type_, fill(content), _fill_extra(extra, fill))
    variables = _variables_of(content, extra)
    return Preview(
        rendered=rendered,
        variables=variables,
        missing=fill.missing,
        unused=[name for name in data if name not in variables],
        invalid=fill.invalid,
        warnings=warnings_for(content, extra),
    )


def _strings(extra: Mapping | None) -> Iterator[tuple[str, str]]:
    """(part, text) of every string in ``extra``, part named as the API names it."""
    extra = extra or {}
    if extra.get("media_url"):
        yield "mediaUrl", extra["media_url"]
    if extra.get("file_name"):
        yield "fileName", extra["file_name"]
    for n, button in enumerate(extra.get("buttons") or []):
        yield f"buttons.{n}", button["text"]
    if extra.get("button_text"):
        yield "buttonText", extra["button_text"]
    for n, section in enumerate(extra.get("sections") or []):
        if section.get("title"):
            yield f"sections.{n}.title", section["title"]
        for r, row in enumerate(section.get("rows") or []):
            yield f"sections.{n}.rows.{r}.title", row["title"]
            if row.get("description"):
                yield f"sections.{n}.rows.{r}.description", row["description"]
    if extra.get("footer"):
        yield "footer", extra["footer"]


def _variables_of(content: str, extra: Mapping | None) -> list[str]:
    names = extract_variables(content)
    for _, text in _strings(extra):
        names += extract_variables(text)
    return list(dict.fromkeys(names))


def warnings_for(content: str, extra: Mapping | None = None) -> list[dict[str, str]]:
    """What an operator should look at twice: spam patterns and placeholders that are not."""
    found: list[dict[str, str]] = []
    parts = [("content", content)] + list(_strings(extra))
    for part, text in parts:
        if m := REPEATED_CHARACTER.search(text):
            found.append(
                {
                    "code": "repeated_character",
                    "field": part,
                    "message": f"{m.group(1)!r} is repeated {len(m.group(0))} times in a row; "
                    "WhatsApp may take the message for spam",
                }
            )
        if part not in ("mediaUrl", "fileName") and (m := URL.search(text)):
            found.append(
                {
                    "code": "url",
                    "field": part,
                    "message": f"contains a link ({m.group(0)[:60]}); messages with links are "
                    "more often reported as spam",
                }
            )
        for m in PLACEHOLDER_LIKE.finditer(text):
            if not PLACEHOLDER.fullmatch(m.group(0)):
                found.append(
                    {
                        "code": "not_a_placeholder",
                        "field": part,
                        "message": f"{m.group(0)} is not a placeholder and is sent as written "
                        "(use {{name}} or {{name|filter}}, without spaces)",
                    }
                )
    return found


def normalize_extra(type_: str, parts: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``extra`` of a ``type_`` template from the given parts, checked; raises
    TemplateInvalid naming the part at fault. Parts that do not belong to the type are dropped."""
    if type_ not in TYPES:
        raise TemplateInvalid(f"type must be one of {', '.join(TYPES)}", field="type")
    footer = _text(parts.get("footer"), "footer", required=False)
    if type_ == "media":
        url = _text(parts.get("media_url"), "mediaUrl", required=True)
        target = urlsplit(PLACEHOLDER.sub("x", url))
        if target.scheme not in ("http", "https") or not target.netloc:
            raise TemplateInvalid("mediaUrl must be an http(s) URL of the image", field="mediaUrl")
        media_type = parts.get("media_type") or MediaType.IMAGE
        if media_type not in SENDABLE_MEDIA_TYPES:
            raise TemplateInvalid(
                f"mediaType must be one of {', '.join(SENDABLE_MEDIA_TYPES)}", field="mediaType"
            )
        file_name = _text(parts.get("file_name"), "fileName", required=False)
        if file_name and len(file_name) > attachments.MAX_FILE_NAME:
            raise TemplateInvalid(
                f"fileName has at most {attachments.MAX_FILE_NAME} characters", field="fileName"
            )
        return {
            "media_url": url,
            "media_type": media_type,
            **({"file_name": file_name} if file_name and media_type == MediaType.DOCUMENT else {}),
        }
    if type_ == "button":
        buttons = parts.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
            raise TemplateInvalid(
                f"a button template needs 1 to {MAX_BUTTONS} buttons", field="buttons"
            )
        normal = []
        for n, button in enumerate(buttons):
            if isinstance(button, Mapping):
                text = button.get("text") or button.get("title") or button.get("displayText")
                button_id = str(button.get("id") or n + 1)
            else:
                text, button_id = button, str(n + 1)
            normal.append({"id": button_id, "text": _text(text, f"buttons.{n}", required=True)})
        return {"buttons": normal, **({"footer": footer} if footer else {})}
    if type_ == "list":
        sections = parts.get("sections")
        if not isinstance(sections, list) or not sections:
            raise TemplateInvalid("a list template needs at least one section", field="sections")
        normal, count = [], 0
        for n, section in enumerate(sections):
            if not isinstance(section, Mapping):
                raise TemplateInvalid("a section is {title, rows}", field=f"sections.{n}")
            rows = section.get("rows")
            if not isinstance(rows, list) or not rows:
                raise TemplateInvalid("a section needs rows", field=f"sections.{n}.rows")
            normal_rows = []
            for r, row in enumerate(rows):
                where = f"sections.{n}.rows.{r}"
                if isinstance(row, str):
                    row = {"title": row}
                if not isinstance(row, Mapping):
                    raise TemplateInvalid("a row is {title, description?}", field=where)
                normal_row = {
                    "id": str(row.get("id") or f"{n + 1}.{r + 1}"),
                    "title": _text(row.get("title"), f"{where}.title", required=True),
                }
                if description := _text(row.get("description"), f"{where}.description"):
                    normal_row["description"] = description
                normal_rows.append(normal_row)
            count += len(normal_rows)
            title = _text(section.get("title"), f"sections.{n}.title")
            normal.append({"title": title or "", "rows": normal_rows})
        if count > MAX_LIST_ROWS:
            raise TemplateInvalid(
                f"a list holds at most {MAX_LIST_ROWS} rows in all; this one has {count}",
                field="sections",
            )
        button_text = _text(parts.get("button_text"), "buttonText", required=True)
        return {
            "button_text": button_text,
            "sections": normal,
            **({"footer": footer} if footer else {}),
        }
    return None


def _text(value: Any, part: str, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise TemplateInvalid(f"{part} is required", field=part)
        return None
    if not isinstance(value, str):
        raise TemplateInvalid(f"{part} must be text", field=part)
    return value.strip()


def check_content(content: str, extra: Mapping | None) -> list[str]:
    """Refuse what can never be sent; return the template's variables."""
    if not content or not content.strip():
        raise TemplateInvalid("content is required", field="content")
    if len(content) > MAX_LENGTH:
        raise MessageTooLong(
            f"content has {len(content)} characters; WhatsApp allows {MAX_LENGTH}",
            field="content",
        )
    for part, text in [("content", content)] + list(_strings(extra)):
        for m in PLACEHOLDER.finditer(text):
            if m.group(2) and m.group(2) not in FILTERS:
                raise TemplateInvalid(
                    f"unknown filter {m.group(2)!r} in {m.group(0)}; filters are "
                    + ", ".join(FILTERS),
                    field=part,
                )
    return _variables_of(content, extra)
