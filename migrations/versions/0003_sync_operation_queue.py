"""The durable sync queue: sync_operation (operations, leases, retries), sync_queue_pause, service_heartbeat.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# Frozen copies of app.models.types: a revision must not change when the models do.
DATETIME_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql").with_variant(mysql.DATETIME(fsp=6), "mariadb")
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql").with_variant(mysql.LONGTEXT(), "mariadb")


def upgrade():
    op.create_table('service_heartbeat',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=255), nullable=False),
    sa.Column('beat_at', DATETIME_UTC, nullable=False),
    sa.Column('expires_at', DATETIME_UTC, nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_service_heartbeat'))
    )
    op.create_table('sync_queue_pause',
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('paused_at', DATETIME_UTC, nullable=False),
    sa.Column('paused_by', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('kind', name=op.f('pk_sync_queue_pause'))
    )
    op.create_table('sync_operation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('entity_type', sa.String(length=64), nullable=True),
    sa.Column('entity_id', sa.String(length=255), nullable=True),
    sa.Column('source_system', sa.String(length=32), nullable=True),
    sa.Column('target_system', sa.String(length=32), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('payload_json', LONG_TEXT, nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', DATETIME_UTC, nullable=False),
    sa.Column('dedupe_key', sa.String(length=255), nullable=True),
    sa.Column('batch_key', sa.String(length=255), nullable=True),
    sa.Column('forced', sa.Boolean(), nullable=False),
    sa.Column('error_class', sa.String(length=16), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('error_context_json', LONG_TEXT, nullable=True),
    sa.Column('result_json', LONG_TEXT, nullable=True),
    sa.Column('worker_id', sa.String(length=255), nullable=True),
    sa.Column('lease_expires_at', DATETIME_UTC, nullable=True),
    sa.Column('created_at', DATETIME_UTC, nullable=False),
    sa.Column('updated_at', DATETIME_UTC, nullable=False),
    sa.Column('started_at', DATETIME_UTC, nullable=True),
    sa.Column('finished_at', DATETIME_UTC, nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_sync_operation_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_operation'))
    )
    with op.batch_alter_table('sync_operation', schema=None) as batch_op:
        batch_op.create_index('ix_sync_operation_batch', ['batch_key', 'status'], unique=False)
        batch_op.create_index('ix_sync_operation_claim', ['status', 'next_attempt_at', 'priority'], unique=False)
        batch_op.create_index('ix_sync_operation_dedupe', ['dedupe_key', 'status'], unique=False)
        batch_op.create_index('ix_sync_operation_entity', ['entity_type', 'entity_id'], unique=False)
        batch_op.create_index('ix_sync_operation_kind_status', ['kind', 'status'], unique=False)
        batch_op.create_index('ix_sync_operation_user_created', ['user_id', 'created_at'], unique=False)


def downgrade():
    # Dropping the table drops its indexes (MariaDB refuses to drop the FK's index alone).
    op.drop_table('sync_operation')
    op.drop_table('sync_queue_pause')
    op.drop_table('service_heartbeat')
