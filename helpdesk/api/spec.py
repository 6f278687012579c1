"""Print the OpenAPI spec as committed in docs/openapi.json:

    .venv/bin/python -m helpdesk.api.spec > docs/openapi.json

(tests/helpdesk/api/test_api.py fails when the committed file differs from what the code generates)."""
from __future__ import annotations

import sys

from pydantic import SecretStr

__all__ = ["spec_text", "main"]


def spec_text() -> str:
    """The spec of the code as it is; needs no database and no real token."""
    from helpdesk import config
    from helpdesk.api.server import openapi_json
    from helpdesk.app import App
    settings = config.load(environ={})
    settings.api.tokens = [SecretStr("spec-only")]
    return openapi_json(App(settings))


def main() -> int:
    sys.stdout.write(spec_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
