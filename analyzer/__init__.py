"""What the Lambda function runs: the pipeline core, its ports, pre-checks, the batch runner,
idempotency, the AWS adapters and the handler. It imports only the engine (:mod:`rules`)."""

__version__ = "0.1.0"
