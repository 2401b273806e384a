"""AWS identifiers: account ids and LicenseArns, validated and normalised for comparison."""

from __future__ import annotations

import re

from mplink.domain.errors import InvalidValue

_ACCOUNT_RE = re.compile(r"^\d{12}$")


def parse_account_id(value: str) -> str:
    """Accept ``222222222222`` or the console's ``2222-2222-2222``; return the 12 digits."""
    digits = value.strip().replace("-", "")
    if not _ACCOUNT_RE.match(digits):
        raise InvalidValue(f"AWS account id must be 12 digits, got {value!r}")
    return digits


def format_account_id(account_id: str) -> str:
    """The way the AWS console shows an account id: ``2222-2222-2222``."""
    return f"{account_id[0:4]}-{account_id[4:8]}-{account_id[8:12]}"


def normalize_license_arn(value: str) -> str:
    """Make LicenseArns comparable: events sometimes drop the leading ``arn:`` (AWS's own example does)."""
    arn = value.strip()
    if not arn:
        raise InvalidValue("LicenseArn must not be empty")
    if not arn.startswith("arn:"):
        arn = "arn:" + arn
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[2] != "license-manager":
        raise InvalidValue(f"not a License Manager ARN: {value!r}")
    return arn
