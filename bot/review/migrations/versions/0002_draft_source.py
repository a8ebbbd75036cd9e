"""drafts: where the draft came from (a language model or the evidence), and why not the model

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite cannot alter a table in place; on PostgreSQL these are plain ALTERs.
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "draft_source", sa.String(length=16), nullable=False, server_default="evidence"
            )
        )
        batch_op.add_column(sa.Column("draft_note", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("draft_verdict", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_column("draft_verdict")
        batch_op.drop_column("draft_note")
        batch_op.drop_column("draft_source")
