"""HTTP routes of oscar-local, one module per group of OSCAR's API (oscar-api.md §2)."""
