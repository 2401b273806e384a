"""boto3 sessions share one botocore data loader per process, and keep their own profile and credentials."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ProfileNotFound

from mplink.aws_session import new_session


def test_sessions_share_the_loader_but_not_credentials() -> None:
    a = new_session(aws_access_key_id="AKIA111111111111", aws_secret_access_key="x")
    b = new_session(aws_access_key_id="AKIA222222222222", aws_secret_access_key="y")
    assert a._session.get_component("data_loader") is b._session.get_component("data_loader")
    assert (a.get_credentials().access_key, b.get_credentials().access_key) == ("AKIA111111111111", "AKIA222222222222")


def test_a_profile_is_read_from_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "credentials"
    config.write_text("[dst]\naws_access_key_id = AKIA222222222222\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    assert new_session(profile_name="dst").get_credentials().access_key == "AKIA222222222222"
    with pytest.raises(ProfileNotFound):
        new_session(profile_name="nosuchprofile")
