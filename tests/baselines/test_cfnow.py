"""CFNOW behind the Proposer: vector encoding, full rows that flip the model, honest failures."""

from __future__ import annotations

import pytest
from baselines.baseline_world import SmallWorld, assert_well_formed, small_world

from cf_agent.models.baselines import load_baseline
from cf_agent.models.baselines.cfnow import OneHotCodec, import_cfnow
from cf_agent.tools.classifier_check import rows_to_frame


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    return small_world(tmp_path_factory)


def test_codec_round_trips_and_leaves_the_immutables_out(small: SmallWorld) -> None:
    codec = OneHotCodec(small.spec)
    row = small.queries(1)[0].row
    vector = codec.encode(row)
    assert not {"n0", "c1_0", "c2_0"} & set(vector.index)  # age, sex, stage: immutable
    decoded = codec.decode(vector.to_numpy()[None, :], row).to_dict(orient="records")[0]
    assert decoded == row


def test_cfnow_groups_exactly_one_one_hot_block_per_categorical_feature(
    small: SmallWorld,
) -> None:
    """Feature names like sleep_total_min would fool CFNOW's underscore-prefix grouping."""
    from cfnow._data_standardizer import _get_ohe_params

    spec = small.spec.model_copy(
        update={
            "features": tuple(
                f.model_copy(update={"actionability": "free"}) if f.name == "sex" else f
                for f in small.spec.features
            )
        }
    )
    codec = OneHotCodec(spec)
    groups, _ = _get_ohe_params(codec.encode(small.queries(1)[0].row), True)
    assert [[codec.columns[i] for i in group] for group in groups] == [["c1_0", "c1_1"]]


def test_decode_rounds_ints_and_picks_the_largest_one_hot(small: SmallWorld) -> None:
    spec = small.spec.model_copy(
        update={
            "features": tuple(
                f.model_copy(update={"actionability": "free"}) if f.name == "sex" else f
                for f in small.spec.features
            )
        }
    )
    codec = OneHotCodec(spec)
    row = small.queries(1)[0].row
    vector = codec.encode(row)
    vector["c1_0"], vector["c1_1"] = 0.2, 0.9
    steps = f"n{spec.feature_names.index('steps')}"
    vector[steps] = 8123.6
    decoded = codec.decode(vector.to_numpy(), row).to_dict(orient="records")[0]
    assert decoded["sex"] == "male" and decoded["steps"] == 8124


def test_cfnow_greedy_returns_full_rows_that_flip_the_model(small: SmallWorld) -> None:
    proposer = load_baseline(
        "cfnow-greedy", small.spec, small.bundle, small.train, limit_seconds=0.5
    )
    assert proposer.name == "cfnow-greedy" and not proposer.is_llm
    query = small.queries(1)[0]
    proposals = proposer.propose(small.requests(query, 2))
    assert len(proposals) == 2
    returned = [p.values for p in proposals if p.values is not None]
    assert returned, [p.error for p in proposals]
    for values in returned:
        assert_well_formed(small, query.row, values)
    assert set(small.bundle.predict(rows_to_frame(small.spec, returned))) == {0}


def test_cfnow_random_stops_at_its_time_limit_with_an_error(small: SmallWorld) -> None:
    proposer = load_baseline(
        "cfnow-random", small.spec, small.bundle, small.train, time_limit_s=1e-6
    )
    (proposal,) = proposer.propose(small.requests(small.queries(1)[0], 1))
    assert proposal.values is None
    assert proposal.error == "cfnow-random found no counterfactual within its 1e-06 s limit"


def test_importing_cfnow_leaves_nltk_download_alone() -> None:
    import nltk

    download = nltk.download
    assert import_cfnow().find_tabular
    assert nltk.download is download
