"""Operations: sync_alert (alert episodes) and sync_daily_summary (compacted sync history).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# Frozen copies of app.models.types: a revision must not change when the models do.
DATETIME_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql").with_variant(mysql.DATETIME(fsp=6), "mariadb")
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql").with_variant(mysql.LONGTEXT(), "mariadb")


def upgrade():
    op.create_table('sync_alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details_json', LONG_TEXT, nullable=True),
    sa.Column('opened_at', DATETIME_UTC, nullable=False),
    sa.Column('last_seen_at', DATETIME_UTC, nullable=False),
    sa.Column('resolved_at', DATETIME_UTC, nullable=True),
    sa.Column('sent_to', sa.String(length=255), nullable=True),
    sa.Column('resolution_sent_to', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_sync_alert_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_alert'))
    )
    with op.batch_alter_table('sync_alert', schema=None) as batch_op:
        batch_op.create_index('ix_sync_alert_status_opened', ['status', 'opened_at'], unique=False)
        batch_op.create_index('ix_sync_alert_subject', ['kind', 'subject', 'status'], unique=False)

    op.create_table('sync_daily_summary',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('succeeded', sa.Integer(), nullable=False),
    sa.Column('partial', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('requests', sa.Integer(), nullable=False),
    sa.Column('throttles', sa.Integer(), nullable=False),
    sa.Column('total_seconds', sa.Float(), nullable=False),
    sa.Column('max_seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_sync_daily_summary_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_daily_summary')),
    sa.UniqueConstraint('day', 'user_id', 'kind', name=op.f('uq_sync_daily_summary_day_user_id_kind'))
    )


def downgrade():
    op.drop_table('sync_daily_summary')
    with op.batch_alter_table('sync_alert', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_alert_subject')
        batch_op.drop_index('ix_sync_alert_status_opened')
    op.drop_table('sync_alert')
