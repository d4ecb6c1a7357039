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
    client = app.test_client()
    assert (
        client.get("/api/whatsapp/sessions", headers={"Authorization": f"Bearer {raw}"}).status_code
        == 200
    )


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
