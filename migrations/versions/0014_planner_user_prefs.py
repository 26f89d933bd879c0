"""planner_user_prefs: each user's time zone, clock and feed reminder; a planner mark per assignment.

Revision ID: 0014_planner_user_prefs
Revises: 0012_session_security
Create Date: 2026-12-04

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = '0014_planner_user_prefs'
down_revision = '0012_session_security'
branch_labels = None
depends_on = None

# Frozen copy of app.models.types.UTCDateTime: a revision must not change when the models do.
DATETIME_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql").with_variant(mysql.DATETIME(fsp=6), "mariadb")


def upgrade():
    # Plain ADD COLUMN, not a batch: on SQLite a batch would copy and drop "user", and the
    # drop cascades to every row that references it.
    op.add_column('user', sa.Column('time_zone', sa.String(length=64), nullable=True))
    op.add_column('user', sa.Column('time_zone_chosen', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('user', sa.Column('clock_24h', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column('user', sa.Column('feed_alarm_minutes', sa.Integer(), nullable=True))

    op.create_table('planner_mark',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('canvas_override_id', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', DATETIME_UTC, nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id'], name=op.f('fk_planner_mark_assignment_id_assignment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_planner_mark_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_planner_mark')),
    sa.UniqueConstraint('assignment_id', name=op.f('uq_planner_mark_assignment_id'))
    )
    with op.batch_alter_table('planner_mark', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_planner_mark_user_id'), ['user_id'], unique=False)


def downgrade():
    op.drop_table('planner_mark')  # its index goes with it (MariaDB refuses to drop an FK's index first)
    for column in ('feed_alarm_minutes', 'clock_24h', 'time_zone_chosen', 'time_zone'):
        op.drop_column('user', column)  # SQLite >= 3.35 drops a column in place, no table copy
