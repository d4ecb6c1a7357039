from webapp.extensions import db
from webapp.models import AdminUser, ApiKey


def test_create_api_key_prints_the_key_once_and_stores_its_hash(app):
    result = app.test_cli_runner().invoke(args=["create-api-key", "billing"])
    assert result.exit_code == 0, result.output
    raw = result.output.strip().splitlines()[-1]
    assert raw.startswith("kbr_") and len(raw) > 40
    with app.app_context():
        key = db.session.scalar(db.select(ApiKey))
        assert key.name == "billing" and raw not in (key.key_hash, key.prefix)
        assert key.scopes == "send"  # the default: what a billing app needs, nothing more
    client = app.test_client()
    auth = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/whatsapp/message/1/status", headers=auth).status_code == 404
    assert client.get("/api/whatsapp/sessions", headers=auth).status_code == 403


def test_create_api_key_takes_repeated_scopes_and_refuses_unknown_ones(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-api-key", "ops", "--scope", "read", "--scope", "admin"])
    assert result.exit_code == 0, result.output
    assert "scopes: admin read" in result.output
    raw = result.output.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {raw}"}
    assert app.test_client().get("/api/whatsapp/sessions", headers=auth).status_code == 200
    wrong = runner.invoke(args=["create-api-key", "x", "--scope", "everything"])
    assert wrong.exit_code != 0 and "everything" in wrong.output


def test_set_admin_password_ends_earlier_logins(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["create-admin", "a@example.com", "--password", "long enough pw"])
    with app.app_context():
        before = db.session.scalar(db.select(AdminUser)).session_epoch
    result = runner.invoke(
        args=["set-admin-password", "A@example.com", "--password", "new long pw!"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        admin = db.session.scalar(db.select(AdminUser))
        assert admin.session_epoch == before + 1
    missing = runner.invoke(
        args=["set-admin-password", "b@example.com", "--password", "new long pw!"]
    )
    assert missing.exit_code != 0 and "no admin" in missing.output


def test_create_admin_hashes_the_password(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-admin", "Ops@Example.com", "--password", "s3cret-pass!"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        admin = db.session.scalar(db.select(AdminUser))
        assert admin.email == "ops@example.com"
        assert admin.password_hash.startswith("$argon2id$")


def test_create_admin_prompts_for_the_password(app):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "a@example.com"], input="long enough pw\nlong enough pw\n"
    )
    assert result.exit_code == 0, result.output


def test_create_admin_refuses_a_short_password_and_a_duplicate(app):
    runner = app.test_cli_runner()
    short = runner.invoke(args=["create-admin", "a@example.com", "--password", "short"])
    assert short.exit_code != 0 and "at least 10" in short.output
    runner.invoke(args=["create-admin", "a@example.com", "--password", "long enough pw"])
    again = runner.invoke(args=["create-admin", "a@example.com", "--password", "long enough pw"])
    assert again.exit_code != 0 and "exists already" in again.output
