"""Migration 002_desk: written by `python run.py db makemigration` from the models; read, committed,
never edited after release."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    migrator.add_index('outgoing', 'chat_id', 'message_id', unique=False)

    @migrator.create_model
    class DeskThread(pw.Model):
        ticket_id = pw.IntegerField(primary_key=True)
        card = pw.CharField(default='', max_length=64)
        topic = pw.CharField(default='', max_length=300)
        topic_closed = pw.BooleanField(default=False)
        updated = pw.DateTimeField()

        class Meta:
            table_name = "desk_thread"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.drop_index('outgoing', 'chat_id', 'message_id')

    migrator.remove_model('desk_thread')
