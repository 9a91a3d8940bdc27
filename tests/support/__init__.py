"""Shared test helpers, one module per concern; fixtures reach every test through
``pytest_plugins`` in ``tests/conftest.py``.

- :mod:`tests.support.paths` — the repository's folders, sample images, recorded payloads;
- :mod:`tests.support.images` — small real pictures drawn by Pillow;
- :mod:`tests.support.fakes` — the fake detector, a fake Rekognition client, an in-memory storage
  that records calls, a Lambda context;
- :mod:`tests.support.faults` — fault plans and fault-injecting clients (errors, timeouts, crashes);
- :mod:`tests.support.world` — THE moto world: fixtures (``aws_credentials``, ``aws``, ``world``)
  and :class:`~tests.support.world.MotoStack`, the stack's resources in moto;
- :mod:`tests.support.emulator` — Lambda's SQS event source mapping, played against a handler;
- :mod:`tests.support.invariants` — every image in exactly one place, announced at most once;
- :mod:`tests.support.flood` — the flood harness shared by the flood test and ``bench/flood_bench.py``;
- :mod:`tests.support.deployed` — the resources the Pulumi program declares, recreated in moto.
- :mod:`tests.support.plugins` — made-up plugin distributions, installed for one test without
  touching ``sys.path``.
"""
