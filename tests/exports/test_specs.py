"""DatasetSpec: defaults, normalisation (two specs that mean the same hash the same), fields
checked against the project's items, and refusals that name the key and the value."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from exports.specs import DatasetSpec
from projects.models import ContentType, Item
from tests.factories import make_items, make_project


def refusal(project: Any, spec: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        DatasetSpec.parse(spec, project=project)
    return caught.value.message_dict


def test_the_defaults_of_a_text_project(project):
    spec = DatasetSpec.parse({}, project=project)

    assert spec.as_json() == {
        "sources": ["resolution", "gold", "consensus"],
        "min_confidence": 0.0,
        "fields": ["text"],
        "splits": {"train": 0.8, "validation": 0.1, "test": 0.1},
        "salt": "accord",
        "freeze_test": True,
        "formats": ["parquet", "jsonl", "csv"],
    }
    assert DatasetSpec.parse(None, project=project) == spec


def test_an_image_project_defaults_to_its_images(alice):
    photos = make_project(lead=alice, name="Photos", content_type=ContentType.IMAGE)
    assert DatasetSpec.parse({}, project=photos).fields == ("image",)


def test_the_spec_hash_is_the_sha256_of_the_canonical_json(project):
    spec = DatasetSpec.parse({"salt": "été"}, project=project)
    canonical = json.dumps(
        spec.as_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert spec.spec_hash == hashlib.sha256(canonical).hexdigest()


def test_specs_that_mean_the_same_hash_the_same(project):
    first = DatasetSpec.parse(
        {"sources": ["consensus", "resolution"], "formats": ["csv"], "min_confidence": 1,
         "splits": {"test": 0.25, "train": 0.75}},
        project=project,
    )  # fmt: skip
    second = DatasetSpec.parse(
        {"sources": ["resolution", "consensus"], "formats": ["parquet", "csv"],
         "min_confidence": 1.0, "splits": {"train": 0.75, "test": 0.25}},
        project=project,
    )  # fmt: skip

    assert first == second
    assert first.spec_hash == second.spec_hash
    assert first.sources == ("resolution", "consensus")
    assert first.formats == ("parquet", "csv"), "Parquet is always written"
    assert first.split_names == ("train", "test"), "by name, test last"


def test_splits_are_laid_out_by_name_with_test_last_whatever_order_they_came_in(project):
    spec = DatasetSpec.parse(
        {"splits": {"test": 0.2, "zeta": 0.1, "dev": 0.3, "alpha": 0.4}}, project=project
    )
    assert spec.split_names == ("alpha", "dev", "zeta", "test")


def test_a_frozen_spec_reads_back_as_it_was(project):
    spec = DatasetSpec.parse(
        {"splits": {"train": 0.7, "test": 0.3}, "salt": "s", "freeze_test": False},
        project=project,
    )
    stored = json.loads(json.dumps(spec.as_json(), sort_keys=True))  # as jsonb reorders keys
    assert DatasetSpec.from_json(stored) == spec


def test_freeze_test_defaults_to_on_only_with_a_test_split_beside_others(project):
    assert DatasetSpec.parse({"splits": {"train": 0.9, "test": 0.1}}, project=project).freeze_test
    assert not DatasetSpec.parse({"splits": {"a": 0.5, "b": 0.5}}, project=project).freeze_test
    assert not DatasetSpec.parse({"splits": {"test": 1}}, project=project).freeze_test


def test_a_key_of_the_items_data_is_a_field(project):
    make_items(project, 3)
    Item.objects.filter(project=project, key="item-1").update(data={"source": "email"})

    spec = DatasetSpec.parse({"fields": ["text", "source"]}, project=project)

    assert spec.fields == ("text", "source")


@pytest.mark.parametrize(
    ("spec", "key", "words"),
    [
        ({"colour": "red"}, "spec", ["'colour'", "sources"]),
        ({"sources": ["weak"]}, "sources", ["'weak'", "resolution, gold, consensus"]),
        ({"sources": "consensus"}, "sources", ['"consensus"', "list"]),
        ({"sources": []}, "sources", ["at least one"]),
        ({"sources": ["gold", "gold"]}, "sources", ["'gold'", "more than once"]),
        ({"min_confidence": 1.5}, "min_confidence", ["1.5", "from 0 to 1"]),
        ({"min_confidence": True}, "min_confidence", ["true"]),
        ({"min_confidence": "0.5"}, "min_confidence", ['"0.5"']),
        ({"fields": ["label"]}, "fields", ["'label'", "column every row has"]),
        ({"fields": ["image"]}, "fields", ["'image'", "text, not images"]),
        ({"fields": ["colour"]}, "fields", ["'colour'", "no item's data", "text"]),
        ({"splits": {"train": 0.8, "test": 0.3}}, "splits", ["1.1", "add up to 1"]),
        ({"splits": {"Train": 0.5, "test": 0.5}}, "splits", ['"Train"', "lower-case"]),
        ({"splits": {"train": 0, "test": 1}}, "splits", ["'train'", "0"]),
        ({"splits": {"train": -0.5, "test": 1.5}}, "splits", ["'train'", "-0.5"]),
        ({"splits": []}, "splits", ["[]"]),
        ({"salt": ""}, "salt", ['""']),
        ({"salt": 7}, "salt", ["7"]),
        ({"freeze_test": "yes"}, "freeze_test", ['"yes"']),
        ({"freeze_test": True, "splits": {"a": 0.5, "b": 0.5}}, "freeze_test", ["a, b"]),
        ({"freeze_test": True, "splits": {"test": 1.0}}, "freeze_test", ["besides 'test'"]),
        ({"formats": ["xlsx"]}, "formats", ["'xlsx'", "parquet, jsonl, csv"]),
    ],
)
def test_a_refusal_names_the_key_and_the_value(project, spec, key, words):
    make_items(project, 2)
    problems = refusal(project, spec)

    assert list(problems) == [key]
    for word in words:
        assert word in problems[key][0], problems[key][0]


def test_every_bad_key_is_named_at_once(project):
    problems = refusal(project, {"salt": "", "min_confidence": 2, "formats": ["pdf"]})
    assert set(problems) == {"salt", "min_confidence", "formats"}


def test_the_refusal_of_an_unknown_field_lists_the_fields_the_items_have(project):
    make_items(project, 2)
    Item.objects.filter(project=project).update(data={"channel": "chat", "lang": "en"})

    message = refusal(project, {"fields": ["text", "colour"]})["fields"][0]

    assert "Fields this project's items have: text, channel, lang." in message


def test_a_spec_that_is_not_an_object_is_refused(project):
    assert "not [1, 2]" in refusal(project, [1, 2])["spec"][0]  # type: ignore[arg-type]
