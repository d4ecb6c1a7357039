"""Which scope each API endpoint needs, in one table, so the whole policy reads at a glance.

An endpoint missing from the table needs ``admin``: a route added without a thought about its
scope is closed to billing keys, not open to them. ``tests/api/test_scopes.py`` fails when a
route is missing here, so the choice is always made on purpose.
"""

from __future__ import annotations

SEND = {
    "api.send",
    "api.send_bulk",
    "api.billing_event",
    "api.message_status",
    "api.message_resend",
    "api.message_cancel",
    "api.bulk_status",
    "api.pause_bulk",
    "api.resume_bulk",
    "api.cancel_bulk",
}
READ = {
    "api.list_sessions",
    "api.get_session",
    "api.list_templates",
    "api.get_template",
    "api.preview_template",
    "api.list_bulk",
    "api.daily_metrics",
    "api.simulator_inbox",
}
ADMIN = {
    "api.create_session",
    "api.update_session",
    "api.delete_session",
    "api.session_qr",
    "api.pair_phone",
    "api.reconnect_session",
    "api.logout_session",
    "api.simulator_scan",
    "api.simulator_faults",
    "api.simulator_fault",
    "api.simulator_incoming",
    "api.simulator_on_whatsapp",
    "api.create_template",
    "api.update_template",
    "api.delete_template",
    "api.list_webhooks",
    "api.create_webhook",
    "api.get_webhook",
    "api.delete_webhook",
    "api.get_settings",
    "api.patch_settings",
}


# The billing apps' dialects (webapp.compat), whose keys come as a parameter or Fonnte's
# header: sending and checking a number is a billing key's work; listing the linked numbers
# reads what only a read key may.
DIALECTS = {
    "api_compat.send_message": "send",
    "api_compat.wrong_method": "send",
    "api_compat.send_media": "send",
    "api_compat.check_number": "send",
    "api_compat.info_devices": "read",
    "api_fonnte.send": "send",
    "api_fonnte.wrong_method": "send",
}


def required(endpoint: str | None) -> str:
    """The scope a call of ``endpoint`` needs."""
    if endpoint in DIALECTS:
        return DIALECTS[endpoint]
    if endpoint in SEND:
        return "send"
    if endpoint in READ:
        return "read"
    return "admin"
