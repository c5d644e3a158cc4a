import numpy as np
import pytest

from rcml_core.errors import ConfigError

from rcml_core.runtime.run_config import SamplerConfig
from rcml_core.train.sampler import PairSampler, RelatedPairs, false_negative_mask
from tests.train.fake_dataset import fake_dataset


def test_false_negative_mask_excludes_related_same_item_and_anchor_but_never_the_positive() -> None:
    related = RelatedPairs(np.array([0, 3]), np.array([1, 4]), n_items=10)
    src = np.array([0, 3, 5, 1])
    dst = np.array([2, 5, 3, 1])  # row 3 is an intra pair (1, 1)
    mask = false_negative_mask(src, dst, related)
    assert not mask.diagonal().any()
    # row 1 (anchor 3): column 2's target is 3 = the anchor itself
    assert mask[1, 2]
    # row 0 (anchor 0): column 3's target 1 is related to 0 in the graph
    assert mask[0, 3]
    # row 2 (anchor 5): column 1's target 5 is the anchor; column 0's target 2 is a true negative
    assert mask[2, 1] and not mask[2, 0]
    # row 1 (anchor 3) vs column 0 (target 2): unrelated -> negative
    assert not mask[1, 0]


def test_duplicate_targets_are_masked_as_false_negatives() -> None:
    src, dst = np.array([0, 1]), np.array([5, 5])
    mask = false_negative_mask(src, dst, None)
    assert mask[0, 1] and mask[1, 0]


def test_epoch_holds_every_edge_once_plus_the_intra_share() -> None:
    ds = fake_dataset()
    s = PairSampler(ds, batch_size=2, config=SamplerConfig(intra_fraction=0.5, drop_last=False), seed=0)
    src, dst, rel = s.epoch_pairs(0)
    inter = rel != 0
    assert inter.sum() == 5 and (~inter).sum() == 5
    undirected = sorted(tuple(sorted(p)) + (r,) for p, r in zip(zip(src[inter], dst[inter]), rel[inter]))
    assert undirected == sorted([(0, 1, 1), (1, 2, 2), (3, 4, 1), (5, 6, 2), (0, 6, 1)])
    assert (src[~inter] == dst[~inter]).all()


def test_epochs_are_deterministic_for_a_seed_and_differ_between_epochs() -> None:
    ds = fake_dataset()
    a = PairSampler(ds, 2, SamplerConfig(), seed=3)
    b = PairSampler(ds, 2, SamplerConfig(), seed=3)
    for x, y in zip(a.epoch_pairs(1), b.epoch_pairs(1)):
        np.testing.assert_array_equal(x, y)
    assert not all(np.array_equal(x, y) for x, y in zip(a.epoch_pairs(1), a.epoch_pairs(2)))


def test_ranks_split_one_processs_steps_and_mask_their_rows_over_the_whole_step() -> None:
    # batch_size is the global batch: 2 ranks x 2 rows hold exactly one process's 4-pair steps, and each rank's
    # false-negative mask is its rows of one process's (4, 4) mask
    ds = fake_dataset(n_items=40, edges=[(k, k + 1, 1 + k % 2) for k in range(39)])
    single = list(PairSampler(ds, 4, SamplerConfig(), seed=0).epoch(0))
    shards = [list(PairSampler(ds, 4, SamplerConfig(), seed=0, rank=r, world_size=2).epoch(0)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == len(single) > 0
    for whole, parts in zip(single, zip(*shards)):
        for field in ("src", "dst", "relation"):
            np.testing.assert_array_equal(np.concatenate([getattr(p, field) for p in parts]), getattr(whole, field))
        np.testing.assert_array_equal(np.concatenate([p.false_negative for p in parts]), whole.false_negative)
        assert all(p.false_negative.shape == (2, 4) and p.world_size == 2 for p in parts)
        assert all((p.step_relations == whole.relation).all() for p in parts)


def test_a_global_batch_that_does_not_split_evenly_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="train.batch_size 5 must be a multiple of the 2 data-parallel workers"):
        PairSampler(fake_dataset(), 5, SamplerConfig(), seed=0, rank=0, world_size=2)


def test_a_ranks_mask_never_hides_its_own_positive_at_its_offset() -> None:
    src, dst, columns = np.array([4, 5]), np.array([6, 6]), np.array([1, 2, 6, 6])  # rank 1 of 2, rows 2-3
    mask = false_negative_mask(src, dst, None, columns=columns, offset=2)
    assert not mask[0, 2] and not mask[1, 3]  # the positives
    assert mask[0, 3] and mask[1, 2]  # the same item as the positive, on the other row
    assert not mask[:, :2].any()


def test_no_inter_edges_yields_only_intra_pairs_over_all_items() -> None:
    ds = fake_dataset()
    s = PairSampler(ds, 3, SamplerConfig(use_inter_edges=False), seed=0)
    src, dst, rel = s.epoch_pairs(0)
    assert (rel == 0).all() and sorted(src) == list(range(12)) and (src == dst).all()


def test_too_few_pairs_for_a_batch_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="train.batch_size 8: .*fewer than one batch"):
        PairSampler(fake_dataset(n_items=3, edges=[]), batch_size=8, config=SamplerConfig(), seed=0)


