"""Stable Diffusion 1.5's architecture with random weights, for GPU benchmarks without a download.

The module configurations are those of the public SD 1.5 checkpoint (``model_index.json`` and
each component's ``config.json``): a 860M-parameter U-Net (320-640-1280-1280 channels, two
layers per block, cross-attention on 768-d CLIP ViT-L/14 text states), the 4-channel KL VAE
(128-256-512-512, scaling factor 0.18215) and a 12-layer CLIP text encoder with 77 positions.
Speed depends on shapes, not on weight values, so random weights measure what the real model
costs. The tokenizer is the offline byte-level one of ``tiny_sd`` (ids fit in CLIP's vocabulary).
"""

from __future__ import annotations

from typing import Any

TEXT_POSITIONS = 77
CLIP_VOCAB = 49408


def build_sd15(seed: int = 0) -> Any:
    """A ``StableDiffusionPipeline`` with SD 1.5's module configs and weights drawn from
    ``torch.manual_seed(seed)`` (fp32, on CPU: move it where it runs)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from replica.generate.tiny_sd import byte_vocab

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=(
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "DownBlock2D",
        ),
        up_block_types=(
            "UpBlock2D",
            "CrossAttnUpBlock2D",
            "CrossAttnUpBlock2D",
            "CrossAttnUpBlock2D",
        ),
        cross_attention_dim=768,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        layers_per_block=2,
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=512,
        scaling_factor=0.18215,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=CLIP_VOCAB,
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            max_position_embeddings=TEXT_POSITIONS,
            hidden_act="quick_gelu",
            projection_dim=768,
            bos_token_id=0,  # the byte tokenizer's <|startoftext|> and <|endoftext|>
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    tokenizer = CLIPTokenizer(
        vocab=byte_vocab(),
        merges=[],
        model_max_length=TEXT_POSITIONS,
        pad_token="<|endoftext|>",
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
