"""Message templates: {{variable}} placeholders, a few filters, the four types, the catalogue.

Placeholders are the seed's ``{{name}}`` (``\\w+``, no spaces), optionally followed by one filter:
``{{amount|rupiah}}``. Values are inserted literally (no escaping, no re-expansion); a value that
is missing (absent or None) is an error at send time and is shown as its placeholder in a preview.

Filters (``FILTERS``), for what billing systems send raw:

- ``rupiah``: 150000, "150000", "150000.00" or "150.000" -> ``150.000``; 1500.5 -> ``1.500,50``.
  The currency sign stays in the template: ``Rp{{amount|rupiah}}``.
- ``date``: "2026-12-25", an ISO date-time, epoch seconds, or a date already written out
  ("25 Desember 2026", "25 Des 2026", "25-12-2026", "25/12/2026") -> ``25 Desember 2026``
  (date-times with a time zone are read in ``KABAR_TIMEZONE`` first).
- ``upper``: ``hs-7781`` -> ``HS-7781``.

Types:

- ``text``: the content.
- ``media``: an image or a document by URL (``extra.media_url``, may hold variables: one
  invoice PDF per customer), ``extra.media_type`` ``image`` (the default) or ``document``, and
  for documents an optional ``extra.file_name`` (may hold variables); the content is the
  caption. It goes out as a real image or document (``render_mode = "media"``): Kabar fetches
  the URL before sending (``workers.pipeline.attachments``).
- ``button``: ``extra.buttons`` (1-3) and an optional ``extra.footer``; sent as the content
  followed by the numbered options.
- ``list``: ``extra.button_text``, ``extra.sections`` ([{title, rows: [{title, description}]}],
  at most 10 rows in all) and an optional ``extra.footer``; sent as numbered options under each
  section title.

Button and list messages go out as text (interactive messages do not render for ordinary
WhatsApp accounts) and record ``render_mode = "text"`` on their row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy.exc import IntegrityError

from webapp.core.errors import (
    Conflict,
    MessageTooLong,
    NotFound,
    TemplateInvalid,
    TemplateNotFound,
    TemplateVariableInvalid,
    TemplateVariableMissing,
)
from webapp.extensions import db
from webapp.models import BulkJob, Trigger, WhatsAppMessage, WhatsAppTemplate, row_id

# A module, not its names: media's own imports come back here (settings -> templates).
from workers.pipeline import attachments
from workers.session_host.transports.media import TYPES as MEDIA_TYPES

PLACEHOLDER = re.compile(r"\{\{(\w+)(?:\|(\w+))?\}\}")
# Something that looks like a placeholder but is not one ("{{ name }}", "{{a|b|c}}"): sent as is.
PLACEHOLDER_LIKE = re.compile(r"\{\{[^{}\n]{0,100}\}\}")

CATEGORIES = ("notification", "reminder", "promotion")
TYPES = ("text", "media", "button", "list")
# Created by migration 0002; editable like any other template.
BUILT_IN = (
    "new_invoice",
    "payment_reminder",
    "payment_confirmation",
    "expiry_warning",
    "voucher_activated",
)
MAX_LENGTH = 4096
MAX_BUTTONS = 3  # WhatsApp's limit for reply buttons
MAX_LIST_ROWS = 10  # WhatsApp's limit for all rows of a list message
NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{2})?$")

# Spam patterns: accepted, but the operator is warned (WhatsApp's filters dislike them).
REPEATED_CHARACTER = re.compile(r"(.)\1{10,}", re.DOTALL)
URL = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)


# filters ----------------------------------------------------------------------------------------

_THOUSANDS = re.compile(r"^-?\d{1,3}(\.\d{3})+$")
# Dates billing apps send already written out: 1 Desember 2026 (or "Des", "December"), and
# 01-12-2026 / 01/12/2026 / 01.12.2026 (day first, as Indonesians write it).
_WORDY_DATE = re.compile(r"^(\d{1,2})\s+([A-Za-z]+)\.?\s+(\d{4})$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
MONTHS = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)


def rupiah(value: Any) -> str:
    """An amount in Indonesian notation: dots between thousands, a comma before decimals."""
    if isinstance(value, bool):
        raise ValueError("is true/false, not an amount")
    text = str(value).strip().replace(" ", "")
    if isinstance(value, str) and _THOUSANDS.match(text):
        text = text.replace(".", "")  # already written the Indonesian way: 150.000
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not an amount")
    try:
        amount = amount.quantize(Decimal("0.01"))
    except InvalidOperation:  # more digits than Decimal's 28: no bill is that large
        raise ValueError(f"{value!r} is too large an amount") from None
    sign = "-" if amount < 0 else ""
    whole, _, cents = f"{abs(amount):.2f}".partition(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return f"{sign}{grouped}" + (f",{cents}" if cents != "00" else "")


def format_date(value: Any) -> str:
    """A date the Indonesian way: 25 Desember 2026."""
    if isinstance(value, bool):
        raise ValueError("is true/false, not a date")
    if isinstance(value, datetime):
        moment: date = value
    elif isinstance(value, date):
        moment = value
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, ZoneInfo("UTC"))
    else:
        text = str(value).strip().replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = _written_date(text)
            if moment is None:
                raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD or ISO 8601)") from None
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        zone = current_app.config["TIMEZONE"] if has_app_context() else "Asia/Jakarta"
        moment = moment.astimezone(ZoneInfo(zone))
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"


_MONTH_NAMES = {
    **{name.lower(): i for i, name in enumerate(MONTHS, 1)},
    **{name[:3].lower(): i for i, name in enumerate(MONTHS, 1)},
    **{
        name: i
        for i, name in enumerate(
            (
                "january",
                "february",
                "march",
                "april",
                "may",
                "june",
                "july",
                "august",
                "september",
                "october",
                "november",
                "december",
            ),
            1,
        )
    },
    "agt": 8,
    "okt": 10,
    "nop": 11,
}


def _written_date(text: str) -> date | None:
    """A date written as people write it (see ``_WORDY_DATE``, ``_DAY_FIRST``), or None."""
    if m := _WORDY_DATE.match(text):
        month = _MONTH_NAMES.get(m.group(2).lower())
        day, year = int(m.group(1)), int(m.group(3))
    elif m := _DAY_FIRST.match(text):
        day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        return None
    try:
        return date(year, month, day) if month else None
    except ValueError:
        return None


def upper(value: Any) -> str:
    return str(value).upper()


FILTERS: dict[str, Callable[[Any], str]] = {"rupiah": rupiah, "date": format_date, "upper": upper}


# rendering --------------------------------------------------------------------------------------


def extract_variables(content: str) -> list[str]:
    """The distinct variable names of ``content``, in order of first use (filters left out)."""
    return list(dict.fromkeys(m.group(1) for m in PLACEHOLDER.finditer(content)))


@dataclass
class _Fill:
    """One pass of substitution over the parts of a template, collecting what went wrong."""

    data: Mapping[str, Any]
    missing: list[str] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)

    def __call__(self, text: str) -> str:
        return PLACEHOLDER.sub(self._one, text)

    def _one(self, match: re.Match) -> str:
        name, filter_name = match.groups()
        value = self.data.get(name)
        if value is None:
            if name not in self.missing:
                self.missing.append(name)
            return match.group(0)
        if filter_name is None:
            return str(value)
        formatter = FILTERS.get(filter_name)
        if formatter is None:
            self.invalid.setdefault(name, f"unknown filter {filter_name!r}")
            return match.group(0)
        try:
            return formatter(value)
        except (ValueError, TypeError, OverflowError, OSError) as exc:
            self.invalid.setdefault(name, f"{filter_name}: {exc}")
            return match.group(0)

    def raise_problems(self) -> None:
        if self.missing:
            raise TemplateVariableMissing(self.missing)
        if self.invalid:
            name, reason = next(iter(self.invalid.items()))
            raise TemplateVariableInvalid(f"{name} {reason}", field=f"data.{name}")


def render(content: str, data: Mapping[str, Any]) -> str:
    """Substitute every {{var}} (and {{var|filter}}) in ``content``; values are inserted literally.

    Raises TemplateVariableMissing naming every variable ``data`` lacks (None counts as
    missing; 0 and "" do not, so an amount of 0 renders as 0), and TemplateVariableInvalid when
    a filter cannot format its value.
    """
    fill = _Fill(data)
    text = fill(content)
    fill.raise_problems()
    return text


@dataclass(frozen=True)
class Rendered:
    """A template rendered for one recipient, as the transports will send it."""

    text: str
    media_url: str | None = None
    # "media" for a media template (sent as an image or document), "text" for button and list
    render_mode: str | None = None
    media: attachments.Attachment | None = None


@dataclass(frozen=True)
class Preview:
    rendered: Rendered
    variables: list[str]
    missing: list[str]
    unused: list[str]
    invalid: dict[str, str]
    warnings: list[dict[str, str]]


def render_message(template: WhatsAppTemplate, data: Mapping[str, Any]) -> Rendered:
    """Render every part of ``template`` for ``data`` and compose the text that is sent.

    Raises TemplateVariableMissing / TemplateVariableInvalid (every part is looked at first, so
    all missing variables are named at once).
    """
    fill = _Fill(data)
    rendered = _compose(template.type, fill(template.content), _fill_extra(template.extra, fill))
    fill.raise_problems()
    return rendered


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


def _fill_extra(extra: Mapping | None, fill: Callable[[str], str]) -> dict[str, Any]:
    """``extra`` with every string in it rendered."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return fill(value)
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        return value

    return walk(dict(extra or {}))


