"""Add user.session_version: logout and a password change end every session of the user.

Revision ID: 0012_session_security
Revises: 0010
Create Date: 2026-12-04 01:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0012_session_security'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    # Not batch mode: on SQLite that recreates "user", and dropping it would cascade to every
    # course row. SQLite (3.35+) drops a plain column in place.
    op.drop_column('user', 'session_version')
