"""oscar_local."""