def _compose(type_: str, body: str, extra: Mapping[str, Any]) -> Rendered:
    if type_ == "media":
        url = (extra.get("media_url") or "").strip()
        attachment = attachments.Attachment(
            extra.get("media_type") or "image", url=url, file_name=extra.get("file_name") or None
        )
        return Rendered(body, media_url=url or None, render_mode="media", media=attachment)
    if type_ == "button":
        options = [button["text"] for button in extra.get("buttons") or []]
        blocks = [body, _numbered(options, 1)]
        return Rendered(_join(blocks + [extra.get("footer")]), render_mode="text")
    if type_ == "list":
        blocks, number = [body], 1
        heading = extra.get("button_text")
        for index, section in enumerate(extra.get("sections") or []):
            rows = [
                row["title"] + (f" — {row['description']}" if row.get("description") else "")
                for row in section.get("rows") or []
            ]
            title = f"*{section['title']}*\n" if section.get("title") else ""
            lead = f"{heading}:\n" if heading and index == 0 else ""
            blocks.append(lead + title + _numbered(rows, number))
            number += len(rows)
        return Rendered(_join(blocks + [extra.get("footer")]), render_mode="text")
    return Rendered(body)


def _numbered(options: list[str], start: int) -> str:
    return "\n".join(f"{n}. {option}" for n, option in enumerate(options, start))


