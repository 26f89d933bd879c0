"""Google Classroom usage by date: classroom_usage (one row per Google user per as-of date).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# Frozen copies of app.models.types: a revision must not change when the models do.
DATETIME_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql").with_variant(mysql.DATETIME(fsp=6), "mariadb")
LONG_BLOB = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql").with_variant(mysql.LONGBLOB(), "mariadb")


def upgrade():
    op.create_table('classroom_usage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('user_email', sa.String(length=320), nullable=False),
    sa.Column('as_of_date', sa.Date(), nullable=False),
    sa.Column('profile_id', sa.String(length=64), nullable=True),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('posts_created', sa.Integer(), nullable=True),
    sa.Column('courses_created', sa.Integer(), nullable=True),
    sa.Column('last_interaction_at', DATETIME_UTC, nullable=True),
    sa.Column('last_login_at', DATETIME_UTC, nullable=True),
    sa.Column('raw_deflate', LONG_BLOB, nullable=True),
    sa.Column('imported_at', DATETIME_UTC, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_classroom_usage_user_id_user'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_classroom_usage')),
    sa.UniqueConstraint('user_id', 'user_email', 'as_of_date',
                        name=op.f('uq_classroom_usage_user_id_user_email_as_of_date'))
    )
    with op.batch_alter_table('classroom_usage', schema=None) as batch_op:
        batch_op.create_index('ix_classroom_usage_user_date', ['user_id', 'as_of_date'], unique=False)


def downgrade():
    with op.batch_alter_table('classroom_usage', schema=None) as batch_op:
        batch_op.drop_index('ix_classroom_usage_user_date')
    op.drop_table('classroom_usage')
