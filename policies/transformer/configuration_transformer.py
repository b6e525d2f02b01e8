"""Configuration of the transformer policy: sizes, vocabularies and the memory mechanism.

The config is saved beside the weights (``config.json``) and is everything needed to rebuild the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from agent.errors import DeskpilotError
from agent.types import ELEMENT_KINDS

#: What the action-type head chooses between. Click variants are separate classes so one head decides them.
ACTION_CLASSES: tuple[str, ...] = (
    "click", "double_click", "right_click", "move", "drag", "scroll", "type", "hotkey", "wait", "finished",
)  # fmt: skip

#: Key combos the hotkey head knows from the start ("+"-joined canonical names, modifiers first);
#: training extends the list with every combo the demonstrations use.
DEFAULT_HOTKEYS: tuple[str, ...] = (
    "enter", "tab", "escape", "backspace", "delete", "space", "up", "down", "left", "right", "home", "end",
    "pageup", "pagedown", "shift+tab", "ctrl+a", "ctrl+c", "ctrl+v", "ctrl+x", "ctrl+z", "ctrl+y",
    "ctrl+shift+z", "ctrl+s", "ctrl+o", "ctrl+n", "ctrl+f", "ctrl+p", "ctrl+w", "ctrl+q", "alt+f4",
)  # fmt: skip

SCROLL_DIRECTIONS: tuple[str, ...] = ("up", "down", "left", "right")

MEMORY_KINDS: tuple[str, ...] = ("linear", "performer", "gau", "s4d", "softmax")


@dataclass
class TransformerPolicyConfig:
    """Sizes of the policy.

    Attributes:
        d_model: token width D.
        n_layers, n_heads, ffn_mult: the pre-norm transformer encoder over one step's tokens.
        dropout: dropout inside the encoder (training only).
        text_dim: width of the hashed n-gram text embedding (projected to D).
        text_buckets: rows of the n-gram bucket table.
        max_words: instruction tokens kept (longer instructions are cut).
        max_elements: elements kept per step (the rest are dropped; the target is always kept in training).
        max_elem_words: words of one element's text that the text-copy head can point at.
        n_registers: text registers (FIFO) that remember element texts read on earlier screens.
        visual_dim: width of the detector's per-element embedding (0: not used).
        memory: mechanism of the step memory, one of `MEMORY_KINDS`.
        memory_layers: stacked memory blocks.
        memory_options: extra `policies.memory` options (n_heads, d_state, ...).
        scroll_max: scroll amounts 1..scroll_max are classes (larger amounts are clipped).
        step_positions: the step counter embedded into the memory token (later steps share the last row);
            normalised attention averages its history, so it cannot count repeats without it.
        hotkeys: the hotkey head's vocabulary.
        kinds: element kinds with an embedding (anything else maps to "other").
        feature_version: 1, the original element features; 2 adds `policies.transformer.cues` (numbers
            parsed from the instruction, slider/spin values, click counts, per-word quote/number/field
            cues); 3 adds where the instruction mentions each element (`cues.InstructionCues.mention_order`).
            Configs saved without the key are version 1.
        act_from_target: the action-type head also reads the element the pointer favours (its kind decides
            click vs drag: a slider is dragged, a button clicked). Off in configs saved without the key.
        key_from_target: the hotkey head reads it too (left or page-up depends on the slider's value), and
            the pointer is also trained on the element a key press or typed text is for. Off in configs
            saved without the key.
    """

    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    ffn_mult: int = 2
    dropout: float = 0.0
    text_dim: int = 64
    text_buckets: int = 1 << 15
    max_words: int = 48
    max_elements: int = 80
    max_elem_words: int = 8
    n_registers: int = 4
    visual_dim: int = 0
    memory: str = "linear"
    memory_layers: int = 1
    memory_options: dict[str, Any] = field(default_factory=dict)
    scroll_max: int = 10
    step_positions: int = 64
    hotkeys: list[str] = field(default_factory=lambda: list(DEFAULT_HOTKEYS))
    kinds: list[str] = field(default_factory=lambda: [*ELEMENT_KINDS, "other"])
    feature_version: int = 3
    act_from_target: bool = True
    key_from_target: bool = True

    def __post_init__(self) -> None:
        for name in ("d_model", "n_layers", "n_heads", "ffn_mult", "text_dim", "text_buckets", "max_words",
                     "max_elements", "max_elem_words", "n_registers", "memory_layers", "scroll_max",
                     "step_positions"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DeskpilotError(f"policy config: {name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise DeskpilotError(
                f"policy config: d_model ({self.d_model}) must divide by n_heads ({self.n_heads})"
            )
        if not isinstance(self.visual_dim, int) or self.visual_dim < 0:
            raise DeskpilotError(f"policy config: visual_dim must be >= 0, got {self.visual_dim!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise DeskpilotError(f"policy config: dropout must be in [0, 1), got {self.dropout}")
        if self.memory not in MEMORY_KINDS:
            raise DeskpilotError(
                f"policy config: memory must be one of {', '.join(MEMORY_KINDS)}, got {self.memory!r}"
            )
        if not self.hotkeys or len(set(self.hotkeys)) != len(self.hotkeys):
            raise DeskpilotError("policy config: hotkeys must be a non-empty list without repeats")
        if self.feature_version not in (1, 2, 3):
            raise DeskpilotError(
                f"policy config: feature_version must be 1, 2 or 3, got {self.feature_version!r}"
            )
        if "other" not in self.kinds:
            self.kinds = [*self.kinds, "other"]

    @property
    def cues(self) -> bool:
        """Whether the `policies.transformer.cues` features are on (feature_version 2)."""
        return self.feature_version >= 2

    @property
    def order_cues(self) -> bool:
        """Whether each element also gets where the instruction mentions it (feature_version 3)."""
        return self.feature_version >= 3

    @property
    def action_classes(self) -> tuple[str, ...]:
        return ACTION_CLASSES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransformerPolicyConfig:
        """Build from a dict (config.json), naming unknown keys instead of ignoring them."""
        if not isinstance(data, dict):
            raise DeskpilotError("policy config must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DeskpilotError(f"policy config: unknown option(s) {', '.join(unknown)}")
        return cls(
            **{"feature_version": 1, "act_from_target": False, "key_from_target": False, **data}
        )  # saved before these existed
