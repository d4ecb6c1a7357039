"""Message templates: {{variable}} placeholders, rendered exactly as the seed's regex finds them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from webapp.extensions import db
from webapp.models import WhatsAppTemplate
from webapp.services.errors import TemplateNotFound, TemplateVariableMissing

PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def extract_variables(content: str) -> list[str]:
    """The distinct variable names of ``content``, in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(content)))


def render(content: str, data: Mapping[str, Any]) -> str:
    """Substitute every {{var}} with ``data[var]``; values are inserted literally.

    Raises TemplateVariableMissing naming every variable ``data`` lacks (None counts as
    missing; 0 and "" do not, so an amount of 0 renders as 0).
    """
    missing = [name for name in extract_variables(content) if data.get(name) is None]
    if missing:
        raise TemplateVariableMissing(missing)
    return PLACEHOLDER.sub(lambda m: str(data[m.group(1)]), content)


def get_by_name(name: str) -> WhatsAppTemplate:
    template = db.session.scalar(db.select(WhatsAppTemplate).where(WhatsAppTemplate.name == name))
    if template is None or not template.is_active:
        raise TemplateNotFound(f"no active template named {name!r}", field="template")
    return template
