"""oauth_identities: a person's Canvas (or Google) identity and the OAuth tokens held for them.

Revision ID: 0016_oauth_identities
Revises: 0015_hub_instance_keys
Create Date: 2026-12-04

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = '0016_oauth_identities'
down_revision = '0015_hub_instance_keys'
branch_labels = None
depends_on = None

# Frozen copy of app.models.types.UTCDateTime: a revision must not change when the models do.
DATETIME_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql").with_variant(mysql.DATETIME(fsp=6), "mariadb")


def upgrade():
    op.create_table('oauth_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('issuer', sa.String(length=255), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('access_token_encrypted', sa.Text(), nullable=True),
    sa.Column('refresh_token_encrypted', sa.Text(), nullable=True),
    sa.Column('expires_at', DATETIME_UTC, nullable=True),
    sa.Column('needs_reconnect', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', DATETIME_UTC, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_oauth_identity_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_identity')),
    sa.UniqueConstraint('provider', 'issuer', 'subject', name=op.f('uq_oauth_identity_provider_issuer_subject')),
    sa.UniqueConstraint('user_id', 'provider', name=op.f('uq_oauth_identity_user_id_provider'))
    )


def downgrade():
    op.drop_table('oauth_identity')
