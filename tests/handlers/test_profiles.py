"""providers.yml: valid files load, hostile or broken ones are refused at start with a precise reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.errors import InvalidRequest
from handlers.profiles import BUILTIN_PROFILES, ProfileError, ProfileRegistry, load_profiles, parse_profiles

VALID = """\
profiles:
  sandbox:
    kind: sandbox
    nodes: {min: 1, max: 5, default: 2}
    default_version: "1.31"
  adopt:
    kind: manual
    allow_private_networks: false
default: sandbox
"""


def test_valid_file_and_builtins(tmp_path: Path) -> None:
    profiles, default = parse_profiles(VALID)
    assert default == "sandbox"
    sandbox = next(p for p in profiles if p.name == "sandbox")
    assert (sandbox.min_nodes, sandbox.max_nodes, sandbox.default_nodes, sandbox.default_version) == (
        1,
        5,
        2,
        "1.31",
    )
    adopt = next(p for p in profiles if p.name == "adopt")
    assert adopt.settings == {"allow_private_networks": False}
    assert load_profiles(None) == (list(BUILTIN_PROFILES), "sandbox")
    path = tmp_path / "providers.yml"
    path.write_text(VALID)
    assert load_profiles(path)[1] == "sandbox"


BOMB = """\
a: &a [x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
profiles: {p: {kind: sandbox, extra: [*b, *b, *b]}}
"""


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "invalid"),
        ("profiles: {}", "at least one profile"),
        ("profiles: [sandbox]", "profiles"),
        ("{unclosed", "not valid YAML"),
        ("profiles: {p: {kind: openstack}}", "kind"),
        ("profiles: {p: {kind: sandbox, nodes: {min: 5, max: 2, default: 3}}}", "min <= default <= max"),
        ("profiles: {p: {kind: sandbox, nodes: {min: -1}}}", "nodes.min"),
        ("profiles: {p: {kind: sandbox, nodes: {max: 100000}}}", "nodes.max"),
        ("profiles: {p: {kind: sandbox, nodes: {min: 1, oops: 2}}}", "oops"),
        ("profiles: {p: {kind: sandbox}}\ndefault: q", "default profile 'q'"),
        ("profiles: {Bad_Name: {kind: sandbox}}", "DNS-1123"),
        ("profiles: {p: {kind: sandbox}}\nsurprise: 1", "surprise"),
        ("x" * (300 * 1024), "larger than 256 KiB"),
    ],
)
def test_broken_files_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(ProfileError) as e:
        parse_profiles(text, source="providers.yml")
    assert fragment in str(e.value)
    assert "providers.yml" in str(e.value)


def test_yaml_alias_bombs_fail_cleanly() -> None:
    # safe_load shares aliased nodes instead of copying them, so this stays small and is refused quickly.
    with pytest.raises(ProfileError, match="a: Extra inputs are not permitted"):
        parse_profiles(BOMB)


def test_unreadable_file_and_unknown_adapter(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read providers file"):
        load_profiles(tmp_path / "missing.yml")
    with pytest.raises(ProfileError, match="no adapter available for provider kind"):
        ProfileRegistry(list(BUILTIN_PROFILES), "sandbox", {"sandbox": lambda p: None})


def test_unknown_profile_names_the_choices() -> None:
    registry = ProfileRegistry(list(BUILTIN_PROFILES), "sandbox", {"sandbox": object, "manual": object})
    with pytest.raises(InvalidRequest) as e:
        registry.get("gke")
    assert "manual, sandbox" in e.value.hint
