"""The English sentences services and workers write (errors, warnings, failure reasons, a
session's last error) reach the operator in Indonesian, and the JSON API's in the language its
Accept-Language asks for (English by default), with codes that never change."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from marshmallow import Schema

from webapp import phrases
from webapp.api import schemas

ROOT = Path(__file__).resolve().parents[2]
# Where the operator's sentences are written: what services refuse, what the API's schemas and
# the transports say, why the session host and routing say a number cannot send.
SOURCES = (
    "webapp/intake/*.py",
    "webapp/intake/bulk/*.py",
    "webapp/intake/templates/*.py",
    "webapp/core/[!c]*.py",
    "webapp/core/connect_advice.py",
    "webapp/settings.py",
    "webapp/admin/local_time.py",
    "workers/pipeline/[!aops]*.py",
    "workers/pipeline/attachments.py",
    "workers/pipeline/optout.py",
    "workers/pipeline/s[!c]*.py",
    "workers/pipeline/webhooks/*.py",
    "workers/queue/jobs.py",
    "workers/queue/outbox.py",
    "webapp/api/schemas.py",
    "webapp/compat/*.py",
    "workers/session_host/transports/*.py",
    "workers/session_host/transports/neonize/*.py",
    "workers/session_host/rpc.py",
    "workers/session_host/*.py",
)
# Called with a sentence as this argument (position), besides ``raise X(sentence)``.
SENTENCE_ARGUMENTS = {
    "refuse": 1,
    "ConnectionLoss": 1,
    "_retry_later": 0,
    "_retry": 2,
    "CompatError": 2,
}
SENTENCE_KEYWORDS = {"reason", "warning", "error_message"}
SENTENCE_NAMES = ("REASON", "OUTCOME_UNKNOWN", "LOST_RECORD")
# Never shown to an operator: a programming error, or a message only a test harness sends.
NOT_SHOWN = {
    "unknown kind X",  # settings: a Spec declared with a kind the code does not know
    "X X",  # templates: "name reason", matched by its reason (checked on its own)
    "signed for another session or reply",  # rpc: only logged, with a dropped forged request
}


def sample(node: ast.AST) -> str | None:
    """The text an expression writes, "X" standing for each value put into it."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = sample(node.left), sample(node.right)
        if left is None and right is None:
            return None
        return (left or "X") + (right or "X")
    return None


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def sentences_in(tree: ast.AST) -> list[tuple[int, str]]:
    found = []

    def add(node: ast.AST | None) -> None:
        if node is not None and (text := sample(node)) and " " in text.strip():
            found.append((node.lineno, text))

    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
            add(node.exc.args[0])
        elif isinstance(node, ast.Call):
            position = SENTENCE_ARGUMENTS.get(_name(node))
            if position is not None and len(node.args) > position:
                add(node.args[position])
            if _name(node) == "append" and getattr(node.func.value, "id", "") == "reasons":
                add(node.args[0])
            for keyword in node.keywords:
                if keyword.arg in SENTENCE_KEYWORDS:
                    add(keyword.value)
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if any(n == "warning" or n.endswith(SENTENCE_NAMES) for n in names):
                add(node.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in ("message", "reason"):
                    add(value)
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            if node.value.elts:
                add(node.value.elts[0])  # routing's (reason, wait_ms, limited)
    return found


def written_sentences() -> list[tuple[str, str]]:
    written = []
    for pattern in SOURCES:
        for path in sorted(ROOT.glob(pattern)):
            tree = ast.parse(path.read_text())
            for line, text in sentences_in(tree):
                written.append((f"{path.relative_to(ROOT)}:{line}", text))
    return written


def schema_messages() -> list[tuple[str, str]]:
    """What marshmallow answers for the API's fields: their error messages and validators'."""
    found = []
    for name in dir(schemas):
        schema = getattr(schemas, name)
        if not (isinstance(schema, type) and issubclass(schema, Schema) and schema is not Schema):
            continue
        for field_name, field in schema().fields.items():
            where = f"{name}.{field_name}"
            for key, message in field.error_messages.items():
                if key not in ("validator_failed", "null"):  # neither raised by our fields
                    found.append((where, _filled(message)))
            for validator in field.validators:
                if isinstance(getattr(validator, "error", None), str):
                    found.append((where, _filled(validator.error)))
    return found


def _filled(message: str) -> str:
    class Anything(dict):
        def __missing__(self, key):
            return "X"

    return str(message).format_map(Anything())


def test_the_catalogue_finds_sentences_in_the_sources():
    """The scan itself works: it sees the sentences of sending, routing and the session host."""
    texts = {text for _, text in written_sentences()}
    assert "X rests after send errors" in texts
    assert "the WhatsApp client of this number crashed: X" in texts
    assert "health check slow: X s (limit X s)" in texts
    assert "no session X" in texts
    assert len(texts) > 150


def test_every_sentence_shown_to_the_operator_has_a_shape_in_the_catalogue():
    """A new error or reason written in English and not added to webapp/phrases.py (and the
    .po) would reach the Indonesian console in English."""
    unknown = sorted(
        {
            f"{where}: {text!r}"
            for where, text in written_sentences() + schema_messages()
            if text not in NOT_SHOWN and phrases.shape_of(text) is None
        }
    )
    assert unknown == []


# what the operator reads ------------------------------------------------------------------


@pytest.fixture
def indonesian(app):
    with app.test_request_context("/admin/"):
        yield


@pytest.fixture
def english(app):
    with app.test_request_context("/admin/"):
        from flask import session

        session["language"] = "en"
        yield


def test_a_failure_reason_is_translated_with_the_technical_detail_apart(indonesian):
    reason = (
        "no connected session could send: session-1: the recipient is not on WhatsApp "
        "(no LID found for 6281234567890 from server); session-2 rests after send errors"
    )
    explained = phrases.explain(reason)
    assert explained.summary == (
        "tidak ada sesi terhubung yang bisa mengirim: session-1: penerima tidak memakai "
        "WhatsApp; session-2 beristirahat setelah gagal mengirim"
    )
    assert explained.details == ["no LID found for 6281234567890 from server"]


def test_a_raw_error_of_whatsapps_library_is_named_and_kept_whole_as_detail(indonesian):
    raw = "failed to dial whatsapp web websocket: lookup web.whatsapp.com: no such host"
    explained = phrases.explain(raw)
    assert explained.summary == "kesalahan yang dilaporkan WhatsApp atau klien nomor ini"
    assert explained.details == [raw]
    inside = phrases.explain(f"no connected session could send: session-1: {raw}")
    assert inside.summary.startswith("tidak ada sesi terhubung yang bisa mengirim: kesalahan")
    assert inside.details == [f"session-1: {raw}"]


def test_values_in_a_sentence_are_kept_as_written(indonesian):
    assert phrases.say("no session 'session-9'") == "tidak ada sesi 'session-9'"
    assert phrases.say("message 12 is sent, not failed") == "pesan 12 berstatus sent, bukan gagal"
    assert phrases.say("priority: Not a valid integer.") == (
        "priority: Bukan bilangan bulat yang valid."
    )


def test_a_text_that_only_looks_like_a_sentence_is_left_alone(indonesian):
    for text in ("Hello world", "Pesan #3 diantrekan.", "Server atau login SMTP berubah: x"):
        assert phrases.say(text) == text


def test_in_english_the_sentences_read_as_the_services_wrote_them(english):
    assert phrases.say("no session 'session-9'") == "no session 'session-9'"
    assert phrases.explain("recipient opted out").summary == "recipient opted out"


# the JSON API -------------------------------------------------------------------------------


def test_api_errors_are_english_by_default_and_follow_accept_language(client, auth):
    missing = {"to": "0812-3456-7890", "template": "no_such_template", "data": {}}
    r = client.post("/api/whatsapp/send", json=missing, headers=auth)
    assert r.status_code == 422
    english = r.get_json()["error"]
    assert english["message"] == "no active template named 'no_such_template'"
    headers = {**auth, "Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}
    indonesian = client.post("/api/whatsapp/send", json=missing, headers=headers).get_json()
    assert indonesian["error"]["code"] == english["code"] == "unknown_template"
    assert indonesian["error"]["message"] == "tidak ada template aktif bernama 'no_such_template'"
    assert indonesian["error"]["fields"][english["field"]] == [indonesian["error"]["message"]]


def test_api_validation_errors_follow_accept_language_too(client, auth):
    headers = {**auth, "Accept-Language": "id"}
    r = client.patch("/api/whatsapp/sessions/session-1", json={"priority": "x"}, headers=headers)
    body = r.get_json()["error"]
    assert r.status_code in (400, 404) and body["code"] in ("validation_error", "not_found")
    assert "Not a valid" not in body["message"] and "no session" not in body["message"]


def test_the_billing_apps_dialect_answers_in_english_unless_asked_for_indonesian(client):
    r = client.get("/send-message?number=0812&message=x")
    assert r.status_code == 400
    assert r.get_json()["msg"] == "api_key: missing; give a Kabar API key as api_key"
    r = client.get("/send-message?number=0812&message=x", headers={"Accept-Language": "id"})
    assert r.get_json() == {
        "status": False,
        "msg": "api_key: tidak ada; isi kunci API Kabar sebagai api_key",
        "field": "api_key",
    }


def test_a_host_name_refusal_keeps_its_reason_and_the_label_at_fault(indonesian):
    refusal = "must be a host name or address, such as smtp.example.com; 'a..b' has an empty label"
    assert phrases.say(refusal + " between its dots") == (
        "harus berupa nama host atau alamat, misalnya smtp.example.com; 'a..b' punya bagian "
        "kosong di antara titiknya"
    )
