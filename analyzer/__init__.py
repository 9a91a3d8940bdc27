"""imgpipe's analyzer: the pipeline core, its ports and adapters, the Lambda handler and the CLI."""

__version__ = "0.1.0"
