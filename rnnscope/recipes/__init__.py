"""Reference-model recipes and the replication run (issue 7)."""
