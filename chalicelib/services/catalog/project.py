"""Projects (spec §3.2): git or Subversion repositories of playbooks, or an uploaded archive of them
(changelog 2.1), and their grants (§3.3, §3.4).

The API stores what to check out; a project sync (run by the runner, which has git) records
`revision`, `playbooks` and `last_sync_time` on the record. Those three are read-only here.
URLs and branch names are checked at save time so that a typo is a 400 now rather than a failed
sync later, and a password embedded in a URL is refused: it belongs in a credential, where it is
encrypted and never shown.
"""
from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

from chalicelib.services import store, urls
from chalicelib.services.catalog.grants import protect
from chalicelib.services.errors import ValidationError
from chalicelib.services.fields import Bool01, Int, JsonValue, Label, Ref, Str
from chalicelib.services.resources import Access, Resource, register

PROJECT_TYPES = {"git": "Git", "svn": "Subversion", "archive": "Archive"}
#: the types checked out from a repository (the others have no repository_url)
REPOSITORY_TYPES = ("git", "svn")

#: user@host:path, git's scp-like form of an ssh URL
_SCP_LIKE = re.compile(r"(?:[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9.-]+):(?!//)(?P<path>\S+)")


def _check_remote(parts: SplitResult, scheme: str) -> None:
    """A repository on another machine (git or svn): a host, and no password in the URL."""
    if not parts.hostname:
        raise ValidationError("repository_url", f"{scheme} URL without a host")
    if parts.password:
        raise ValidationError("repository_url", "do not put a password in the URL; use a credential")


def _check_file(parts: SplitResult) -> str:
    """A repository on the runner's disk: an absolute file:/// URL."""
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ValidationError("repository_url", "file URLs must be absolute: file:///path/to/repo")
    return "file"


