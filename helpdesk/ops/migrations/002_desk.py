"""Migration 002_desk: written by `python run.py db makemigration` from the models; read, committed,
never edited after release."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    migrator.add_index('outgoing', 'chat_id', 'message_id', unique=False)

    migrator.add_fields(
        'desk_staff',

        username=pw.CharField(max_length=64, null=True))

    @migrator.create_model
    class DeskThread(pw.Model):
        ticket_id = pw.IntegerField(primary_key=True)
        card = pw.CharField(default='', max_length=64)
        topic = pw.CharField(default='', max_length=300)
        topic_closed = pw.BooleanField(default=False)
        updated = pw.DateTimeField()

        class Meta:
            table_name = "desk_thread"

    @migrator.create_model
    class GroupAdmin(pw.Model):
        telegram_user = pw.BigIntegerField(primary_key=True)
        chat_id = pw.BigIntegerField()
        first_name = pw.CharField(default='', max_length=200)
        last_name = pw.CharField(default='', max_length=200)
        username = pw.CharField(max_length=64, null=True)
        seen_at = pw.DateTimeField()

        class Meta:
            table_name = "desk_group_admin"

    @migrator.create_model
    class Rating(pw.Model):
        ticket_id = pw.IntegerField(primary_key=True)
        author_id = pw.BigIntegerField()
        score = pw.SmallIntegerField(null=True)
        comment = pw.TextField(null=True)
        asked_at = pw.DateTimeField()
        remind_at = pw.DateTimeField(index=True, null=True)
        reminded_at = pw.DateTimeField(null=True)
        rated_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "desk_rating"

    @migrator.create_model
    class SeenTopic(pw.Model):
        id = pw.AutoField()
        chat_id = pw.BigIntegerField()
        thread_id = pw.BigIntegerField()
        name = pw.CharField(max_length=255)
        creator = pw.BigIntegerField(null=True)
        owner_row = pw.BigIntegerField(null=True)
        duplicate = pw.BooleanField(default=False)
        at = pw.DateTimeField()

        class Meta:
            table_name = "seen_topic"
            indexes = [(('chat_id', 'thread_id'), True), (('chat_id', 'name'), False)]

    @migrator.create_model
    class SlaTimer(pw.Model):
        id = pw.AutoField()
        ticket = pw.ForeignKeyField(column_name='ticket_id', field='id', model=migrator.orm['ticket'], on_delete='CASCADE')
        kind = pw.CharField(max_length=20)
        target = pw.IntegerField()
        spent = pw.IntegerField(default=0)
        since = pw.DateTimeField(null=True)
        warn_at = pw.DateTimeField(null=True)
        due_at = pw.DateTimeField(null=True)
        next_at = pw.DateTimeField(index=True, null=True)
        warned_at = pw.DateTimeField(null=True)
        breached_at = pw.DateTimeField(null=True)
        stopped_at = pw.DateTimeField(null=True)
        stopped_by = pw.CharField(max_length=20, null=True)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "desk_sla_timer"
            indexes = [(('ticket', 'kind'), True)]

    @migrator.create_model
    class TopicAttempt(pw.Model):
        id = pw.AutoField()
        row_id = pw.BigIntegerField(unique=True)
        chat_id = pw.BigIntegerField()
        name = pw.CharField(max_length=255)
        at = pw.DateTimeField()

        class Meta:
            table_name = "topic_attempt"
            indexes = [(('chat_id', 'name'), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_fields('desk_staff', 'username')

    migrator.drop_index('outgoing', 'chat_id', 'message_id')

    migrator.remove_model('topic_attempt')

    migrator.remove_model('desk_sla_timer')

    migrator.remove_model('seen_topic')

    migrator.remove_model('desk_rating')

    migrator.remove_model('desk_group_admin')

    migrator.remove_model('desk_thread')
