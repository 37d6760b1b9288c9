"""A tiny random-weight Stable Diffusion pipeline that stands in for a real checkpoint.

Real SD weights cannot be downloaded here, so the demo and tests build one from small configs
(a two-block UNet, a four-block VAE that downsamples 8x like SD's, a two-layer CLIP text encoder,
a byte-level tokenizer) and save it with ``save_pretrained``; ``pairs`` then loads it through
``from_pretrained`` exactly as it would load a real model, as img2img, text-to-image and (4-channel)
inpainting pipelines. Its outputs are noise: it exercises the code path, not image quality.
"""

from __future__ import annotations

from typing import Any

MAX_TOKENS = 16  # the text encoder's max_position_embeddings; longer prompts are truncated


def byte_vocab() -> dict[str, int]:
    """CLIP's byte-to-unicode alphabet, the same with ``</w>``, and the two special tokens."""
    chars = _byte_chars()
    tokens = ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]
    return {t: i for i, t in enumerate(tokens)}


def _byte_chars() -> list[str]:
    """GPT-2/CLIP byte-level alphabet: printable bytes map to themselves, the rest to 256+."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def tiny_tokenizer() -> Any:
    """An offline CLIPTokenizer (514 tokens, no merges).

    transformers 5 takes ``vocab=``/``merges=``; the old ``vocab_file=`` keyword is silently
    ignored there and yields a 3-token vocabulary.
    """
    from transformers import CLIPTokenizer

    return CLIPTokenizer(
        vocab=byte_vocab(),
        merges=[],
        model_max_length=MAX_TOKENS,
        pad_token="<|endoftext|>",
    )


def build_tiny_sd(seed: int = 0) -> Any:
    """A ``StableDiffusionImg2ImgPipeline`` with weights drawn from ``torch.manual_seed(seed)``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    vae = AutoencoderKL(
        block_out_channels=[16, 16, 32, 32],  # 8x down like SD: a 224 px image is 28x28 latents
        norm_num_groups=8,
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(tokenizer),
            max_position_embeddings=MAX_TOKENS,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return StableDiffusionImg2ImgPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
