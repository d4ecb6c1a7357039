"""The advice on a failed connection to WhatsApp, in the language of the request."""

from __future__ import annotations

from webapp.core import connect_advice


def test_the_advice_reads_in_indonesian_by_default(app):
    with app.test_request_context():
        sentence = connect_advice.DNS.sentence()
    assert sentence.startswith("Server ini tidak bisa menjangkau WhatsApp (DNS). Periksa koneksi")
