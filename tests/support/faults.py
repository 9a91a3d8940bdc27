"""Fault injection: a plan of faults per external call, and clients that go through it.

- :class:`FaultPlan` decides, per call, whether to raise an error before the call or to "crash"
  right after it succeeded (:class:`Crash` is a ``BaseException``: neither the batch runner nor
  Powertools may swallow it, exactly like a process that dies); :class:`ChaosPlan` does it at
  random. Both count calls and keep every successful SNS publish.
- :class:`FaultyClient` wraps any boto3 client (or the fake Rekognition client) with a plan;
  :class:`FaultySession` hands them to :meth:`analyzer.app.Analyzer.build`.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from analyzer.layout import DEFAULT_LAYOUT

REGION = "eu-west-1"
INPUT = DEFAULT_LAYOUT.input_prefix
S3_MAX_KEY_BYTES = 1024


class Crash(BaseException):
    """The process died (right after a call succeeded)."""


def client_error(code: str, operation: str, status: int = 400, message: str = "injected") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message},
         "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault.

    ``error``: an AWS error code (raised as a ClientError before the call), ``timeout`` (a
    botocore ConnectTimeoutError: the request is never made), ``late-timeout`` (the call succeeds,
    then its response times out: the caller cannot know it succeeded) or ``crash`` (the call
    succeeds, then the process dies). ``times``: how many matching calls it hits (None: all of
    them). ``target``: only calls that concern this object key (None: any). ``skip``: let this
    many matching calls through first.
    """

    service: str
    operation: str
    error: str
    times: int | None = 1
    target: str | None = None
    status: int = 400
    skip: int = 0
    exact: bool = False  # target must be the call's Key itself, not just mentioned

    @property
    def after(self) -> bool:
        return self.error in ("crash", "late-timeout")

    @property
    def name(self) -> str:
        times = "always" if self.times is None else f"x{self.times}"
        target = f"@{self.target.rsplit('/', 1)[-1]}" if self.target else ""
        skip = f"(after {self.skip})" if self.skip else ""
        return f"{self.service}.{self.operation}:{self.error}:{times}{target}{skip}"


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _mentions(kwargs: Mapping[str, Any], target: str) -> bool:
    """Does a call concern the object ``target`` (its source, copy, record, message)?"""
    rel = target[len(INPUT):] if target.startswith(INPUT) else target
    escaped = json.dumps(rel, ensure_ascii=False)[1:-1]
    return any(rel in text or escaped in text for text in _strings(kwargs))


