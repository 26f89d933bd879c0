"""Raw Canvas JSON stored compressed: raw_json (text) -> raw_deflate (DEFLATE with a preset dictionary).

A submission row was ~1.1 KB on MariaDB, two thirds of it raw JSON; compressed it is
~70 bytes (app/models/raw_codec.py, docs/NOTES.md). Existing rows are converted in the
upgrade (keyset batches, the text kept byte for byte) and back in the downgrade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 23:30:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from app.models import raw_codec

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

TABLES = ("term", "course", "grade_category", "assignment", "submission")
LONG_BLOB = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql").with_variant(mysql.LONGBLOB(), "mariadb")
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql").with_variant(mysql.LONGTEXT(), "mariadb")
BATCH = 1000


def _convert(table_name: str, source: str, source_type, target: str, target_type, fn) -> None:
    """target = fn(source) for every row with a source value, in keyset batches by id."""
    bind = op.get_bind()
    table = sa.table(table_name, sa.column("id", sa.Integer), sa.column(source, source_type),
                     sa.column(target, target_type))
    last = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, table.c[source])
            .where(table.c.id > last, table.c[source].is_not(None))
            .order_by(table.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(table.update().where(table.c.id == sa.bindparam("row_id")).values({target: sa.bindparam("value")}),
                     [{"row_id": row_id, "value": fn(value)} for row_id, value in rows])
        last = rows[-1][0]


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('raw_deflate', LONG_BLOB, nullable=True))
        _convert(table, "raw_json", LONG_TEXT, "raw_deflate", LONG_BLOB, raw_codec.pack)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('raw_json')


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('raw_json', LONG_TEXT, nullable=True))
        _convert(table, "raw_deflate", LONG_BLOB, "raw_json", LONG_TEXT, raw_codec.unpack)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('raw_deflate')
