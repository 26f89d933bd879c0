"""Key the hub's Canvas containers and copies by instance as well as id.

Adds `instance` to hub_course_link and hub_entity_map (a Canvas's host, "" for a system a
deployment has one of) and puts it into their unique keys, so course 4242 of one Canvas and
course 4242 of another are two keys. Existing Canvas rows get the host of the owning user's
Canvas URL.

Revision ID: 0015_hub_instance_keys
Revises: 0014_planner_user_prefs
Create Date: 2026-12-04 02:00:00

"""
from urllib.parse import urlsplit

from alembic import op
import sqlalchemy as sa


revision = '0015_hub_instance_keys'
down_revision = '0014_planner_user_prefs'
branch_labels = None
depends_on = None


def canvas_instance(base_url):
    """As app.sync.connectors.canvas.canvas_instance when written (a migration keeps its own copy)."""
    if not base_url:
        return ""
    parts = urlsplit(base_url if "//" in base_url else f"//{base_url}")
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or (parts.scheme, port) in {("http", 80), ("https", 443)}:
        return host
    return f"{host}:{port}"


user = sa.table('user', sa.column('id', sa.Integer), sa.column('canvas_base_url', sa.String))
course = sa.table('course', sa.column('id', sa.Integer), sa.column('user_id', sa.Integer))
topic = sa.table('discussion_topic', sa.column('id', sa.Integer), sa.column('course_id', sa.Integer))
post = sa.table('discussion_post', sa.column('id', sa.Integer), sa.column('topic_id', sa.Integer))
link = sa.table('hub_course_link', sa.column('id', sa.Integer), sa.column('course_id', sa.Integer),
                sa.column('system', sa.String), sa.column('instance', sa.String))
entity_map = sa.table('hub_entity_map', sa.column('id', sa.Integer), sa.column('entity_type', sa.String),
                      sa.column('local_id', sa.Integer), sa.column('system', sa.String),
                      sa.column('instance', sa.String))


def fill_canvas_instances():
    bind = op.get_bind()
    owner = sa.join(course, user, course.c.user_id == user.c.id)
    links = (sa.select(link.c.id, user.c.canvas_base_url)
             .select_from(link.join(owner, link.c.course_id == course.c.id))
             .where(link.c.system == 'canvas'))
    topics = (sa.select(entity_map.c.id, user.c.canvas_base_url)
              .select_from(entity_map.join(topic, entity_map.c.local_id == topic.c.id)
                           .join(owner, topic.c.course_id == course.c.id))
              .where(entity_map.c.system == 'canvas', entity_map.c.entity_type == 'discussion_topic'))
    posts = (sa.select(entity_map.c.id, user.c.canvas_base_url)
             .select_from(entity_map.join(post, entity_map.c.local_id == post.c.id)
                          .join(topic, post.c.topic_id == topic.c.id)
                          .join(owner, topic.c.course_id == course.c.id))
             .where(entity_map.c.system == 'canvas', entity_map.c.entity_type == 'discussion_post'))
    for table, query in ((link, links), (entity_map, topics), (entity_map, posts)):
        for row_id, base_url in bind.execute(query).all():
            bind.execute(table.update().where(table.c.id == row_id).values(instance=canvas_instance(base_url)))


def upgrade():
    with op.batch_alter_table('hub_course_link', schema=None) as batch_op:
        batch_op.add_column(sa.Column('instance', sa.String(length=255), server_default='', nullable=False))
    with op.batch_alter_table('hub_entity_map', schema=None) as batch_op:
        batch_op.add_column(sa.Column('instance', sa.String(length=255), server_default='', nullable=False))
    fill_canvas_instances()
    with op.batch_alter_table('hub_course_link', schema=None) as batch_op:
        batch_op.drop_constraint('uq_hub_course_link_system_container_id', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_hub_course_link_system_instance_container_id'),
                                          ['system', 'instance', 'container_id'])
    with op.batch_alter_table('hub_entity_map', schema=None) as batch_op:
        batch_op.drop_constraint('uq_hub_entity_map_system_entity_type_external_id', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_hub_entity_map_system_instance_entity_type_external_id'),
                                          ['system', 'instance', 'entity_type', 'external_id'])


def downgrade():
    # Fails (unique violation) if two instances now hold the same bare id: that data has no place
    # in the older schema.
    with op.batch_alter_table('hub_entity_map', schema=None) as batch_op:
        batch_op.drop_constraint('uq_hub_entity_map_system_instance_entity_type_external_id', type_='unique')
        batch_op.create_unique_constraint('uq_hub_entity_map_system_entity_type_external_id',
                                          ['system', 'entity_type', 'external_id'])
        batch_op.drop_column('instance')
    with op.batch_alter_table('hub_course_link', schema=None) as batch_op:
        batch_op.drop_constraint('uq_hub_course_link_system_instance_container_id', type_='unique')
        batch_op.create_unique_constraint('uq_hub_course_link_system_container_id', ['system', 'container_id'])
        batch_op.drop_column('instance')
