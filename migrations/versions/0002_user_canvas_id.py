"""Add user.canvas_user_id: the user's own Canvas id, to tell their submissions from their students'.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:24:02.925561

"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('canvas_user_id', sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('canvas_user_id')

