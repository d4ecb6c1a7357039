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

The package: ``filters`` (the filter functions), ``rendering`` (placeholders filled, types
composed), ``validation`` (refusals, warnings, previews), ``catalogue`` (the stored templates).
"""

from __future__ import annotations

from webapp.intake.templates.catalogue import (
    BUILT_IN,
    CATEGORIES,
    create_template,
    delete_template,
    find_active,
    find_template,
    get_by_name,
    get_template,
    list_templates,
    lookup,
    triggers_using,
    update_template,
)
from webapp.intake.templates.rendering import Rendered, extract_variables, render, render_message
from webapp.intake.templates.validation import (
    MAX_LENGTH,
    TYPES,
    Preview,
    check_content,
    normalize_extra,
    preview,
    warnings_for,
)

__all__ = [
    "BUILT_IN",
    "CATEGORIES",
    "MAX_LENGTH",
    "TYPES",
    "Preview",
    "Rendered",
    "check_content",
    "create_template",
    "delete_template",
    "extract_variables",
    "find_active",
    "find_template",
    "get_by_name",
    "get_template",
    "list_templates",
    "lookup",
    "normalize_extra",
    "preview",
    "render",
    "render_message",
    "triggers_using",
    "update_template",
    "warnings_for",
]
