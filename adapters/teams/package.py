"""``kaizen teams package``: the Teams app package (manifest.json + two icons, zipped)."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

MANIFEST_DIR = Path(__file__).resolve().parent / "manifest"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


class PackageError(ValueError):
    """Bad input for the package, explained for the person running the command."""


def build_manifest(app_id: str, version: str = "1.0.0",
                   developer: str | None = None, website: str | None = None) -> dict[str, Any]:
    if not _GUID.match(app_id):
        raise PackageError(f"--app-id must be the bot's Microsoft App ID (a GUID like "
                           f"c9e8c047-2a74-40a2-b28a-b162d5f5327c), not {app_id!r}")
    if not _SEMVER.match(version):
        raise PackageError(f"--version must look like 1.0.0 (bump it on every upload), "
                           f"not {version!r}")
    manifest = json.loads((MANIFEST_DIR / "manifest.json").read_text())
    manifest["id"] = app_id
    manifest["bots"][0]["botId"] = app_id
    manifest["version"] = version
    if developer:
        manifest["developer"]["name"] = developer[:32]
    if website:
        if not website.startswith("https://"):
            raise PackageError("--website must be an https:// address")
        manifest["developer"].update(websiteUrl=website, privacyUrl=website,
                                     termsOfUseUrl=website)
    return manifest


def write_package(out: Path, manifest: dict[str, Any]) -> Path:
    """manifest.json and both icons at the zip's root, as Teams expects."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        for icon in ("color.png", "outline.png"):
            archive.write(MANIFEST_DIR / icon, icon)
    return out
