"""Explanatory graph and Zhang metrics on tiny analytic maps whose answers are known."""
from __future__ import annotations

import io

import torch

from iin.zhang import graph_from_state, infer_graph, mine_graph
from iin.zhang.metrics import location_instability, part_interpretability, ridge_localisation, unit_localisation
from iin.zhang.positions import peak_positions

SIZE = 32


def test_location_instability_is_zero_for_a_rigid_unit_and_positive_for_a_random_one():
    gen = torch.Generator().manual_seed(0)
    landmarks = SIZE * torch.rand(50, 3, 2, generator=gen)
    rigid = landmarks[:, :1] + torch.tensor([2.0, -1.0])  # (N, 1, 2): always the same offset from landmark 0
    rigid_all = landmarks + torch.tensor([2.0, -1.0])  # follows every landmark
    random = SIZE * torch.rand(50, 1, 2, generator=gen)
    valid = torch.ones(50, 1, dtype=torch.bool)
    moving = location_instability(rigid, landmarks, valid, SIZE)
    assert location_instability(random, landmarks, valid, SIZE) > moving > 0
    still = location_instability(rigid_all[:, :1], landmarks[:, :1], valid, SIZE)
    assert float(still) < 1e-6


def test_part_interpretability_is_one_for_a_map_equal_to_the_part():
    gen = torch.Generator().manual_seed(1)
    masks = torch.zeros(20, 2, SIZE, SIZE, dtype=torch.bool)
    for i in range(20):
        x, y = torch.randint(4, SIZE - 8, (2,), generator=gen)
        masks[i, 0, y:y + 4, x:x + 4] = True
    fmap = torch.stack([masks[:, 0].float(), torch.rand(20, SIZE, SIZE, generator=gen)], 1)  # part detector, noise
    p_fk, part, iou = part_interpretability(fmap, masks, quantile=1 - 16 / SIZE**2)
    assert p_fk[0] == 1.0 and part[0] == 0 and iou[0] > 0.9 and p_fk[1] < 0.2


def _maps_with_a_part_and_clutter(n: int, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Top filter 0 fires at the object centre c; lower filter 0 fires at c + (4, 0) and at a random spot."""
    gen = torch.Generator().manual_seed(seed)
    centre = torch.randint(2, 6, (n, 2), generator=gen)  # cells of an 8 x 8 map (stride 4 px)
    top, low = torch.zeros(n, 2, 8, 8), torch.zeros(n, 1, 8, 8)
    rows = torch.arange(n)
    top[rows, 0, centre[:, 1], centre[:, 0]] = 1.0
    low[rows, 0, centre[:, 1], centre[:, 0] + 1] = 1.0  # the part: one cell to the right of the centre
    clutter = torch.randint(0, 8, (n, 2), generator=gen)
    low[rows, 0, clutter[:, 1], clutter[:, 0]] += 1.2  # a stronger distractor
    truth = (centre.float() + torch.tensor([1.5, 0.5])) * 4  # the part's centre in pixels
    return {"top": top, "low": low}, truth


def test_graph_nodes_find_the_part_where_the_raw_filter_jumps_to_clutter():
    maps, truth = _maps_with_a_part_and_clutter(200, seed=2)
    layers = mine_graph(maps, SIZE)
    pos, score = infer_graph(layers, maps, SIZE)["low"]  # (N, V, 2)
    node_err = (pos - truth[:, None]).norm(dim=-1).mean(0).min()
    raw_err = (peak_positions(maps["low"], SIZE)[0][:, 0] - truth).norm(dim=-1).mean()
    assert node_err < 1.0 < raw_err


def test_graph_state_loads_weights_only():
    maps, _ = _maps_with_a_part_and_clutter(40, seed=3)
    layers = mine_graph(maps, SIZE)
    buffer = io.BytesIO()
    torch.save([layer.state() for layer in layers], buffer)
    buffer.seek(0)
    again = graph_from_state(torch.load(buffer, weights_only=True))
    assert torch.equal(again[1].offsets, layers[1].offsets) and again[1].name == "low"


def test_few_shot_localisation_is_exact_for_a_rigid_unit():
    gen = torch.Generator().manual_seed(4)
    target = SIZE * torch.rand(30, 2, generator=gen)
    units = torch.stack([target - 3.0, SIZE * torch.rand(30, 2, generator=gen)], 1)  # (N, 2 units, 2)
    pred = unit_localisation(units[:3], target[:3], units[3:], select=1)
    assert (pred - target[3:]).abs().max() < 1e-4
    ridge = ridge_localisation(units[:3].flatten(1), target[:3], units[3:].flatten(1))
    assert ridge.shape == (27, 2)
