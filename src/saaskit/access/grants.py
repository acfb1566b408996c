"""Nobody gives away a right they do not hold.

Every path that hands permissions to someone goes through ``require_held``: a member's extra
permissions, a custom role's permission set (create, update, delete), a role assignment (and
its removal), an organization role given by a membership change or carried by an invitation.
The caller must hold every permission given, organization-wide; ``*`` only by holding ``*``
(owners, and platform admins acting as such). Otherwise **403** ``permission_not_held`` naming
the first missing permission, and nothing is changed: the check runs before any write.

Without it an admin (who holds everything but ``org:delete``) could give themselves ``*`` as an
extra permission, or create and assign themselves a role holding it, and then delete the
organization.
"""

from __future__ import annotations

from collections.abc import Iterable

from saaskit.access.permissions import ALL, SYSTEM_ROLES
from saaskit.access.service import Access
from saaskit.kit.errors import Forbidden


def missing(access: Access, permissions: Iterable[str]) -> list[str]:
    """The permissions of ``permissions`` the caller does not hold, sorted."""
    if ALL in access.permissions:
        return []
    return sorted({p for p in permissions if p == ALL or p not in access.permissions})


def require_held(access: Access, permissions: Iterable[str], *, field: str, what: str) -> None:
    """403 unless the caller holds every permission given (``what`` names the thing given)."""
    lacking = missing(access, permissions)
    if lacking:
        raise Forbidden(
            f"{what}: {lacking[0]!r} is not yours to give, as you do not hold it "
            "(nobody gives or takes away a permission they do not have)",
            field=field,
            code="permission_not_held",
        )


def require_role_held(access: Access, role: str, *, field: str = "role") -> None:
    """A system role's permissions (organization roles) must all be held by the caller."""
    if role in SYSTEM_ROLES and SYSTEM_ROLES[role][0] == "organization":
        require_held(access, SYSTEM_ROLES[role][2], field=field, what=f"the role {role}")


def is_owner(access: Access) -> bool:
    """An owner of the organization, or a platform admin acting without a membership."""
    return access.role == "owner" or access.acting_as_platform_admin


def require_owner(access: Access, action: str) -> None:
    if not is_owner(access):
        raise Forbidden(f"only an owner can {action}", code="owner_only")
