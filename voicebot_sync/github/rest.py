"""The GitHub REST API, as far as the action uses it: issue comments (list, create, update) and the
pull requests of a commit, over httpx with an injectable transport. Every comment body leaves redacted."""

from __future__ import annotations

from typing import Any

from ..text.redaction import redact
from ..text.safejson import loads
from .runner import Runner


class GitHubError(Exception):
    """The GitHub API refused or failed; ``status`` says how (None: it could not be reached)."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


class GitHubApi:
    """The few REST endpoints the action uses, over httpx (transport injectable for tests)."""

    PER_PAGE = 100

    def __init__(self, token: str, repository: str, base_url: str = "https://api.github.com", *, transport=None):
        import httpx

        self.repository = repository
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), transport=transport, timeout=30,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "voicebot-sync-action"},
        )

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kw):
        import httpx

        if isinstance(kw.get("json"), dict) and isinstance(kw["json"].get("body"), str):
            # Every text the action sends to GitHub (a comment body) leaves redacted.
            kw["json"] = {**kw["json"], "body": redact(kw["json"]["body"])}
        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise GitHubError(redact(f"GitHub API unreachable: {type(exc).__name__}: {exc}")) from exc
        if response.status_code >= 400:
            try:
                message = loads(response.content).get("message", "")
            except (ValueError, AttributeError):
                message = response.text[:200]
            raise GitHubError(redact(f"GitHub API {method} {response.url.path}: HTTP {response.status_code} "
                                     f"{message}".rstrip()), response.status_code)
        return response

    def _call(self, method: str, path: str, **kw) -> Any:
        response = self._request(method, path, **kw)
        try:
            return loads(response.content) if response.content else None
        except ValueError as exc:
            raise GitHubError(f"GitHub API {method} {path}: the answer is not JSON", response.status_code) from exc

    def _pages(self, path: str) -> list[dict[str, Any]]:
        """Every item of a paginated list: follows ``Link: rel="next"`` (on GitHub's own host only,
        the token goes with it); without a Link header, asks for the next page after a full one."""
        found: list[dict[str, Any]] = []
        url: str = path
        page, params = 1, {"per_page": self.PER_PAGE, "page": 1}
        for _ in range(1000):
            response = self._request("GET", url, params=params)
            try:
                batch = loads(response.content)
            except ValueError as exc:
                raise GitHubError(f"GitHub API GET {path}: the answer is not bounded JSON ({exc})",
                                  response.status_code) from None
            if not isinstance(batch, list):
                raise GitHubError(f"GitHub API GET {path}: expected a list", response.status_code)
            found.extend(batch)
            following = response.links.get("next", {}).get("url")
            if following:
                import httpx

                if httpx.URL(following).host != self._http.base_url.host:
                    raise GitHubError(f"GitHub API GET {path}: refusing to follow a next page on another host")
                url, params = following, None
            elif "link" not in response.headers and len(batch) >= self.PER_PAGE and params is not None:
                page += 1
                params = {"per_page": self.PER_PAGE, "page": page}
            else:
                break
        return found

    def comments(self, number: int) -> list[dict[str, Any]]:
        return self._pages(f"/repos/{self.repository}/issues/{number}/comments")

    def create_comment(self, number: int, body: str) -> dict[str, Any]:
        return self._call("POST", f"/repos/{self.repository}/issues/{number}/comments", json={"body": body})

    def update_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        return self._call("PATCH", f"/repos/{self.repository}/issues/comments/{comment_id}", json={"body": body})

    def pulls_for_commit(self, sha: str) -> list[dict[str, Any]]:
        return self._pages(f"/repos/{self.repository}/commits/{sha}/pulls")


def api_from(runner: Runner, transport=None) -> GitHubApi | None:
    token = runner.env.get("VS_GITHUB_TOKEN") or runner.env.get("GITHUB_TOKEN")
    repository = runner.env.get("GITHUB_REPOSITORY")
    if not token or not repository:
        return None
    return GitHubApi(token, repository, runner.env.get("GITHUB_API_URL") or "https://api.github.com", transport=transport)
