"""Named matcher settings compared by scripts/eval_match_landmarks.py and scripts/bench_match.py.

Each is (MatchSettings, taps). ``round1`` is the default before issue 16's second round (whole-image
match on a 16 grid, raw features of b16 + b64, 40 steps); most variants are spelled relative to it,
as they were measured.
"""
from dataclasses import replace

from .deformable_match import PAPER_SETTINGS, MatchSettings

PAPER_TAPS = ["b16", "b64"]
TAPS3 = ["b16", "b32", "b64"]
_R1 = MatchSettings(steps=40, align_grid=16, whiten=False)
_W = replace(_R1, whiten=True)

MATCH_METHODS = {
    "paper": (PAPER_SETTINGS, PAPER_TAPS),
    "default": (MatchSettings(), TAPS3),
    "round1": (_R1, PAPER_TAPS),
    "align": (replace(_R1, prior_weight=0.0), PAPER_TAPS),
    "align_prior2": (replace(_R1, prior_weight=0.2), PAPER_TAPS),
    "member": (replace(_R1, membership_weight=1.0), PAPER_TAPS),
    # issue 16, second round: the whole-image stage alone, context windows, whitening, taps, votes
    "whole16": (replace(_R1, part_search=False), PAPER_TAPS),
    "whole32": (replace(_R1, part_search=False, align_grid=32), PAPER_TAPS),
    "ctx2": (replace(_R1, context=2.0), PAPER_TAPS),
    "ctx3": (replace(_R1, context=3.0), PAPER_TAPS),
    "ctx4": (replace(_R1, context=4.0), PAPER_TAPS),
    "white": (_W, PAPER_TAPS),
    "round1_b32": (_R1, TAPS3),
    "whole32_white": (replace(_W, part_search=False, align_grid=32), PAPER_TAPS),
    "white_ctx2": (replace(_W, context=2.0), PAPER_TAPS),
    "white_b16only": (_W, ["b16"]),
    "white_b32only": (_W, ["b32"]),
    "white_b64only": (_W, ["b64"]),
    "b32only": (_R1, ["b32"]),
    "white_b32": (_W, TAPS3),
    "white_b32_soft": (replace(_W, soft_peak=0.01), TAPS3),
    "white_b32_g32": (replace(_W, align_grid=32), TAPS3),
    "vote": (replace(_W, vote=0.12), TAPS3),
    "vote_noprior": (replace(_W, vote=0.12, prior_weight=0.0), TAPS3),
    "vote_g32": (replace(_W, vote=0.12, align_grid=32), TAPS3),
    "round1_nf": (replace(_R1, noise_free=True), PAPER_TAPS),
    "white_b32_g32_nf": (replace(_W, align_grid=32, noise_free=True), TAPS3),
    "vote_g32_nf": (replace(_W, vote=0.12, align_grid=32, noise_free=True), TAPS3),
    "wbg_p02": (replace(_W, align_grid=32, prior_weight=0.02), TAPS3),
    "wbg_p10": (replace(_W, align_grid=32, prior_weight=0.1), TAPS3),
    "wbg_s08": (replace(_W, align_grid=32, prior_sigma=0.08), TAPS3),
    "wbg_c1": (replace(_W, align_grid=32), ["b16", "b32.conv1", "b32", "b64"]),
    "wbg_ctx15": (replace(_W, align_grid=32, context=1.5), TAPS3),
    "wbg_s20": (replace(_W, align_grid=32, steps=20), TAPS3),
    "tw_half16": (replace(MatchSettings(), tap_weights=(0.5, 1.0, 1.0)), TAPS3),
    "tw_b32x2": (replace(MatchSettings(), tap_weights=(1.0, 2.0, 1.0)), TAPS3),
    "tw_b32mid": (replace(MatchSettings(), tap_weights=(0.5, 2.0, 0.5)), TAPS3),
    # issue 16, third round: pixel-level fine stage, horizontal freedom (measured from the default)
    "rgb_tap": (MatchSettings(), TAPS3 + ["rgb"]),
    "ref_rgb4": (replace(MatchSettings(), refine_taps=("rgb",)), TAPS3),
    "ref_rgb4_ncc": (replace(MatchSettings(), refine_taps=("rgb",), refine_ncc=True), TAPS3),
    "ref_rgbb64": (replace(MatchSettings(), refine_taps=("rgb", "b64")), TAPS3),
    "ref_rgb4_ctx2": (replace(MatchSettings(), refine_taps=("rgb",), refine_context=2.0), TAPS3),
    "ref_rgb_h8": (replace(MatchSettings(), refine_taps=("rgb",), refine_window=(8, 1)), TAPS3),
    "ref_taps_h8": (replace(MatchSettings(), refine_taps=tuple(TAPS3), refine_window=(8, 1)), TAPS3),
    "aniso_x2": (replace(MatchSettings(), prior_sigma_x=0.10), TAPS3),
    "aniso_x3": (replace(MatchSettings(), prior_sigma_x=0.15), TAPS3),
}
