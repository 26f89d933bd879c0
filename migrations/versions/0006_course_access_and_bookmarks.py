"""Courses the user can no longer open, their own score, and per-course sync bookmarks.

course.access_state / inaccessible_since flag a course Canvas lists as a restricted
stub or whose calls answer "unauthorized" (its last copy is kept); own_current_score
keeps a student's own score from include[]=total_scores. sync_bookmark holds the
incremental position per stream partition (the course list, each course). Existing
users' bookmarks are seeded from user.last_synced_canvas, so the first run after the
upgrade stays incremental.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 07:45:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

DATETIME_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql").with_variant(mysql.DATETIME(fsp=6), "mariadb")


def upgrade():
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.add_column(sa.Column('access_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('inaccessible_since', DATETIME_UTC, nullable=True))
        batch_op.add_column(sa.Column('own_current_score', sa.Float(), nullable=True))
    bookmark = op.create_table(
        'sync_bookmark',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('stream', sa.String(length=32), nullable=False),
        sa.Column('partition_key', sa.String(length=64), nullable=False),
        sa.Column('value', DATETIME_UTC, nullable=True),
        sa.Column('needs_full', sa.Boolean(), nullable=False),
        sa.Column('updated_at', DATETIME_UTC, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'stream', 'partition_key'),
    )
    user = sa.table('user', sa.column('id', sa.Integer), sa.column('last_synced_canvas', DATETIME_UTC))
    course = sa.table('course', sa.column('user_id', sa.Integer), sa.column('canvas_course_id', sa.BigInteger),
                      sa.column('deleted_at', DATETIME_UTC))
    cols = ['user_id', 'stream', 'partition_key', 'value', 'needs_full', 'updated_at']
    op.execute(bookmark.insert().from_select(cols, sa.select(
        user.c.id, sa.literal('courses'), sa.literal(''), user.c.last_synced_canvas, sa.false(),
        user.c.last_synced_canvas).where(user.c.last_synced_canvas.is_not(None))))
    op.execute(bookmark.insert().from_select(cols, sa.select(
        course.c.user_id, sa.literal('course'), sa.cast(course.c.canvas_course_id, sa.String(64)),
        user.c.last_synced_canvas, sa.false(), user.c.last_synced_canvas)
        .select_from(course.join(user, user.c.id == course.c.user_id))
        .where(user.c.last_synced_canvas.is_not(None), course.c.deleted_at.is_(None))))


def downgrade():
    op.drop_table('sync_bookmark')
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.drop_column('own_current_score')
        batch_op.drop_column('inaccessible_since')
        batch_op.drop_column('access_state')

