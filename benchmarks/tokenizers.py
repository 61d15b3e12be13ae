"""Tokenizer throughput, as ratios measured in one run (omnimask.tokenizers).

1. Quantizers, training-mode forward on the same latents: cosine-EMA VQ (with EMA update and dead-code
   replacement), Memcodes (hard Gumbel), FSQ — time per million latent vectors, ratio to FSQ.
2. Spatial VQ-VAE encode (tokenize) at the native resolution and at twice it (position tables
   interpolated), ratio per image to the native size.
3. Decoding the same tokens: ViT decoder vs the DiVAE's diffusion decoder with 1, 4 (the default)
   and 8 DDIM steps, ratio to the ViT decoder.
4. UNet self-attention: ``scaled_dot_product_attention`` vs the explicit q·kᵀ softmax baseline.
5. The shipped SynthWorld tokenizers (``omnimask/assets/tokenizers/synthworld64``): encode (raw maps →
   ids, card normalisation included) and decode (ids → raw maps) in images/s on rendered scenes, and
   their ratio to the k-means stand-in fitted on the same maps.

Sizes: tiny defaults (CPU minutes); ``--release`` uses the released architectures (ViT-B/16, the
``unet_patched`` UNet, codebook 16k / 8k); ``--size`` picks the image resolution.

Run: ``python -m benchmarks.tokenizers [--release] [--size 224] [--batch 4] [--iters 3] [--threads 1]
[--shipped-only]``.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's directory comes first on sys.path and its name would shadow the
# HuggingFace ``tokenizers`` package that omnimask's text tokenizer imports.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from omnimask.tokenizers.diffusion.divae import DiffusionConfig, DiVAE, DiVAEConfig
from omnimask.tokenizers.diffusion.unet import UNetConfig
from omnimask.tokenizers.quantizers import FSQ, CosineEMAQuantizer, Memcodes
from omnimask.tokenizers.quantizers.build import QuantizerConfig
from omnimask.tokenizers.vit import ViTConfig
from omnimask.tokenizers.vqvae import SpatialVQVAE, VQVAEConfig


def timed(fn: Callable[[], object], iters: int) -> float:
    """Seconds per call (after one warm-up call)."""
    fn()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - start) / iters


def bench_quantizers(n: int, iters: int, gen: torch.Generator) -> None:
    print(f"\n1. quantizers, training forward, {n} latent vectors (ms per 1M vectors, ratio to FSQ)")
    z32 = torch.randn(1, 32, n, generator=gen)
    quantizers = {
        "fsq (8,5,5,5) 1000 ids": (FSQ(levels=(8, 5, 5, 5)).train(), torch.randn(1, 4, n, generator=gen)),
        "cosine-EMA 16384 codes": (CosineEMAQuantizer(dim=32, codebook_size=16384).train(), z32),
        "memcodes 16x256 codes": (Memcodes(dim=32, codebook_size=256, num_codebooks=16).train(), z32),
    }
    base = None
    for name, (q, z) in quantizers.items():
        t = timed(lambda q=q, z=z: q(z), iters) * 1e6 / n
        base = base or t
        print(f"   {name:<26} {1e3 * t:10.1f} ms/M  x{t / base:6.2f}")


def bench_vqvae(cfg: VQVAEConfig, size: int, batch: int, iters: int, gen: torch.Generator) -> torch.Tensor:
    print(f"\n2. ViT VQ-VAE tokenize (dim {cfg.encoder.dim}, depth {cfg.encoder.depth}, native {cfg.image_size})")
    model = SpatialVQVAE(cfg).eval()
    native = None
    ids = None
    for s in (size, 2 * size):
        x = torch.randn(batch, cfg.in_channels, s, s, generator=gen)
        with torch.no_grad():
            t = timed(lambda x=x: model.tokenize(x), iters) / batch
            ids = model.tokenize(x) if s == size else ids
        native = native or t
        print(f"   {s}x{s}: {1e3 * t:9.1f} ms/image  x{t / native:5.2f} (pixels x{(s / size) ** 2:.0f})")
    return ids


def bench_decoders(vq: VQVAEConfig, div: DiVAEConfig, ids: torch.Tensor, iters: int) -> None:
    print(f"\n3. decoding {tuple(ids.shape)} tokens (ms per image, ratio to the ViT decoder)")
    b = ids.shape[0]
    vit = SpatialVQVAE(vq).eval()
    diff = DiVAE(div).eval()
    with torch.no_grad():
        base = timed(lambda: vit.decode_tokens(ids), iters) / b
        print(f"   ViT decoder              {1e3 * base:9.1f} ms  x1.00")
        for steps in (1, 4, 8):
            t = timed(lambda s=steps: diff.decode_tokens(ids, num_steps=s, generator=torch.Generator()), iters) / b
            print(f"   DiVAE DDIM {steps} step(s)      {1e3 * t:9.1f} ms  x{t / base:5.2f}")


def bench_unet_attention(channels: int, tokens: int, iters: int, gen: torch.Generator) -> None:
    print(f"\n4. UNet attention, forward, 1 head, C={channels}, T={tokens} (ms, explicit/sdpa)")
    q, k, v = (torch.randn(4, 1, tokens, channels, generator=gen) for _ in range(3))

    def explicit() -> torch.Tensor:
        scale = channels**-0.25  # the released UNet scales q and k separately
        w = torch.einsum("bhtc,bhsc->bhts", q * scale, k * scale).softmax(-1)
        return torch.einsum("bhts,bhsc->bhtc", w, v)

    t_sdpa = timed(lambda: F.scaled_dot_product_attention(q, k, v), iters)
    t_exp = timed(explicit, iters)
    print(f"   sdpa {1e3 * t_sdpa:8.2f} ms   explicit {1e3 * t_exp:8.2f} ms   x{t_exp / t_sdpa:5.2f}")


def bench_shipped(batch: int, iters: int) -> None:
    """Encode / decode images per second of every map tokenizer of the shipped SynthWorld bundle."""
    import numpy as np

    from omnimask.data.synth_tokens import NUM_SEMANTIC_CLASSES
    from omnimask.data.synthworld import SynthWorldConfig, render_sample
    from omnimask.tokenizers.bundle import load_tokenizers, shipped_bundle_path
    from omnimask.tokenizers.entries import CardMapTokenizer, MapTokenizer
    from omnimask.tokenizers.kmeans import KMeansPatchTokenizer
    from omnimask.tokenizers.map_features import map_features

    bundle = load_tokenizers(shipped_bundle_path("synthworld64"))
    scenes = [render_sample(0, i, SynthWorldConfig(resolution=64)) for i in range(batch)]
    print(f"\n5. shipped SynthWorld tokenizers, batch {batch} at 64x64 (images/s; ratio to the k-means stand-in)")
    print(f"   {'tokenizer':<16}{'encode':>9}{'decode':>9}  {'k-means enc':>11}{'dec':>8}  {'enc x':>6}{'dec x':>7}")
    for name, tok in bundle.items():
        if not isinstance(tok, CardMapTokenizer):
            continue
        raw = np.stack([s[tok.kind] for s in scenes])
        feats = np.stack([map_features(tok.kind).to_features(m, NUM_SEMANTIC_CLASSES) for m in raw])
        fitted = KMeansPatchTokenizer.fit(torch.from_numpy(feats), 8, tok.vocab_size, iters=2)
        kmeans = MapTokenizer(tok.kind, fitted, NUM_SEMANTIC_CLASSES)
        rates = []
        for t in (tok, kmeans):
            ids = t.tokenize(raw)
            with torch.no_grad():
                rates += [batch / timed(lambda t=t, raw=raw: t.tokenize(raw), iters),
                          batch / timed(lambda t=t, ids=ids: t.detokenize(ids), iters)]  # fmt: skip
        enc, dec, k_enc, k_dec = rates
        print(f"   {name:<16}{enc:>9.0f}{dec:>9.0f}  {k_enc:>11.0f}{k_dec:>8.0f}  "
              f"{enc / k_enc:>6.2f}{dec / k_dec:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--release", action="store_true", help="released architecture sizes")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shipped-only", action="store_true", help="only section 5 (the shipped tokenizers)")
    parser.add_argument("--shipped-batch", type=int, default=64, help="maps per call in section 5")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # parameter initialisation of the benchmarked models
    gen = torch.Generator().manual_seed(0)
    vit = ViTConfig() if args.release else ViTConfig(dim=192, depth=4, num_heads=3)
    unet = UNetConfig() if args.release else UNetConfig(model_channels=64, num_res_blocks=1, channel_mult=(1, 2, 2))
    codes = 16384 if args.release else 4096
    vq = VQVAEConfig(image_size=args.size, encoder=vit, decoder=vit, quantizer=QuantizerConfig(codebook_size=codes))
    div = DiVAEConfig(image_size=args.size, encoder=vit, unet=unet, quantizer=QuantizerConfig(codebook_size=codes),
                      diffusion=DiffusionConfig())  # fmt: skip
    print(f"omnimask tokenizer benchmark: release={args.release} size={args.size} batch={args.batch} "
          f"threads={args.threads}")  # fmt: skip
    if not args.shipped_only:
        bench_quantizers(4096, args.iters, gen)
        ids = bench_vqvae(vq, args.size, args.batch, args.iters, gen)
        bench_decoders(vq, div, ids, args.iters)
        bench_unet_attention(unet.model_channels * 2, (args.size // unet.patch_size // 2) ** 2, args.iters, gen)
    bench_shipped(args.shipped_batch, args.iters)


if __name__ == "__main__":
    main()
