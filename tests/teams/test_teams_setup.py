"""Teams set-up: the app package and its manifest, and reading mentions robustly."""

from __future__ import annotations

import json
import struct
import subprocess
import zipfile
from pathlib import Path

import jsonschema
import pytest
from botbuilder.schema import Activity

from adapters.teams.package import PackageError, build_manifest
from adapters.teams.text import clean_text, normalise_reaction, tenant_of
from tests.machine import KAIZEN
from tests.paths import SCHEMAS
from tests.teams_harness import teams_payload

SCHEMA = SCHEMAS / "MicrosoftTeams.v1.30.schema.json"
APP_ID = "c9e8c047-2a74-40a2-b28a-b162d5f5327c"


def validate(manifest: dict) -> None:
    """Against Microsoft's schema. Not ``jsonschema.validate``: that first checks the schema
    itself, and a few of its patterns use ``\\p{L}``, which Python's ``re`` cannot compile;
    patterns are compiled only for the properties a manifest actually has."""
    errors = list(jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).iter_errors(manifest))
    if errors:
        raise jsonschema.ValidationError("; ".join(e.message for e in errors))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_package_command_writes_a_valid_app_package(tmp_path: Path) -> None:
    out = tmp_path / "kaizen-teams.zip"
    result = subprocess.run([KAIZEN, "teams", "package", "--app-id", APP_ID, "--out", str(out),
                             "--version", "1.2.3"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        assert png_size(archive.read("color.png")) == (192, 192)
        assert png_size(archive.read("outline.png")) == (32, 32)
    validate(manifest)
    assert manifest["id"] == manifest["bots"][0]["botId"] == APP_ID
    assert manifest["version"] == "1.2.3"
    assert manifest["manifestVersion"] == "1.30" and "v1.30" in manifest["$schema"]
    [commands] = manifest["bots"][0]["commandLists"]
    assert [c["title"] for c in commands["commands"]] == ["kaizen", "help", "mine"]
    assert set(manifest["bots"][0]["scopes"]) == {"personal", "team", "groupChat"}


def test_the_schema_really_checks(tmp_path: Path) -> None:
    manifest = build_manifest(APP_ID)
    manifest["name"]["short"] = "x" * 31  # over the 30-character limit
    with pytest.raises(jsonschema.ValidationError, match="too long"):
        validate(manifest)


@pytest.mark.parametrize(("args", "message"), [
    (["--app-id", "not-a-guid"], "must be the bot's Microsoft App ID"),
    (["--app-id", APP_ID, "--version", "1.0"], "must look like 1.0.0"),
    (["--app-id", APP_ID, "--website", "http://x"], "https://"),
])
def test_package_refuses_bad_input(args: list[str], message: str, tmp_path: Path) -> None:
    result = subprocess.run([KAIZEN, "teams", "package", *args, "--out",
                             str(tmp_path / "x.zip")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "x.zip").exists()


def test_build_manifest_explains_bad_input() -> None:
    with pytest.raises(PackageError, match="GUID"):
        build_manifest("kaizen")
    with pytest.raises(PackageError, match=r"1\.0\.0"):
        build_manifest(APP_ID, version="v2")


def channel_activity(text: str) -> Activity:
    data = teams_payload("message_activity_channel_mention")
    data["text"] = text
    return Activity().deserialize(data)


@pytest.mark.parametrize(("text", "expected"), [
    ("<at>Kaizen Bot</at> kaizen Reduce changeover", "kaizen Reduce changeover"),
    ("   <at>Kaizen Bot</at>    help", "help"),
    ("<at>kaizen bot</at> mine", "mine"),  # case
    ("<at>Kaizen Bot</at> Kaizen Bot ideas here", "Kaizen Bot ideas here"),  # name kept as text
    ("kaizen idea for <at>Kaizen Bot</at>", "kaizen idea for"),
    ("<at>Kaizen Bot</at> a &amp; b &lt;tag&gt;", "a & b <tag>"),
])
def test_mentions_are_stripped_robustly(text: str, expected: str) -> None:
    assert clean_text(channel_activity(text)) == expected


def test_other_mentions_become_user_ids() -> None:
    data = teams_payload("message_activity_channel_mention")
    data["text"] = "<at>Kaizen Bot</at> managers add <at>Mia Manager</at>"
    data["entities"].append({"type": "mention", "text": "<at>Mia Manager</at>",
                             "mentioned": {"id": "29:mia", "name": "Mia Manager"}})
    assert clean_text(Activity().deserialize(data)) == "managers add  <@29:mia>"


def test_tenant_comes_from_channel_data() -> None:
    activity = Activity().deserialize(teams_payload("message_reaction_activity"))
    assert activity.conversation.tenant_id is None  # botbuilder's tenantID/tenantId mismatch
    assert tenant_of(activity) == "72f988bf-86f1-41af-91ab-2d7cd011db47"


def test_like_is_the_thumbs_up() -> None:
    assert normalise_reaction("like") == "+1"
    assert normalise_reaction("Heart") == "heart"
