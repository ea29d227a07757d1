"""GitHub workflows: actionlint and zizmor pass, and the branch-deployment rules hold."""

import json
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from mesh_tooling.cli.deploy import COMMENT_MARKER
from mesh_tooling.manifests import topology
from platform_core.deploy.pull_requests import GitHubPullRequests

from tests.support.processes import BIN

WORKFLOWS = ("ci.yml", "branch_deployments.yml", "deploy.yml")
SHA_PIN = re.compile(r"^[^@]+@[0-9a-f]{40}$")
REF_PINNED = "dagster-io/dagster-cloud-action/"  # see .github/zizmor.yml for why


def load(repo_root: Path, name: str) -> dict:
    data = yaml.safe_load((repo_root / ".github" / "workflows" / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def lint(*command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def test_actionlint_passes(repo_root):
    result = lint(
        str(BIN / "actionlint"), *(f".github/workflows/{w}" for w in WORKFLOWS), cwd=repo_root
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_passes(repo_root):
    # --offline: the audits that ask GitHub (impostor commits, known-vulnerable actions) cannot
    # reach it from here.
    result = lint(str(BIN / "zizmor"), "--offline", ".github/workflows", cwd=repo_root)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_linters_reject_a_careless_workflow(tmp_path):
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "on: pull_request\n"
        "jobs:\n"
        "  greet:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
        "      - run: echo ${{ secrets.TOKEN }} ${{ steps.nope.outputs.x }\n"
    )
    assert lint(str(BIN / "actionlint"), ".github/workflows/bad.yml", cwd=tmp_path).returncode != 0
    zizmor = lint(str(BIN / "zizmor"), "--offline", ".github/workflows", cwd=tmp_path)
    assert zizmor.returncode != 0
    assert "template-injection" in zizmor.stdout and "unpinned-uses" in zizmor.stdout


@pytest.mark.parametrize("name", WORKFLOWS)
def test_least_privilege_pinned_actions_and_secrets_only_through_env(repo_root, name):
    workflow = load(repo_root, name)
    text = (repo_root / ".github" / "workflows" / name).read_text()
    if name != "ci.yml":
        assert workflow["permissions"] == {}, "grant per job, nothing at the top"
        for job_name, job in workflow["jobs"].items():
            assert "permissions" in job, f"job {job_name} must declare its permissions"
            assert "write-all" not in str(job["permissions"])
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            uses = step.get("uses", "")
            if uses and not uses.startswith(REF_PINNED):
                assert SHA_PIN.match(uses), f"{uses} is not pinned to a commit SHA"
            assert "secrets." not in step.get("run", ""), "secrets reach scripts via env only"
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    assert not re.search(r"\$\{\{\s*secrets\.\w+\s*\}\}", text.split("jobs:")[0]), (
        "no secrets in workflow-level env (every job would get them)"
    )


def test_branch_deployments_create_the_clone_first_and_always_drop_it(repo_root):
    workflow = load(repo_root, "branch_deployments.yml")
    assert workflow["on"]["pull_request"]["types"] == [
        "opened",
        "synchronize",
        "reopened",
        "closed",
    ]
    jobs = workflow["jobs"]
    prerun = jobs["prerun"]
    assert prerun["outputs"]["closed_branch_deployment"] == (
        "${{ steps.prerun.outputs.closed_branch_deployment }}"
    )
    # Nothing deploys (and so nothing runs) before the clone exists.
    assert "create-clone" in jobs["deploy"]["needs"]
    assert "meshctl clone create" in jobs["create-clone"]["steps"][-1]["run"]
    # Only the touched locations are built.
    assert jobs["deploy"]["strategy"]["matrix"]["location"] == (
        "${{ fromJSON(needs.plan.outputs.locations) }}"
    )
    # The drop depends on prerun alone, so a skipped build cannot skip it.
    drop = jobs["drop-clone"]
    assert drop["needs"] == "prerun"
    assert "closed_branch_deployment" in drop["if"] and "!cancelled()" in drop["if"]
    assert "meshctl clone drop" in drop["steps"][-1]["run"]
    env = drop["steps"][-1]["env"]
    assert env["DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT"] == "1"
    assert env["DAGSTER_CLOUD_PULL_REQUEST_ID"] == "${{ github.event.pull_request.number }}"
    # The impact comment: the preview inside the clone (impact + data diff), which needs the
    # clone first; the impact model alone if the preview cannot run.
    script = jobs["impact-comment"]["steps"][-1]["run"]
    assert "meshctl preview --in-clone" in script and "meshctl impact" in script
    assert "create-clone" in jobs["impact-comment"]["needs"]
    preview_env = jobs["impact-comment"]["steps"][-1]["env"]
    assert preview_env["DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT"] == "1"
    # It rebuilds in the clone as the branch identity; the platform's is not in reach.
    assert {"SNOWFLAKE_BRANCH_USER", "SNOWFLAKE_BRANCH_PASSWORD"} <= set(preview_env)
    assert not {"SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD", "SNOWFLAKE_ROLE"} & set(preview_env)
    assert jobs["impact-comment"]["permissions"] == {"contents": "read", "pull-requests": "write"}


@pytest.mark.parametrize("name", ["branch_deployments.yml", "deploy.yml"])
def test_deploy_workflows_agree_with_the_deployment_manifests(repo_root, name):
    workflow = load(repo_root, name)
    assert workflow["env"]["IMAGE_REGISTRY"] == topology.IMAGE_REGISTRY
    assert (repo_root / workflow["env"]["DAGSTER_CLOUD_YAML"]).is_file()
    build = next(
        s for s in workflow["jobs"]["deploy"]["steps"] if "build-push-action" in s.get("uses", "")
    )
    assert build["with"]["file"] == topology.DOCKERFILE
    assert build["with"]["build-args"] == "LOCATION=${{ matrix.location }}"


class FakeGitHubComments(BaseHTTPRequestHandler):
    comments: ClassVar[list[dict]] = []

    def _reply(self, status: int, body: object) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def _payload(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self) -> None:
        self._reply(200, self.comments)

    def do_POST(self) -> None:
        comment = {"id": len(self.comments) + 1, **self._payload()}
        comment["html_url"] = f"https://example.test/c/{comment['id']}"
        self.comments.append(comment)
        self._reply(201, comment)

    def do_PATCH(self) -> None:
        number = int(self.path.rsplit("/", 1)[-1])
        comment = next(c for c in self.comments if c["id"] == number)
        comment.update(self._payload())
        self._reply(200, comment)

    def log_message(self, *args) -> None:
        pass


def test_the_impact_comment_is_updated_in_place_not_repeated():
    FakeGitHubComments.comments[:] = [{"id": 1, "body": "Dagster+ branch deployment ready"}]
    server = HTTPServer(("127.0.0.1", 0), FakeGitHubComments)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        github = GitHubPullRequests("acme/mesh", "t", f"http://127.0.0.1:{server.server_port}")
        first = github.upsert_comment(7, "2 assets changed", COMMENT_MARKER)
        second = github.upsert_comment(7, "3 assets changed", COMMENT_MARKER)
    finally:
        server.shutdown()
    assert first == second == "https://example.test/c/2"
    bodies = [c["body"] for c in FakeGitHubComments.comments]
    assert bodies == ["Dagster+ branch deployment ready", f"{COMMENT_MARKER}\n3 assets changed"]
