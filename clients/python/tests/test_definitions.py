"""YAML definition files: the SDK parses them exactly like `strata apply` (same specs, same errors). The
errors are compared with the CLI's own output for the same file; valid files applied by the CLI and then
by the SDK must be UNCHANGED (identical specs)."""
from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

import strata

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "features.yaml"


def cli_error(strata_bin: str, path: Path) -> str:
    """The message `strata apply FILE` prints for a file it rejects (it parses before connecting)."""
    p = subprocess.run([strata_bin, "apply", str(path), "--server", "127.0.0.1:1"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode != 0, p.stdout
    text = p.stderr.strip()
    assert text.startswith("Error: "), text
    return text[len("Error: "):]


def test_example_file():
    groups = strata.load_definitions(EXAMPLE)
    assert [g.name for g in groups] == ["user_stats", "user_embedding"]
    us, ue = groups
    assert us.entity_type == strata.EntityType.USER and us.owner == "ml-platform"
    assert (us.refresh_interval, us.max_age) == (86400, 30 * 86400)
    assert [(f.name, str(f.dtype), f.default) for f in us.features] == [
        ("purchases_30d", "INT", 0), ("avg_order_value", "FLOAT", None), ("favourite_category", "STRING", None)]
    assert ue.features[0].dtype == strata.Embedding(4) and ue.max_age is None and ue.refresh_interval == 3600


BAD = {
    "unknown_key": """
        groups:
          - name: g1
            featurs:
              - {name: a, dtype: INT}
        """,
    "unknown_feature_key": """
        groups:
          - name: g1
            features:
              - name: a
                dtype: INT
                defualt: 3
        """,
    "unknown_top_key": "group:\n  - name: g1\n",
    "int_default_float": """
        groups:
          - name: g1
            features:
              - {name: a, dtype: INT, default: 1.5}
        """,
    "int_default_text": """
        groups:
          - name: g1
            features:
              - {name: a, dtype: INT, default: "3"}
        """,
    "int_default_range": """
        groups:
          - name: g1
            features:
              - {name: a, dtype: INT, default: 9223372036854775808}
        """,
    "float_default_text": """
        groups:
          - name: g1
            features:
              - {name: a, dtype: FLOAT, default: abc}
        """,
    "embedding_default_scalar": """
        groups:
          - name: g1
            features:
              - {name: a, dtype: EMBEDDING(2), default: 1}
        """,
    "embedding_default_wrong_length": """
        groups:
          - name: g1
            features:
              - {name: a, dtype: EMBEDDING(2), default: [1, 2, 3]}
        """,
    "embedding_default_element": """
        groups:
          - name: g1
            features:
              - {name: a, dtype: EMBEDDING(2), default: [1, x]}
        """,
    "string_default_list": """
        groups:
          - name: g1
            features:
              - {name: a, dtype: STRING, default: [1]}
        """,
    "bad_dtype": """
        groups:
          - name: g1
            features:
              - {name: a, dtype: BOOL}
        """,
    "embedding_dim_zero": """
        groups:
          - name: g1
            features:
              - {name: a, dtype: EMBEDDING(0)}
        """,
    "bad_entity": """
        groups:
          - name: g1
            entity_type: PERSON
            features:
              - {name: a, dtype: INT}
        """,
    "bad_duration": """
        groups:
          - name: g1
            max_age: 3 days
            features:
              - {name: a, dtype: INT}
        """,
    "zero_duration": """
        groups:
          - name: g1
            refresh_interval: 0s
            features:
              - {name: a, dtype: INT}
        """,
    "negative_duration": """
        groups:
          - name: g1
            max_age: -5
            features:
              - {name: a, dtype: INT}
        """,
    "duplicate_group": """
        groups:
          - name: g1
            features:
              - {name: a, dtype: INT}
          - name: g1
            features:
              - {name: b, dtype: INT}
        """,
    "duplicate_feature": """
        groups:
          - name: g1
            features:
              - {name: a, dtype: INT}
              - {name: a, dtype: FLOAT}
        """,
    "duplicate_key": """
        groups:
          - name: g1
            name: g2
            features:
              - {name: a, dtype: INT}
        """,
    "invalid_group_name": """
        groups:
          - name: User-Stats
            features:
              - {name: a, dtype: INT}
        """,
    "invalid_feature_name": """
        groups:
          - name: g1
            features:
              - {name: 9lives, dtype: INT}
        """,
    "no_features": """
        groups:
          - name: g1
        """,
    "empty_features": """
        groups:
          - name: g1
            features: []
        """,
    "features_not_list": """
        groups:
          - name: g1
            features: {name: a}
        """,
    "missing_name": """
        groups:
          - features:
              - {name: a, dtype: INT}
        """,
    "empty_name": """
        groups:
          - name: ""
            features:
              - {name: a, dtype: INT}
        """,
    "missing_dtype": """
        groups:
          - name: g1
            features:
              - {name: a}
        """,
    "group_not_mapping": "groups:\n  - just_a_name\n",
    "groups_not_list": "groups: g1\n",
    "no_groups": "groups:\n",
    "empty_file": "",
    "top_is_list": "- name: g1\n",
    "name_is_list": "groups:\n  - name: [a]\n    features:\n      - {name: a, dtype: INT}\n",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_errors_match_the_cli(case, tmp_path, strata_bin):
    path = tmp_path / f"{case}.yaml"
    path.write_text(textwrap.dedent(BAD[case]).lstrip("\n"))
    expected = cli_error(strata_bin, path)
    with pytest.raises(strata.InvalidArgument) as e:
        strata.load_definitions(path)
    assert e.value.message == expected


def test_syntax_errors_name_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("groups:\n  - name: g1\n    features: [\n")
    with pytest.raises(strata.InvalidArgument, match=r"broken\.yaml line 4, column 1: invalid YAML"):
        strata.load_definitions(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(strata.NotFound, match="does not exist"):
        strata.load_definitions(tmp_path / "nope.yaml")
    with pytest.raises(strata.InvalidArgument, match="is a directory"):
        strata.load_definitions(tmp_path)


VALID = """
groups:
  - name: {g1}
    entity_type: item
    description: "quoted: description"
    owner: team
    refresh_interval: 90
    max_age: 2w
    features:
      - name: a
        dtype: int64
        default: 0x10
      - name: b
        dtype: Double
        default: 1_000.5
      - name: c
        dtype: string
        default: yes
      - name: d
        dtype: embedding( 3 )
        default: [1, 2.5, -3]
      - name: e
        dtype: FLOAT
        default: 7
      - name: f
        dtype: STRING
        default: 12
  - name: {g2}
    features:
      - name: x
        dtype: INT
        default: null
        description:
"""


def test_valid_file_parses_like_the_cli(client, node, strata_bin, unique, tmp_path):
    g1, g2 = unique("yaml_a"), unique("yaml_b")
    path = tmp_path / "valid.yaml"
    path.write_text(VALID.format(g1=g1, g2=g2))
    cli = subprocess.run([strata_bin, "apply", str(path), "--server", node.address], capture_output=True, text=True,
                         timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "created" in cli.stdout
    # Identical specs: the SDK's apply of the same file changes nothing.
    assert [r.outcome for r in client.apply(path)] == ["UNCHANGED", "UNCHANGED"]
    g = client.get_feature_group(g1)
    assert g.spec.entity_type == strata.EntityType.ITEM
    assert [f.default for f in g.features[:3]] == [16, 1000.5, "yes"]
    assert g.features[3].default.tolist() == [1.0, 2.5, -3.0]
    assert (g.features[4].default, g.features[5].default) == (7.0, "12")
    assert (g.spec.refresh_interval, g.spec.max_age) == (90, 14 * 86400)


def test_python_objects_equal_yaml(client, unique, tmp_path):
    g = unique("objects")
    path = tmp_path / "one.yaml"
    path.write_text(textwrap.dedent(f"""
        groups:
          - name: {g}
            entity_type: SESSION
            max_age: 1h
            features:
              - {{name: a, dtype: INT, default: 3, description: "an int"}}
              - {{name: v, dtype: EMBEDDING(2)}}
        """))
    assert client.apply(path)[0].outcome == "CREATED"
    same = strata.FeatureGroup(g, entity="SESSION", max_age=3600, features=[
        strata.Feature("a", strata.INT, default=3, description="an int"), strata.Feature("v", strata.Embedding(2))])
    assert client.apply(same)[0].outcome == "UNCHANGED"
    changed = strata.FeatureGroup(g, entity="SESSION", max_age="2h", features=same.features)
    assert client.apply([changed])[0].outcome == "NEW_VERSION"


@pytest.mark.parametrize("make, match", [
    (lambda: strata.Feature("a", "BOOL"), "unknown dtype 'BOOL'"),
    (lambda: strata.FeatureGroup("g", [strata.Feature("a", "INT", default=1.5)]).validate(),
     "default of feature 'a' is FLOAT but the feature is INT"),
    (lambda: strata.FeatureGroup("g", [strata.Feature("a", "INT", default=True)]).validate(),
     "default of feature 'a' is BOOL"),
    (lambda: strata.FeatureGroup("g", [strata.Feature("a", "FLOAT", default=float("nan"))]).validate(),
     "NaN or infinite"),
    (lambda: strata.FeatureGroup("g", [strata.Feature("a", "EMBEDDING(2)", default=[1])]).validate(),
     "has 1 elements; the embedding dimension is 2"),
    (lambda: strata.FeatureGroup("g", []).validate(), "has no features"),
    (lambda: strata.FeatureGroup("g", [strata.Feature("a", "INT")], max_age="soon"), "is not a duration"),
    (lambda: strata.FeatureGroup("g", [strata.Feature("a", "INT")], max_age=0).validate(), "must be positive"),
    (lambda: strata.FeatureGroup("g", [strata.Feature("a", "INT")], entity_type="PERSON"), "unknown entity_type"),
])
def test_python_definition_errors(make, match):
    with pytest.raises(strata.InvalidArgument, match=match):
        make()
