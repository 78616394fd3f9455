"""Built in a later issue; see docs/localcluster.md."""
