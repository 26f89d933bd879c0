"""The hub: local discussions, entity mappings, version vectors, course links, conflicts,
transaction log and processed webhook events.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# Frozen copies of app.models.types: a revision must not change when the models do.
DATETIME_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql").with_variant(mysql.DATETIME(fsp=6), "mariadb")
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql").with_variant(mysql.LONGTEXT(), "mariadb")


def upgrade():
    op.create_table('hub_conflict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_type', sa.String(length=32), nullable=False),
    sa.Column('local_id', sa.Integer(), nullable=False),
    sa.Column('local_system', sa.String(length=32), nullable=False),
    sa.Column('remote_system', sa.String(length=32), nullable=False),
    sa.Column('local_json', LONG_TEXT, nullable=False),
    sa.Column('remote_json', LONG_TEXT, nullable=False),
    sa.Column('base_json', LONG_TEXT, nullable=True),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('winner', sa.String(length=32), nullable=True),
    sa.Column('result_json', LONG_TEXT, nullable=False),
    sa.Column('created_at', DATETIME_UTC, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_conflict'))
    )
    with op.batch_alter_table('hub_conflict', schema=None) as batch_op:
        batch_op.create_index('ix_hub_conflict_created', ['created_at'], unique=False)
        batch_op.create_index('ix_hub_conflict_entity', ['entity_type', 'local_id'], unique=False)

    op.create_table('hub_entity_map',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_type', sa.String(length=32), nullable=False),
    sa.Column('local_id', sa.Integer(), nullable=False),
    sa.Column('system', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.Column('last_version', sa.String(length=64), nullable=True),
    sa.Column('last_title', sa.String(length=500), nullable=True),
    sa.Column('last_body', LONG_TEXT, nullable=True),
    sa.Column('last_deleted', sa.Boolean(), nullable=False),
    sa.Column('synced_vector_json', sa.Text(), nullable=False),
    sa.Column('synced_at', DATETIME_UTC, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_entity_map')),
    sa.UniqueConstraint('entity_type', 'local_id', 'system', name=op.f('uq_hub_entity_map_entity_type_local_id_system')),
    sa.UniqueConstraint('system', 'entity_type', 'external_id', name=op.f('uq_hub_entity_map_system_entity_type_external_id'))
    )
    op.create_table('hub_transaction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('operation_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('system', sa.String(length=32), nullable=True),
    sa.Column('entity_type', sa.String(length=32), nullable=True),
    sa.Column('local_id', sa.Integer(), nullable=True),
    sa.Column('changes_json', LONG_TEXT, nullable=False),
    sa.Column('created_at', DATETIME_UTC, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_transaction'))
    )
    with op.batch_alter_table('hub_transaction', schema=None) as batch_op:
        batch_op.create_index('ix_hub_transaction_created', ['created_at'], unique=False)
        batch_op.create_index('ix_hub_transaction_entity', ['entity_type', 'local_id'], unique=False)

    op.create_table('hub_version_vector',
    sa.Column('entity_type', sa.String(length=32), nullable=False),
    sa.Column('local_id', sa.Integer(), nullable=False),
    sa.Column('vector_json', sa.Text(), nullable=False),
    sa.Column('updated_at', DATETIME_UTC, nullable=False),
    sa.PrimaryKeyConstraint('entity_type', 'local_id', name=op.f('pk_hub_version_vector'))
    )
    op.create_table('hub_webhook_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('system', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('received_at', DATETIME_UTC, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_webhook_event')),
    sa.UniqueConstraint('system', 'event_id', name=op.f('uq_hub_webhook_event_system_event_id'))
    )
    op.create_table('discussion_topic',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('body_html', LONG_TEXT, nullable=False),
    sa.Column('author_name', sa.String(length=255), nullable=True),
    sa.Column('origin_system', sa.String(length=32), nullable=False),
    sa.Column('updated_by_system', sa.String(length=32), nullable=False),
    sa.Column('created_at', DATETIME_UTC, nullable=False),
    sa.Column('updated_at', DATETIME_UTC, nullable=False),
    sa.Column('deleted_at', DATETIME_UTC, nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_discussion_topic_course_id_course'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discussion_topic'))
    )
    with op.batch_alter_table('discussion_topic', schema=None) as batch_op:
        batch_op.create_index('ix_discussion_topic_course', ['course_id', 'deleted_at'], unique=False)

    op.create_table('hub_course_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('system', sa.String(length=32), nullable=False),
    sa.Column('container_id', sa.String(length=255), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', DATETIME_UTC, nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_hub_course_link_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['user.id'], name=op.f('fk_hub_course_link_created_by_user_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_course_link')),
    sa.UniqueConstraint('course_id', 'system', name=op.f('uq_hub_course_link_course_id_system')),
    sa.UniqueConstraint('system', 'container_id', name=op.f('uq_hub_course_link_system_container_id'))
    )
    op.create_table('discussion_post',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('body_html', LONG_TEXT, nullable=False),
    sa.Column('author_name', sa.String(length=255), nullable=True),
    sa.Column('origin_system', sa.String(length=32), nullable=False),
    sa.Column('updated_by_system', sa.String(length=32), nullable=False),
    sa.Column('created_at', DATETIME_UTC, nullable=False),
    sa.Column('updated_at', DATETIME_UTC, nullable=False),
    sa.Column('deleted_at', DATETIME_UTC, nullable=True),
    sa.ForeignKeyConstraint(['topic_id'], ['discussion_topic.id'], name=op.f('fk_discussion_post_topic_id_discussion_topic'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discussion_post'))
    )
    with op.batch_alter_table('discussion_post', schema=None) as batch_op:
        batch_op.create_index('ix_discussion_post_topic', ['topic_id', 'deleted_at'], unique=False)



def downgrade():
    # Dropping a table drops its indexes (MariaDB refuses to drop one a foreign key needs first).
    for table in ("discussion_post", "hub_course_link", "discussion_topic", "hub_webhook_event",
                  "hub_version_vector", "hub_transaction", "hub_entity_map", "hub_conflict"):
        op.drop_table(table)
