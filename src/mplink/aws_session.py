"""boto3 sessions that share one botocore data loader per process.

Every new boto3 session parses botocore's JSON data again (endpoints, partitions, service models): tens of
milliseconds each time. The seller's adapter, the worker, the sandbox's SQS delivery and ``mplink move``
(one session per AWS profile) all make sessions; sharing the loader, whose files do not change while the
process runs, makes each one cheap. Credentials, profiles and regions stay per session.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.exceptions import ProfileNotFound


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def new_session(profile_name: str | None = None, **kwargs: Any) -> boto3.session.Session:
    """A boto3 session (``profile_name``, keys, ``region_name`` as boto3 takes them) on the shared loader.
    An unknown profile raises botocore's ProfileNotFound at once, as ``boto3.Session(profile_name=...)`` does."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    if profile_name is not None and profile_name not in core.available_profiles:
        raise ProfileNotFound(profile=profile_name)
    return boto3.session.Session(botocore_session=core, profile_name=profile_name, **kwargs)
