"""The imgpipe CrossGuard policy pack (run by the Pulumi CLI from this folder; see __main__.py)."""
