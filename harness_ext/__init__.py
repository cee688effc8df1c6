"""selfimp's library: verifiers, metrics, data loaders, improvement sets, eval and report CLIs."""
