"""the built-in templates: the seed's four and new_invoice

Revision ID: 0002
Revises: 0001
"""
import re
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen here rather than imported, so this migration keeps producing the same rows however the
# application's defaults evolve.
TEMPLATES = [
    (
        "new_invoice",
        "notification",
        "🧾 Tagihan Baru\n\nHalo {{customer_name}},\n\nTagihan layanan internet Anda sudah terbit:\n"
        "📄 No. Invoice: {{invoice_number}}\n💰 Jumlah: Rp{{amount}}\n📅 Jatuh Tempo: {{due_date}}\n\n"
        "Bayar dengan mudah melalui:\n{{payment_url}}\n\nTerima kasih!",
    ),
    (
        "payment_reminder",
        "reminder",
        "Halo {{customer_name}},\n\nIni adalah pengingat pembayaran untuk:\n"
        "📄 No. Invoice: {{invoice_number}}\n💰 Jumlah: Rp{{amount}}\n📅 Jatuh Tempo: {{due_date}}\n\n"
        "Segera lakukan pembayaran melalui:\n{{payment_url}}\n\nTerima kasih!",
    ),
    (
        "payment_confirmation",
        "notification",
        "✅ Pembayaran Berhasil!\n\nDetail Pembayaran:\n📄 No. Invoice: {{invoice_number}}\n"
        "💰 Jumlah: Rp{{amount}}\n🏦 Metode: {{payment_method}}\n📅 Tanggal: {{payment_date}}\n"
        "📝 Referensi: {{reference}}\n\nLayanan Anda telah diperpanjang.\n"
        "Terima kasih atas kepercayaan Anda!",
    ),
    (
        "expiry_warning",
        "reminder",
        "⚠️ Peringatan Expired\n\nHalo {{customer_name}},\n\nLayanan internet Anda akan expired dalam:\n"
        "⏰ {{remaining_time}}\n\nSegera perpanjang untuk menghindari gangguan layanan.\n"
        "Hubungi admin atau klik link berikut:\n{{renewal_url}}\n\nTerima kasih!",
    ),
    (
        "voucher_activated",
        "notification",
        "🎉 Voucher Aktif!\n\nVoucher Anda telah aktif:\n🔑 Kode: {{voucher_code}}\n"
        "⏰ Masa Aktif: {{duration}}\n📅 Expired: {{expiry_time}}\n\n"
        "Selamat menikmati layanan internet kami!\nTerima kasih!",
    ),
]

templates = sa.table(
    "whatsapp_templates",
    sa.column("name", sa.String),
    sa.column("category", sa.String),
    sa.column("type", sa.String),
    sa.column("content", sa.Text),
    sa.column("variables", sa.JSON),
    sa.column("language", sa.String),
    sa.column("is_active", sa.Boolean),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def upgrade():
    now = datetime.now(timezone.utc)
    op.bulk_insert(
        templates,
        [
            {
                "name": name,
                "category": category,
                "type": "text",
                "content": content,
                "variables": list(dict.fromkeys(re.findall(r"\{\{(\w+)\}\}", content))),
                "language": "id",
                "is_active": True,
                "created_at": now,
                "updated_at": now,
            }
            for name, category, content in TEMPLATES
        ],
    )


def downgrade():
    op.execute(
        templates.delete().where(templates.c.name.in_([name for name, _, _ in TEMPLATES]))
    )
