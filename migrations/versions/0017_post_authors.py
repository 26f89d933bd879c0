"""post_authors: the Canvas Flow user who wrote a topic or post here, so edit rights can follow it;
and the raw text a system holds beside its rendering (hub_entity_map.last_raw), which echoes are compared on.

Revision ID: 0017_post_authors
Revises: 0016_oauth_identities
Create Date: 2026-12-04

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = '0017_post_authors'
down_revision = '0016_oauth_identities'
branch_labels = None
depends_on = None

TABLES = ('discussion_topic', 'discussion_post')
# Frozen copy of app.models.types.LongText: a revision must not change when the models do.
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql").with_variant(mysql.LONGTEXT(), "mariadb")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('author_user_id', sa.Integer(), nullable=True))
            batch_op.create_foreign_key(op.f(f'fk_{table}_author_user_id_user'), 'user', ['author_user_id'], ['id'],
                                        ondelete='SET NULL')
    with op.batch_alter_table('hub_entity_map') as batch_op:
        batch_op.add_column(sa.Column('last_raw', LONG_TEXT, nullable=True))


def downgrade():
    with op.batch_alter_table('hub_entity_map') as batch_op:
        batch_op.drop_column('last_raw')
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(op.f(f'fk_{table}_author_user_id_user'), type_='foreignkey')
            batch_op.drop_column('author_user_id')
