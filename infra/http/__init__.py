"""The HTTP interface: Open311 GeoReport v2 for portals and apps, the staff API and the staff
web, one FastAPI app (`app.create_app`) served by uvicorn (`crm serve`).

Like the CLI, it holds no business rule: it authenticates the caller, asks
`commands.access.authorize` whether they may act, calls the same command handlers
(`commands.requests`) and builds views with `infra.views`, so permissions and redaction are
the CLI's, exactly.
"""
