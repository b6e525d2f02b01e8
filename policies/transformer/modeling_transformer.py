"""The transformer policy's network: a small pre-norm encoder over one step's tokens, a step memory, heads.

Tokens of one step (width D):

    [DEC] [MEM] instruction words [W] | elements [N] | text registers [K]

``[MEM]`` carries the memory read-out: what the memory made of steps 0..t-1. The memory is fed one token
per step, built only from that step's *input* embeddings (an attention pool over its tokens) and the action
done there — never from the encoder's output — so during training the memory runs over a whole episode in
parallel (`MemoryBlock.forward`), and when acting it advances one O(1) `step` per decision; both give the
same read-outs (tests prove it).

Heads read the ``[DEC]`` output ``h`` [S, D] (S = steps) and the element outputs ``E`` [S, N, D]:
action type, target pointer (h·E), click offset inside the target, hotkey class, scroll direction and
amount, text copy (start and end pointers over instruction / element / register words, plus a submit
flag), and the register write pointer (which element's text to remember, or none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from policies.memory import build_memory
from policies.text import HashedTextEmbedding
from policies.transformer.configuration_transformer import ACTION_CLASSES, TransformerPolicyConfig
from policies.transformer.processor_transformer import GEOM_DIM, IGNORE, WORD_DIM, state_dim

TOKEN_TYPES = ("dec", "mem", "instr", "elem", "reg", "word")
NEG = -1e4  # masked logits (finite, so fp16 and softmax over fully-masked rows stay NaN-free)


@dataclass
class StepInputs:
    """Embedded tokens of S steps (before the encoder)."""

    instr: Tensor  # [S, W, D]
    imask: Tensor  # [S, W] bool
    elems: Tensor  # [S, N, D]
    emask: Tensor  # [S, N] bool
    regs: Tensor  # [S, K, D]
    rmask: Tensor  # [S, K] bool
    strings: Tensor  # [U, D] every string of the batch, embedded


class TransformerPolicyModel(nn.Module):
    def __init__(self, cfg: TransformerPolicyConfig):
        super().__init__()
        self.cfg = cfg
        D, K, We = cfg.d_model, cfg.n_registers, cfg.max_elem_words
        self.text = HashedTextEmbedding(dim=cfg.text_dim, n_buckets=cfg.text_buckets)
        self.text_proj = nn.Linear(cfg.text_dim, D)
        self.geom = nn.Sequential(nn.Linear(GEOM_DIM + state_dim(cfg), D), nn.GELU(), nn.Linear(D, D))
        # per-word cues (quoted, a number, ...: `cues.InstructionCues.word_features`); zero-initialised so
        # a warm start from a run without them begins exactly where that run was
        self.word_cues = nn.Linear(WORD_DIM, D) if cfg.cues else None
        if self.word_cues is not None:
            nn.init.zeros_(self.word_cues.weight)
            nn.init.zeros_(self.word_cues.bias)
        self.kind = nn.Embedding(len(cfg.kinds), D)
        self.visual = nn.Linear(cfg.visual_dim, D) if cfg.visual_dim else None
        self.type_emb = nn.Embedding(len(TOKEN_TYPES), D)
        self.word_pos = nn.Embedding(cfg.max_words, D)
        self.elem_word_pos = nn.Embedding(We, D)
        self.reg_slot = nn.Embedding(K, D)
        self.step_emb = nn.Embedding(cfg.step_positions, D)
        nn.init.zeros_(self.step_emb.weight)  # warm starts begin exactly where the earlier run was
        layer = nn.TransformerEncoderLayer(D, cfg.n_heads, D * cfg.ffn_mult, cfg.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(D)
        # memory: one token per step in, one read-out per step out
        self.pool_q = nn.Parameter(torch.randn(D) * D**-0.5)
        self.act_emb = nn.Embedding(len(ACTION_CLASSES) + 1, D)  # last row: no action
        self.key_emb = nn.Embedding(len(cfg.hotkeys) + 1, D)  # last row: no key
        self.mem_in = nn.Sequential(nn.Linear(2 * D, D), nn.GELU(), nn.Linear(D, D))
        opts = {"d_model": D, **cfg.memory_options}
        self.memory = nn.ModuleList(build_memory(cfg.memory, **opts) for _ in range(cfg.memory_layers))
        self.mem_norm = nn.LayerNorm(D)
        self.mem_out = nn.Linear(D, D)
        # heads
        self.head_act = nn.Linear(D, len(ACTION_CLASSES))
        # the pointed-at element's part of the action type (zero at first: warm starts keep their choices)
        self.head_act_tgt = nn.Linear(D, len(ACTION_CLASSES), bias=False) if cfg.act_from_target else None
        if self.head_act_tgt is not None:
            nn.init.zeros_(self.head_act_tgt.weight)
        self.ptr_q, self.ptr_k = nn.Linear(D, D), nn.Linear(D, D)
        self.head_offset = nn.Sequential(nn.Linear(2 * D, D), nn.GELU(), nn.Linear(D, 4))
        self.head_key = nn.Linear(D, len(cfg.hotkeys))
        self.head_key_tgt = nn.Linear(D, len(cfg.hotkeys), bias=False) if cfg.key_from_target else None
        if self.head_key_tgt is not None:
            nn.init.zeros_(self.head_key_tgt.weight)
        self.head_sdir = nn.Linear(D, 4)
        self.head_samt = nn.Linear(D, cfg.scroll_max)
        self.head_submit = nn.Linear(D, 2)
        self.write_q, self.write_k, self.write_null = nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, 1)
        self.word_ctx = nn.Linear(D, D)
        self.copy_qs, self.copy_qe, self.copy_k = nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, D)
        self.copy_mix = nn.Linear(D, D)

    # ------------------------------------------------------------------------------------ embedding
    def embed(self, batch: dict) -> StepInputs:
        """Token inputs of every step of the batch, flattened to S = B·T steps."""
        B, T, N = batch["kind"].shape
        D, W, K = self.cfg.d_model, batch["instr"].shape[1], self.cfg.n_registers
        types = self.type_emb.weight
        strings = self.embed_texts(batch)  # [U, D]; '' embeds to exactly zero
        instr = strings[batch["instr"]] + self.word_pos.weight[:W] + types[2]  # [B, W, D]
        instr = instr[:, None].expand(B, T, W, D)
        if self.word_cues is not None and batch.get("ifeat") is not None:
            instr = instr + self.word_cues(batch["ifeat"][:, :, :W])
        instr = instr.reshape(B * T, W, D)
        imask = (batch["instr"] > 0)[:, None].expand(B, T, W).reshape(B * T, W)
        feats = torch.cat([batch["geom"], batch["state"]], -1)
        elems = self.geom(feats) + self.kind(batch["kind"]) + strings[batch["etext"]] + types[3]
        if self.visual is not None and batch.get("visual") is not None:
            elems = elems + self.visual(batch["visual"])
        regs = strings[batch["rtext"]] + self.reg_slot.weight + types[4]  # [B, T, K, D]
        return StepInputs(
            instr=instr, imask=imask, elems=elems.reshape(B * T, N, D), emask=batch["emask"].reshape(B * T, N),
            regs=regs.reshape(B * T, K, D), rmask=(batch["rtext"] > 0).reshape(B * T, K), strings=strings,
        )  # fmt: skip

    def embed_texts(self, bags: dict[str, Tensor]) -> Tensor:
        """Embedded strings [U, D] from `processor_transformer.text_bags` (strings without words: zeros)."""
        e = self.text_proj(self.text(bags["text_ids"], bags["text_offsets"], bags["text_weights"]))
        return e * bags["text_nonempty"][:, None].to(e.dtype)

    def memory_tokens(self, inp: StepInputs, done_act: Tensor, done_tgt: Tensor, done_text: Tensor,
                      done_key: Tensor) -> Tensor:  # fmt: skip
        """What step s saw and did, as one token [S, D]. done_act/tgt/key: [S] (IGNORE / -1 / -1: none);
        done_text: the typed text, embedded [S, D] (zeros: none)."""
        S, _N, D = inp.elems.shape
        toks = torch.cat([inp.instr, inp.elems, inp.regs], 1)
        mask = torch.cat([inp.imask, inp.emask, inp.rmask], 1)
        att = (toks @ self.pool_q / math.sqrt(D)).masked_fill(~mask, NEG).softmax(-1)  # [S, L]
        pooled = (att[:, :, None] * toks).sum(1)
        n_act = len(ACTION_CLASSES)
        act = self.act_emb(torch.where(done_act < 0, n_act, done_act))
        tgt = inp.elems[torch.arange(S), done_tgt.clamp(min=0)] * (done_tgt >= 0)[:, None]
        key = self.key_emb(torch.where(done_key < 0, len(self.cfg.hotkeys), done_key))
        did = act + tgt + done_text + key
        return self.mem_in(torch.cat([pooled, did], -1))

    def readout(self, mem_tokens: Tensor) -> Tensor:
        """Parallel memory over episodes: tokens [B, T, D] -> read-outs [B, T, D] (step t sees steps < t)."""
        x = mem_tokens
        for block in self.memory:
            x = block(x)
        r = self.mem_out(self.mem_norm(x))
        return torch.cat([torch.zeros_like(r[:, :1]), r[:, :-1]], 1)

    def init_memory(self, batch_size: int = 1) -> list:
        p = next(self.parameters())
        return [block.init_state(batch_size, p.device, p.dtype) for block in self.memory]

    def memory_step(self, token: Tensor, states: list) -> tuple[Tensor, list]:
        """Recurrent memory: one token [S, D] -> (the read-out for the next step [S, D], states)."""
        x = token
        new = []
        for block, st in zip(self.memory, states, strict=True):
            x, st = block.step(x, st)
            new.append(st)
        return self.mem_out(self.mem_norm(x)), new

    # ------------------------------------------------------------------------------------ encoder + heads
    def encode(self, inp: StepInputs, readout: Tensor, step: Tensor | None = None) -> dict[str, Tensor]:
        """Run the encoder; readout [S, D], step [S] (steps before this one; None: not given).
        Returns h [S, D], elems [S, N, D], instr [S, W, D], regs [S, K, D]."""
        S, N, D = inp.elems.shape
        W, _K = inp.instr.shape[1], inp.regs.shape[1]
        types = self.type_emb.weight
        dec = types[0].expand(S, 1, D)
        mem = readout + types[1]
        if step is not None:  # how many steps came before (the part of history a mean cannot hold)
            mem = mem + self.step_emb(step.clamp(max=self.cfg.step_positions - 1))
        mem = mem[:, None]
        x = torch.cat([dec, mem, inp.instr, inp.elems, inp.regs], 1)
        on = torch.ones(S, 2, dtype=torch.bool, device=x.device)
        mask = torch.cat([on, inp.imask, inp.emask, inp.rmask], 1)
        y = self.out_norm(self.encoder(x, src_key_padding_mask=~mask))
        return {
            "h": y[:, 0],
            "instr": y[:, 2 : 2 + W],
            "elems": y[:, 2 + W : 2 + W + N],
            "regs": y[:, 2 + W + N :],
        }

    def candidate_mask(self, words: dict[str, Tensor], inp: StepInputs) -> tuple[Tensor, Tensor]:
        """Which copy candidates exist [S, M] and their source ids [M] (0: instruction, 1+n: element n,
        1+N+k: register k)."""
        S, N, We = words["ewords"].shape
        K, W = words["rwords"].shape[1], inp.instr.shape[1]
        mask = torch.cat(
            [inp.imask, (words["ewords"] > 0).reshape(S, -1), (words["rwords"] > 0).reshape(S, -1)], 1
        )
        dev = mask.device
        source = torch.cat([torch.zeros(W, dtype=torch.long, device=dev),
                            1 + torch.arange(N + K, device=dev).repeat_interleave(We)])  # fmt: skip
        return mask, source

    def copy_scores(
        self, q: Tensor, words: dict[str, Tensor], inp: StepInputs, enc: dict[str, Tensor]
    ) -> Tensor:
        """q·copy_k(c) / √D for every copy candidate c -> [S, M].

        A candidate word is the sum (string embedding + word position + its element's or register's context +
        type); copy_k is linear, so each part is scored on its own and the parts are added: no [S, M, D]
        tensor is ever built (M is ~N·8, the largest dimension of a step).
        """
        S = q.shape[0]
        qt = q @ self.copy_k.weight  # q·(Wx + b) = (qW)·x + q·b
        const = qt @ self.type_emb.weight[5] + q @ self.copy_k.bias  # [S]
        per_string = qt @ inp.strings.T  # [S, U]
        pos = qt @ self.elem_word_pos.weight.T  # [S, We]
        parts = [torch.einsum("sd,swd->sw", qt, enc["instr"]) - const[:, None]]
        for key, ctx in (("ewords", enc["elems"]), ("rwords", enc["regs"])):
            idx = words[key]  # [S, n, We]
            sc = per_string.gather(1, idx.reshape(S, -1)).reshape(idx.shape)
            sc = sc + pos[:, None] + torch.einsum("sd,snd->sn", qt, self.word_ctx(ctx))[:, :, None]
            parts.append(sc.reshape(S, -1))
        return (torch.cat(parts, 1) + const[:, None]) * q.shape[-1] ** -0.5

    def candidate_vectors(
        self, idx: Tensor, words: dict[str, Tensor], inp: StepInputs, enc: dict[str, Tensor]
    ) -> Tensor:
        """The vector of copy candidate ``idx`` [S] of each step -> [S, D] (what copy_k scores)."""
        S, N, We = words["ewords"].shape
        K, W = words["rwords"].shape[1], enc["instr"].shape[1]
        s = torch.arange(S, device=idx.device)
        c_instr = enc["instr"][s, idx.clamp(max=W - 1)]
        j = (idx - W).clamp(min=0)
        t5 = self.type_emb.weight[5]
        pos = self.elem_word_pos.weight
        n, w = (j // We).clamp(max=N - 1), j % We
        c_el = inp.strings[words["ewords"][s, n, w]] + pos[w] + self.word_ctx(enc["elems"][s, n]) + t5
        jr = (j - N * We).clamp(min=0)
        k, wr = (jr // We).clamp(max=K - 1), jr % We
        c_reg = inp.strings[words["rwords"][s, k, wr]] + pos[wr] + self.word_ctx(enc["regs"][s, k]) + t5
        where_instr = (idx < W)[:, None]
        where_el = (j < N * We)[:, None]
        return torch.where(where_instr, c_instr, torch.where(where_el, c_el, c_reg))

    def heads(self, words: dict[str, Tensor], inp: StepInputs, enc: dict[str, Tensor]) -> dict[str, Tensor]:
        """Logits of every head that needs no chosen target or start word, for S steps.

        ``words``: ewords [S, N, We] and rwords [S, K, We], string indices of the copyable words."""
        h, E = enc["h"], enc["elems"]
        D = h.shape[-1]
        scale = D**-0.5
        ptr = torch.einsum("sd,snd->sn", self.ptr_q(h), self.ptr_k(E)) * scale
        act, key = self.head_act(h), self.head_key(h)
        if self.head_act_tgt is not None or self.head_key_tgt is not None:
            # the element being pointed at (its kind, its value): no gradient into the pointer from here
            p = ptr.masked_fill(~inp.emask, NEG).softmax(-1).detach()
            pointed = torch.einsum("sn,snd->sd", p, E)
            if self.head_act_tgt is not None:
                act = act + self.head_act_tgt(pointed)
            if self.head_key_tgt is not None:
                key = key + self.head_key_tgt(pointed)
        write = torch.einsum("sd,snd->sn", self.write_q(h), self.write_k(E)) * scale
        write = torch.cat([write.masked_fill(~inp.emask, NEG), self.write_null(h)], -1)
        cmask, source = self.candidate_mask(words, inp)
        start = self.copy_scores(self.copy_qs(h), words, inp, enc).masked_fill(~cmask, NEG)
        return {
            "act": act, "ptr": ptr.masked_fill(~inp.emask, NEG), "write": write,
            "key": key, "sdir": self.head_sdir(h), "samt": self.head_samt(h),
            "submit": self.head_submit(h), "start": start, "_cmask": cmask, "_source": source,
        }  # fmt: skip

    def offset(self, enc: dict[str, Tensor], tgt: Tensor) -> Tensor:
        """Click offset (u, v) and drag end (u2, v2) inside element ``tgt`` [S] (box units) -> [S, 4]."""
        S = tgt.shape[0]
        e = enc["elems"][torch.arange(S), tgt.clamp(min=0)]
        return self.head_offset(torch.cat([enc["h"], e], -1))

    def end_logits(self, words: dict[str, Tensor], inp: StepInputs, enc: dict[str, Tensor], out: dict[str, Tensor],
                   start: Tensor) -> Tensor:  # fmt: skip
        """End-word logits [S, M] given start words [S]: only words of the same source at or after it."""
        st = start.clamp(min=0)
        c0 = self.candidate_vectors(st, words, inp, enc)
        q = self.copy_qe(enc["h"]) + self.copy_mix(c0)
        logits = self.copy_scores(q, words, inp, enc)
        M = logits.shape[1]
        src = out["_source"]
        idx = torch.arange(M, device=st.device)
        ok = out["_cmask"] & (src[None] == src[st][:, None]) & (idx[None] >= st[:, None])
        return logits.masked_fill(~ok, NEG)

    # ------------------------------------------------------------------------------------ training
    def step_logits(self, batch: dict, memory: bool = True) -> tuple[StepInputs, dict, dict, dict]:
        """Everything for the batch's real steps (``smask``, in order) in parallel, the memory fed with the
        actions done (teacher forcing). Returns (inputs, encoder outputs, head logits, copyable words)."""
        B, T, N = batch["kind"].shape
        inp = self.embed(batch)
        flat = {k: batch[k].reshape(-1) for k in ("done_act", "done_tgt", "done_text", "done_key")}
        if memory:
            text = inp.strings[flat["done_text"]]
            tokens = self.memory_tokens(inp, flat["done_act"], flat["done_tgt"], text, flat["done_key"])
            readout = self.readout(tokens.reshape(B, T, -1)).reshape(B * T, -1)
        else:
            readout = inp.elems.new_zeros(B * T, self.cfg.d_model)
        # padded steps never reach the encoder (episodes differ a lot in length)
        v = batch["smask"].reshape(-1).nonzero().squeeze(1)
        inp = StepInputs(instr=inp.instr[v], imask=inp.imask[v], elems=inp.elems[v], emask=inp.emask[v],
                         regs=inp.regs[v], rmask=inp.rmask[v], strings=inp.strings)  # fmt: skip
        words = {"ewords": batch["ewords"].reshape(B * T, N, -1)[v],
                 "rwords": batch["rwords"].reshape(B * T, self.cfg.n_registers, -1)[v]}  # fmt: skip
        steps = torch.arange(T, device=readout.device).repeat(B) * int(memory)
        enc = self.encode(inp, readout[v], steps[v])
        return inp, enc, self.heads(words, inp, enc), words

    def forward(self, batch: dict, memory: bool = True) -> tuple[Tensor, dict[str, float]]:
        """Behaviour-cloning loss over every real step of the batch -> (loss, logs)."""
        inp, enc, out, words = self.step_logits(batch, memory)
        valid = batch["smask"].reshape(-1)

        def lab(key: str) -> Tensor:
            return batch[key].reshape(valid.shape[0], *batch[key].shape[2:])[valid]

        act, tgt, span = lab("act"), lab("tgt"), lab("span")
        losses = {
            "act": _ce(out["act"], act), "ptr": _ce(out["ptr"], tgt), "key": _ce(out["key"], lab("key")),
            "sdir": _ce(out["sdir"], lab("sdir")), "samt": _ce(out["samt"], lab("samt")),
            "submit": _ce(out["submit"], lab("submit")), "write": 0.5 * _ce(out["write"], lab("write")),
            "start": _ce(out["start"], span[:, 0]),
            "end": _ce(self.end_logits(words, inp, enc, out, span[:, 0]), span[:, 1]),
        }  # fmt: skip
        off_lab = lab("offset")
        off_ok = ~torch.isnan(off_lab) & (tgt >= 0)[:, None]
        if off_ok.any():
            pred = self.offset(enc, tgt)
            losses["offset"] = 4 * F.smooth_l1_loss(pred[off_ok], off_lab[off_ok], beta=0.05)
        else:
            losses["offset"] = out["act"].sum() * 0
        loss = sum(losses.values())
        logs = {f"loss_{k}": float(v.detach()) for k, v in losses.items()}
        with torch.no_grad():
            for name, logits, y in (("act", out["act"], act), ("ptr", out["ptr"], tgt),
                                    ("start", out["start"], span[:, 0])):  # fmt: skip
                ok = y != IGNORE
                if ok.any():
                    logs[f"acc_{name}"] = float((logits[ok].argmax(-1) == y[ok]).float().mean())
        return loss, logs


def _ce(logits: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy over the rows whose target is not IGNORE (0 when there are none)."""
    ok = target != IGNORE
    if not ok.any():
        return logits.sum() * 0
    return F.cross_entropy(logits[ok].float(), target[ok])
