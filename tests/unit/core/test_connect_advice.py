"""The raw errors of a failed connection to WhatsApp, read as causes an operator can act on."""

from __future__ import annotations

import pytest

from webapp.core import connect_advice

DIAL = "failed to dial whatsapp web websocket: "


@pytest.mark.parametrize(
    "raw,cause",
    [
        (DIAL + "dial tcp: lookup web.whatsapp.com on 127.0.0.53:53: no such host", "dns"),
        (DIAL + "dial tcp: lookup web.whatsapp.com on 10.0.0.1:53: server misbehaving", "dns"),
        (DIAL + "dial tcp: lookup web.whatsapp.com on 10.0.0.1:53: read udp: i/o timeout", "dns"),
        ("gaierror: [Errno -3] Temporary failure in name resolution", "dns"),
        ("gaierror: [Errno -2] Name or service not known", "dns"),
        (DIAL + "dial tcp 157.240.1.53:443: connect: connection refused", "network"),
        (DIAL + "dial tcp 157.240.1.53:443: connect: network is unreachable", "network"),
        ("ConnectionRefusedError: [Errno 111] Connection refused", "network"),
        (DIAL + "dial tcp 157.240.1.53:443: i/o timeout", "timeout"),
        ("TimeoutError: timed out", "timeout"),
        (
            DIAL + "tls: failed to verify certificate: x509: certificate signed by unknown "
            "authority",
            "tls",
        ),
        (
            "SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] self-signed certificate",
            "tls",
        ),
        (
            DIAL + "tls: failed to verify certificate: x509: certificate has expired or is not "
            "yet valid: current time 2019-01-01T00:00:00Z is before 2026-11-01T00:00:00Z",
            "clock",
        ),
        ("certificate expired (current time 2030-01-01 is after 2027-01-01)", "clock"),
    ],
)
def test_a_raw_connection_error_names_its_cause(raw, cause):
    assert connect_advice.advise(raw).cause == cause


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "logged out from the phone",
        "WhatsApp refused the connection: bad user agent",
        "temporarily banned by WhatsApp",
        "health check slow: 6.2 s (limit 5 s)",
    ],
)
def test_an_error_that_is_not_about_reaching_whatsapp_has_no_advice(raw):
    assert connect_advice.advise(raw) is None
