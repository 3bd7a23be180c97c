"""The built-in layer-id rules of the model families, chosen by the backbone's class name.

Each rule sees parameter names relative to the backbone (``layers.3.attn.qkv.weight``) and
returns a layer id, or None for "not part of the stem or the body", which the caller puts in
layer N - 1 (scale 1) together with everything outside the backbone (heads, necks). The numbers
are MMSegmentation's (ViT/BEiT/MAE, ConvNeXt layer-wise and stage-wise) and MMPretrain's (Swin);
README.md states each rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

# Tokens and position embeddings: layer 0 when the backbone owns them, and never weight-decayed.
EMBEDDINGS = ("cls_token", "mask_token", "pos_embed")

LayerIdRule = Callable[[str], int | None]
# A rule factory gets every backbone-relative parameter name (Swin counts its blocks) and num_layers.
RuleFactory = Callable[[Sequence[str], int], LayerIdRule]


def is_embedding(own_name: str) -> bool:
    """A token or position embedding: the name ends in cls_token, mask_token or pos_embed."""
    return own_name.endswith(EMBEDDINGS)


def index_at(parts: Sequence[str], position: int) -> int | None:
    """The dotted component at ``position`` as an integer, None when absent or not a number."""
    if position >= len(parts) or not (parts[position].isascii() and parts[position].isdigit()):
        return None
    return int(parts[position])


def _stem_token(parts: Sequence[str]) -> bool:
    return len(parts) == 1 and is_embedding(parts[0])


def vit_rule(_names: Sequence[str], _num_layers: int) -> LayerIdRule:
    """Tokens, position embedding, ``patch_embed*`` -> 0; ``layers.i`` / ``blocks.i`` -> i + 1."""

    def layer(name: str) -> int | None:
        parts = name.split(".")
        if _stem_token(parts) or name.startswith("patch_embed"):
            return 0
        block = index_at(parts, 1)
        if parts[0] in ("layers", "blocks") and block is not None:
            return block + 1
        return None

    return layer


_CONVNEXT_DOWNSAMPLE = {0: 0, 1: 2, 2: 3}  # downsample_layers.3 (and any later one) -> num_layers
_CONVNEXT_STAGE = {0: 1, 1: 2}  # stages.2.b -> 3 + b // 3; stages.3 -> num_layers


def convnext_layer_rule(_names: Sequence[str], num_layers: int) -> LayerIdRule:
    """MMSegmentation's layer-wise ConvNeXt ids (num_layers is the deepest id, 12 for 27 blocks)."""

    def layer(name: str) -> int | None:
        parts = name.split(".")
        stage = index_at(parts, 1)
        if _stem_token(parts):
            return 0
        if parts[0] == "downsample_layers" and stage is not None:
            return _CONVNEXT_DOWNSAMPLE.get(stage, num_layers)
        if parts[0] == "stages" and stage is not None:
            if stage == 2:
                return 3 + (index_at(parts, 2) or 0) // 3
            return _CONVNEXT_STAGE.get(stage, num_layers)
        return None

    return layer


def convnext_stage_rule(_names: Sequence[str], _num_layers: int) -> LayerIdRule:
    """MMSegmentation's stage-wise ConvNeXt ids: downsample layers -> 0, ``stages.i`` -> i + 1."""

    def layer(name: str) -> int | None:
        parts = name.split(".")
        stage = index_at(parts, 1)
        if _stem_token(parts) or parts[0] == "downsample_layers":
            return 0
        if parts[0] == "stages" and stage is not None:
            return stage + 1
        return None

    return layer


def swin_rule(names: Sequence[str], _num_layers: int) -> LayerIdRule:
    """MMPretrain's Swin ids: ``patch_embed*`` (and a top-level position embedding) -> 0;
    ``stages.s.blocks.b`` -> blocks before stage s + b + 1; ``stages.s.downsample`` -> the id of
    stage s's last block. The blocks per stage are counted from the parameter names."""
    depths: dict[int, int] = {}
    for name in names:
        parts = name.split(".")
        stage, block = index_at(parts, 1), index_at(parts, 3)
        if parts[0] == "stages" and stage is not None and block is not None and parts[2] == "blocks":
            depths[stage] = max(depths.get(stage, 0), block + 1)

    def layer(name: str) -> int | None:
        parts = name.split(".")
        if _stem_token(parts) or name.startswith("patch_embed"):
            return 0
        stage = index_at(parts, 1)
        if parts[0] != "stages" or stage is None or len(parts) < 4:
            return None
        before = sum(depths.get(s, 0) for s in range(stage))
        block = index_at(parts, 3)
        if parts[2] == "blocks" and block is not None:
            return before + block + 1
        if parts[2] == "downsample":
            return before + depths.get(stage, 0)
        return None

    return layer


@dataclass(frozen=True)
class Family:
    """A model family: the class-name markers that select it and its rules.

    Attributes:
        name: how messages call it.
        markers: substrings of a class name that select the family.
        body: what its blocks are named, for the message when a backbone has none.
        layer_wise: the ``decay_type = "layer_wise"`` rule.
        stage_wise: the ``decay_type = "stage_wise"`` rule, None where the family has none.
    """

    name: str
    markers: tuple[str, ...]
    body: str
    layer_wise: RuleFactory
    stage_wise: RuleFactory | None = None


# ConvNeXt first, as MMSegmentation tests it first; Swin before ViT so that a "SwinViT" is Swin.
FAMILIES = (
    Family(
        "ConvNeXt",
        ("ConvNeXt",),
        "downsample_layers.<i> or stages.<i>",
        convnext_layer_rule,
        convnext_stage_rule,
    ),
    Family("Swin", ("Swin",), "stages.<s>.blocks.<b>", swin_rule),
    Family("ViT", ("BEiT", "MAE", "ViT", "VisionTransformer"), "layers.<i> or blocks.<i>", vit_rule),
)
MARKERS = tuple(marker for family in FAMILIES for marker in family.markers)


def find_family(backbone: nn.Module) -> Family | None:
    """The family of the first class in the backbone's MRO whose name contains a marker, so a
    subclass of ``VisionTransformer`` is a ViT whatever its own name."""
    for cls in type(backbone).__mro__:
        for family in FAMILIES:
            if any(marker in cls.__name__ for marker in family.markers):
                return family
    return None
