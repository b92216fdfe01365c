"""The gateway's client of OSCAR's HTTP API and MinIO storage."""
