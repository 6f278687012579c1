"""The helpdesk domain on the generic engine: one package per bounded context (directory,
registration, tickets, payments, sync, api, ops), wired in helpdesk/app.py. README.md,
"Layout", says what each holds."""
