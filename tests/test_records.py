"""The drift check: every example's output matches its committed record, under this machine's
CPU kernels and under ``ATEN_CPU_CAPABILITY=default``, so that one machine vouches for others."""

import math
from dataclasses import replace

import pytest

from snippets.pipeline import build
from snippets.pipeline.examples import all_examples
from snippets.pipeline.records import compare, load_records, split_numbers, verify

EXAMPLES = all_examples()


@pytest.fixture(scope="module")
def other_kernel_outcomes():
    """Every example run (or recalled from the cache, which keys by kernel set) under the
    other kernel set, compared with its record."""
    return build.produce(execute=True, kernels=build.OTHER_KERNELS)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_output_matches_record(example, outcomes):
    outcome = outcomes[example.id]
    assert outcome.error is None, outcome.error
    assert outcome.drift == [], "\n".join(outcome.drift)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_output_matches_record_under_the_other_kernels(example, other_kernel_outcomes):
    outcome = other_kernel_outcomes[example.id]
    assert outcome.error is None, outcome.error
    assert outcome.drift == [], "\n".join(outcome.drift)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_one_percent_change_is_drift(example):
    """Scaling any recorded number by 1% must be reported, naming the example."""
    record = load_records(example.module)[example.name]
    words, numbers = split_numbers(record.text)
    for index, number in enumerate(numbers):
        if number == 0 or not math.isfinite(number):
            continue
        changed = numbers.copy()
        changed[index] = number * 1.01
        text = words.format(*(repr(n) for n in changed))
        new = replace(record, text=text)
        problems = compare(example, record, new)
        assert problems and all(example.id in p for p in problems), (index, text)


def test_every_example_has_a_record():
    missing = [e.id for e in EXAMPLES if e.name not in load_records(e.module)]
    assert missing == []


def test_no_record_without_an_example():
    names = {(e.module, e.name) for e in EXAMPLES}
    orphans = [(m, n) for m in {e.module for e in EXAMPLES} for n in load_records(m) if (m, n) not in names]
    assert orphans == []


def test_every_record_is_what_regen_wrote():
    problems = [p for e in EXAMPLES for p in verify(e, load_records(e.module)[e.name])]
    assert problems == []
