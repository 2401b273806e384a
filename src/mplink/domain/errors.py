"""Named errors for every domain rule, so callers can map each to a clear message and status."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule violation; ``code`` is stable and safe to show to users and APIs."""

    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidValue(DomainError):
    """A value does not have the form the domain needs (account id, role, quantity, ...)."""

    code = "invalid_value"


class NotAuthorized(DomainError):
    """R1: only owner, admin and billing users of a tenant may link or change billing."""

    code = "not_authorized"


class AgreementNotActive(DomainError):
    """R1: an agreement that has ended (or was never active) cannot be linked."""

    code = "agreement_not_active"


class InvalidTransition(DomainError):
    """An account change was asked to move to a state its lifecycle does not allow."""

    code = "invalid_transition"


class UnknownDimension(DomainError):
    """R5: usage must name a metering dimension of the product."""

    code = "unknown_dimension"


class InvalidEvent(DomainError):
    """R8: a marketplace event that cannot be understood; it is kept and its error recorded."""

    code = "invalid_event"


class InvalidCatalog(DomainError):
    """The catalog breaks a rule (duplicate ids, a private offer without proposer, ...)."""

    code = "invalid_catalog"


class NotFound(DomainError):
    """A tenant, user or agreement that does not exist (or the caller may not see)."""

    code = "not_found"


class Conflict(DomainError):
    """The request clashes with what exists (an email already used with another password, ...)."""

    code = "conflict"


class OfferChangeRefused(Conflict):
    """The destination's offer is another seller's, or public after a private one: linking it needs an explicit
    second confirmation (``allow_offer_change``). ``check`` is the offer guard's finding."""

    code = "offer_change"

    def __init__(self, message: str, check: object) -> None:
        super().__init__(message)
        self.check = check
