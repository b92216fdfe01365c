"""A local OSCAR-compatible cluster: OSCAR's HTTP API, scripts run as local processes, S3 via moto.

Entry point: ``oscar-local serve`` (``oscar_local.cli``); the app is built by
``oscar_local.app.create_app(config)``.
"""
