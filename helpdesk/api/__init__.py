"""The bot's REST API for the CRM: `/api/v1` (ours) and `/api/...` (the original 1C
extension's paths). `create_api(app)` builds the FastAPI application; `python run.py api`
serves it (helpdesk.api.server.run). Writes from the CRM go through helpdesk.api.apply,
which the reconcile job (helpdesk.sync) shares."""
from .server import create_api, make_server, openapi_json

__all__ = ["create_api", "make_server", "openapi_json"]
