"""GitHub pull requests: is one still open (the clone clean-up asks), and its impact comment.

`GitHubPullRequests` asks GitHub's REST API; tests give a `StaticPullRequests` (GitHub cannot be
reached from here). Both answer `closed_at(number)`: None while open, else when it closed.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from platform_core.errors import ConfigurationError

GITHUB_API = "https://api.github.com"


class PullRequestLookupError(Exception):
    """The state of a pull request could not be determined (the clone is then kept)."""


class PullRequestStates(Protocol):
    def closed_at(self, number: int) -> datetime | None: ...


@dataclass(frozen=True)
class GitHubPullRequests:
    repository: str  # owner/name
    token: str
    api_url: str = GITHUB_API

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> GitHubPullRequests:
        repository, token = environ.get("GITHUB_REPOSITORY", ""), environ.get("GITHUB_TOKEN", "")
        if "/" not in repository or not token:
            raise ConfigurationError(
                "GITHUB_REPOSITORY (owner/name) and GITHUB_TOKEN are needed to look up pull "
                "requests. Fix: set both (GitHub Actions sets GITHUB_REPOSITORY; pass the token "
                "from secrets.GITHUB_TOKEN)."
            )
        return cls(repository, token, environ.get("GITHUB_API_URL", GITHUB_API))

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.api_url}/repos/{self.repository}/{path}",
            method=method,
            data=None if payload is None else json.dumps(payload).encode(),
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def closed_at(self, number: int) -> datetime | None:
        try:
            body = self._call("GET", f"pulls/{int(number)}")
        except (urllib.error.URLError, TimeoutError, ValueError) as error:
            raise PullRequestLookupError(f"pull request #{number}: {error}") from error
        if body.get("state") == "open":
            return None
        closed = body.get("closed_at")
        if not closed:
            raise PullRequestLookupError(f"pull request #{number}: closed without closed_at")
        return datetime.fromisoformat(closed.replace("Z", "+00:00"))

    def upsert_comment(self, number: int, body: str, marker: str) -> str:
        """Create the pull request's comment that carries `marker`, or update it in place, so
        every push refreshes one comment instead of adding another. Returns its URL."""
        text = f"{marker}\n{body}"
        page = 1
        while True:
            comments = self._call("GET", f"issues/{int(number)}/comments?per_page=100&page={page}")
            for comment in comments:
                if marker in (comment.get("body") or ""):
                    updated = self._call(
                        "PATCH", f"issues/comments/{comment['id']}", {"body": text}
                    )
                    return updated["html_url"]
            if len(comments) < 100:
                break
            page += 1
        created = self._call("POST", f"issues/{int(number)}/comments", {"body": text})
        return created["html_url"]


@dataclass
class StaticPullRequests:
    """Known answers, for tests and dry runs; an unknown number is a lookup error."""

    closed: dict[int, datetime | None] = field(default_factory=dict)

    def closed_at(self, number: int) -> datetime | None:
        if number not in self.closed:
            raise PullRequestLookupError(f"pull request #{number}: unknown")
        return self.closed[number]
