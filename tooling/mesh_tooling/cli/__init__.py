"""`meshctl`: the platform command line; `main` is the entry point."""
