"""Local (offline) adapters: detector backends, folder storage, console notifier."""
