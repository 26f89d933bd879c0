"""Rows from Google Classroom and Schoology beside Canvas's: source_system, external_id, user_connection.

term, course, assignment and submission get `source_system` (existing rows: 'canvas') and
`external_id` (the source's own id; NULL on Canvas rows). A user's terms and courses are
keyed per source, so the (user_id, canvas_*_id) keys widen to (user_id, source_system,
canvas_*_id); the new key is created before the old one is dropped (MariaDB's foreign key
on user_id needs an index the whole time). Rows under a course keep their keys: a course
has one source. `user_connection` holds each user's encrypted credentials and pull status.

The downgrade deletes the non-Canvas rows: the schema before 0007 cannot tell them apart.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 08:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# Frozen copies of app.models.types: a revision must not change when the models do.
DATETIME_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql").with_variant(mysql.DATETIME(fsp=6), "mariadb")
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql").with_variant(mysql.LONGTEXT(), "mariadb")

TABLES = ("term", "course", "assignment", "submission")
USER_KEYS = {"term": "canvas_term_id", "course": "canvas_course_id"}


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('source_system', sa.String(length=16), nullable=False,
                                          server_default='canvas'))
            batch_op.add_column(sa.Column('external_id', sa.String(length=255), nullable=True))
    for table, canvas_id in USER_KEYS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_unique_constraint(op.f(f'uq_{table}_user_id_source_system_{canvas_id}'),
                                              ['user_id', 'source_system', canvas_id])
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'uq_{table}_user_id_{canvas_id}'), type_='unique')

    op.create_table('user_connection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('system', sa.String(length=16), nullable=False),
    sa.Column('base_url', sa.String(length=500), nullable=True),
    sa.Column('credentials_encrypted', sa.Text(), nullable=True),
    sa.Column('credentials_hint', sa.String(length=8), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_pull_at', DATETIME_UTC, nullable=True),
    sa.Column('last_success_at', DATETIME_UTC, nullable=True),
    sa.Column('last_full_pull_at', DATETIME_UTC, nullable=True),
    sa.Column('last_counts_json', sa.Text(), nullable=True),
    sa.Column('state_json', LONG_TEXT, nullable=True),
    sa.Column('created_at', DATETIME_UTC, nullable=False),
    sa.Column('updated_at', DATETIME_UTC, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_user_connection_user_id_user'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_connection')),
    sa.UniqueConstraint('user_id', 'system', name=op.f('uq_user_connection_user_id_system'))
    )


def downgrade():
    op.drop_table('user_connection')
    # Children first (foreign keys); a non-Canvas course takes its rows with it.
    for table in ("submission", "assignment", "course", "term"):
        op.execute(sa.text(f"DELETE FROM {table} WHERE source_system <> 'canvas'"))
    for table, canvas_id in USER_KEYS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_unique_constraint(op.f(f'uq_{table}_user_id_{canvas_id}'), ['user_id', canvas_id])
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'uq_{table}_user_id_source_system_{canvas_id}'), type_='unique')
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('external_id')
            batch_op.drop_column('source_system')
