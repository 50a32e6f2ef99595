"""Property-based fuzzing of the YAML configuration: node parameter files (PipelineSettings.from_params_file, i.e.
node_logic.file_sections and check_parameter) and the safety config (SafetyConfig.parse).

Random YAML text and random mappings (random keys and values at random depths, with real parameter names and
values of every type) must give settings or a ValueError that names the file (for the safety config: FILE:LINE:),
never another exception. TEXT_EXAMPLES and MAPPING_EXAMPLES examples per test: about 8 s for the file.
"""

import copy
import io
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from pose3d_ros.node_logic.parameters import PARAMETERS
from pose3d_ros.pipeline.core import PipelineSettings
from pose3d_ros.safety import SafetyConfig, SafetyConfigError

TEXT_EXAMPLES = 150
MAPPING_EXAMPLES = 120
FUZZ = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])

# What YAML text is made of, so that random text often parses (and reaches the checks behind the parser).
YAML_PIECES = ["\n", "  ", ": ", "- ", "[", "]", "{", "}", ", ", "#", "&a ", "*a", "!!str ", "!!python/name:os ",
               "'", '"', "? ", "|\n", "ros__parameters", "lifter_node", "/**", "temporal_node", "qos", "depth",
               ".inf", ".nan", "-1", "0", "1e400", "true", "null", "~", "2001-01-01", "\t", "\x00", "é", "thresholds",
               "objects", "mode", "fixed", "capsule", "radius", "name", "frame", "parts", "polygon", "points"]
yaml_text = st.lists(st.sampled_from(YAML_PIECES) | st.text(max_size=5), max_size=40).map("".join)

NAMES = sorted({p.name for specs in PARAMETERS.values() for p in specs})
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
           | st.sampled_from([0, 1, -1, 0.5, math.inf, "best_effort", "cpu", ""]))
keys = st.sampled_from(NAMES + ["ros__parameters", "unknown", "qos", "depth"]) | st.text(max_size=6) | st.integers()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=12)
sections = st.dictionaries(st.sampled_from(["ros__parameters", "other"]) | keys,
                           st.dictionaries(keys, values, max_size=6) | values, max_size=2)
documents = st.dictionaries(st.sampled_from(["/**", "lifter_node", "/lifter_node", "/**/temporal_node",
                                             "keypoints2d_node", "other_node"]) | keys, sections | values, max_size=4)


def dump(document) -> str:
    stream = io.StringIO()
    YAML(typ="safe").dump(document, stream)
    return stream.getvalue()


def read_params(path, text):
    path.write_text(text, encoding="utf-8")
    try:
        return PipelineSettings.from_params_file(path)
    except ValueError as err:
        assert str(path) in str(err)
        return None


@settings(max_examples=TEXT_EXAMPLES, **FUZZ)
@given(text=yaml_text)
def test_random_text_as_params_file_gives_settings_or_value_error(tmp_path, text):
    read_params(tmp_path / "params.yaml", text)


@settings(max_examples=MAPPING_EXAMPLES, **FUZZ)
@given(document=documents)
def test_random_mappings_as_params_file_give_checked_settings_or_value_error(tmp_path, document):
    settings_read = read_params(tmp_path / "params.yaml", dump(document))
    if settings_read is not None:
        for stage in ("keypoints2d", "lifter", "temporal"):
            for name, value in getattr(settings_read, stage).items():
                unknown_allowed = name == "camera_pitch_deg"  # NaN: the camera's attitude is not known
                assert not isinstance(value, float) or math.isfinite(value) or unknown_allowed, name


SAFETY_BASE = {"thresholds": {"default": {"mode": "fixed", "stop_distance_m": 0.2, "warning_distance_m": 0.5}},
               "objects": [{"name": "link", "frame": "cam", "capsule": {"radius": 0.1}}]}
SAFETY_KEYS = ["camera_frame", "transforms", "joints", "failsafe", "states", "thresholds", "objects", "mode",
               "parts", "radius", "start", "end", "box", "centre", "size", "cylinder", "polygon", "points", "z_min",
               "z_max", "parent", "child", "rpy_deg", "quaternion_xyzw", "translation", "name", "frame"]
safety_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                             | st.dictionaries(st.sampled_from(SAFETY_KEYS) | keys, inner, max_size=4), max_leaves=16)


def parse_safety(text):
    try:
        return SafetyConfig.parse(text, "safety.yaml")
    except SafetyConfigError as err:
        assert str(err).startswith("safety.yaml:") and str(err).split(":")[1].isdigit()  # FILE:LINE:
        return None


@settings(max_examples=TEXT_EXAMPLES, **FUZZ)
@given(text=yaml_text)
def test_random_text_as_safety_config_is_refused_with_a_line(text):
    parse_safety(text)


@settings(max_examples=MAPPING_EXAMPLES, **FUZZ)
@given(section=st.sampled_from(SAFETY_KEYS[:7]), key=st.sampled_from(SAFETY_KEYS) | keys, nested=st.booleans(),
       value=safety_values)
def test_a_random_change_to_a_valid_safety_config_gives_a_config_or_a_line(section, key, nested, value):
    document = copy.deepcopy(SAFETY_BASE)
    if nested and section == "objects":
        document["objects"][0][key] = value
    elif nested and isinstance(document.get(section), dict):
        document[section][key] = value
    else:
        document[section] = value
    parse_safety(dump(document))


def test_an_unchanged_safety_config_parses():
    assert parse_safety(dump(SAFETY_BASE)) is not None


@pytest.mark.parametrize("text", ["", "{}", "lifter_node: {ros__parameters: {}}"])
def test_empty_params_files_give_the_defaults(tmp_path, text):
    assert read_params(tmp_path / "params.yaml", text) == PipelineSettings.defaults()