def _join(blocks: list[str | None]) -> str:
    return "\n\n".join(block for block in blocks if block and block.strip())


# validation -------------------------------------------------------------------------------------


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
        media_type = parts.get("media_type") or "image"
        if media_type not in MEDIA_TYPES:
            raise TemplateInvalid(
                f"mediaType must be one of {', '.join(MEDIA_TYPES)}", field="mediaType"
            )
        file_name = _text(parts.get("file_name"), "fileName", required=False)
        if file_name and len(file_name) > attachments.MAX_FILE_NAME:
            raise TemplateInvalid(
                f"fileName has at most {attachments.MAX_FILE_NAME} characters", field="fileName"
            )
        return {
            "media_url": url,
            "media_type": media_type,
            **({"file_name": file_name} if file_name and media_type == "document" else {}),
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


# the catalogue ----------------------------------------------------------------------------------


def get_by_name(name: str) -> WhatsAppTemplate:
    template = db.session.scalar(db.select(WhatsAppTemplate).where(WhatsAppTemplate.name == name))
    if template is None or not template.is_active:
        raise TemplateNotFound(f"no active template named {name!r}", field="template")
    return template


def list_templates() -> list[WhatsAppTemplate]:
    return list(db.session.scalars(db.select(WhatsAppTemplate).order_by(WhatsAppTemplate.name)))


def get_template(template_id: int | str) -> WhatsAppTemplate:
    number = row_id(template_id)
    template = db.session.get(WhatsAppTemplate, number) if number is not None else None
    if template is None:
        raise NotFound(f"no template with id {template_id}", field="id")
    return template


def lookup(reference: Any) -> WhatsAppTemplate | None:
    """The template a request names by its name or by its id ("payment_reminder", 3 or "3");
    a name wins over an id written the same way. None when there is none."""
    if isinstance(reference, str):
        reference = reference.strip()
        template = db.session.scalar(
            db.select(WhatsAppTemplate).where(WhatsAppTemplate.name == reference)
        )
        if template is not None:
            return template
    number = row_id(reference)
    return db.session.get(WhatsAppTemplate, number) if number is not None else None


def find_template(template_id: Any = None, name: str | None = None) -> WhatsAppTemplate:
    """A template by ``templateId`` (its id or its name) or by ``name``, active or not
    (previews and the admin look at drafts)."""
    reference, field = (template_id, "templateId") if template_id is not None else (name, "name")
    template = lookup(reference)
    if template is None:
        raise NotFound(_not_found("no template", reference), field=field)
    return template


def find_active(reference: Any, field: str = "template") -> WhatsAppTemplate:
    """The active template named by its name or id, to send; TemplateNotFound otherwise."""
    template = lookup(reference)
    if template is None or not template.is_active:
        raise TemplateNotFound(_not_found("no active template", reference), field=field)
    return template


def _not_found(what: str, reference: Any) -> str:
    """ "no template named 'x'" for a name, "no template with id 7" for a number."""
    if isinstance(reference, str):
        return f"{what} named {reference!r}"
    return f"{what} with id {reference}"


def triggers_using(template_id: int) -> list[str]:
    """The events whose trigger sends this template."""
    return list(
        db.session.scalars(
            db.select(Trigger.event)
            .where(Trigger.template_id == template_id)
            .order_by(Trigger.event)
        )
    )


FIELDS = ("name", "content", "category", "type", "language", "is_active")
EXTRA_PARTS = (
    "media_url",
    "media_type",
    "file_name",
    "buttons",
    "footer",
    "button_text",
    "sections",
)


def create_template(
    *,
    name: str,
    content: str,
    category: str = "notification",
    type: str = "text",  # noqa: A002 - the seed's field name
    language: str = "id",
    is_active: bool = True,
    created_by: int | None = None,
    **parts: Any,
) -> WhatsAppTemplate:
    """Store a new template; ``parts`` are the type's extras (see ``normalize_extra``)."""
    template = WhatsAppTemplate(created_by=created_by)
    _apply(
        template,
        {
            "name": name,
            "content": content,
            "category": category,
            "type": type,
            "language": language,
            "is_active": is_active,
            **parts,
        },
    )
    db.session.add(template)
    _commit(name)
    return template


def update_template(template_id: int | str, **changes: Any) -> WhatsAppTemplate:
    """Change the given fields of a template; what is not given stays as it is."""
    template = get_template(template_id)
    _apply(template, changes)
    _commit(template.name)
    return template


def _apply(template: WhatsAppTemplate, changes: Mapping[str, Any]) -> None:
    unknown = sorted(set(changes) - {*EXTRA_PARTS, *FIELDS})
    if unknown:
        raise TemplateInvalid(f"unknown field {unknown[0]}", field=unknown[0])
    name = changes.get("name", template.name)
    if name is None or not NAME.match(name):
        raise TemplateInvalid(
            "name is 1-100 letters, digits, '_', '.' or '-' (e.g. new_invoice)", field="name"
        )
    category = changes.get("category", template.category) or "notification"
    if category not in CATEGORIES:
        raise TemplateInvalid(f"category must be one of {', '.join(CATEGORIES)}", field="category")
    language = changes.get("language", template.language) or "id"
    if not LANGUAGE.match(language):
        raise TemplateInvalid("language is a code such as id or en", field="language")
    type_ = changes.get("type", template.type) or "text"
    parts = {**(_parts_of(template.extra)), **{k: changes[k] for k in EXTRA_PARTS if k in changes}}
    extra = normalize_extra(type_, parts)
    content = changes.get("content", template.content)
    variables = check_content(content or "", extra)
    is_active = changes.get("is_active", template.is_active)
    template.name = name
    template.category = category
    template.type = type_
    template.language = language
    template.content = content
    template.extra = extra
    template.variables = variables
    # The seed wrote `data.is_active || true`; an explicit false stays false here.
    template.is_active = True if is_active is None else bool(is_active)


def _parts_of(extra: Mapping | None) -> dict[str, Any]:
    return {key: value for key, value in (extra or {}).items() if key in EXTRA_PARTS}


def _commit(name: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:  # the only unique column is the name
        db.session.rollback()
        raise Conflict(f"a template named {name!r} exists already", field="name") from None


def delete_template(template_id: int | str) -> None:
    """Delete a template no trigger and no unfinished bulk send uses (409 otherwise).

    Messages sent with it keep their text; they merely stop pointing at it.
    """
    template = get_template(template_id)
    events = triggers_using(template.id)
    if events:
        raise Conflict(
            f"template {template.name!r} is used by the trigger(s) {', '.join(events)}; "
            "point them to another template first",
            field="id",
        )
    busy = db.session.scalar(
        db.select(BulkJob.job_id).where(
            BulkJob.template_id == template.id, BulkJob.status.not_in(("completed", "cancelled"))
        )
    )
    if busy:
        raise Conflict(
            f"template {template.name!r} is used by bulk send {busy}, which has not finished",
            field="id",
        )
    for model in (WhatsAppMessage, BulkJob):
        db.session.execute(
            db.update(model).where(model.template_id == template.id).values(template_id=None)
        )
    db.session.delete(template)
    db.session.commit()
