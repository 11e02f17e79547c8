"""Check the vendored MiniFASNet ONNX files against the original PyTorch weights (run once).

The ONNX files in resources/models are third-party conversions (yakhyo/face-anti-spoofing) of
minivision-ai's `.pth` files. This script runs the `.pth` weights through the network written
out here from the state dict (conv + batch norm + PReLU blocks, depth-wise separable residual
blocks, squeeze-and-excitation in the V1SE's last block of each stage; strides 2 at conv1,
conv_23, conv_34, conv_45), in eval mode, and compares the logits with onnxruntime's on the
same inputs: random 0-255 images and flat grey ones.

torch is not a face-kiosk dependency: run this from a scratch virtualenv, e.g.

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy onnxruntime
    /tmp/torchvenv/bin/python tools/check_minifasnet_onnx.py /work/shared/models/minifasnet

It prints the largest logit and softmax differences per model and exits 1 above 1e-3.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention

ROOT = Path(__file__).resolve().parent.parent
PAIRS = {  # vendored ONNX file: original weights, crop scale (for the report only)
    "MiniFASNetV2.onnx": ("2.7_80x80_MiniFASNetV2.pth", 2.7),
    "MiniFASNetV1SE.onnx": ("4_0_0_80x80_MiniFASNetV1SE.pth", 4.0),
}
STRIDE_2 = {"conv1", "conv_23", "conv_34", "conv_45"}
TOLERANCE = 1e-3


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """The state dict, without the `module.` prefix DataParallel training left on every key."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k.removeprefix("module."): v.float() for k, v in state.items()}


def _bn(x: torch.Tensor, s: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    return F.batch_norm(x, s[f"{name}.running_mean"], s[f"{name}.running_var"], s[f"{name}.weight"],
                        s[f"{name}.bias"], training=False, eps=1e-5)


def _conv(x: torch.Tensor, s: dict[str, torch.Tensor], name: str, stride: int, act: bool) -> torch.Tensor:
    """Conv (no bias) + batch norm (+ PReLU): the network's one building block. Depth-wise when
    the weight has one input channel per group; 'same' padding for odd kernels, none for the
    final 5x5 depth-wise (conv_6_dw), which reduces the 5x5 map to 1x1."""
    w = s[f"{name}.conv.weight"]
    groups = x.shape[1] // w.shape[1]
    pad = 0 if name == "conv_6_dw" else w.shape[-1] // 2
    x = F.conv2d(x, w, stride=stride, padding=pad, groups=groups)
    x = _bn(x, s, f"{name}.bn")
    return F.prelu(x, s[f"{name}.prelu.weight"]) if act else x


def _se(x: torch.Tensor, s: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    y = F.adaptive_avg_pool2d(x, 1)
    y = F.relu(_bn(F.conv2d(y, s[f"{name}.fc1.weight"]), s, f"{name}.bn1"))
    y = torch.sigmoid(_bn(F.conv2d(y, s[f"{name}.fc2.weight"]), s, f"{name}.bn2"))
    return x * y


def _depth_wise(x: torch.Tensor, s: dict[str, torch.Tensor], name: str, stride: int, residual: bool) -> torch.Tensor:
    y = _conv(x, s, f"{name}.conv", 1, act=True)
    y = _conv(y, s, f"{name}.conv_dw", stride, act=True)
    y = _conv(y, s, f"{name}.project", 1, act=False)
    if not residual:
        return y
    if f"{name}.se_module.fc1.weight" in s:
        y = _se(y, s, f"{name}.se_module")
    return x + y


def forward(s: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """MiniFASNet (V2 or V1SE) in eval mode: logits of the 3 classes."""
    x = _conv(x, s, "conv1", 2, act=True)
    x = _conv(x, s, "conv2_dw", 1, act=True)
    for stage in ("conv_23", "conv_3", "conv_34", "conv_4", "conv_45", "conv_5"):
        if f"{stage}.conv.conv.weight" in s:  # a single down-sampling block
            x = _depth_wise(x, s, stage, 2 if stage in STRIDE_2 else 1, residual=False)
            continue
        blocks = sorted({int(k.split(".")[2]) for k in s if k.startswith(f"{stage}.model.")})
        for b in blocks:
            x = _depth_wise(x, s, f"{stage}.model.{b}", 1, residual=True)
    x = _conv(x, s, "conv_6_sep", 1, act=True)
    x = _conv(x, s, "conv_6_dw", 1, act=False)
    x = x.flatten(1)
    x = F.linear(x, s["linear.weight"])
    x = F.batch_norm(x, s["bn.running_mean"], s["bn.running_var"], s["bn.weight"], s["bn.bias"],
                     training=False, eps=1e-5)
    return F.linear(x, s["prob.weight"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pth_dir", type=Path, help="folder with the original .pth files")
    parser.add_argument("--onnx-dir", type=Path, default=ROOT / "resources" / "models")
    parser.add_argument("--n", type=int, default=64, help="random test images")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    inputs = np.concatenate([
        rng.uniform(0, 255, (args.n, 3, 80, 80)),
        np.stack([np.full((3, 80, 80), v) for v in (0.0, 64.0, 128.0, 255.0)]),
        # smooth images, nearer to faces than noise
        np.stack([np.broadcast_to(np.linspace(0, 255, 80)[None, :] * rng.uniform(0.2, 1.0)
                                  + np.linspace(0, 60, 80)[:, None], (3, 80, 80)) for _ in range(8)]),
    ]).astype(np.float32)
    worst = 0.0
    for onnx_name, (pth_name, scale) in PAIRS.items():
        state = load_state(args.pth_dir / pth_name)
        with torch.no_grad():
            ref = forward(state, torch.from_numpy(inputs)).numpy()
        session = ort.InferenceSession(str(args.onnx_dir / onnx_name), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        got = np.concatenate([session.run(None, {name: x[None]})[0] for x in inputs])
        logit_diff = float(np.abs(got - ref).max())
        soft = lambda z: np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)  # noqa: E731
        prob_diff = float(np.abs(soft(got) - soft(ref)).max())
        agree = float((got.argmax(1) == ref.argmax(1)).mean())
        print(f"{onnx_name} vs {pth_name} (crop x{scale}): {len(inputs)} inputs, logits range "
              f"{ref.min():.2f}..{ref.max():.2f}, largest logit difference {logit_diff:.2e}, "
              f"softmax {prob_diff:.2e}, same class {agree:.0%}")
        worst = max(worst, logit_diff)
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
