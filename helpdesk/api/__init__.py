"""The bot's REST API for the CRM: `/api/v1` (ours) and `/api/...` (the original 1C
extension's paths). `helpdesk.api.server.create_api(app)` builds the FastAPI application;
`python run.py api` serves it (helpdesk.api.server.run). Writes from the CRM go through
helpdesk.api.apply, which the reconcile job (helpdesk.sync.pull) shares. The package imports
nothing itself: the reconcile job and the schema use apply and onec_record without FastAPI.
"""