def test_without_inter_edges_an_epoch_has_as_many_pairs_as_with_them() -> None:
    ds = fake_dataset(n_items=10, edges=[(k % 10, (k * 3 + 1) % 10, 1 + k % 2) for k in range(30)])
    full = PairSampler(ds, 4, SamplerConfig(intra_fraction=0.25), seed=0)
    clip_style = PairSampler(ds, 4, SamplerConfig(intra_fraction=0.25, use_inter_edges=False), seed=0)
    assert len(clip_style.epoch_pairs(0)[0]) == len(full.epoch_pairs(0)[0]) == 40
    assert len(clip_style) == len(full)
    src = clip_style.epoch_pairs(0)[0]
    counts = np.bincount(src, minlength=10)
    assert counts.max() - counts.min() <= 1  # every item about equally often


def test_category_groups_lay_out_runs_of_same_category_targets_and_keep_every_pair_once() -> None:
    from rcml_core.train.sampler import category_keys, grouped_order

    rng = np.random.default_rng(0)
    keys = rng.integers(0, 5, size=203)
    perm = rng.permutation(203)
    order = grouped_order(keys[perm], 8, np.random.default_rng(1), perm)
    assert sorted(order.tolist()) == list(range(203))  # a permutation: every pair once
    laid_out = keys[order]
    changes = int((laid_out[1:] != laid_out[:-1]).sum())
    runs = sum(-(-int((keys == k).sum()) // 8) for k in np.unique(keys))  # ceil(n_k / 8) runs per key
    assert changes <= runs - 1  # targets change category only between runs (shuffled: ~160 changes)
    assert category_keys(["Baby > Feeding > Cups", "Baby > Feeding > Bibs", "Baby > Bath", "Books"]).tolist() == [
        1, 1, 0, 2]


@pytest.mark.parametrize("hub_factor", [16, 0])  # 0: every row item takes the hub path (binary search)
def test_the_neighbour_walk_equals_the_pairwise_graph_test(hub_factor, monkeypatch) -> None:
    import rcml_core.train.sampler as sampler_module

    monkeypatch.setattr(sampler_module, "HUB_FACTOR", hub_factor)
    rng = np.random.default_rng(7)
    n = 300
    popular = rng.zipf(1.6, 4000) % n  # a few items with many neighbours, as in real purchase graphs
    src, dst = popular[:2000], rng.integers(0, n, 2000)
    src = np.concatenate([src, [5, 9]])  # a self-loop and an isolated pair
    dst = np.concatenate([dst, [5, 299]])
    related = RelatedPairs(src, dst, n)
    for b in (2, 17, 64):
        rows, columns = rng.choice(popular, b), rng.integers(0, n, b)
        np.testing.assert_array_equal(related.outer(rows, columns), related.contains(rows[:, None], columns[None, :]))
    empty = RelatedPairs(np.empty(0, np.int64), np.empty(0, np.int64), 10)
    assert not empty.outer(np.array([1, 2]), np.array([3, 1])).any()


def test_ddp_ranks_run_the_same_number_of_full_batches_even_without_drop_last() -> None:
    # 52 pairs an epoch; a global batch of 10: one process keeps a last batch of 2 pairs, two ranks drop it
    ds = fake_dataset(n_items=40, edges=[(k, k + 1, 1 + k % 2) for k in range(39)])
    config = SamplerConfig(drop_last=False)
    single = PairSampler(ds, 10, config, seed=0)
    assert len(single.epoch_pairs(0)[0]) == 52 and len(list(single.epoch(0))[-1]) == 2  # one process keeps it
    ranks = [list(PairSampler(ds, 10, config, seed=0, rank=r, world_size=2).epoch(0)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 52 // 10
    assert all(len(b) == 5 for shard in ranks for b in shard)  # every collective has a partner on every rank
