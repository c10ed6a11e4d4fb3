"""The projector on its own: shapes, modes, and the distance objective on an exact linear map."""

import pytest
import torch

from ptt.errors import PttError
from ptt.transfer.cross_model.projector import Projector, ProjectedPrompt, ProjectorShape, distance_loss


def test_token_and_flat_shapes():
    token = Projector(ProjectorShape(5, 8, 5, 12, hidden=16, mode="token"))
    assert token(torch.randn(5, 8)).shape == (5, 12)
    flat = Projector(ProjectorShape(5, 8, 3, 12, hidden=16, mode="flat"))
    assert flat(torch.randn(5, 8)).shape == (3, 12)
    with pytest.raises(PttError, match="--mode token: source length 5 != target length 3"):
        ProjectorShape(5, 8, 3, 12, mode="token")


def test_distance_objective_fits_an_exact_linear_map_near_zero():
    torch.manual_seed(0)
    w = torch.randn(8, 12) * 0.3
    sources = [torch.randn(6, 8) * 0.5 for _ in range(3)]
    targets = [s @ w for s in sources]
    proj = Projector(ProjectorShape(6, 8, 6, 12, hidden=64, mode="token"))
    opt = torch.optim.Adam(proj.parameters(), lr=3e-3)
    first = None
    for _ in range(1500):
        loss = sum(distance_loss(proj(s), t, "mse") for s, t in zip(sources, targets)) / 3
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3 * first and loss.item() < 1e-3
    assert distance_loss(targets[0], targets[0], "cosine").item() == pytest.approx(0.0, abs=1e-6)


def test_projected_prompt_trains_only_the_projector():
    src = {"sst2": torch.randn(4, 8), "mr": torch.randn(4, 8)}
    pp = ProjectedPrompt(Projector(ProjectorShape(4, 8, 4, 6, hidden=16)), src)
    assert [n for n, p in pp.named_parameters() if p.requires_grad] == [
        "projector.net.0.weight", "projector.net.0.bias", "projector.net.2.weight", "projector.net.2.bias"]
    pp.use("mr")
    assert torch.allclose(pp(), pp.projector(src["mr"]))
