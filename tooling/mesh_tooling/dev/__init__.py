"""`./mesh up` (meshctl dev): one local session per home, its ports, stale runs and shutdown."""