def url_kind(url: str) -> str:
    """`http`, `ssh` or `file` for a repository URL git can clone; a 400 otherwise."""
    if any(c.isspace() for c in url):
        raise ValidationError("repository_url", "must not contain whitespace")
    if "://" not in url:
        if _SCP_LIKE.fullmatch(url):
            return "ssh"
        raise ValidationError("repository_url", "expected an http(s)://, ssh://, file:// or user@host:path URL")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed "[" of an IPv6 host
        raise ValidationError("repository_url", f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https", "ssh"):
        _check_remote(parts, scheme)
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValidationError("repository_url", "invalid port") from None
        if not parts.path.strip("/"):
            raise ValidationError("repository_url", "URL without a repository path")
        return "http" if scheme.startswith("http") else "ssh"
    if scheme == "file":
        return _check_file(parts)
    raise ValidationError("repository_url", f'unsupported scheme "{scheme}" (use http, https, ssh or file)')


def check_branch(name: str) -> None:
    """The rules of `git check-ref-format --branch`, so that a checkout cannot fail on the name."""
    bad = None
    if name.startswith(("-", "/", ".")) or name.endswith(("/", ".", ".lock")):
        bad = "must not start with - / . or end with / . .lock"
    elif ".." in name or "//" in name or "@{" in name or name == "@" or "/." in name:
        bad = 'must not contain "..", "//", "@{" or "/."'
    elif re.search(r"[\x00-\x20\x7f~^:?*\[\\]", name):
        bad = "must not contain spaces, control characters or any of ~ ^ : ? * [ \\"
    if bad:
        raise ValidationError("branch_specifier", f'"{name}" is not a valid branch or tag name: {bad}')


def svn_url_kind(url: str) -> str:
    """`http`, `svn` or `file` for a URL `svn checkout` takes (svn+ssh is `ssh`); a 400 otherwise."""
    parts = urls.split("repository_url", url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https", "svn", "svn+ssh"):
        _check_remote(parts, scheme)
        return {"http": "http", "https": "http", "svn": "svn", "svn+ssh": "ssh"}[scheme]
    if scheme == "file":
        return _check_file(parts)
    raise ValidationError("repository_url", f'"{url}" is not an svn URL (use http(s)://, svn://, svn+ssh:// or file:///)')


def check_svn_path(name: str) -> None:
    """A path within the repository (`trunk`, `branches/x`): relative, no `..`, no control characters."""
    if name.startswith("/") or ".." in name.split("/") or re.search(r"[\x00-\x1f\x7f\\]", name):
        raise ValidationError("branch_specifier", f'"{name}" is not a path within the repository '
                              "(e.g. trunk or branches/x; relative, no '..')")


_SHA = re.compile(r"[0-9a-fA-F]{4,64}")


def check_revision(project_type: str, revision: str) -> None:
    """A git commit (hex) or tag (a valid ref name); an svn revision number."""
    if project_type == "svn":
        if not revision.isascii() or not revision.isdigit():
            raise ValidationError("scm_revision", f'"{revision}" is not an svn revision number')
    elif not _SHA.fullmatch(revision):
        try:
            check_branch(revision)
        except ValidationError as exc:
            raise ValidationError("scm_revision", exc.detail.split(": ", 1)[-1]) from None


def _credential_type(cred_id: int | None) -> str | None:
    if not cred_id:
        return None
    rec = store.get("credential", cred_id)
    return rec.get("type") if rec else None


def _validate(change) -> None:
    data = change.data
    project_type = data.get("project_type") or "git"
    cred_type = _credential_type(data.get("credential"))
    if project_type == "archive":
        for name in ("repository_url", "branch_specifier", "scm_revision"):
            if data.get(name):
                raise ValidationError(name, "an archive project has none: upload its archive to "
                                      "POST /api/project/project/{id}/upload/")
        if cred_type is not None:
            raise ValidationError("credential", "an archive project needs no credential")
    else:
        if not data.get("repository_url"):
            raise ValidationError("repository_url", f"This field is required for a {project_type} project.")
        if project_type == "svn":
            kind = svn_url_kind(data["repository_url"])
            if data.get("branch_specifier"):
                check_svn_path(data["branch_specifier"])
            wanted = {"http": "user_pwd", "svn": "user_pwd", "ssh": "ssh"}.get(kind)
        else:
            kind = url_kind(data["repository_url"])
            if data.get("branch_specifier"):
                check_branch(data["branch_specifier"])
            wanted = {"http": "user_pwd", "ssh": "ssh"}.get(kind)
        if data.get("scm_revision"):
            check_revision(project_type, data["scm_revision"])
        if cred_type is not None:
            if wanted is None:
                raise ValidationError("credential", "file:// repositories need no credential")
            if cred_type != wanted:
                raise ValidationError("credential", f"a {kind} repository needs a {wanted} credential, not {cred_type}")
    vault_type = _credential_type(data.get("vault_credential"))
    if vault_type is not None and vault_type != "vault":
        raise ValidationError("vault_credential", f"must be a vault credential, not {vault_type}")
    galaxy_type = _credential_type(data.get("galaxy_credential"))
    if galaxy_type is not None and galaxy_type != "galaxy":
        raise ValidationError("galaxy_credential", f"must be a galaxy credential, not {galaxy_type}")


PROJECTS = register(Resource(
    family="project", path="/api/project/project", title="Projects",
    description="Playbook repositories (git or svn) or uploaded archives of playbooks (archive: "
                "POST /api/project/project/{id}/upload/ with a .tar.gz or .zip as the body). "
                "revision, playbooks and last_sync_time are recorded by a "
                "project sync; GET /api/project/project/{id}/playbooks/ returns the playbook list.",
    access=Access.protected(),
    fields=[
        Str("name", required=True, blank=False, max_length=512, description="Project name."),
        Str("description", max_length=1024, description="Description."),
        Str("project_type", default="git", choices=tuple(PROJECT_TYPES),
            description="git, svn (Subversion) or archive (an uploaded .tar.gz or .zip)."),
        Str("repository_url", max_length=2048,
            description="Required for git and svn, empty for archive. git: http(s)://, ssh://, user@host:path or "
                        "file:///; svn: http(s)://, svn://, svn+ssh:// or file:///. No password in it: use a credential."),
        Str("branch_specifier", max_length=256,
            description="git: branch, tag or commit, empty = the default branch; svn: path within the repository "
                        "(trunk, branches/x), empty = the URL itself."),
        Str("scm_revision", max_length=256,
            description="Pin: git commit SHA or tag checked out after cloning the branch; svn revision number; "
                        "empty = the newest."),
        Bool01("scm_clean", description="git: git reset --hard and git clean -ffdx after the checkout (0/1)."),
        Bool01("scm_track_submodules",
               description="git: submodules follow their branch (git submodule update --remote) instead of the "
                           "recorded commits (0/1)."),
        Ref("credential", family="credential", needs="execute", on_delete="protect", aliases=("credential_id",),
            description="user_pwd credential for http(s), ssh credential for ssh URLs; needs execute (use) on it."),
        Ref("vault_credential", family="credential", needs="execute", on_delete="protect",
            aliases=("vault_credential_id",), description="vault credential that decrypts the playbooks' vaulted data."),
        Ref("galaxy_credential", family="credential", needs="execute", on_delete="protect",
            aliases=("galaxy_credential_id",),
            description="galaxy credential (server URL and token) that roles/requirements.yml and "
                        "collections/requirements.yml are installed from; empty = galaxy.ansible.com."),
        Str("playbook", max_length=1024, description="Default playbook (optional)."),
        Str("project_group", max_length=256, description="Project group (kept for OpsGrat clients)."),
        Str("project_name", max_length=256, description="Project name within its group (kept for OpsGrat clients)."),
        Str("revision", read_only=True,
            description="Commit (git), revision number (svn) or the archive's sha256 (archive) of the last sync."),
        JsonValue("playbooks", read_only=True, default=None, kind=list, description="Playbooks found by the last sync."),
        Int("last_sync_time", read_only=True, default=None, description="End of the last sync (epoch seconds)."),
        Int("cuser", read_only=True, default=None, description="Creator's user id."),
        Int("ctime", read_only=True, default=None, description="Creation time (epoch seconds)."),
    ],
    labels=[Label("credential_name", "credential", family="credential"),
            Label("vault_credential_name", "vault_credential", family="credential"),
            Label("galaxy_credential_name", "galaxy_credential", family="credential"),
            Label("project_type_name", "project_type", choices=PROJECT_TYPES),
            Label("cuser_name", "cuser", family="user", attr="username")],
    search=("name", "description"), filters=("name", "project_type", "credential"), ordering=("name",),
    indexes=("credential", "vault_credential", "galaxy_credential"), validate=_validate,
))

PROJECT_USERS, PROJECT_TEAMS = protect(PROJECTS, "/api/project/project/authorized/users",
                                       "/api/project/project/empowered/teams")


def playbooks(rec: dict) -> list[str]:
    """The playbook list recorded by the last sync (empty before the first)."""
    return list(rec.get("playbooks") or [])
