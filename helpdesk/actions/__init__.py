"""Actions flows call by name. Importing this package registers every module in it."""
import importlib
import pkgutil

for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")

from helpdesk import context as _context  # noqa: F401 - registers the `user` provider
