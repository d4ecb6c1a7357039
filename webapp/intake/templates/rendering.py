"""Rendering: ``{{variable}}`` placeholders filled from the data of one recipient, and the four
types composed into the text (and attachment) the transports send."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from webapp.core.errors import TemplateVariableInvalid, TemplateVariableMissing
from webapp.intake.templates.filters import FILTERS
from webapp.models import WhatsAppTemplate

# A module, not its names: media's own imports come back here (settings -> templates).
from workers.pipeline import attachments
from workers.queue.contracts import MediaType

PLACEHOLDER = re.compile(r"\{\{(\w+)(?:\|(\w+))?\}\}")


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


def render_message(template: WhatsAppTemplate, data: Mapping[str, Any]) -> Rendered:
    """Render every part of ``template`` for ``data`` and compose the text that is sent.

    Raises TemplateVariableMissing / TemplateVariableInvalid (every part is looked at first, so
    all missing variables are named at once).
    """
    fill = _Fill(data)
    rendered = _compose(template.type, fill(template.content), _fill_extra(template.extra, fill))
    fill.raise_problems()
    return rendered


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
            extra.get("media_type") or MediaType.IMAGE,
            url=url,
            file_name=extra.get("file_name") or None,
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
