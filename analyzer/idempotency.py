"""Exactly-once effects: the per-object work wrapped in Powertools idempotency on DynamoDB.

The key is ``bucket + key + identity`` (version id, else ETag, else sequencer), hashed by
Powertools into the table's partition key ``id``. A duplicate delivery returns the stored result
record without touching S3 or SNS; a concurrent duplicate raises ``IdempotencyAlreadyInProgressError``
and is retried by SQS; a crash mid-way leaves an in-progress record that expires with the
invocation, after which the redelivery runs again (and finds the image where the crash left it).
Imported only when ``IDEMPOTENCY_TABLE`` is set.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.serialization.custom_dict import (
    CustomDictSerializer,
)

from analyzer.batch import Work
from analyzer.ports import ObjectRef
from analyzer.results import (
    ImageOutcome,
    Status,
    outcome_from_record,
    outcome_to_record,
    ref_from_job,
    ref_to_job,
)

KEY_PREFIX = "imgpipe-analyzer"
#: Fields of the job that make up the idempotency key.
KEY_JMESPATH = "[bucket, key, identity]"
#: What the store keeps of a result, and how it comes back: the result record's own codec.
RESULT_SERIALIZER = CustomDictSerializer(to_dict=outcome_to_record, from_dict=outcome_from_record)


class IdempotentWork:
    """Callable ``ObjectRef -> ImageOutcome``; replays come back with status ``duplicate``."""

    def __init__(
        self,
        work: Work,
        *,
        table_name: str,
        dynamodb_client: Any,
        expires_after_seconds: int,
    ) -> None:
        self._work = work
        self._ran = threading.local()
        self.config = IdempotencyConfig(
            event_key_jmespath=KEY_JMESPATH,
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
        )
        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="job",
            persistence_store=persistence,
            config=self.config,
            key_prefix=KEY_PREFIX,
            output_serializer=RESULT_SERIALIZER,
        )
        def run(job: dict[str, Any]) -> ImageOutcome:
            self._ran.flag = True
            return self._work(ref_from_job(job))

        self._run = run

    def register_lambda_context(self, context: Any) -> None:
        """Let in-progress records expire with the invocation (crash recovery)."""
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self.config.register_lambda_context(context)

    def __call__(self, ref: ObjectRef) -> ImageOutcome:
        self._ran.flag = False
        result: ImageOutcome = self._run(job=ref_to_job(ref))
        if not self._ran.flag:
            return dataclasses.replace(result, status=Status.DUPLICATE)
        return result
