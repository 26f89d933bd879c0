"""Initial schema: users, Canvas entities, sync runs and locks, and the 10 sync indexes.

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 11:23:09.638743

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of app.models.types: a revision must not change when the models do.
DATETIME_UTC = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql").with_variant(mysql.DATETIME(fsp=6), "mariadb")
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql").with_variant(mysql.LONGTEXT(), "mariadb")


def upgrade():
    op.create_table('user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('canvas_base_url', sa.String(length=500), nullable=True),
    sa.Column('canvas_token_encrypted', sa.Text(), nullable=True),
    sa.Column('canvas_token_hint', sa.String(length=8), nullable=True),
    sa.Column('last_synced_canvas', DATETIME_UTC, nullable=True),
    sa.Column('created_at', DATETIME_UTC, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user')),
    sa.UniqueConstraint('email', name=op.f('uq_user_email'))
    )
    op.create_table('sync_lock',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('owner', sa.String(length=255), nullable=False),
    sa.Column('acquired_at', DATETIME_UTC, nullable=False),
    sa.Column('expires_at', DATETIME_UTC, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_sync_lock_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_sync_lock'))
    )
    op.create_table('sync_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress_current', sa.Integer(), nullable=False),
    sa.Column('progress_total', sa.Integer(), nullable=False),
    sa.Column('current_item', sa.String(length=500), nullable=True),
    sa.Column('counts_json', LONG_TEXT, nullable=True),
    sa.Column('requests', sa.Integer(), nullable=False),
    sa.Column('retries', sa.Integer(), nullable=False),
    sa.Column('throttles', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', DATETIME_UTC, nullable=False),
    sa.Column('finished_at', DATETIME_UTC, nullable=True),
    sa.Column('heartbeat_at', DATETIME_UTC, nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_sync_run_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_run'))
    )
    op.create_index('ix_sync_run_user_started', 'sync_run', ['user_id', 'started_at'], unique=False)

    op.create_table('term',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('canvas_term_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('start_at', DATETIME_UTC, nullable=True),
    sa.Column('end_at', DATETIME_UTC, nullable=True),
    sa.Column('raw_json', LONG_TEXT, nullable=True),
    sa.Column('content_hash', sa.String(length=40), nullable=True),
    sa.Column('first_seen_at', DATETIME_UTC, nullable=False),
    sa.Column('last_synced_canvas', DATETIME_UTC, nullable=True),
    sa.Column('deleted_at', DATETIME_UTC, nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_term_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_term')),
    sa.UniqueConstraint('user_id', 'canvas_term_id', name=op.f('uq_term_user_id_canvas_term_id'))
    )
    op.create_index('idx_term_user_id', 'term', ['user_id'], unique=False)

    op.create_table('course',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.Integer(), nullable=True),
    sa.Column('canvas_course_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('course_code', sa.String(length=255), nullable=True),
    sa.Column('workflow_state', sa.String(length=32), nullable=True),
    sa.Column('apply_assignment_group_weights', sa.Boolean(), nullable=False),
    sa.Column('raw_json', LONG_TEXT, nullable=True),
    sa.Column('content_hash', sa.String(length=40), nullable=True),
    sa.Column('first_seen_at', DATETIME_UTC, nullable=False),
    sa.Column('last_synced_canvas', DATETIME_UTC, nullable=True),
    sa.Column('deleted_at', DATETIME_UTC, nullable=True),
    sa.ForeignKeyConstraint(['term_id'], ['term.id'], name=op.f('fk_course_term_id_term'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_course_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_course')),
    sa.UniqueConstraint('user_id', 'canvas_course_id', name=op.f('uq_course_user_id_canvas_course_id'))
    )
    op.create_index('idx_course_canvas_id', 'course', ['canvas_course_id'], unique=False)
    op.create_index('idx_course_canvas_lookup', 'course', ['canvas_course_id', 'term_id'], unique=False)
    op.create_index('idx_course_last_synced', 'course', ['last_synced_canvas'], unique=False)

    op.create_table('grade_category',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('canvas_group_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('weight', sa.Float(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=True),
    sa.Column('raw_json', LONG_TEXT, nullable=True),
    sa.Column('content_hash', sa.String(length=40), nullable=True),
    sa.Column('first_seen_at', DATETIME_UTC, nullable=False),
    sa.Column('last_synced_canvas', DATETIME_UTC, nullable=True),
    sa.Column('deleted_at', DATETIME_UTC, nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_grade_category_course_id_course'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grade_category')),
    sa.UniqueConstraint('course_id', 'canvas_group_id', name=op.f('uq_grade_category_course_id_canvas_group_id'))
    )
    op.create_index('idx_grade_category_name_lookup', 'grade_category', ['course_id', 'name'], unique=False)

    op.create_table('assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('grade_category_id', sa.Integer(), nullable=True),
    sa.Column('canvas_assignment_id', sa.BigInteger(), nullable=False),
    sa.Column('canvas_course_id', sa.BigInteger(), nullable=False),
    sa.Column('canvas_group_id', sa.BigInteger(), nullable=True),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('due_at', DATETIME_UTC, nullable=True),
    sa.Column('points_possible', sa.Float(), nullable=True),
    sa.Column('submission_types', sa.String(length=255), nullable=True),
    sa.Column('html_url', sa.String(length=1000), nullable=True),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('canvas_updated_at', DATETIME_UTC, nullable=True),
    sa.Column('raw_json', LONG_TEXT, nullable=True),
    sa.Column('content_hash', sa.String(length=40), nullable=True),
    sa.Column('first_seen_at', DATETIME_UTC, nullable=False),
    sa.Column('last_synced_canvas', DATETIME_UTC, nullable=True),
    sa.Column('deleted_at', DATETIME_UTC, nullable=True),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_assignment_course_id_course'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['grade_category_id'], ['grade_category.id'], name=op.f('fk_assignment_grade_category_id_grade_category'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment')),
    sa.UniqueConstraint('course_id', 'canvas_assignment_id', name=op.f('uq_assignment_course_id_canvas_assignment_id'))
    )
    op.create_index('idx_assignment_canvas_course_id', 'assignment', ['canvas_course_id'], unique=False)
    op.create_index('idx_assignment_canvas_id', 'assignment', ['canvas_assignment_id'], unique=False)
    op.create_index('idx_assignment_canvas_lookup', 'assignment', ['canvas_assignment_id', 'course_id'], unique=False)
    op.create_index('idx_assignment_course_id', 'assignment', ['course_id'], unique=False)
    op.create_index('idx_assignment_last_synced', 'assignment', ['last_synced_canvas'], unique=False)
    op.create_index('ix_assignment_due_at', 'assignment', ['due_at'], unique=False)

    op.create_table('submission',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('canvas_submission_id', sa.BigInteger(), nullable=False),
    sa.Column('canvas_assignment_id', sa.BigInteger(), nullable=False),
    sa.Column('canvas_user_id', sa.BigInteger(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('grade', sa.String(length=64), nullable=True),
    sa.Column('submitted_at', DATETIME_UTC, nullable=True),
    sa.Column('graded_at', DATETIME_UTC, nullable=True),
    sa.Column('workflow_state', sa.String(length=32), nullable=True),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('missing', sa.Boolean(), nullable=False),
    sa.Column('excused', sa.Boolean(), nullable=False),
    sa.Column('raw_json', LONG_TEXT, nullable=True),
    sa.Column('content_hash', sa.String(length=40), nullable=True),
    sa.Column('first_seen_at', DATETIME_UTC, nullable=False),
    sa.Column('last_synced_canvas', DATETIME_UTC, nullable=True),
    sa.Column('deleted_at', DATETIME_UTC, nullable=True),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id'], name=op.f('fk_submission_assignment_id_assignment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_submission_course_id_course'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submission')),
    sa.UniqueConstraint('course_id', 'canvas_submission_id', name=op.f('uq_submission_course_id_canvas_submission_id'))
    )
    op.create_index('ix_submission_assignment_user', 'submission', ['assignment_id', 'canvas_user_id'], unique=False)



def downgrade():
    # Dropping a table drops its indexes (MariaDB refuses to drop an index a foreign key needs).
    op.drop_table('submission')
    op.drop_table('assignment')
    op.drop_table('grade_category')
    op.drop_table('course')
    op.drop_table('term')
    op.drop_table('sync_run')
    op.drop_table('sync_lock')
    op.drop_table('user')