class FaultPlan:
    """Applies faults to calls; counts calls and successful SNS publishes."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self.faults = list(faults)
        self.left = {i: f.times for i, f in enumerate(self.faults)}
        self.skipped = {i: f.skip for i, f in enumerate(self.faults)}
        self.fired: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.published: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _take(
        self, service: str, operation: str, kwargs: Mapping[str, Any], after: bool
    ) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if (fault.service, fault.operation) != (service, operation):
                    continue
                if fault.after != after:
                    continue
                if fault.target is not None and not (
                    kwargs.get("Key") == fault.target if fault.exact else _mentions(kwargs, fault.target)
                ):
                    continue
                if self.skipped[i] > 0:
                    self.skipped[i] -= 1
                    continue
                left = self.left[i]
                if left is not None and left <= 0:
                    continue
                if left is not None:
                    self.left[i] = left - 1
                self.fired[fault.name] += 1
                return fault
        return None

    def before(self, service: str, operation: str, kwargs: Mapping[str, Any]) -> None:
        with self._lock:
            self.calls[f"{service}.{operation}"] += 1
        key = kwargs.get("Key")
        if service == "s3" and isinstance(key, str) and len(key.encode()) > S3_MAX_KEY_BYTES:
            # real S3 refuses keys over 1,024 bytes; moto does not check
            raise client_error("KeyTooLongError", operation, 400, "Your key is too long")
        fault = self._take(service, operation, kwargs, after=False)
        if fault is None:
            return
        if fault.error == "timeout":  # no answer before the request went out: a connect timeout
            raise ConnectTimeoutError(endpoint_url=f"https://{service}.{REGION}.amazonaws.com")
        raise client_error(fault.error, operation, fault.status)

    def after(self, service: str, operation: str, kwargs: Mapping[str, Any]) -> None:
        if service == "sns" and operation == "publish":
            with self._lock:
                self.published.append(published_body(kwargs))
        fault = self._take(service, operation, kwargs, after=True)
        if fault is None:
            return
        if fault.error == "late-timeout":
            raise ReadTimeoutError(endpoint_url=f"https://{service}.{REGION}.amazonaws.com")
        raise Crash(f"crashed after {service}.{operation}")

    @property
    def total_fired(self) -> int:
        return sum(self.fired.values())


class FaultyClient:
    """A boto3-like client whose API calls go through a :class:`FaultPlan`."""

    _PASSTHROUGH = frozenset({"meta", "exceptions", "get_paginator", "can_paginate", "get_waiter"})

    def __init__(self, client: Any, service: str, plan: FaultPlan) -> None:
        self._client = client
        self._service = service
        self._plan = plan

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name in self._PASSTHROUGH or name.startswith("_") or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._plan.before(self._service, name, kwargs)
            result = attr(*args, **kwargs)
            self._plan.after(self._service, name, kwargs)
            return result

        return call


_SESSION: list[boto3.session.Session] = []
_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def aws_client(service: str) -> Any:
    """A client from one shared session (botocore loads each service model once per session;
    moto intercepts every client, whenever it was made, while a mock is active)."""
    with _CLIENTS_LOCK:
        if service not in _CLIENTS:
            if not _SESSION:
                _SESSION.append(boto3.session.Session(region_name=REGION))
            _CLIENTS[service] = _SESSION[0].client(service, region_name=REGION)
        return _CLIENTS[service]


class FaultySession:
    """What :meth:`Analyzer.build` needs from a boto3 session, with faulty clients."""

    def __init__(self, plan: FaultPlan, region: str = REGION) -> None:
        self.plan = plan
        self.region_name = region

    def client(self, service: str, **kwargs: Any) -> Any:
        return FaultyClient(aws_client(service), service, self.plan)


class ChaosPlan(FaultPlan):
    """Every external call fails (or crashes right after succeeding) with probability ``p``."""

    TRANSIENT: tuple[tuple[str, int], ...] = (
        ("ThrottlingException", 400), ("InternalError", 500), ("ServiceUnavailable", 503),
        ("timeout", 0),
    )

    def __init__(self, seed: int, p: float, crash_p: float) -> None:
        super().__init__()
        import random

        self._rng = random.Random(seed)
        self.p = p
        self.crash_p = crash_p

    def before(self, service: str, operation: str, kwargs: Mapping[str, Any]) -> None:
        with self._lock:
            self.calls[f"{service}.{operation}"] += 1
            hit = self._rng.random() < self.p
            code, status = self._rng.choice(self.TRANSIENT)
            if hit:
                self.fired[f"{service}.{operation}:{code}"] += 1
        if not hit:
            return
        if code == "timeout":  # before the request: a connect timeout
            raise ConnectTimeoutError(endpoint_url=f"https://{service}.{REGION}.amazonaws.com")
        raise client_error(code, operation, status)

    def after(self, service: str, operation: str, kwargs: Mapping[str, Any]) -> None:
        if service == "sns" and operation == "publish":
            with self._lock:
                self.published.append(published_body(kwargs))
        with self._lock:
            crash = self._rng.random() < self.crash_p
            if crash:
                self.fired[f"{service}.{operation}:crash"] += 1
        if crash:
            raise Crash(f"crashed after {service}.{operation}")


def published_body(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of a Publish call (machines' text of a one-text-per-protocol message)."""
    message = json.loads(kwargs["Message"])
    if kwargs.get("MessageStructure") == "json":
        message = json.loads(message["default"])
    body: dict[str, Any] = message
    return body
