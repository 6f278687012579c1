"""The schema's migrations (peewee-migrate), applied in name order by helpdesk/ops/schema.py.

To change the schema: change the model (a new column nullable or with a default), then
`python run.py db makemigration NAME` writes `NNN_NAME.py` here from the difference between
the models and the migrations so far; read it, commit it with the model.
tests/helpdesk/ops/test_migrations.py fails while a model has no migration.
"""
