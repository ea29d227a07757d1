"""Deployment manifests rendered from dg.toml (`topology`), and one image's build context."""
